// Two hot functions that are always inlined: main -> outer, with hot_a() and hot_b() inlined
// into outer (always_inline, -O2). hot_a holds 2/3 of outer's CPU time and hot_b 1/3, on any
// CPU by construction (as in known_tree.c): each phase spins until the thread's CPU clock
// reaches its deadline (round r: hot_a until T0 + 3r + 2 ms, hot_b until T0 + 3r + 3 ms), so
// what an iteration costs where each copy of the loop lies does not matter, and overshoots
// cancel. The clock is a raw syscall inside each phase, so a sample taken in it still has the
// phase as its user leaf. Without inlined frames both vanish into outer.
// Usage: inline_pair SECONDS    (of this thread's CPU time). At exit it prints
// "inline_pair: cpu SECONDS" (getrusage) on stderr.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "thread_cpu.h"  // a macro: no inlined frame of its own on top of hot_a, hot_b

volatile uint64_t sink;

static inline __attribute__((always_inline)) void hot_a(int64_t until_ns) {
  do {
    for (long i = 0; i < 4096; ++i) sink += (uint64_t)i;
  } while (THREAD_CPU_NS() < until_ns);
}

static inline __attribute__((always_inline)) void hot_b(int64_t until_ns) {
  do {
    for (long i = 0; i < 4096; ++i) sink += (uint64_t)i;
  } while (THREAD_CPU_NS() < until_ns);
}

__attribute__((noinline)) void outer(double seconds) {
  const int64_t start = THREAD_CPU_NS();
  const int64_t end = start + (int64_t)(seconds * 1e9);
  for (int64_t round = start; round < end; round += 3000000) {
    hot_a(round + 2000000);
    hot_b(round + 3000000);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  outer(atof(argv[1]));
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  fprintf(stderr, "inline_pair: cpu %.3f\n",
          (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
              (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  return 0;
}

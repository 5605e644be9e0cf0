// Known-answer workload for the flight recorder fired by an event (wick record --overwrite
// --snapshot-on uprobe:PROG:trigger): phases of known CPU time around calls to trigger().
//
// Usage:
//   phases_trigger phases A B C        phase_a for A ms of this thread's CPU time, then phase_b
//                                      for B ms, then trigger() once, then phase_c for C ms
//   phases_trigger hits N US           N times: phase_b for US microseconds of CPU, then
//                                      trigger()
//   phases_trigger getppid N US        the same, with getppid() (the tracepoint
//                                      syscalls:sys_enter_getppid) in place of trigger()
//
// Each phase spins until the thread's CPU clock has moved by its share (never wall time), so
// on any CPU, loaded or not, the samples before trigger() are phase_a's and phase_b's and those
// after it phase_c's. trigger() does no work of its own: it is where the uprobe fires.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "thread_cpu.h"

volatile uint64_t sink_a;
volatile uint64_t sink_b;
volatile uint64_t sink_c;

// The phases call this so they are not leaf functions (whose frame pointer gcc may drop,
// hiding their caller from a frame-pointer walk).
__attribute__((noinline)) void checkpoint(void) { __asm__ volatile(""); }

// Spins on `sink` in chunks of 4096 iterations until the thread's CPU clock reaches `until`.
#define SPIN_UNTIL(sink, until)                          \
  do {                                                   \
    for (long i = 0; i < 4096; ++i) sink += (uint64_t)i; \
  } while (THREAD_CPU_NS() < (until))

__attribute__((noinline)) void phase_a(int64_t ns) {
  const int64_t until = THREAD_CPU_NS() + ns;
  SPIN_UNTIL(sink_a, until);
  checkpoint();
}

__attribute__((noinline)) void phase_b(int64_t ns) {
  const int64_t until = THREAD_CPU_NS() + ns;
  SPIN_UNTIL(sink_b, until);
  checkpoint();
}

__attribute__((noinline)) void phase_c(int64_t ns) {
  const int64_t until = THREAD_CPU_NS() + ns;
  SPIN_UNTIL(sink_c, until);
  checkpoint();
}

// The uprobe's target: called once between phase_b and phase_c, or N times.
__attribute__((noinline)) void trigger(void) { __asm__ volatile(""); }

static int Usage(void) {
  fprintf(stderr, "usage: phases_trigger phases A_MS B_MS C_MS | hits N US | getppid N US\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "phases") == 0) {
    const long a = atol(argv[2]), b = atol(argv[3]), c = atol(argv[4]);
    if (a < 0 || b < 0 || c < 0) return Usage();
    phase_a(a * 1000000);
    phase_b(b * 1000000);
    trigger();
    phase_c(c * 1000000);
    return 0;
  }
  if (argc == 4 && (strcmp(argv[1], "hits") == 0 || strcmp(argv[1], "getppid") == 0)) {
    const long n = atol(argv[2]), us = atol(argv[3]);
    if (n <= 0 || us < 0) return Usage();
    const int use_getppid = strcmp(argv[1], "getppid") == 0;
    for (long i = 0; i < n; ++i) {
      phase_b(us * 1000);
      if (use_getppid) {
        syscall(SYS_getppid);  // not getppid(): the tracepoint must fire every time
      } else {
        trigger();
      }
    }
    return 0;
  }
  return Usage();
}

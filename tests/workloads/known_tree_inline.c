// Inlining workload: main -> outer, with burn() inlined into outer (always_inline), so a
// symbolizer must name outer from the symbol table and burn from DWARF inline records.
// Usage: known_tree_inline SECONDS    (of this thread's CPU time, so the amount of work sampled
// is the same on a busy machine). At exit it prints "known_tree: cpu SECONDS" (its CPU time,
// from getrusage) on stderr.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

volatile uint64_t sink;

static inline __attribute__((always_inline)) void burn(long n) {
  for (long i = 0; i < n; ++i) sink += (uint64_t)i;
}

__attribute__((noinline)) void outer(double seconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    burn(1000000);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 <
           seconds);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  outer(atof(argv[1]));
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  fprintf(stderr, "known_tree: cpu %.3f\n",
          (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
              (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  return 0;
}

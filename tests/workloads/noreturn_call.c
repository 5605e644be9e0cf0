// A call that is the last instruction of its function: main -> ends_with_call ->
// spin_then_exit, which never returns, so ends_with_call's return address is the first byte of
// the function placed after it (next_function). A profiler that names a caller frame by its
// return address names next_function; stepping back into the call names ends_with_call and
// the call's line. Built -fno-reorder-functions so the three lie in this order.
// Usage: noreturn_call SECONDS    (of this thread's CPU time); prints "noreturn_call: cpu
// SECONDS" (getrusage) on stderr and exits 0 from spin_then_exit.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

volatile uint64_t sink;

__attribute__((noreturn, noinline)) void spin_then_exit(double seconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    for (long i = 0; i < 1000000; ++i) sink += (uint64_t)i;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 <
           seconds);
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  fprintf(stderr, "noreturn_call: cpu %.3f\n",
          (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
              (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  exit(0);
}

__attribute__((noinline)) void ends_with_call(double seconds) { spin_then_exit(seconds); }

// Never called on the sampled path; it only has to follow ends_with_call in .text.
__attribute__((noinline)) void next_function(void) { sink = 0; }

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  if (argc == 3) next_function();  // keeps it referenced
  ends_with_call(atof(argv[1]));
}

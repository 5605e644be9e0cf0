// Known-answer program of the off-CPU kernel test: ROUNDS nanosleeps of 2 ms, measured by
// the program itself. Writes to OUTFILE: "wall_ns loop_cpu_ns main_ns rounds", where
// wall_ns sums CLOCK_MONOTONIC around each nanosleep call, loop_cpu_ns is the thread's CPU
// time over the loop (CLOCK_THREAD_CPUTIME_ID) and main_ns the wall time of main.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long Now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

// Not inlined: the blocked stacks must show it under main.
__attribute__((noinline)) unsigned long long sleep_rounds(int rounds) {
  unsigned long long wall = 0;
  for (int i = 0; i < rounds; ++i) {
    struct timespec d = {0, 2000000};
    const unsigned long long before = Now(CLOCK_MONOTONIC);
    nanosleep(&d, NULL);
    wall += Now(CLOCK_MONOTONIC) - before;
  }
  return wall;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: off_cpu_sleeper ROUNDS OUTFILE\n");
    return 2;
  }
  const unsigned long long start = Now(CLOCK_MONOTONIC);
  const int rounds = atoi(argv[1]);
  const unsigned long long cpu0 = Now(CLOCK_THREAD_CPUTIME_ID);
  const unsigned long long wall = sleep_rounds(rounds);
  const unsigned long long cpu = Now(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  FILE* out = fopen(argv[2], "w");
  if (out == NULL) return 1;
  fprintf(out, "%llu %llu %llu %d\n", wall, cpu, Now(CLOCK_MONOTONIC) - start, rounds);
  return fclose(out) == 0 ? 0 : 1;
}

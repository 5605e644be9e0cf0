// Workloads for the DWARF unwinder (built -O2 -fomit-frame-pointer: only CFI finds callers).
//
// Usage (SECONDS of the process's CPU time):
//   unwind_target deep SECONDS DEPTH   recurse DEPTH frames of recurse() (~100 bytes each),
//                                      then spin in spin_leaf(): deeper than a stack snapshot
//   unwind_target qsort SECONDS        sort_loop() -> libc qsort -> compare_ints(), which
//                                      burns time: the stack crosses libc without frame pointers
//   unwind_target dlopen SECONDS LIB   spin in before_dlopen() for a third of the time, then
//                                      dlopen LIB and call its plugin_work() from call_plugin()
// Each mode first prints "pid <pid>" (flushed) so a test can start sampling, then waits for a
// line on stdin ("go") when the environment has UNWIND_TARGET_WAIT=1.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// gcc may clone functions for constant arguments (renaming them); clang has no noclone.
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

volatile uint64_t sink;

// The process's CPU time: a deadline in CPU seconds is the same amount of work however busy
// the machine is (the process has one thread).
static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINLINE void spin_leaf(double deadline) {
  while (Now() < deadline) {
    for (int i = 0; i < 100000; ++i) sink += (uint64_t)i;
  }
}

// Not a tail call: the volatile frame and the work after the call keep every level.
NOINLINE void recurse(int depth, double deadline) {
  volatile char pad[64];
  pad[0] = (char)depth;
  if (depth > 0) {
    recurse(depth - 1, deadline);
  } else {
    spin_leaf(deadline);
  }
  sink += (uint64_t)pad[0];
}

NOINLINE int compare_ints(const void* pa, const void* pb) {
  int a = *(const int*)pa, b = *(const int*)pb;
  for (int i = 0; i < 200; ++i) sink += (uint64_t)i;  // make the comparator the hot spot
  return (a > b) - (a < b);
}

NOINLINE void sort_loop(double deadline) {
  enum { kN = 4096 };
  static int values[kN];
  unsigned seed = 1;
  while (Now() < deadline) {
    for (int i = 0; i < kN; ++i) values[i] = (int)(rand_r(&seed) % 100000);
    qsort(values, kN, sizeof(int), compare_ints);
  }
}

NOINLINE void before_dlopen(double deadline) { spin_leaf(deadline); }

typedef void (*PluginWork)(double deadline);

NOINLINE void call_plugin(PluginWork fn, double deadline) {
  fn(deadline);
  sink += 1;
}

static int Usage(void) {
  fprintf(stderr, "usage: unwind_target deep S DEPTH | qsort S | dlopen S LIB\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  printf("pid %d\n", (int)getpid());
  fflush(stdout);
  const char* wait = getenv("UNWIND_TARGET_WAIT");
  if (wait != NULL && strcmp(wait, "1") == 0) {
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL) return 1;
  }
  const double seconds = atof(argv[2]);
  const double start = Now();
  if (strcmp(argv[1], "deep") == 0 && argc == 4) {
    recurse(atoi(argv[3]), start + seconds);
    return 0;
  }
  if (strcmp(argv[1], "qsort") == 0) {
    sort_loop(start + seconds);
    return 0;
  }
  if (strcmp(argv[1], "dlopen") == 0 && argc == 4) {
    before_dlopen(start + seconds / 3);
    void* lib = dlopen(argv[3], RTLD_NOW);
    if (lib == NULL) {
      fprintf(stderr, "dlopen: %s\n", dlerror());
      return 1;
    }
    PluginWork fn = (PluginWork)dlsym(lib, "plugin_work");
    if (fn == NULL) return 1;
    call_plugin(fn, start + seconds);
    return 0;
  }
  return Usage();
}

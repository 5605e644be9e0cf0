// Shared library the unwind_target dlopen mode loads mid-run: call_plugin() -> plugin_work()
// -> plugin_leaf(), all without frame pointers.
#include <stdint.h>
#include <time.h>

// gcc may clone functions for constant arguments (renaming them); clang has no noclone.
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

volatile uint64_t plugin_sink;

// The process's CPU time: a deadline in CPU seconds is the same amount of work however busy
// the machine is (the process has one thread).
static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINLINE void plugin_leaf(void) {
  for (int i = 0; i < 100000; ++i) plugin_sink += (uint64_t)i;
}

NOINLINE void plugin_work(double deadline) {
  while (Now() < deadline) plugin_leaf();
  plugin_sink += 1;
}

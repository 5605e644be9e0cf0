// Known-answer workload: main -> work -> {a 60 %, b 30 %, c 10 %} of its CPU time, on any
// x86-64 CPU and at any code alignment, by construction.
//
// Usage:
//   known_tree SECONDS               run work() for about SECONDS of wall time
//   known_tree rN                    exactly N rounds of 10 ms of this thread's CPU time each
//   known_tree wN                    N rounds of fixed work (as many iterations whatever the
//                                    CPU time), for measuring a profiler's slowdown of its
//                                    target: the split is then only roughly 6:3:1
//   known_tree ... threads N         N threads (named tree-worker-I) each running work()
//   known_tree ... fork              fork a child (named tree-child) that runs work() too
//   known_tree ... pid               print "pid <pid>" (flushed), then run work() (for -p)
//   known_tree ... split A B C       a, b, c take A:B:C ms of each round instead of 6:3:1
//   known_tree ... exec PROG ARGS... run work(), then exec PROG in the same process
//
// Why by construction: a, b and c have loops of their own, and what one iteration costs
// depends on the microarchitecture and on where the loop lies in memory (76/18/6 instead of
// 60/30/10 was seen on another CPU with equal iteration counts). So each phase does not run
// a number of iterations; it runs until the thread's CPU clock reaches its deadline. Round r
// of work() ends a at T0 + r*R + 6 ms, b at +9 ms and c at +10 ms (R = 10 ms), all measured
// from work()'s start T0: a phase that overshoots its deadline shortens the next one by as
// much, so overshoots cancel instead of adding up. The clock is read between chunks of ~50 us
// with a raw syscall written into the phase's own function, so a sample taken inside that
// syscall still has a, b or c as its user leaf.
//
// At exit, main prints "known_tree: cpu SECONDS" (this process's user + system CPU time, from
// getrusage) on stderr: the truth tests derive their expected sample counts from.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "thread_cpu.h"

enum {
  kFixedItersPerMs = 1000000,  // fixed-work mode: iterations per "ms" of the split
  kChunkNs = 50000,            // CPU time of one chunk between two clock reads
  kNsPerMs = 1000000,
};

volatile uint64_t sink_a;
volatile uint64_t sink_b;
volatile uint64_t sink_c;
volatile uint64_t sink_calibrate;

// a, b and c call this so they are not leaf functions: gcc 12 drops the frame pointer of
// leaf functions even with -mno-omit-leaf-frame-pointer, which would hide work() from a
// frame-pointer walk.
__attribute__((noinline)) void checkpoint(void) { __asm__ volatile(""); }

// Iterations of one chunk: about kChunkNs of CPU on this machine (Calibrate()). A clock read
// costs ~1 us in a VM, so 50 us chunks keep it near 2 % of the time; a shorter chunk would
// only cost more, a longer one would make phase boundaries coarser (they still cancel).
static long g_chunk = 4096;

// One phase: spin on `sink` in chunks until the thread's CPU clock reaches `until_ns`, or,
// when `iterations` > 0 (fixed-work mode), for exactly that many iterations. A macro so that
// a, b and c each hold their own copy of the loop and of the clock read.
#define KNOWN_TREE_PHASE(sink, until_ns, iterations)               \
  do {                                                             \
    if ((iterations) > 0) {                                        \
      for (long i = 0; i < (iterations); ++i) sink += (uint64_t)i; \
      break;                                                       \
    }                                                              \
    do {                                                           \
      for (long i = 0; i < g_chunk; ++i) sink += (uint64_t)i;      \
    } while (THREAD_CPU_NS() < (until_ns));                        \
  } while (0)

__attribute__((noinline)) void a(int64_t until_ns, long iterations) {
  KNOWN_TREE_PHASE(sink_a, until_ns, iterations);
  checkpoint();
}

__attribute__((noinline)) void b(int64_t until_ns, long iterations) {
  KNOWN_TREE_PHASE(sink_b, until_ns, iterations);
  checkpoint();
}

__attribute__((noinline)) void c(int64_t until_ns, long iterations) {
  KNOWN_TREE_PHASE(sink_c, until_ns, iterations);
  checkpoint();
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// g_rounds > 0: run exactly that many rounds (of CPU time, or of fixed work when
// g_fixed_work). g_split: a:b:c in ms of CPU per round.
static long g_rounds, g_split[3] = {6, 3, 1};
static int g_fixed_work;

__attribute__((noinline)) void work(double seconds) {
  const double deadline = Now() + seconds;
  const int64_t round_ns = (g_split[0] + g_split[1] + g_split[2]) * kNsPerMs;
  int64_t round_start = THREAD_CPU_NS();
  long rounds = 0;
  do {
    // Each phase's deadline in this round; in fixed-work mode, its iterations instead. A share
    // of 0 (split 0 B C) skips its phase: a deadline already passed still runs one chunk.
    const int64_t until_a = round_start + g_split[0] * kNsPerMs;
    const int64_t until_b = until_a + g_split[1] * kNsPerMs;
    const int64_t until_c = round_start + round_ns;
    const long fixed = g_fixed_work ? kFixedItersPerMs : 0;
    if (g_split[0] > 0) a(until_a, g_split[0] * fixed);
    if (g_split[1] > 0) b(until_b, g_split[1] * fixed);
    if (g_split[2] > 0) c(until_c, g_split[2] * fixed);
    round_start += round_ns;
    ++rounds;
  } while (g_rounds > 0 ? rounds < g_rounds : Now() < deadline);
}

static double g_seconds;

// Sets g_chunk from the time a growing number of iterations takes (at most ~1 ms of CPU).
static void Calibrate(void) {
  for (long n = 1 << 12;; n *= 2) {
    const int64_t start = THREAD_CPU_NS();
    for (long i = 0; i < n; ++i) sink_calibrate += (uint64_t)i;
    const int64_t took = THREAD_CPU_NS() - start;
    if (took >= kNsPerMs || n >= (1L << 30)) {
      g_chunk = (long)((double)n * kChunkNs / (double)(took > 0 ? took : 1));
      if (g_chunk < 256) g_chunk = 256;
      return;
    }
  }
}

// Each thread names itself "tree-worker-N" so a profile can tell the threads apart.
static void* ThreadMain(void* arg) {
  char name[16];
  snprintf(name, sizeof(name), "tree-worker-%d", (int)(intptr_t)arg);
  pthread_setname_np(pthread_self(), name);
  work(g_seconds);
  return NULL;
}

static int Usage(void) {
  fprintf(stderr,
          "usage: known_tree SECONDS|rROUNDS|wROUNDS [threads N | fork | pid | split A B C | "
          "exec PROG ARGS...]\n");
  return 2;
}

// Prints this process's CPU time (all its threads, and the children it waited for) and
// returns `code`.
static int ReportCpu(int code) {
  struct rusage self, children;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &children);
  const double cpu = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
                              children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
                     (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
                              children.ru_utime.tv_usec + children.ru_stime.tv_usec) /
                         1e6;
  fprintf(stderr, "known_tree: cpu %.3f\n", cpu);
  return code;
}

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  if (argv[1][0] == 'r' || argv[1][0] == 'w') {
    g_fixed_work = argv[1][0] == 'w';
    g_rounds = atol(argv[1] + 1);
    if (g_rounds <= 0) return Usage();
  } else {
    g_seconds = atof(argv[1]);
  }
  if (!g_fixed_work) Calibrate();
  if (argc == 2) {
    work(g_seconds);
    return ReportCpu(0);
  }
  if (strcmp(argv[2], "threads") == 0 && argc == 4) {
    int n = atoi(argv[3]);
    if (n < 1 || n > 256) return Usage();
    pthread_t* threads = calloc((size_t)n, sizeof(pthread_t));
    for (int i = 0; i < n; ++i) {
      if (pthread_create(&threads[i], NULL, ThreadMain, (void*)(intptr_t)i) != 0) return 1;
    }
    for (int i = 0; i < n; ++i) pthread_join(threads[i], NULL);
    free(threads);
    return ReportCpu(0);
  }
  if (strcmp(argv[2], "fork") == 0) {
    pid_t child = fork();
    if (child < 0) return 1;
    // The child names itself "tree-child" so a profile can tell it from its parent.
    if (child == 0) prctl(PR_SET_NAME, "tree-child", 0, 0, 0);
    work(g_seconds);
    if (child == 0) _exit(0);
    int status = 0;
    if (waitpid(child, &status, 0) != child) return 1;
    return ReportCpu(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1);
  }
  if (strcmp(argv[2], "split") == 0 && argc == 6) {
    for (int i = 0; i < 3; ++i) {
      g_split[i] = atol(argv[3 + i]);
      if (g_split[i] < 0 || g_split[i] > 100) return Usage();
    }
    if (g_split[0] + g_split[1] + g_split[2] == 0) return Usage();
    work(g_seconds);
    return ReportCpu(0);
  }
  if (strcmp(argv[2], "exec") == 0 && argc >= 4) {
    // Work, then become another program in the same process (argv[3...]).
    work(g_seconds);
    execv(argv[3], argv + 3);
    perror("execv");
    return 1;
  }
  if (strcmp(argv[2], "pid") == 0) {
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    work(g_seconds);
    return ReportCpu(0);
  }
  return Usage();
}

// Known-answer workload: main -> work -> {a ~60 %, b ~30 %, c ~10 %} of CPU time.
//
// Usage (SECONDS may also be rN: exactly N rounds of about 10 ms each, a fixed amount of work):
//   known_tree SECONDS               run work() for about SECONDS
//   known_tree SECONDS threads N     N threads (named tree-worker-I) each running work()
//   known_tree SECONDS fork          fork a child (named tree-child) that runs work() too
//   known_tree SECONDS pid           print "pid <pid>" (flushed), then run work() (for -p)
//   known_tree SECONDS split A B C   a, b, c run A:B:C units instead of 6:3:1 (wick diff tests)
//   known_tree SECONDS exec PROG ARGS...  run work(), then exec PROG in the same process
// a, b and c run the same loop for 6:3:1 iteration counts; each has its own counter so no
// pass can merge them. The clock is read only in work(), once per round of ~10 ms.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kUnit = 1000000 };  // iterations of one tenth of a round

volatile uint64_t sink_a;
volatile uint64_t sink_b;
volatile uint64_t sink_c;

// a, b and c call this so they are not leaf functions: gcc 12 drops the frame pointer of
// leaf functions even with -mno-omit-leaf-frame-pointer, which would hide work() from a
// frame-pointer walk.
__attribute__((noinline)) void checkpoint(void) { __asm__ volatile(""); }

__attribute__((noinline)) void a(long n) {
  for (long i = 0; i < n; ++i) sink_a += (uint64_t)i;
  checkpoint();
}

__attribute__((noinline)) void b(long n) {
  for (long i = 0; i < n; ++i) sink_b += (uint64_t)i;
  checkpoint();
}

__attribute__((noinline)) void c(long n) {
  for (long i = 0; i < n; ++i) sink_c += (uint64_t)i;
  checkpoint();
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// When > 0, work() runs exactly this many rounds instead of for a time: a fixed amount of
// work, so a profiler's slowdown of the target can be measured.
static long g_rounds, g_split[3] = {6, 3, 1};  // g_split: a:b:c per round, in kUnit

__attribute__((noinline)) void work(double seconds) {
  double deadline = Now() + seconds;
  long rounds = 0;
  do {
    a(g_split[0] * kUnit);
    b(g_split[1] * kUnit);
    c(g_split[2] * kUnit);
    ++rounds;
  } while (g_rounds > 0 ? rounds < g_rounds : Now() < deadline);
}

static double g_seconds;

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
          "usage: known_tree SECONDS|rROUNDS [threads N | fork | pid | split A B C | exec PROG "
          "ARGS...]\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  if (argv[1][0] == 'r') {
    g_rounds = atol(argv[1] + 1);
    if (g_rounds <= 0) return Usage();
  } else {
    g_seconds = atof(argv[1]);
  }
  if (argc == 2) {
    work(g_seconds);
    return 0;
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
    return 0;
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
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
  }
  if (strcmp(argv[2], "split") == 0 && argc == 6) {
    for (int i = 0; i < 3; ++i) {
      g_split[i] = atol(argv[3 + i]);
      if (g_split[i] < 0 || g_split[i] > 100) return Usage();
    }
    work(g_seconds);
    return 0;
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
    return 0;
  }
  return Usage();
}

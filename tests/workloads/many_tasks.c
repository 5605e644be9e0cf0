// Many tasks for the tests of wick at scale: thousands of threads in one process, or a storm
// of short-lived processes.
//
//   many_tasks threads N MS   starts N threads (named worker-I), prints "ready" once all
//                             exist, and on SIGUSR1 lets each burn MS ms of its own CPU time,
//                             then exit; the process exits when all have.
//   many_tasks storm N MS [LINGER]
//                             prints "ready", and on SIGUSR1 runs N processes one after
//                             another (fork + exec of itself as "burn MS", + exit), two at a
//                             time; each burns MS ms of its own CPU time in storm_child();
//                             then sleeps LINGER seconds (default 0) before it exits, so that
//                             a recorder of it outlives every child by that much.
//   many_tasks burn MS        burns MS ms of CPU time in storm_child() and exits.
//
// CPU time is read from the thread's own clock, so each task's share of samples is known on
// any CPU: with a sampling period of P ms of task time, a task burning B ms gets about B/P
// samples. Prints "many_tasks: done" at the end.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t ThreadCpuNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

volatile uint64_t sink;

__attribute__((noinline)) static void Burn(uint64_t ms) {
  const uint64_t end = ThreadCpuNs() + ms * 1000000u;
  while (ThreadCpuNs() < end) {
    for (int i = 0; i < 1000; ++i) sink += (uint64_t)i;
  }
}

__attribute__((noinline)) void worker_burn(uint64_t ms) { Burn(ms); }
__attribute__((noinline)) void storm_child(uint64_t ms) { Burn(ms); }

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cv = PTHREAD_COND_INITIALIZER;
static int go;
static uint64_t burn_ms;

static void* Worker(void* arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  while (!go) pthread_cond_wait(&go_cv, &mu);
  pthread_mutex_unlock(&mu);
  worker_burn(burn_ms);
  return NULL;
}

// Blocks SIGUSR1 (threads inherit the mask) and returns once it arrives.
static void WaitForGo(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  int sig = 0;
  sigwait(&set, &sig);
}

static void BlockGo(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int Threads(int n) {
  BlockGo();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t* tids = calloc((size_t)n, sizeof(pthread_t));
  for (int i = 0; i < n; ++i) {
    if (pthread_create(&tids[i], &attr, Worker, NULL) != 0) {
      fprintf(stderr, "many_tasks: thread %d: %s\n", i, strerror(errno));
      return 1;
    }
    char name[16];
    snprintf(name, sizeof(name), "worker-%d", i % 100000);
    pthread_setname_np(tids[i], name);
  }
  printf("ready\n");
  fflush(stdout);
  WaitForGo();
  pthread_mutex_lock(&mu);
  go = 1;
  pthread_cond_broadcast(&go_cv);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < n; ++i) pthread_join(tids[i], NULL);
  free(tids);
  return 0;
}

extern char** environ;

static int Storm(int n, const char* ms, const char* self, double linger) {
  BlockGo();
  printf("ready\n");
  fflush(stdout);
  WaitForGo();
  int running = 0;
  for (int i = 0; i < n; ++i) {
    if (running == 2) {
      if (wait(NULL) > 0) --running;
    }
    // posix_spawn: a clone that shares memory until the exec (vfork), so the storm is not
    // slowed by copying page tables, which is slow in some VMs.
    char* args[] = {(char*)"many_tasks", (char*)"burn", (char*)ms, NULL};
    pid_t pid;
    const int err = posix_spawn(&pid, self, NULL, NULL, args, environ);
    if (err != 0) {
      fprintf(stderr, "many_tasks: spawn: %s\n", strerror(err));
      return 1;
    }
    ++running;
  }
  while (wait(NULL) > 0) {
  }
  if (linger > 0) {
    struct timespec ts = {(time_t)linger, (long)((linger - (double)(time_t)linger) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "burn") == 0) {
    storm_child(strtoull(argv[2], NULL, 10));
    return 0;
  }
  if (argc != 4 && !(argc == 5 && strcmp(argv[1], "storm") == 0)) {
    fprintf(stderr, "usage: many_tasks threads N MS | storm N MS [LINGER] | burn MS\n");
    return 2;
  }
  const int n = atoi(argv[2]);
  // Exec'd by its own path, so the children's comm is "many_tasks" (not "exe").
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return 1;
  self[len] = '\0';
  burn_ms = strtoull(argv[3], NULL, 10);
  int rc = strcmp(argv[1], "threads") == 0 ? Threads(n)
           : strcmp(argv[1], "storm") == 0 ? Storm(n, argv[3], self, argc == 5 ? atof(argv[4]) : 0)
                                           : 2;
  if (rc == 0) fprintf(stderr, "many_tasks: done\n");
  return rc;
}

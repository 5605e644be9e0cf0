// A context-switch storm for benchmarks of off-CPU profiling: two threads pass a byte back and
// forth through two pipes, so each round trip blocks each thread once (~2 switches out).
//
// Usage: pingpong [ROUND_TRIPS]   (default 100000)
//
// Prints on stderr at exit: "pingpong: round_trips N wall_us W cpu_us C" (C: the process's
// user + system CPU time, both threads).
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int g_ping[2];  // main -> pong
static int g_pong[2];  // pong -> main
static long g_round_trips = 100000;

static void Die(const char* what) {
  perror(what);
  exit(1);
}

// The main thread: sends a byte and blocks until it comes back.
__attribute__((noinline)) void ping(void) {
  char byte = 0;
  for (long i = 0; i < g_round_trips; ++i) {
    if (write(g_ping[1], &byte, 1) != 1) Die("ping write");
    if (read(g_pong[0], &byte, 1) != 1) Die("ping read");
  }
}

// The other thread: blocks until a byte comes and sends it back, until EOF.
__attribute__((noinline)) void* pong(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "pong");
  char byte;
  while (read(g_ping[0], &byte, 1) == 1) {
    if (write(g_pong[1], &byte, 1) != 1) Die("pong write");
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 2 || (argc == 2 && (g_round_trips = atol(argv[1])) <= 0)) {
    fprintf(stderr, "usage: pingpong [ROUND_TRIPS]\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (pipe2(g_ping, O_CLOEXEC) != 0 || pipe2(g_pong, O_CLOEXEC) != 0) Die("pipe2");
  pthread_t thread;
  if (pthread_create(&thread, NULL, pong, NULL) != 0) Die("pthread_create");
  ping();
  close(g_ping[1]);
  pthread_join(thread, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const long long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
                           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  fprintf(stderr, "pingpong: round_trips %ld wall_us %lld cpu_us %lld\n", g_round_trips,
          (long long)((t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000),
          cpu_us);
  return 0;
}

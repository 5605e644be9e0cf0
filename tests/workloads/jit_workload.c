// A JIT-like workload: copies a tiny hand-assembled loop into anonymous executable memory,
// names it "jitted_loop" in /tmp/perf-<pid>.map (the format node --perf-basic-prof, Java
// agents and CPython -X perf write) and runs it from main for the given number of seconds of
// its CPU time.
// The map is left in place (a profiler reads it after the process exits, as perf does);
// whoever runs this removes it. Prints "jit <pid> <address>" on stdout when it starts.
// x86-64 only: elsewhere it exits with 77 (the tests skip).
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
// uint64_t jitted_loop(uint64_t n): counts to n. It sets up a frame pointer like compiled
// code, so the kernel's frame-pointer unwinder walks from it back into main.
static const unsigned char kCode[] = {
    0x55,                    // push %rbp
    0x48, 0x89, 0xe5,        // mov %rsp,%rbp
    0x31, 0xc0,              // xor %eax,%eax
    0x48, 0x83, 0xc0, 0x01,  // loop: add $1,%rax
    0x48, 0x39, 0xf8,        // cmp %rdi,%rax
    0x72, 0xf7,              // jb loop
    0x5d,                    // pop %rbp
    0xc3,                    // ret
};
#endif

// The process's CPU time: SECONDS is the same amount of work however busy the machine is.
static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
#if !defined(__x86_64__)
  (void)argc;
  (void)argv;
  fprintf(stderr, "jit_workload: x86-64 only\n");
  return 77;
#else
  const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char* mem = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("jit_workload: mmap");
    return 1;
  }
  // Not at the page start, as a real JIT's code heap would have it.
  unsigned char* code = mem + 0x40;
  memcpy(code, kCode, sizeof(kCode));
  if (mprotect(mem, page, PROT_READ | PROT_EXEC) != 0) {
    perror("jit_workload: mprotect");
    return 1;
  }
  char path[64];
  snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
  FILE* map = fopen(path, "w");
  if (map == NULL) {
    perror("jit_workload: creating the perf map");
    return 1;
  }
  fprintf(map, "%lx %zx jitted_loop\n", (unsigned long)(uintptr_t)code, sizeof(kCode));
  fclose(map);
  printf("jit %d %lx\n", (int)getpid(), (unsigned long)(uintptr_t)code);
  fflush(stdout);

  uint64_t (*fn)(uint64_t);
  void* p = code;
  memcpy(&fn, &p, sizeof(fn));
  volatile uint64_t sink = 0;
  const double end = Now() + seconds;
  while (Now() < end) sink += fn(10 * 1000 * 1000);
  return sink == 0;
#endif
}

// THREAD_CPU_NS() for the known-answer workloads: the calling thread's CPU time in ns,
// read with a raw syscall written into the caller.
#ifndef WICK_TESTS_WORKLOADS_THREAD_CPU_H_
#define WICK_TESTS_WORKLOADS_THREAD_CPU_H_

#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

// This thread's CPU time in ns. A raw syscall written into its caller (a macro, not an inline
// function, so the caller's own line holds it and no inlined frame appears): a call into libc
// or the vDSO would put a frame without a frame pointer on top of the phase (known_tree's a, b or
// c), and a frame-pointer walk from there skips its caller.
#define THREAD_CPU_NS()                                                                            \
  __extension__({                                                                                  \
    struct timespec ts_;                                                                           \
    long ret_;                                                                                     \
    __asm__ volatile("syscall"                                                                     \
                     : "=a"(ret_)                                                                  \
                     : "0"((long)SYS_clock_gettime), "D"((long)CLOCK_THREAD_CPUTIME_ID), "S"(&ts_) \
                     : "rcx", "r11", "memory");                                                    \
    if (ret_ != 0) abort();                                                                        \
    (int64_t) ts_.tv_sec * 1000000000 + ts_.tv_nsec;                                               \
  })

#endif  // WICK_TESTS_WORKLOADS_THREAD_CPU_H_

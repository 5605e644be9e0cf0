// C++ known-answer workload for demangling: main -> wick_workload::Tree::Work ->
// wick_workload::Burn<6>, Burn<3>, Burn<1>, which take 60/30/10 % of its CPU time by
// construction, as in known_tree.c: each runs until the thread's CPU clock reaches its
// deadline within a round of 10 ms of CPU time (see known_tree.c for why).
// Usage: known_tree_cc SECONDS | rROUNDS
// At exit it prints "known_tree: cpu SECONDS" (its CPU time, from getrusage) on stderr.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace wick_workload {

volatile uint64_t sink[3];

// The thread's CPU time in ns, by a raw syscall written into its caller (see known_tree.c), so
// a sample taken inside it still has Burn<N> as its user leaf.
#define THREAD_CPU_NS()                                                                            \
  __extension__({                                                                                  \
    timespec ts_;                                                                                  \
    long ret_;                                                                                     \
    __asm__ volatile("syscall"                                                                     \
                     : "=a"(ret_)                                                                  \
                     : "0"(long{SYS_clock_gettime}), "D"(long{CLOCK_THREAD_CPUTIME_ID}), "S"(&ts_) \
                     : "rcx", "r11", "memory");                                                    \
    if (ret_ != 0) std::abort();                                                                   \
    int64_t{ts_.tv_sec} * 1000000000 + ts_.tv_nsec;                                                \
  })

// Keeps Burn<N> from being a leaf function, whose frame pointer gcc 12 would drop.
__attribute__((noinline)) void Checkpoint() { __asm__ volatile(""); }

// Iterations between two clock reads: ~50 us of CPU here (Calibrate), as in known_tree.c.
long g_chunk = 4096;

// Spins in chunks until the thread's CPU clock reaches until_ns.
template <int N>
__attribute__((noinline)) void Burn(int64_t until_ns) {
  do {
    for (long i = 0; i < g_chunk; ++i) sink[N % 3] = sink[N % 3] + static_cast<uint64_t>(i);
  } while (THREAD_CPU_NS() < until_ns);
  Checkpoint();
}

void Calibrate() {
  for (long n = 1 << 12;; n *= 2) {
    const int64_t start = THREAD_CPU_NS();
    for (long i = 0; i < n; ++i) sink[0] = sink[0] + static_cast<uint64_t>(i);
    const int64_t took = THREAD_CPU_NS() - start;
    if (took >= 1000000 || n >= (1L << 30)) {
      g_chunk = std::max(256L, static_cast<long>(static_cast<double>(n) * 50000 /
                                                 static_cast<double>(std::max<int64_t>(took, 1))));
      return;
    }
  }
}

struct Tree {
  __attribute__((noinline)) static void Work(double seconds, long rounds);
};

static double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Rounds of 10 ms of CPU: Burn<6> until 6 ms into the round, Burn<3> until 9, Burn<1> until 10.
void Tree::Work(double seconds, long rounds) {
  constexpr int64_t kMs = 1000000;
  const double deadline = Now() + seconds;
  int64_t round_start = THREAD_CPU_NS();
  long done = 0;
  do {
    Burn<6>(round_start + 6 * kMs);
    Burn<3>(round_start + 9 * kMs);
    Burn<1>(round_start + 10 * kMs);
    round_start += 10 * kMs;
    ++done;
  } while (rounds > 0 ? done < rounds : Now() < deadline);
}

}  // namespace wick_workload

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  long rounds = 0;
  double seconds = 0;
  if (argv[1][0] == 'r') {
    rounds = std::atol(argv[1] + 1);
    if (rounds <= 0) return 2;
  } else {
    seconds = std::atof(argv[1]);
  }
  wick_workload::Calibrate();
  wick_workload::Tree::Work(seconds, rounds);
  rusage self;
  getrusage(RUSAGE_SELF, &self);
  std::fprintf(stderr, "known_tree: cpu %.3f\n",
               static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                   static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  return 0;
}

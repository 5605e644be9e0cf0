// C++ known-answer workload for demangling: main -> wick_workload::Tree::Work ->
// wick_workload::Burn<6>, Burn<3>, Burn<1> (60/30/10 % of CPU time).
// Usage: known_tree_cc SECONDS
#include <time.h>

#include <cstdint>
#include <cstdlib>

namespace wick_workload {

volatile uint64_t sink[3];

// Keeps Burn<N> from being a leaf function, whose frame pointer gcc 12 would drop.
__attribute__((noinline)) void Checkpoint() { __asm__ volatile(""); }

template <int N>
__attribute__((noinline)) void Burn(long unit) {
  for (long i = 0; i < N * unit; ++i) sink[N % 3] = sink[N % 3] + static_cast<uint64_t>(i);
  Checkpoint();
}

struct Tree {
  __attribute__((noinline)) static void Work(double seconds);
};

static double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void Tree::Work(double seconds) {
  const double deadline = Now() + seconds;
  do {
    Burn<6>(1000000);
    Burn<3>(1000000);
    Burn<1>(1000000);
  } while (Now() < deadline);
}

}  // namespace wick_workload

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  wick_workload::Tree::Work(std::atof(argv[1]));
  return 0;
}

// Inlining workload: main -> outer, with burn() inlined into outer (always_inline), so a
// symbolizer must name outer from the symbol table and burn from DWARF inline records.
// Usage: known_tree_inline SECONDS
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

volatile uint64_t sink;

static inline __attribute__((always_inline)) void burn(long n) {
  for (long i = 0; i < n; ++i) sink += (uint64_t)i;
}

__attribute__((noinline)) void outer(double seconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    burn(1000000);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 <
           seconds);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  outer(atof(argv[1]));
  return 0;
}

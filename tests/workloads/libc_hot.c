// libc's hot functions in a loop: malloc, free, realloc, memcpy and memmove, called through
// the PLT as any program calls them. For comparing the names profilers give libc's code
// (tests/e2e/symbols_e2e_kernel_test.cc): perf is the reference.
//
// Usage: libc_hot ROUNDS   (about 1 s of CPU per 20000000 rounds here)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char src[1 << 16], dst[1 << 16];

int main(int argc, char** argv) {
  if (argc != 2 || atol(argv[1]) <= 0) {
    fprintf(stderr, "usage: libc_hot ROUNDS\n");
    return 2;
  }
  const long rounds = atol(argv[1]);
  size_t sum = 0;
  for (long i = 0; i < rounds; ++i) {
    // Blocks from the tcache and from the bins, below the mmap and trim thresholds: the time
    // is libc's, not the kernel's.
    char* small = malloc(16 + (size_t)(i & 1023));
    char* large = malloc(20000 + (size_t)(i & 4095));
    char* grown = realloc(NULL, 64);
    grown = realloc(grown, 4096 + (size_t)(i & 255));
    small[0] = (char)i;
    large[0] = (char)(i >> 8);
    grown[0] = (char)(i >> 16);
    sum += (size_t)small[0] + (size_t)large[0] + (size_t)grown[0];
    free(small);
    free(large);
    free(grown);
    memcpy(dst + (i & 7), src, 512 + (size_t)(i & 255));
    memmove(dst + 1 + (i & 7), dst, 512);
  }
  printf("%zu\n", sum & 1);
  return 0;
}

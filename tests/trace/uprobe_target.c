// Known-answer program for uprobe tests: calls wick_uprobe_target() exactly N times.
// Usage: uprobe_target N
#include <stdlib.h>

volatile int wick_sink;

__attribute__((noinline, used)) int wick_uprobe_target(int i) {
  __asm__ volatile("" ::: "memory");
  wick_sink += i;
  return wick_sink;
}

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const int n = atoi(argv[1]);
  for (int i = 0; i < n; ++i) wick_uprobe_target(i);
  return 0;
}

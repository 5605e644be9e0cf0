// Known-answer program for tracepoint tests: exactly N openat(2) calls with mode 0 and M more
// with mode 0644 (ignored by the kernel without O_CREAT; it lets a filter tell them apart).
// Built static, so the dynamic loader's own openat calls do not add to the count.
// Usage: openat_n N [M]
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void OpenClose(int mode) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, mode);
  if (fd < 0) exit(2);
  close(fd);
}

int main(int argc, char** argv) {
  if (argc < 2) return 1;
  const int n = atoi(argv[1]);
  const int m = argc > 2 ? atoi(argv[2]) : 0;
  for (int i = 0; i < n; ++i) OpenClose(0);
  for (int i = 0; i < m; ++i) OpenClose(0644);
  return 0;
}

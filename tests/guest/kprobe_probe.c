// Self-test of the qemu guest harness, independent of wick: opens a kprobe and a kretprobe
// on FUNC through the kprobe PMU (perf_event_open(2): type from
// /sys/bus/event_source/devices/kprobe/type, config1 = the function name, config2 = 0, the
// retprobe bit from format/retprobe), counts them for this task only (pid 0, cpu -1) around
// exactly N openat(2) calls, prints both counts and exits 0 only when both equal N.
//
//   kprobe_probe [N [FUNC]]     (default: 100 do_sys_openat2)
//
// Exit codes: 0 pass, 1 wrong counts, 2 cannot open the events (e.g. no kprobes in this
// kernel). Statically linked so that the guest needs nothing else.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char kPmuDir[] = "/sys/bus/event_source/devices/kprobe";

// Reads the first line of PATH into BUF; returns 0 on success.
static int ReadLine(const char* path, char* buf, size_t size) {
  FILE* f = fopen(path, "re");
  if (f == NULL) return -1;
  char* line = fgets(buf, (int)size, f);
  fclose(f);
  if (line == NULL) return -1;
  buf[strcspn(buf, "\n")] = '\0';
  return 0;
}

static int OpenProbe(uint32_t type, uint64_t config, const char* func) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config = config;
  attr.config1 = (uint64_t)(uintptr_t)func;  // kprobe_func
  attr.config2 = 0;                          // probe_offset
  attr.disabled = 1;
  return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

int main(int argc, char** argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
  const char* func = argc > 2 ? argv[2] : "do_sys_openat2";
  char buf[128];

  char path[256];
  snprintf(path, sizeof(path), "%s/type", kPmuDir);
  if (ReadLine(path, buf, sizeof(buf)) != 0) {
    fprintf(stderr, "kprobe_probe: %s: %s (kernel without CONFIG_KPROBES?)\n", path,
            strerror(errno));
    return 2;
  }
  uint32_t type = (uint32_t)strtoul(buf, NULL, 10);
  // format/retprobe reads "config:N": the retprobe flag is bit N of attr.config.
  snprintf(path, sizeof(path), "%s/format/retprobe", kPmuDir);
  unsigned bit = 0;
  if (ReadLine(path, buf, sizeof(buf)) != 0 || sscanf(buf, "config:%u", &bit) != 1) {
    fprintf(stderr, "kprobe_probe: cannot parse %s ('%s')\n", path, buf);
    return 2;
  }

  int entry = OpenProbe(type, 0, func);
  if (entry < 0) {
    fprintf(stderr, "kprobe_probe: perf_event_open(kprobe %s): %s\n", func, strerror(errno));
    return 2;
  }
  int ret = OpenProbe(type, 1ull << bit, func);
  if (ret < 0) {
    fprintf(stderr, "kprobe_probe: perf_event_open(kretprobe %s): %s\n", func, strerror(errno));
    return 2;
  }

  // Only raw system calls between enable and disable, so nothing else opens files.
  ioctl(entry, PERF_EVENT_IOC_ENABLE, 0);
  ioctl(ret, PERF_EVENT_IOC_ENABLE, 0);
  for (long i = 0; i < n; ++i) {
    long fd = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) syscall(SYS_close, fd);
  }
  ioctl(entry, PERF_EVENT_IOC_DISABLE, 0);
  ioctl(ret, PERF_EVENT_IOC_DISABLE, 0);

  uint64_t entry_count = 0, ret_count = 0;
  if (read(entry, &entry_count, sizeof(entry_count)) != sizeof(entry_count) ||
      read(ret, &ret_count, sizeof(ret_count)) != sizeof(ret_count)) {
    fprintf(stderr, "kprobe_probe: reading the counts: %s\n", strerror(errno));
    return 2;
  }
  printf("kprobe type=%u retprobe_bit=%u func=%s n=%ld kprobe=%llu kretprobe=%llu\n", type, bit,
         func, n, (unsigned long long)entry_count, (unsigned long long)ret_count);
  if (entry_count != (uint64_t)n || ret_count != (uint64_t)n) {
    fprintf(stderr, "kprobe_probe: FAIL: expected both counts to be exactly %ld\n", n);
    return 1;
  }
  printf("kprobe_probe: PASS\n");
  return 0;
}

// Known-answer workload for off-CPU and wall-clock profiles: a main thread that spends its rounds
// partly on the CPU and partly blocked in known ways, and measures each part itself.
//
// Usage:
//   offcpu_rounds MODE rN|SECONDS [pid] [raw] [dir DIR]
//
// MODE, what the main thread does in each round (each part is a function of its own):
//   rounds  compute_part: ~2 ms of this thread's CPU time;
//           sleep_part:   nanosleep(2 ms);
//           pipe_part:    a blocking read of a pipe that a helper thread writes ~1 ms after
//                         the main thread asked it to.
//   mutex   compute_part: ~1 ms of CPU; mutex_part: pthread_mutex_lock of a mutex a helper
//           thread holds for ~1 ms (a futex wait, state S). (mutex_handshake: the short pipe
//           exchange that makes sure the helper holds the mutex first.)
//   disk    compute_part: ~1 ms of CPU; disk_part: a 256 KiB O_DIRECT read of a file it
//           created in DIR (default $TMPDIR, else /var/tmp): the thread waits for the device in
//           state D. When the filesystem refuses O_DIRECT (tmpfs), it reads through the page
//           cache instead and says "direct 0": then no read waits for the device.
// rN runs N rounds, SECONDS runs rounds for about that long.
// pid: print "pid PID" (flushed) first, for attaching to it (-p), and the truth line (below) on
//   stdout instead of stderr.
// raw: the blocking calls (nanosleep, read, write) are raw syscalls written into the part's own
//   function instead of calls into libc. Debian's libc has no frame pointers: a frame-pointer
//   walk (-g) from inside libc skips the part's function. With raw, the part's function is the
//   user leaf, so -g stacks of the frame-pointer build are whole.
//
// The truth, measured with CLOCK_MONOTONIC around each part, is printed on stderr at exit, as
// one line of "key value" pairs (durations in microseconds):
//   offcpu_rounds: mode M tid T rounds N direct D wall_us W cpu_us C stat_cpu_us S PART US ...
// W: the main thread's wall time from main() to the end of its work (helper joined); C: its CPU
// time (CLOCK_THREAD_CPUTIME_ID); S: its CPU time from /proc/self/task/T/stat (utime + stime);
// one PART US pair per part function (compute_part, sleep_part, pipe_part, mutex_part, disk_part)
// with the wall time spent in it, off the CPU or on. A profile's shares are checked against these.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "thread_cpu.h"

enum {
  kNsPerUs = 1000,
  kNsPerMs = 1000000,
  kDiskFileBytes = 64 << 20,
  kDiskReadBytes = 256 << 10,
  kDirectAlign = 4096,
};

// A raw 3-argument syscall written into its caller (see thread_cpu.h for why not libc).
#define RAW_SYSCALL3(nr, a, b, c)                                                      \
  __extension__({                                                                      \
    long ret_;                                                                         \
    __asm__ volatile("syscall"                                                         \
                     : "=a"(ret_)                                                      \
                     : "0"((long)(nr)), "D"((long)(a)), "S"((long)(b)), "d"((long)(c)) \
                     : "rcx", "r11", "memory");                                        \
    ret_;                                                                              \
  })

static int64_t MonotonicNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void Die(const char* what) {
  fprintf(stderr, "offcpu_rounds: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int g_raw;          // blocking calls as raw syscalls in the part's function
static int g_to_helper;    // write end: main -> helper ("go")
static int g_from_helper;  // read end: helper -> main (reply, or "mutex held")
static int g_helper_in;    // read end of "go", the helper's
static int g_helper_out;   // write end of the reply, the helper's
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static int g_disk_fd = -1;
static int g_direct;
static void* g_disk_buf;
static uint64_t g_disk_offset;

volatile uint64_t sink;

// ~ms of this thread's CPU time: spins until its CPU clock has moved that far.
__attribute__((noinline)) void compute_part(int64_t ms) {
  const int64_t until = THREAD_CPU_NS() + ms * kNsPerMs;
  do {
    for (int i = 0; i < 2000; ++i) sink += (uint64_t)i;
  } while (THREAD_CPU_NS() < until);
}

__attribute__((noinline)) void sleep_part(void) {
  struct timespec ts = {0, 2 * kNsPerMs};
  if (g_raw) {
    while (RAW_SYSCALL3(SYS_nanosleep, &ts, &ts, 0) == -EINTR) {
    }
  } else {
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
}

// Asks the helper for a byte and blocks in read() until it comes (~1 ms later).
__attribute__((noinline)) void pipe_part(void) {
  char byte = 'p';
  if (g_raw) {
    if (RAW_SYSCALL3(SYS_write, g_to_helper, &byte, 1) != 1) abort();
    if (RAW_SYSCALL3(SYS_read, g_from_helper, &byte, 1) != 1) abort();
  } else {
    if (write(g_to_helper, &byte, 1) != 1) Die("pipe write");
    if (read(g_from_helper, &byte, 1) != 1) Die("pipe read");
  }
}

// Asks the helper to take the mutex and waits until it has (a short pipe wait of its own).
__attribute__((noinline)) void mutex_handshake(void) {
  char byte = 'm';
  if (write(g_to_helper, &byte, 1) != 1) Die("pipe write");
  if (read(g_from_helper, &byte, 1) != 1) Die("pipe read");
}

// Waits (futex) for the mutex the helper holds for ~1 ms.
__attribute__((noinline)) void mutex_part(void) {
  pthread_mutex_lock(&g_mutex);
  pthread_mutex_unlock(&g_mutex);
}

// One read at the next offset of the file (wrapping), from the device when O_DIRECT works.
__attribute__((noinline)) void disk_part(void) {
  if (pread(g_disk_fd, g_disk_buf, kDiskReadBytes, (off_t)g_disk_offset) != kDiskReadBytes) {
    Die("disk read");
  }
  // A stride that is not a divisor of the file: successive rounds read different blocks.
  g_disk_offset = (g_disk_offset + 5 * (uint64_t)kDiskReadBytes) % kDiskFileBytes;
}

static void SleepMs(int ms) {
  struct timespec ts = {0, (long)ms * kNsPerMs};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// The helper of `rounds` and `mutex`: one answer per byte the main thread sends, until EOF.
static void* Helper(void* arg) {
  const int mutex_mode = arg != NULL;
  pthread_setname_np(pthread_self(), mutex_mode ? "mutex-helper" : "rounds-helper");
  char byte;
  while (read(g_helper_in, &byte, 1) == 1) {
    if (mutex_mode) {
      pthread_mutex_lock(&g_mutex);
      if (write(g_helper_out, &byte, 1) != 1) Die("helper write");
      SleepMs(1);
      pthread_mutex_unlock(&g_mutex);
    } else {
      SleepMs(1);
      if (write(g_helper_out, &byte, 1) != 1) Die("helper write");
    }
  }
  return NULL;
}

// Creates the file disk mode reads: kDiskFileBytes of data on disk (fsync'ed), opened O_DIRECT
// when the filesystem allows it, and unlinked (the fd keeps it until exit).
static void OpenDiskFile(const char* dir) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/offcpu_rounds.XXXXXX", dir);
  const int fd = mkstemp(path);
  if (fd < 0) Die(path);
  char* block = malloc(1 << 20);
  if (block == NULL) Die("malloc");
  for (int i = 0; i < (1 << 20); ++i) block[i] = (char)(i * 31 + 7);
  for (int written = 0; written < kDiskFileBytes; written += 1 << 20) {
    if (write(fd, block, 1 << 20) != 1 << 20) Die("writing the disk file");
  }
  free(block);
  if (fsync(fd) != 0) Die("fsync");
  g_disk_fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  g_direct = g_disk_fd >= 0;
  if (!g_direct) {
    // No O_DIRECT here (tmpfs): reads go through the page cache, which may hold the file.
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    g_disk_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (g_disk_fd < 0) Die(path);
  }
  close(fd);
  unlink(path);
  if (posix_memalign(&g_disk_buf, kDirectAlign, kDiskReadBytes) != 0) Die("posix_memalign");
}

enum Mode { kRounds, kMutex, kDisk };
enum Part { kCompute, kSleep, kPipe, kMutexWait, kDiskRead, kParts };
static const char* const kPartNames[kParts] = {"compute_part", "sleep_part", "pipe_part",
                                               "mutex_part", "disk_part"};
static int64_t g_part_ns[kParts];

// Runs `call` and adds its wall time to part `p`.
#define TIMED(p, call)                      \
  do {                                      \
    const int64_t start_ = MonotonicNs();   \
    call;                                   \
    g_part_ns[p] += MonotonicNs() - start_; \
  } while (0)

__attribute__((noinline)) long run_rounds(enum Mode mode, long rounds, double seconds) {
  const int64_t deadline = MonotonicNs() + (int64_t)(seconds * 1e9);
  long done = 0;
  do {
    switch (mode) {
      case kRounds:
        TIMED(kCompute, compute_part(2));
        TIMED(kSleep, sleep_part());
        TIMED(kPipe, pipe_part());
        break;
      case kMutex:
        TIMED(kCompute, compute_part(1));
        mutex_handshake();
        TIMED(kMutexWait, mutex_part());
        break;
      case kDisk:
        TIMED(kCompute, compute_part(1));
        TIMED(kDiskRead, disk_part());
        break;
    }
    ++done;
  } while (rounds > 0 ? done < rounds : MonotonicNs() < deadline);
  return done;
}

// This thread's utime + stime from /proc/self/task/TID/stat, in microseconds (-1 on error).
static int64_t StatCpuUs(pid_t tid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
  FILE* f = fopen(path, "re");
  if (f == NULL) return -1;
  const size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  // Fields after the comm (which may hold spaces): the last ')' ends it. utime and stime are
  // fields 14 and 15, i.e. the 12th and 13th after it.
  const char* p = strrchr(buf, ')');
  if (p == NULL) return -1;
  unsigned long long utime = 0, stime = 0;
  if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2) {
    return -1;
  }
  return (int64_t)((utime + stime) * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static int Usage(void) {
  fprintf(stderr, "usage: offcpu_rounds rounds|mutex|disk rROUNDS|SECONDS [pid] [raw] [dir DIR]\n");
  return 2;
}

int main(int argc, char** argv) {
  const int64_t start = MonotonicNs();
  if (argc < 3) return Usage();
  enum Mode mode;
  if (strcmp(argv[1], "rounds") == 0) {
    mode = kRounds;
  } else if (strcmp(argv[1], "mutex") == 0) {
    mode = kMutex;
  } else if (strcmp(argv[1], "disk") == 0) {
    mode = kDisk;
  } else {
    return Usage();
  }
  long rounds = 0;
  double seconds = 0;
  if (argv[2][0] == 'r') {
    rounds = atol(argv[2] + 1);
    if (rounds <= 0) return Usage();
  } else {
    seconds = atof(argv[2]);
    if (seconds <= 0) return Usage();
  }
  const char* dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/var/tmp";
  int print_pid = 0;
  for (int i = 3; i < argc; ++i) {
    if (strcmp(argv[i], "pid") == 0) {
      print_pid = 1;
    } else if (strcmp(argv[i], "raw") == 0) {
      g_raw = 1;
    } else if (strcmp(argv[i], "dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else {
      return Usage();
    }
  }
  if (mode == kDisk) OpenDiskFile(dir);
  pthread_t helper;
  if (mode != kDisk) {
    int go[2], reply[2];
    if (pipe2(go, O_CLOEXEC) != 0 || pipe2(reply, O_CLOEXEC) != 0) Die("pipe2");
    g_helper_in = go[0];
    g_to_helper = go[1];
    g_from_helper = reply[0];
    g_helper_out = reply[1];
    if (pthread_create(&helper, NULL, Helper, mode == kMutex ? (void*)1 : NULL) != 0) {
      Die("pthread_create");
    }
  }
  if (print_pid) {
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
  }
  const long done = run_rounds(mode, rounds, seconds);
  if (mode != kDisk) {
    close(g_to_helper);  // the helper reads EOF and returns
    pthread_join(helper, NULL);
  }
  const int64_t wall = MonotonicNs() - start;
  const int64_t cpu = THREAD_CPU_NS();
  const pid_t tid = (pid_t)syscall(SYS_gettid);
  FILE* out = print_pid ? stdout : stderr;
  fprintf(out,
          "offcpu_rounds: mode %s tid %d rounds %ld direct %d wall_us %lld cpu_us %lld "
          "stat_cpu_us %lld",
          argv[1], (int)tid, done, g_direct, (long long)(wall / kNsPerUs),
          (long long)(cpu / kNsPerUs), (long long)StatCpuUs(tid));
  for (int p = 0; p < kParts; ++p) {
    const int used = p == kCompute || (mode == kRounds && (p == kSleep || p == kPipe)) ||
                     (mode == kMutex && p == kMutexWait) || (mode == kDisk && p == kDiskRead);
    if (used) fprintf(out, " %s %lld", kPartNames[p], (long long)(g_part_ns[p] / kNsPerUs));
  }
  fprintf(out, "\n");
  fflush(out);
  return 0;
}

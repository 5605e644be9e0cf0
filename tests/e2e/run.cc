#include "run.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace wick::testing {
namespace {

int CodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string TempPath(const std::string& name) {
  static std::string dir = [] {
    std::string templ = "/tmp/wick-e2e-XXXXXX";
    char* d = mkdtemp(templ.data());
    return std::string(d ? d : "/tmp");
  }();
  return dir + "/" + name;
}

RunResult RunProgram(const std::vector<std::string>& argv) {
  static int counter = 0;
  std::string out_path = TempPath("out" + std::to_string(counter));
  std::string err_path = TempPath("err" + std::to_string(counter++));
  std::vector<char*> args = Argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(126);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  RunResult r;
  r.exit_code = CodeOf(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

Background::Background(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return;
  std::vector<char*> args = Argv(argv);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], 1);
    execv(args[0], args.data());
    _exit(126);
  }
  close(fds[1]);
  out_fd_ = fds[0];
}

Background::~Background() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Wait();
  }
  if (out_fd_ >= 0) close(out_fd_);
}

std::string Background::ReadLine() {
  std::string line;
  char c;
  while (read(out_fd_, &c, 1) == 1) {
    if (c == '\n') break;
    line += c;
  }
  return line;
}

void Background::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

int Background::Wait() {
  if (reaped_) return code_;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  code_ = CodeOf(status);
  return code_;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t ChildOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t child = -1;
  in >> child;
  return child;
}

double CpuSeconds(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  // utime and stime are fields 14 and 15 of stat(5): the 12th and 13th after the comm.
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i >= 12) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / double(sysconf(_SC_CLK_TCK));
}

double WaitForCpu(pid_t pid, double cpu_s, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  double cpu = CpuSeconds(pid);
  while (cpu < cpu_s && std::chrono::steady_clock::now() < deadline && kill(pid, 0) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cpu = CpuSeconds(pid);
  }
  return cpu;
}

int WaitForPerfEvents(pid_t pid, int n, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (;;) {
    int count = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(entry.path(), link_ec).string() ==
          "anon_inode:[perf_event]") {
        ++count;
      }
    }
    if (count >= n || ec || std::chrono::steady_clock::now() > deadline) return count;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

pid_t WaitForChild(pid_t parent, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pid_t child = ChildOf(parent);
  while (child <= 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    child = ChildOf(parent);
  }
  return child;
}

std::vector<std::string> WithStderr(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1"});
  return argv;
}

bool WaitForRecording(Background& wick) {
  for (std::string line = wick.ReadLine(); !line.empty(); line = wick.ReadLine()) {
    if (line.rfind("wick record: recording: ", 0) == 0) return true;
    std::printf("%s\n", line.c_str());
  }
  return false;
}

PerfUprobe::PerfUprobe(const std::string& binary, const std::string& function,
                       const std::string& prefix)
    : group_(prefix + std::to_string(getpid())), event_(group_ + ":target") {
  added_ = RunProgram({"/usr/bin/perf", "probe", "-q", "-x", binary, event_ + "=" + function});
}

PerfUprobe::~PerfUprobe() { RunProgram({"/usr/bin/perf", "probe", "-q", "-d", group_ + ":*"}); }

}  // namespace wick::testing

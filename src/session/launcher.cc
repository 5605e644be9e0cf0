#include "launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "wick/status.h"

namespace wick {

absl::StatusOr<Launcher> Launcher::Start(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("no command given");
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  ScopedFd go_read(go[0]), go_write(go[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe2");
  ScopedFd err_read(err[0]), err_write(err[1]);

  // Build argv before fork: the child must not allocate (it may be forked from a threaded
  // process).
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return ErrnoError(errno, absl::StrCat("fork for '", argv[0], "'"));
  if (pid == 0) {
    // Child: drop the parent's ends so that EOF on `go` means wick is gone; restore default signal
    // dispositions wick may have changed, wait for the go.
    go_write.reset();
    err_read.reset();
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    char c;
    ssize_t n;
    do {
      n = read(go_read.get(), &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);  // wick gave up before release
    execvp(args[0], args.data());
    int e = errno;
    [[maybe_unused]] ssize_t w = write(err_write.get(), &e, sizeof(e));
    _exit(127);
  }
  Launcher l;
  l.pid_ = pid;
  l.name_ = argv[0];
  l.go_write_ = std::move(go_write);
  l.err_read_ = std::move(err_read);
  return l;
}

Launcher& Launcher::operator=(Launcher&& other) noexcept {
  if (this != &other) {
    pid_ = std::exchange(other.pid_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    wait_status_ = std::exchange(other.wait_status_, -1);
    name_ = std::move(other.name_);
    go_write_ = std::move(other.go_write_);
    err_read_ = std::move(other.err_read_);
  }
  return *this;
}

Launcher::~Launcher() {
  if (pid_ > 0 && !reaped_) {
    // Not released (wick failed while preparing): closing go_write_ makes the child exit.
    go_write_.reset();
    Wait();
  }
}

absl::Status Launcher::Release() {
  char c = 'g';
  if (write(go_write_.get(), &c, 1) != 1) return ErrnoError(errno, "releasing the command");
  go_write_.reset();
  int e = 0;
  ssize_t n;
  do {
    n = read(err_read_.get(), &e, sizeof(e));
  } while (n < 0 && errno == EINTR);
  err_read_.reset();
  if (n == sizeof(e)) {
    Wait();
    std::string hint = e == ENOENT ? "check the name and PATH" : "";
    return ErrnoError(e, absl::StrCat("cannot run '", name_, "'"), hint);
  }
  return absl::OkStatus();
}

int Launcher::Terminate(int grace_ms) {
  if (pid_ <= 0 || reaped_) return wait_status_;
  kill(pid_, SIGTERM);
  for (int waited = 0; waited < grace_ms; waited += 10) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      wait_status_ = status;
      return status;
    }
    usleep(10'000);
  }
  kill(pid_, SIGKILL);
  return Wait();
}

bool Launcher::EndedByStopSignal(int wait_status) {
  if (wait_status < 0 || !WIFSIGNALED(wait_status)) return false;
  const int sig = WTERMSIG(wait_status);
  return sig == SIGINT || sig == SIGTERM || sig == SIGHUP;
}

int Launcher::Wait() {
  if (pid_ <= 0) return -1;
  if (reaped_) return wait_status_;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  reaped_ = true;
  wait_status_ = r == pid_ ? status : -1;
  return wait_status_;
}

}  // namespace wick

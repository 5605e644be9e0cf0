// wick top: the live view. The recording session runs on a thread of its own and hands what it
// read to a TopFeed once per flush; this thread takes it every -d seconds, names the new stacks
// (LiveTop) and draws the rows: full screen with ncurses, or one plain table per period with
// --stdio (or when stdout is not a terminal).
#include <curses.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commands.h"
#include "wick/live_top.h"
#include "wick/scoped.h"
#include "wick/session.h"

namespace wick::cli {
namespace {

// Set while the view runs; the signal handlers only write to them.
volatile sig_atomic_t g_top_stop_fd = -1;
volatile sig_atomic_t g_top_quit_fd = -1;

void OnTopSignal(int) {
  const uint64_t one = 1;
  for (int fd : {int(g_top_stop_fd), int(g_top_quit_fd)}) {
    if (fd >= 0) {
      [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
    }
  }
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

uint64_t SelfCpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (uint64_t(ru.ru_utime.tv_sec) + uint64_t(ru.ru_stime.tv_sec)) * 1'000'000'000 +
         (uint64_t(ru.ru_utime.tv_usec) + uint64_t(ru.ru_stime.tv_usec)) * 1'000;
}

double Percent(uint64_t part, uint64_t all) { return all ? 100.0 * double(part) / double(all) : 0; }

std::string Clip(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  if (width < 2) return s.substr(0, width);
  return s.substr(0, width - 1) + "+";
}

// What the header says about one period.
struct PeriodLine {
  std::string event;
  std::string rate;  // "999 Hz" or "every 100000 events"
  uint64_t samples = 0;
  double seconds = 0;
  uint64_t lost = 0;
  double own_cpu_pct = 0;
  bool cumulative = false;
  TopSort sort = TopSort::kSelf;
};

// "cpu-clock 999 Hz | 1998 samples in 2.0 s (999/s) | lost 0 | wick 0.31% CPU | decaying |
// sort: self": short enough for an 80-column terminal in the common case.
std::string HeaderText(const PeriodLine& p) {
  return absl::StrFormat("%s %s | %" PRIu64 " samples in %.1f s (%.0f/s) | lost %" PRIu64
                         " | wick %.2f%% CPU | %s | sort: %s",
                         p.event, p.rate, p.samples, p.seconds,
                         p.seconds > 0 ? double(p.samples) / p.seconds : 0.0, p.lost, p.own_cpu_pct,
                         p.cumulative ? "cumulative" : "decaying 1/8 a period",
                         p.sort == TopSort::kSelf ? "self" : "total");
}

constexpr int kFunctionWidth = 40;
constexpr int kModuleWidth = 20;

std::string ColumnsText() {
  return absl::StrFormat("%6s %7s  %-*s %-*s %s", "Self%", "Total%", kFunctionWidth, "Function",
                         kModuleWidth, "Module", "Comm");
}

std::string RowText(const TopRow& r, uint64_t all, bool callers) {
  std::string self = callers ? "" : absl::StrFormat("%6.2f", Percent(r.self, all));
  return absl::StrFormat("%6s %7.2f  %-*s %-*s %s", self, Percent(r.total, all), kFunctionWidth,
                         Clip(r.function + (r.kernel ? " [k]" : ""), kFunctionWidth), kModuleWidth,
                         Clip(r.module, kModuleWidth), r.comm);
}

// The view's state across refreshes and keys.
class TopUi {
 public:
  TopUi(const TopFlags& flags, const RecordOptions& opts, TopFeed* feed, int quit_fd, int ended_fd,
        int stop_fd, const std::atomic<bool>* failed)
      : failed_(failed),
        flags_(flags),
        opts_(opts),
        feed_(feed),
        quit_fd_(quit_fd),
        ended_fd_(ended_fd),
        stop_fd_(stop_fd),
        top_(MakeSymbolizerOptions(flags.symbols), flags.cumulative) {
    line_.cumulative = flags.cumulative;
    line_.rate =
        opts.period ? absl::StrCat("every ", opts.period) : absl::StrCat(opts.frequency, " Hz");
  }

  // Runs until q, a stop signal, or (--stdio) the session's end. Returns the session's
  // thread's state through `ended`.
  void Run(bool terminal);
  const LiveTop& top() const { return top_; }
  // Notices from the session (one line each), shown in the status line and printed at the end.
  void Notice(const std::string& s) {
    std::lock_guard<std::mutex> lock(notice_mu_);
    notices_.push_back(s);
  }
  std::vector<std::string> TakeNotices() {
    std::lock_guard<std::mutex> lock(notice_mu_);
    return std::exchange(notices_, {});
  }

 private:
  void Refresh();
  void PrintStdio();
  void Draw();
  void HandleKey(int key);
  void RequestStop() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
  }

  const std::atomic<bool>* failed_;  // the session ended with an error (said at the end)
  const TopFlags& flags_;
  const RecordOptions& opts_;
  TopFeed* feed_;
  int quit_fd_, ended_fd_, stop_fd_;
  LiveTop top_;
  PeriodLine line_;
  TopView view_;
  bool paused_ = false, quit_ = false, ended_ = false;
  bool callers_ = false;  // showing the callers of callers_of_
  uint32_t callers_of_ = 0;
  size_t selected_ = 0;
  std::string status_;
  uint64_t period_start_ns_ = NowNs(), period_start_cpu_ = SelfCpuNs();
  std::mutex notice_mu_;
  std::vector<std::string> notices_;
};

void TopUi::Refresh() {
  top_.Apply(feed_->Take());
  top_.EndPeriod();
  const uint64_t now = NowNs(), cpu = SelfCpuNs();
  line_.seconds = double(now - period_start_ns_) / 1e9;
  line_.own_cpu_pct = now > period_start_ns_
                          ? 100.0 * double(cpu - period_start_cpu_) / double(now - period_start_ns_)
                          : 0;
  period_start_ns_ = now;
  period_start_cpu_ = cpu;
  line_.event = top_.event_names().empty() ? top_.meta().event : top_.event_names()[0];
  line_.lost = top_.stats().Get(Stat::kLostSamples) + top_.stats().Get(Stat::kLostSamplesNoBuffer);
  view_ = top_.Rows(line_.sort, 0);
  line_.samples = view_.period_samples;
  status_.clear();
}

void TopUi::PrintStdio() {
  for (const std::string& n : TakeNotices()) std::fprintf(stderr, "wick top: %s\n", n.c_str());
  std::printf("%s\n%s\n", HeaderText(line_).c_str(), ColumnsText().c_str());
  const size_t rows = flags_.rows ? flags_.rows : 20;
  for (size_t i = 0; i < view_.rows.size() && i < rows; ++i) {
    std::printf("%s\n", RowText(view_.rows[i], view_.all, false).c_str());
  }
  if (top_.finished()) std::printf("the targets exited: this was the last period\n");
  std::printf("\n");
  std::fflush(stdout);
}

void TopUi::Draw() {
  erase();
  int height = LINES, width = COLS;
  std::string header = absl::StrCat("wick top: ", HeaderText(line_));
  if (paused_) header += "  [paused]";
  mvaddnstr(0, 0, header.c_str(), width);
  std::string help = top_.finished() ? "the targets exited; the last view stays until q. " : "";
  std::vector<std::string> notices = TakeNotices();
  if (!notices.empty()) status_ = notices.back();
  help += status_.empty() ? "q quit  p pause  s sort  z zero  Enter callers  arrows move" : status_;
  mvaddnstr(1, 0, help.c_str(), width);
  std::vector<TopRow> rows;
  uint64_t all = view_.all;
  if (callers_) {
    const TopRow of = top_.Row(callers_of_);
    const TopView callers = top_.Callers(callers_of_, 0);
    std::string title =
        absl::StrFormat("callers of %s (%s, %s): self %.2f%%, total %.2f%%; Enter or Esc: back",
                        of.function, of.module.empty() ? "?" : of.module, of.comm,
                        Percent(of.self, view_.all), Percent(of.total, view_.all));
    mvaddnstr(2, 0, title.c_str(), width);
    rows = callers.rows;
    all = callers.all;
  }
  const int first_row = callers_ ? 4 : 3;
  attron(A_BOLD);
  mvaddnstr(first_row - 1, 0, ColumnsText().c_str(), width);
  attroff(A_BOLD);
  if (!callers_) rows = view_.rows;
  const size_t visible = height > first_row ? size_t(height - first_row) : 0;
  if (!rows.empty()) selected_ = std::min(selected_, rows.size() - 1);
  const size_t scroll = selected_ >= visible ? selected_ - visible + 1 : 0;
  for (size_t i = scroll; i < rows.size() && i - scroll < visible; ++i) {
    if (i == selected_) attron(A_REVERSE);
    mvaddnstr(first_row + int(i - scroll), 0, RowText(rows[i], all, callers_).c_str(), width);
    if (i == selected_) attroff(A_REVERSE);
  }
  refresh();
}

void TopUi::HandleKey(int key) {
  switch (key) {
    case 'q':
    case 'Q':
      quit_ = true;
      return;
    case 'p':
      paused_ = !paused_;
      break;
    case 's':
      line_.sort = line_.sort == TopSort::kSelf ? TopSort::kTotal : TopSort::kSelf;
      view_ = top_.Rows(line_.sort, 0);
      selected_ = 0;
      break;
    case 'z':
      top_.Zero();
      view_ = top_.Rows(line_.sort, 0);
      status_ = "counts zeroed";
      break;
    case KEY_UP:
    case 'k':
      if (selected_ > 0) --selected_;
      break;
    case KEY_DOWN:
    case 'j':
      ++selected_;
      break;
    case KEY_NPAGE:
      selected_ += size_t(std::max(1, LINES - 4));
      break;
    case KEY_PPAGE:
      selected_ -= std::min(selected_, size_t(std::max(1, LINES - 4)));
      break;
    case '\n':
    case '\r':
    case KEY_ENTER:
      if (callers_) {
        callers_ = false;
        selected_ = 0;
      } else if (!opts_.callchain) {
        status_ = "callers need stacks: run wick top with -g or --call-graph dwarf";
      } else if (selected_ < view_.rows.size()) {
        callers_ = true;
        callers_of_ = view_.rows[selected_].key;
        selected_ = 0;
      }
      break;
    case 27:  // Esc
    case KEY_LEFT:
    case KEY_BACKSPACE:
      callers_ = false;
      selected_ = 0;
      break;
    default:
      return;
  }
  Draw();
}

void TopUi::Run(bool terminal) {
  const uint64_t period_ns = uint64_t(flags_.delay * 1e9);
  uint64_t next = NowNs() + period_ns;
  if (terminal) Draw();
  while (!quit_) {
    const uint64_t now = NowNs();
    // After the end the last view stays as it was: nothing more comes to decay it with.
    if (now >= next && !ended_) {
      next += period_ns;
      if (next <= now) next = now + period_ns;
      if (!paused_ || !terminal) {
        Refresh();
        terminal ? Draw() : PrintStdio();
      }
      continue;
    }
    pollfd fds[3] = {{quit_fd_, POLLIN, 0}, {ended_fd_, POLLIN, 0}, {0, POLLIN, 0}};
    const int nfds = terminal ? 3 : 2;
    const int timeout = int((next - now + 999'999) / 1'000'000);
    if (poll(fds, nfds, ended_ ? -1 : timeout) < 0 && errno != EINTR) {
      return;
    }
    if (fds[0].revents & POLLIN) return;  // Ctrl-C, SIGTERM, SIGHUP
    if ((fds[1].revents & POLLIN) && !ended_) {
      uint64_t v;
      [[maybe_unused]] ssize_t n = read(ended_fd_, &v, sizeof(v));
      ended_ = true;
      if (failed_->load()) return;  // nothing to show: the error is said after the view
      // The session's last batch: shown now rather than a period later.
      Refresh();
      if (!terminal) {
        PrintStdio();
        return;
      }
      Draw();
    }
    if (terminal && (fds[2].revents & POLLIN)) {
      for (int key = getch(); key != ERR; key = getch()) {
        HandleKey(key);
        if (quit_) break;
      }
    }
  }
  if (!ended_) RequestStop();
}

}  // namespace

void AddTopCommand(CLI::App& app, TopFlags& f) {
  CLI::App* top = app.add_subcommand(
      "top",
      "Show the hottest functions live, refreshed every few seconds (system-wide unless "
      "-p, -t or a command)");
  RecordFlags& r = f.record;
  top->add_option("-e,--event", r.events,
                  "Event to sample (as in wick record; the rows show the first one)")
      ->take_all();
  top->add_option("-F,--freq", r.frequency, "Sampling frequency in Hz (default 999)")
      ->check(MoreThanZero());
  top->add_option("-c,--count", r.period, "Sample every PERIOD events instead of -F")
      ->check(MoreThanZero());
  top->add_flag("-g", r.g, "Record callchains: total % and callers (same as --call-graph fp)");
  top->add_option("--call-graph", r.call_graph, "fp, or dwarf[,SIZE] (as in wick record)");
  top->add_option("-p,--pid", r.pids, "Watch these processes (comma-separated pids)");
  top->add_option("-t,--tid", r.tids, "Watch these threads only (comma-separated tids)");
  top->add_flag("-a,--all-cpus", r.all_cpus, "The whole system (the default)");
  top->add_option("-m,--mmap-pages", r.mmap_pages, "Ring buffer data pages per CPU");
  top->add_option("--duration", r.duration, "Stop after SEC seconds")->check(MoreThanZero());
  top->add_option("-d,--delay", f.delay, "Seconds between refreshes (default 2)")
      ->check(MoreThanZero());
  top->add_flag("-z,--cumulative", f.cumulative,
                "Counts add up from the start instead of decaying from period to period");
  top->add_flag("--stdio", f.stdio,
                "One plain table per period on stdout instead of the full-screen view (the "
                "default when stdout is not a terminal)");
  top->add_option("--rows", f.rows, "Rows per table with --stdio (default 20)");
  AddSymbolFlags(top, f.symbols);
  top->footer(
      "Keys: q quit, p pause, s sort by self/total, z zero the counts, Up/Down select, Enter "
      "the callers of the selected row (with -g), Esc back. After the options: [--] COMMAND "
      "[ARGS...] to launch and watch.");
}

int RunTop(const TopFlags& flags, const std::string& command_line) {
  RecordFlags rf = flags.record;
  if (rf.pids.empty() && rf.tids.empty() && rf.command.empty()) rf.all_cpus = true;
  RecordOptions opts;
  if (int code = SamplingOptionsFromFlags(rf, "top", &opts)) return code;
  opts.command_line = command_line;
  bool terminal = !flags.stdio && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
  TopFeed feed;
  opts.open_sink =
      [&feed](const RecordingMeta& meta) -> absl::StatusOr<std::unique_ptr<RecordingWriter>> {
    return feed.OpenWriter(meta);
  };
  // Batches reach the view at every drain of the rings (100 ms), so a period's rows are its own
  // within a tenth of a second. A flush costs only the stacks sampled since the last one.
  opts.flush_interval_ms = 100;
  ScopedFd quit_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ScopedFd ended_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!quit_fd || !ended_fd) {
    PrintError("top", "eventfd failed");
    return 1;
  }
  TopUi* ui_for_notices = nullptr;
  std::mutex notices_mu;
  opts.notice = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(notices_mu);
    if (ui_for_notices) {
      ui_for_notices->Notice(line);
    } else {
      std::fprintf(stderr, "wick top: %s\n", line.c_str());
    }
  };
  auto session = RecordSession::Prepare(opts);
  if (!session.ok()) {
    PrintError("top", std::string(session.status().message()));
    return 1;
  }
  std::atomic<bool> failed = false;
  TopUi ui(flags, opts, &feed, quit_fd.get(), ended_fd.get(), (*session)->StopFd(), &failed);
  {
    std::lock_guard<std::mutex> lock(notices_mu);
    ui_for_notices = &ui;
  }
  g_top_stop_fd = (*session)->StopFd();
  g_top_quit_fd = quit_fd.get();
  struct sigaction sa = {};
  sa.sa_handler = OnTopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  // newterm, not initscr: initscr exits the program on a terminal it cannot drive. Asked first
  // through setupterm, whose terminal is freed either way (a failed newterm leaks its screen).
  SCREEN* screen = nullptr;
  if (terminal) {
    if (TerminalKnown()) screen = newterm(nullptr, stdout, stdin);
    if (screen == nullptr) {
      const char* term = getenv("TERM");
      PrintError("top", absl::StrCat("cannot drive this terminal (TERM=", term ? term : "",
                                     "): one plain table per period instead, as with --stdio"));
      terminal = false;
    }
  }
  if (terminal) {
    set_term(screen);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
  }
  absl::StatusOr<RecordSummary> summary = absl::UnknownError("not run");
  std::thread recorder([&] {
    summary = (*session)->Run();
    failed = !summary.ok();
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(ended_fd.get(), &one, sizeof(one));
  });
  ui.Run(terminal);
  if (terminal) endwin();
  if (screen != nullptr) delscreen(screen);
  // q (or a signal) while the session still runs: it stops and hands over its last batch.
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write((*session)->StopFd(), &one, sizeof(one));
  recorder.join();
  g_top_stop_fd = -1;
  g_top_quit_fd = -1;
  {
    std::lock_guard<std::mutex> lock(notices_mu);
    ui_for_notices = nullptr;
  }
  for (const std::string& line : ui.TakeNotices()) {
    std::fprintf(stderr, "wick top: %s\n", line.c_str());
  }
  if (!summary.ok()) {
    PrintError("top", std::string(summary.status().message()));
    return 1;
  }
  const Stats& st = summary->stats;
  const uint64_t lost = st.Get(Stat::kLostSamples) + st.Get(Stat::kLostSamplesNoBuffer);
  std::fprintf(stderr,
               "wick top: %" PRIu64 " samples of %s in %.2f s, %" PRIu64
               " distinct stacks, %" PRIu64 " lost, wick's own CPU %.2f%% of one CPU\n",
               st.Get(Stat::kSamples), summary->event.c_str(), summary->duration_ns / 1e9,
               summary->distinct_stacks, lost,
               summary->duration_ns
                   ? 100.0 * double(summary->self_cpu_ns) / double(summary->duration_ns)
                   : 0.0);
  if (summary->command_wait_status >= 0 && !summary->command_stopped) {
    std::fprintf(stderr, "wick top: the command exited\n");
  }
  // What could not be counted or named, as every wick command says at its end.
  Stats all = st;
  all.Merge(ui.top().symbolizer().stats());
  PrintStats("top", all, {Stat::kSamples, Stat::kLostSamples, Stat::kLostSamplesNoBuffer});
  if (summary->command_stopped) return 0;
  return ExitCodeOf(summary->command_wait_status);
}

}  // namespace wick::cli

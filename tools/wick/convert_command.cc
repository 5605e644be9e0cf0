// Reading recordings, wick's or perf's: LoadRecording (every command that reads one) and
// `wick convert` (perf.data → wick recording). See man/wick-convert.1.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "wick/kernel_symbols.h"
#include "wick/perf_data.h"
#include "wick/perf_data_convert.h"
#include "wick/scoped.h"
#include "wick/symbolizer.h"

namespace wick::cli {
namespace {

// Whether the file or pipe `path` ("-": stdin) holds perf.data. A pipe cannot be peeked at
// without consuming it: stdin that is not a regular file is taken as perf's pipe mode (wick's
// own recordings are files, never streamed).
bool IsPerfDataInput(const std::string& path) {
  int fd = path == "-" ? STDIN_FILENO : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // ReadRecording gives the error naming the path
  struct stat st {};
  bool perf = false;
  if (fstat(fd, &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      perf = path == "-";
    } else {
      std::array<std::byte, 8> head{};
      perf =
          pread(fd, head.data(), head.size(), 0) == ssize_t(head.size()) && LooksLikePerfData(head);
    }
  }
  if (fd != STDIN_FILENO) close(fd);
  return perf;
}

absl::StatusOr<PerfDataReader> OpenPerfData(const std::string& path) {
  if (path == "-") return PerfDataReader::OpenFd(STDIN_FILENO, "stdin");
  return PerfDataReader::OpenFile(path);
}

std::string InputName(const std::string& path) { return path == "-" ? "stdin" : path; }

void PrintNotes(const std::string& sub, const PerfDataConversion& conv) {
  for (const std::string& note : conv.notes) {
    PrintError(sub, (conv.complete ? "note: " : "warning: ") + note);
  }
}

// perf.data read into a wick recording held in memory (a memfd), then read back as any
// recording is: every command gets the same recording, counters and notes.
std::optional<Recording> LoadPerfData(const std::string& sub, const std::string& path,
                                      bool use_cache) {
  absl::StatusOr<PerfDataReader> reader = OpenPerfData(path);
  if (!reader.ok()) {
    PrintError(sub, std::string(reader.status().message()));
    return std::nullopt;
  }
  ScopedFd memfd(memfd_create("wick-perf-data", MFD_CLOEXEC));
  if (!memfd) {
    PrintError(sub, absl::StrCat("cannot create an in-memory recording for ", InputName(path), ": ",
                                 std::strerror(errno)));
    return std::nullopt;
  }
  const std::string held = absl::StrCat("/proc/self/fd/", memfd.get());
  PerfDataConvertOptions options;
  if (use_cache && !DefaultCacheDir().empty())
    options.kallsyms_cache_dir = DefaultCacheDir() + "/kernel";
  absl::StatusOr<PerfDataConversion> conv =
      ConvertPerfData(*reader, InputName(path), held, options);
  if (!conv.ok()) {
    PrintError(sub, std::string(conv.status().message()));
    return std::nullopt;
  }
  PrintNotes(sub, *conv);
  absl::StatusOr<Recording> rec = ReadRecording(held);
  if (!rec.ok()) {
    PrintError(sub, absl::StrCat(InputName(path), ": ", rec.status().message()));
    return std::nullopt;
  }
  return *std::move(rec);
}

}  // namespace

std::optional<Recording> LoadRecording(const std::string& sub, const std::string& path,
                                       const SymbolFlags& symbols) {
  if (IsPerfDataInput(path)) return LoadPerfData(sub, path, symbols.symbol_cache);
  absl::StatusOr<Recording> rec = ReadRecording(path == "-" ? "/proc/self/fd/0" : path);
  if (!rec.ok()) {
    PrintError(sub, std::string(rec.status().message()));
    return std::nullopt;
  }
  if (!rec->complete) {
    PrintError(sub, "warning: " + path +
                        " is incomplete (wick record did not finish): " + rec->truncation_note);
  }
  // Recorded on this boot: the kernel symbols a cut-short file lacks are still in kallsyms.
  absl::StatusOr<size_t> added = AddMissingKernelSymbolsOfThisBoot(&*rec);
  if (added.ok() && *added > 0) {
    PrintError(sub, "note: " + std::to_string(*added) +
                        " kernel symbols the recording lacked were read from this boot's "
                        "/proc/kallsyms");
  }
  return *std::move(rec);
}

void AddConvertCommand(CLI::App& app, ConvertFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a perf.data file (or perf's pipe output) into a wick recording");
  cmd->add_option("-i,--input", f.input, "perf.data file, or - for perf record -o - on stdin")
      ->required();
  cmd->add_option("-o,--output", f.output, "wick recording to write (default wick.data)");
  cmd->add_flag("-f,--force", f.force, "Overwrite OUTPUT even when it is not a wick recording");
  cmd->add_option("--unwinder", f.unwinder,
                  "For --call-graph dwarf files: libunwind (default) or libdw");
}

int RunConvert(const ConvertFlags& f, const std::string& command_line) {
  const std::string sub = "convert";
  PerfDataConvertOptions options;
  options.command_line = command_line;
  if (!DefaultCacheDir().empty()) options.kallsyms_cache_dir = DefaultCacheDir() + "/kernel";
  if (f.unwinder == "libdw") {
    options.unwinder = UnwindBackend::kLibdw;
  } else if (!f.unwinder.empty() && f.unwinder != "libunwind") {
    PrintError(sub, "unknown --unwinder '" + f.unwinder + "' (use libunwind or libdw)");
    return 2;
  }
  if (!IsPerfDataInput(f.input)) {
    struct stat st {};
    if (f.input != "-" && stat(f.input.c_str(), &st) != 0) {
      PrintError(sub, absl::StrCat("cannot open ", f.input, ": ", std::strerror(errno)));
    } else {
      PrintError(sub, InputName(f.input) +
                          " is not a perf.data file (no PERFILE2 magic); wick convert reads "
                          "perf record's output");
    }
    return 1;
  }
  absl::StatusOr<PerfDataReader> reader = OpenPerfData(f.input);
  if (!reader.ok()) {
    PrintError(sub, std::string(reader.status().message()));
    return 1;
  }
  absl::StatusOr<bool> kept = KeepPreviousRecording(f.output, f.force);
  if (!kept.ok()) {
    PrintError(sub, std::string(kept.status().message()));
    return 1;
  }
  absl::StatusOr<PerfDataConversion> conv =
      ConvertPerfData(*reader, InputName(f.input), f.output, options);
  if (!conv.ok()) {
    PrintError(sub, std::string(conv.status().message()));
    return 1;
  }
  PrintNotes(sub, *conv);
  struct stat in {};
  const bool sized = f.input != "-" && stat(f.input.c_str(), &in) == 0;
  PrintError(sub, absl::StrCat(conv->samples, " samples, ", conv->stacks,
                               " distinct stacks: ", InputName(f.input),
                               sized ? absl::StrCat(" (", in.st_size, " bytes)") : "", " -> ",
                               f.output, " (", conv->bytes_written, " bytes)"));
  PrintStats(sub, conv->stats, {Stat::kSamples});
  return 0;
}

}  // namespace wick::cli

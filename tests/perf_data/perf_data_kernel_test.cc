// perf.data files recorded on the spot by Debian's perf, read by wick's PerfDataReader and
// checked against `perf script`'s own reading of the same file: the same samples (tid, time,
// event, ip) in the same order, the same MMAP/MMAP2/COMM/FORK/EXIT records at the same places,
// the same callchains, for fp and DWARF call graphs, -a, -p, several events, a tracepoint with
// -g, a uprobe, pipe mode and -z. Then the same real files damaged: cut short at several
// points, byte-swapped, another architecture, lying section sizes, an empty pipe.
//
// perf record runs with -N (no build-id cache: the tests leave ~/.debug alone). Needs root
// (tracefs, uprobes, -a).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "perf_script.h"
#include "run.h"
#include "testing/testing.h"
#include "wick/perf_data.h"
#include "wick/scoped.h"
#include "wick/trace_format.h"
#include "workloads.h"

namespace wick::testing {
namespace {

const std::string kPerf = "/usr/bin/perf";

void WriteBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), bytes.size());
}

uint64_t Mask(uint32_t bytes) {
  return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1;
}

class PerfDataKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const RunResult version = RunProgram({kPerf, "--version"});
    WICK_REQUIRE(version.exit_code == 0, "no perf (apt-get install linux-perf): " + version.err);
    WICK_REQUIRE(geteuid() == 0, "needs root (tracefs, uprobes, system-wide recording)");
  }

  // perf record OPTIONS -o FILE -- COMMAND; the file's path. Fails the test if perf does.
  // --buildid-mmap: the kernel puts build-ids in MMAP2 records, so that perf neither reads
  // them from the files (it aborts at "util/build-id.c:1010" on MMAP2 records that carry the
  // build-id bit over maj/min/ino, which this kernel sends while another recorder on the
  // machine asks for build-ids: see KernelBuildIdBitLeak) nor writes the BUILD_ID section
  // nor the ~/.debug cache. build_section records the classic way instead (-N: no cache).
  std::string Record(const std::string& name, std::vector<std::string> options,
                     const std::vector<std::string>& command, RunResult* result = nullptr,
                     bool build_section = false) {
    const std::string path = TempPath(name + ".perf.data");
    std::vector<std::string> argv = {kPerf, "record", "-q", "-o", path};
    argv.push_back(build_section ? "-N" : "--buildid-mmap");
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    const RunResult r = RunProgram(argv);
    if (result != nullptr) {
      *result = r;
    } else {
      EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(argv, " ") << ": " << r.err;
    }
    return path;
  }

  // perf script's events of `path`, parsed strictly.
  std::vector<ScriptEvent> PerfEvents(const std::string& path) {
    std::vector<std::string> argv = {kPerf};
    for (std::string& a : ScriptEventArgs(path)) argv.push_back(std::move(a));
    const RunResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    absl::StatusOr<std::vector<ScriptEvent>> events = ParseScriptEvents(r.out);
    EXPECT_TRUE(events.ok()) << events.status();
    return events.ok() ? *events : std::vector<ScriptEvent>();
  }

  std::vector<ScriptCallchain> PerfCallchains(const std::string& path) {
    const RunResult r = RunProgram({kPerf, "script", "-i", path, "-F", "tid,ip", "--no-inline"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    absl::StatusOr<std::vector<ScriptCallchain>> chains = ParseScriptCallchains(r.out);
    EXPECT_TRUE(chains.ok()) << chains.status();
    return chains.ok() ? *chains : std::vector<ScriptCallchain>();
  }

  // Reads `path` with wick; the reading, or a test failure.
  WickReading Wick(const std::string& path, PerfDataStats* stats = nullptr,
                   PerfDataInfo* info = nullptr) {
    absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFile(path);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    absl::StatusOr<WickReading> reading = ReadWithWick(*reader);
    EXPECT_TRUE(reading.ok()) << reading.status();
    if (stats != nullptr) *stats = reader->stats();
    if (info != nullptr) *info = reader->info();
    return reading.ok() ? *reading : WickReading();
  }

  static size_t Samples(const std::vector<ScriptEvent>& events) {
    size_t n = 0;
    for (const ScriptEvent& e : events) n += e.kind == "SAMPLE";
    return n;
  }

  // wick's events are perf script's, one for one.
  static void ExpectSameEvents(const std::vector<ScriptEvent>& wick,
                               const std::vector<ScriptEvent>& perf) {
    const size_t n = std::min(wick.size(), perf.size());
    for (size_t i = 0; i < n; ++i) {
      if (!(wick[i] == perf[i])) {
        ADD_FAILURE() << "event " << i << " of " << perf.size()
                      << " differs:\n  wick: " << wick[i].ToString()
                      << "\n  perf: " << perf[i].ToString();
        return;
      }
    }
    EXPECT_EQ(wick.size(), perf.size()) << "events (wick vs perf script)";
  }

  // The same chains, entry for entry. One exception: a kernel stack walk that ran off into
  // garbage (seen under -a on a loaded VM) can yield an entry below vm.mmap_min_addr, where
  // nothing can be mapped; perf script prints such an entry rebased onto some mapping
  // (0x6d47 as 0x5576c5486d47) while the file, and wick, hold the raw value.
  static bool SameChain(const ScriptCallchain& wick, const ScriptCallchain& perf) {
    if (wick.tid != perf.tid || wick.ips.size() != perf.ips.size()) return false;
    for (size_t j = 0; j < wick.ips.size(); ++j) {
      if (wick.ips[j] != perf.ips[j] && wick.ips[j] >= 0x10000) return false;
    }
    return true;
  }

  static void ExpectSameCallchains(const std::vector<ScriptCallchain>& wick,
                                   const std::vector<ScriptCallchain>& perf) {
    ASSERT_EQ(wick.size(), perf.size()) << "samples with a callchain";
    for (size_t i = 0; i < wick.size(); ++i) {
      if (!SameChain(wick[i], perf[i])) {
        ADD_FAILURE() << "callchain of sample " << i << " (tid " << perf[i].tid
                      << ") differs:\n  wick: " << absl::StrJoin(wick[i].ips, " ", Hex())
                      << "\n  perf: " << absl::StrJoin(perf[i].ips, " ", Hex());
        return;
      }
    }
  }

  struct Hex {
    void operator()(std::string* out, uint64_t v) const { absl::StrAppend(out, absl::Hex(v)); }
  };

  // Records, reads with both, compares events (and callchains when `callchains`).
  WickReading RecordAndCompare(const std::string& name, std::vector<std::string> options,
                               const std::vector<std::string>& command, bool callchains,
                               PerfDataStats* stats = nullptr, PerfDataInfo* info = nullptr) {
    const std::string path = Record(name, std::move(options), command);
    const std::vector<ScriptEvent> perf = PerfEvents(path);
    WickReading wick = Wick(path, stats, info);
    ExpectSameEvents(wick.events, perf);
    if (callchains) ExpectSameCallchains(wick.callchains, PerfCallchains(path));
    std::printf("%s: %zu events, %zu samples, %zu callchains\n", name.c_str(), perf.size(),
                Samples(perf), wick.callchains.size());
    return wick;
  }
};

TEST_F(PerfDataKernelTest, FramePointerCallchains) {
  PerfDataStats stats;
  PerfDataInfo info;
  WickReading wick =
      RecordAndCompare("fp", {"-e", "cpu-clock", "-F", "999", "-g"},
                       {workloads::KnownTreePath(), "r30"}, /*callchains=*/true, &stats, &info);
  // 0.3 s of CPU at 999 Hz.
  EXPECT_GT(Samples(wick.events), 150u);
  EXPECT_TRUE(stats.complete) << stats.truncation_note;
  EXPECT_EQ(stats.samples_unknown_attr + stats.samples_malformed + stats.samples_undecodable, 0u);
  ASSERT_EQ(info.attrs.size(), 1u);
  EXPECT_EQ(info.attrs[0].name, "cpu-clock");
  EXPECT_EQ(info.arch, "x86_64");
  EXPECT_FALSE(info.pipe_mode);
  // perf's command line, and the build-id of the workload as perf buildid-list has it.
  ASSERT_GE(info.cmdline.size(), 3u);
  EXPECT_TRUE(absl::EndsWith(info.cmdline[0], "perf")) << info.cmdline[0];
  EXPECT_EQ(info.cmdline[1], "record");
}

std::string HexOf(std::string_view bytes) {
  std::string hex;
  for (char c : bytes) absl::StrAppend(&hex, absl::Hex(uint8_t(c), absl::kZeroPad2));
  return hex;
}

// --buildid-mmap (every Record()): the kernel puts each mapping's build-id in its MMAP2
// record (perf script prints it in the events ExpectSameEvents compares).
TEST_F(PerfDataKernelTest, BuildIdsInMmap2) {
  WickReading wick = RecordAndCompare("buildid-mmap", {"-e", "cpu-clock", "-F", "999", "-g"},
                                      {workloads::KnownTreePath(), "r10"}, /*callchains=*/true);
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id,
                            workloads::ReadElfBuildId(workloads::KnownTreePath()));
  size_t found = 0;
  for (const ScriptEvent& e : wick.events) {
    if (e.kind == "MMAP2" && absl::EndsWith(e.detail, workloads::KnownTreePath())) {
      EXPECT_THAT(e.detail, ::testing::HasSubstr(absl::StrCat(" <", HexOf(build_id), ">]")));
      ++found;
    }
  }
  EXPECT_GT(found, 0u);
}

// The BUILD_ID feature section: what perf buildid-list prints. Only when perf survives
// collecting them, which it does not while another recorder asks for build-ids (see Record()).
TEST_F(PerfDataKernelTest, BuildIdSection) {
  RunResult run;
  const std::string path = Record("buildid", {"-e", "cpu-clock", "-F", "999", "-g"},
                                  {workloads::KnownTreePath(), "r10"}, &run,
                                  /*build_section=*/true);
  if (run.exit_code != 0 && absl::StrContains(run.err, "util/build-id.c")) {
    GTEST_SKIP() << "Debian's perf aborted writing the build-ids (another recorder on this "
                    "machine asks the kernel for build-ids): "
                 << run.err;
  }
  ASSERT_EQ(run.exit_code, 0) << run.err;
  PerfDataInfo info;
  Wick(path, nullptr, &info);
  WICK_ASSERT_OK_AND_ASSIGN(std::string build_id,
                            workloads::ReadElfBuildId(workloads::KnownTreePath()));
  bool found = false;
  for (const PerfDataBuildId& b : info.build_ids) {
    if (b.filename == workloads::KnownTreePath()) {
      found = true;
      EXPECT_EQ(b.build_id, build_id);
      EXPECT_EQ(b.misc & PERF_RECORD_MISC_CPUMODE_MASK, PERF_RECORD_MISC_USER);
    }
  }
  EXPECT_TRUE(found) << "no BUILD_ID entry for " << workloads::KnownTreePath();
  const RunResult list = RunProgram({kPerf, "buildid-list", "-i", path});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::set<std::string> perf_ids, wick_ids;
  for (absl::string_view line : absl::StrSplit(list.out, '\n', absl::SkipEmpty())) {
    perf_ids.insert(std::string(line));
  }
  for (const PerfDataBuildId& b : info.build_ids) {
    wick_ids.insert(absl::StrCat(HexOf(b.build_id), " ", b.filename));
  }
  EXPECT_EQ(wick_ids, perf_ids);
}

TEST_F(PerfDataKernelTest, DwarfSamplesCarryRegistersAndStack) {
  PerfDataInfo info;
  WickReading wick =
      RecordAndCompare("dwarf", {"-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf"},
                       {workloads::KnownTreeNoFpPath(), "r30"},
                       /*callchains=*/false, nullptr, &info);
  ASSERT_EQ(info.attrs.size(), 1u);
  const perf_event_attr& attr = info.attrs[0].attr;
  ASSERT_TRUE(attr.sample_type & PERF_SAMPLE_REGS_USER);
  ASSERT_TRUE(attr.sample_type & PERF_SAMPLE_STACK_USER);
  const size_t samples = Samples(wick.events);
  EXPECT_GT(samples, 150u);
  // A user-mode sample's ip is the user IP register; each user stack copy is the size asked.
  ASSERT_GT(wick.user_ips.size(), samples / 2);
  for (const auto& [ip, regs_ip] : wick.user_ips) EXPECT_EQ(ip, regs_ip);
  EXPECT_EQ(wick.stack_bytes, wick.samples_with_stack * attr.sample_stack_user);
  EXPECT_GT(wick.stack_dyn_bytes, 0u);
  EXPECT_LE(wick.stack_dyn_bytes, wick.stack_bytes);
  // perf unwinds from the same registers: its first user frame is wick's regs IP.
  const std::vector<ScriptCallchain> perf = PerfCallchains(TempPath("dwarf.perf.data"));
  ASSERT_EQ(perf.size(), wick.first_user_frames.size());
  size_t compared = 0;
  for (size_t i = 0; i < perf.size(); ++i) {
    uint64_t first_user = 0;
    for (uint64_t ip : perf[i].ips) {
      if (ip < 0xffff800000000000ULL) {
        first_user = ip;
        break;
      }
    }
    if (first_user == 0 && wick.first_user_frames[i] == 0) continue;
    ++compared;
    EXPECT_EQ(wick.first_user_frames[i], first_user) << "sample " << i;
  }
  EXPECT_GT(compared, samples / 2);
}

TEST_F(PerfDataKernelTest, SystemWide) {
  PerfDataInfo info;
  // Events only: under -a, a loaded VM's kernel stack walks of other tasks run off into garbage
  // (entries below mmap_min_addr, context markers of -1) that perf script rewrites or prints
  // in ways of its own. Callchains are compared in the per-task tests.
  WickReading wick = RecordAndCompare("a", {"-a", "-e", "cpu-clock", "-F", "499", "-g"},
                                      {workloads::KnownTreePath(), "r20"},
                                      /*callchains=*/false, nullptr, &info);
  EXPECT_EQ(wick.callchains.size(), Samples(wick.events));
  // -a adds perf's dummy event for the side-band records: several attrs, matched by id.
  EXPECT_GE(info.attrs.size(), 1u);
  EXPECT_GT(Samples(wick.events), 50u);
}

TEST_F(PerfDataKernelTest, AttachToProcess) {
  Background tree({workloads::KnownTreePath(), "r200", "pid"});
  const std::string line = tree.ReadLine();
  ASSERT_TRUE(absl::StartsWith(line, "pid ")) << line;
  ASSERT_GT(WaitForCpu(tree.pid(), 0.05), 0.04);
  WickReading wick = RecordAndCompare(
      "p", {"-e", "cpu-clock", "-F", "999", "-g", "-p", std::to_string(tree.pid())},
      {"sleep", "0.3"}, /*callchains=*/true);
  EXPECT_GT(Samples(wick.events), 50u);
  tree.Signal(SIGKILL);
}

TEST_F(PerfDataKernelTest, SeveralEvents) {
  PerfDataInfo info;
  WickReading wick =
      RecordAndCompare("events", {"-e", "cpu-clock,page-faults", "-F", "999", "-g"},
                       {workloads::KnownTreePath(), "r20"}, /*callchains=*/true, nullptr, &info);
  ASSERT_EQ(info.attrs.size(), 2u);
  EXPECT_EQ(info.attrs[0].name, "cpu-clock");
  EXPECT_EQ(info.attrs[1].name, "page-faults");
  std::set<std::string> seen;
  for (const ScriptEvent& e : wick.events) {
    if (e.kind == "SAMPLE") seen.insert(e.event);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"cpu-clock", "page-faults"}));
}

// The tracepoint's format comes from the file's TRACING_DATA, and decodes each sample's raw
// data to the values perf script prints.
TEST_F(PerfDataKernelTest, TracepointWithCallchains) {
  const std::string path =
      Record("tracepoint", {"-e", "syscalls:sys_enter_openat", "-g"}, {WICK_OPENAT_N, "40"});
  const std::vector<ScriptEvent> perf = PerfEvents(path);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFile(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE(reader->info().has_tracing_data);
  ASSERT_EQ(reader->info().attrs.size(), 1u);
  EXPECT_EQ(reader->info().attrs[0].name, "syscalls:sys_enter_openat");
  const PerfDataTraceFormat* text = nullptr;
  for (const PerfDataTraceFormat& f : reader->info().tracing_data.formats) {
    if (f.system == "syscalls" && absl::StrContains(f.text, "name: sys_enter_openat\n")) text = &f;
  }
  ASSERT_NE(text, nullptr);
  WICK_ASSERT_OK_AND_ASSIGN(TraceFormat format, TraceFormat::Parse(text->text));
  EXPECT_EQ(format.id, reader->info().attrs[0].attr.config);

  // Decode with wick, print "name=value" per sample.
  std::vector<std::string> wick_fields;
  std::vector<ScriptEvent> wick_events;
  while (true) {
    absl::StatusOr<const PerfDataRecord*> rec = reader->Next();
    ASSERT_TRUE(rec.ok()) << rec.status();
    if (*rec == nullptr) break;
    if ((*rec)->parsed.type != PERF_RECORD_SAMPLE) continue;
    WICK_ASSERT_OK_AND_ASSIGN(std::vector<TraceValue> values,
                              DecodeTraceFields(format, (*rec)->parsed.sample.raw));
    std::vector<std::string> fields;
    for (const TraceValue& v : values) {
      // perf prints the fields of the event's print fmt, without the syscall number.
      if (v.field->name == "__syscall_nr") continue;
      fields.push_back(absl::StrCat(
          v.field->name, "=",
          (v.type == TraceValue::Type::kSigned ? uint64_t(v.s) : v.u) & Mask(v.field->size)));
    }
    wick_fields.push_back(absl::StrJoin(fields, " "));
  }
  // perf script's "dfd: 0xffffff9c, filename: 0x7f.., flags: 0x00080000, mode: 0x00000000".
  const RunResult trace = RunProgram({kPerf, "script", "-i", path, "-F", "trace"});
  ASSERT_EQ(trace.exit_code, 0) << trace.err;
  std::vector<std::string> perf_fields;
  for (absl::string_view line : absl::StrSplit(trace.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields;
    for (absl::string_view pair : absl::StrSplit(absl::StripAsciiWhitespace(line), ", ")) {
      std::vector<absl::string_view> kv = absl::StrSplit(pair, ": ");
      ASSERT_EQ(kv.size(), 2u) << line;
      uint64_t value = 0;
      ASSERT_TRUE(absl::SimpleHexAtoi(kv[1], &value)) << line;
      // Compared at the field's width: perf prints dfd (an int) as 0xffffff9c.
      const TraceField* field = format.FindField(std::string(kv[0]));
      ASSERT_NE(field, nullptr) << line;
      fields.push_back(absl::StrCat(kv[0], "=", value & Mask(field->size)));
    }
    perf_fields.push_back(absl::StrJoin(fields, " "));
  }
  EXPECT_EQ(wick_fields, perf_fields);
  // openat_n is static: its 40 openat calls, and the exec'ing shell's.
  EXPECT_GE(wick_fields.size(), 40u);
  WickReading wick = Wick(path);
  ExpectSameEvents(wick.events, perf);
  ExpectSameCallchains(wick.callchains, PerfCallchains(path));
}

// A uprobe made by perf probe (Debian's perf has no -e uprobe:...): each call one sample.
TEST_F(PerfDataKernelTest, Uprobe) {
  const PerfUprobe probe(WICK_UPROBE_TARGET, "wick_uprobe_target", "wickpd");
  ASSERT_EQ(probe.added().exit_code, 0) << probe.added().err;
  const std::string& event = probe.event();
  PerfDataInfo info;
  WickReading wick = RecordAndCompare("uprobe", {"-e", event, "-g"}, {WICK_UPROBE_TARGET, "37"},
                                      /*callchains=*/true, nullptr, &info);
  EXPECT_EQ(Samples(wick.events), 37u);
  ASSERT_EQ(info.attrs.size(), 1u);
  EXPECT_EQ(info.attrs[0].name, event);
  EXPECT_EQ(info.attrs[0].attr.type, PERF_TYPE_TRACEPOINT);
}

TEST_F(PerfDataKernelTest, CompressedRecords) {
  PerfDataStats stats;
  PerfDataInfo info;
  WickReading wick =
      RecordAndCompare("z", {"-z", "-e", "cpu-clock", "-F", "999", "-g"},
                       {workloads::KnownTreePath(), "r30"}, /*callchains=*/true, &stats, &info);
  EXPECT_EQ(info.compression_type, 1u) << "zstd";
  EXPECT_GT(stats.compressed_records, 0u);
  EXPECT_GT(stats.decompressed_bytes, 0u);
  EXPECT_EQ(stats.compressed_malformed, 0u);
  EXPECT_GT(Samples(wick.events), 150u);
}

// Pipe mode: perf record -o - | wick, read live from the pipe while perf writes it; tee keeps
// a copy for perf script.
TEST_F(PerfDataKernelTest, PipeMode) {
  const std::string copy = TempPath("pipe.perf.data");
  const std::string command =
      absl::StrCat(kPerf, " record -q --buildid-mmap -e cpu-clock -F 999 -g -o - -- ",
                   workloads::KnownTreePath(), " r30 2>/dev/null | tee ", copy);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFd(fileno(pipe), "perf's pipe");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(reader->info().pipe_mode);
  ASSERT_EQ(reader->info().attrs.size(), 1u);
  EXPECT_EQ(reader->info().attrs[0].name, "cpu-clock");
  absl::StatusOr<WickReading> wick = ReadWithWick(*reader);
  ASSERT_EQ(pclose(pipe), 0);
  ASSERT_TRUE(wick.ok()) << wick.status();
  EXPECT_TRUE(reader->stats().complete) << reader->stats().truncation_note;
  ExpectSameEvents(wick->events, PerfEvents(copy));
  ExpectSameCallchains(wick->callchains, PerfCallchains(copy));
  EXPECT_GT(Samples(wick->events), 150u);
  // The same bytes from the file (a pipe-format file is mapped, not streamed).
  WickReading from_file = Wick(copy);
  EXPECT_EQ(from_file.events, wick->events);
}

// This kernel sets PERF_RECORD_MISC_MMAP_BUILD_ID in the header it sends every event once an
// earlier event (here a CPU-wide one of ours) has attr.build_id, over the maj/min/ino of
// events that did not ask. wick reads those MMAP2 records as what they hold.
TEST_F(PerfDataKernelTest, KernelBuildIdBitLeak) {
  std::vector<ScopedFd> fds;
  std::vector<ScopedMmap> rings;
  const long page = sysconf(_SC_PAGESIZE);
  for (int cpu = 0; cpu < sysconf(_SC_NPROCESSORS_ONLN); ++cpu) {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_DUMMY;
    attr.mmap = attr.mmap2 = 1;
    attr.build_id = 1;
    attr.sample_id_all = 1;
    ScopedFd fd(
        static_cast<int>(syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC)));
    ASSERT_TRUE(fd) << "perf_event_open: " << strerror(errno);
    // The kernel flags the header only for an event it writes to: give each a ring.
    void* ring = mmap(nullptr, 2 * page, PROT_READ, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(ring, MAP_FAILED) << strerror(errno);
    rings.emplace_back(ring, 2 * page);
    fds.push_back(std::move(fd));
  }
  RunResult run;
  const std::string path = Record("leak", {"-e", "cpu-clock", "-F", "999", "-B"},
                                  {workloads::KnownTreePath(), "r5"}, &run,
                                  /*build_section=*/true);
  rings.clear();
  fds.clear();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  PerfDataStats stats;
  WickReading wick = Wick(path, &stats);
  if (stats.mmap_build_id_ignored == 0) {
    GTEST_SKIP() << "this kernel does not flag other events' MMAP2 records";
  }
  struct stat st;
  ASSERT_EQ(stat(workloads::KnownTreePath().c_str(), &st), 0);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFile(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  size_t checked = 0;
  while (true) {
    absl::StatusOr<const PerfDataRecord*> rec = reader->Next();
    ASSERT_TRUE(rec.ok()) << rec.status();
    if (*rec == nullptr) break;
    const ParsedRecord& p = (*rec)->parsed;
    if (p.type != PERF_RECORD_MMAP2 || p.mmap.filename != workloads::KnownTreePath()) continue;
    EXPECT_FALSE(p.mmap.has_build_id);
    EXPECT_EQ(p.mmap.maj, major(st.st_dev));
    EXPECT_EQ(p.mmap.min, minor(st.st_dev));
    EXPECT_EQ(p.mmap.ino, st.st_ino);
    checked += (p.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) != 0;
  }
  std::printf("%llu MMAP2 records flagged, %zu of known_tree checked\n",
              (unsigned long long)stats.mmap_build_id_ignored, checked);
  EXPECT_GT(checked, 0u);
  EXPECT_EQ(stats.records_malformed, 0u);
  EXPECT_GT(Samples(wick.events), 0u);
}

// --- Damaged files --------------------------------------------------------------------------

class PerfDataDamageTest : public PerfDataKernelTest {
 protected:
  void SetUp() override {
    PerfDataKernelTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    path_ = Record("damage", {"-e", "cpu-clock", "-F", "999", "-g"},
                   {workloads::KnownTreePath(), "r20"});
    bytes_ = ReadFile(path_);
    ASSERT_GT(bytes_.size(), 1000u);
    std::memcpy(&data_offset_, bytes_.data() + 40, 8);
    std::memcpy(&data_size_, bytes_.data() + 48, 8);
    WickReading whole = Wick(path_);
    for (const ScriptEvent& e : whole.events) {
      if (e.kind == "SAMPLE") all_samples_.insert(e.ToString());
    }
    ASSERT_GT(all_samples_.size(), 100u);
  }

  // Opens a damaged copy; the error, or OK.
  absl::Status Open(const std::string& bytes, PerfDataStats* stats = nullptr,
                    std::set<std::string>* samples = nullptr) {
    const std::string path = TempPath("damaged.perf.data");
    WriteBytes(path, bytes);
    absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFile(path);
    if (!reader.ok()) return reader.status();
    absl::StatusOr<WickReading> reading = ReadWithWick(*reader);
    if (!reading.ok()) return reading.status();
    if (stats != nullptr) *stats = reader->stats();
    if (samples != nullptr) {
      for (const ScriptEvent& e : reading->events) {
        if (e.kind == "SAMPLE") samples->insert(e.ToString());
      }
    }
    return absl::OkStatus();
  }

  std::string path_, bytes_;
  uint64_t data_offset_ = 0, data_size_ = 0;
  std::set<std::string> all_samples_;
};

TEST_F(PerfDataDamageTest, CutInTheHeaderOrAttrs) {
  for (size_t cut : {size_t{0}, size_t{5}, size_t{50}, size_t{110}}) {
    absl::Status st = Open(bytes_.substr(0, cut));
    ASSERT_FALSE(st.ok()) << cut;
    std::printf("cut at %zu: %s\n", cut, std::string(st.message()).c_str());
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("damaged.perf.data: "));
    EXPECT_EQ(std::string(st.message()).find('\n'), std::string::npos);
  }
  EXPECT_THAT(std::string(Open(bytes_.substr(0, 50)).message()),
              ::testing::HasSubstr("cut short inside its header (50 of 104 bytes)"));
  EXPECT_THAT(std::string(Open(bytes_.substr(0, 0)).message()), ::testing::HasSubstr("empty file"));
}

// Cut in the data: every sample before the cut comes out, the reader says it was cut short.
TEST_F(PerfDataDamageTest, CutInTheData) {
  size_t previous = 0;
  for (double fraction : {0.1, 0.5, 0.9}) {
    const size_t cut = data_offset_ + size_t(fraction * double(data_size_)) + 3;
    PerfDataStats stats;
    std::set<std::string> samples;
    WICK_ASSERT_OK(Open(bytes_.substr(0, cut), &stats, &samples));
    std::printf("cut at %zu: %zu samples; %s\n", cut, samples.size(),
                stats.truncation_note.c_str());
    EXPECT_FALSE(stats.complete);
    EXPECT_THAT(stats.truncation_note, ::testing::HasSubstr("cut short"));
    EXPECT_THAT(stats.truncation_note,
                ::testing::HasSubstr(absl::StrCat(samples.size(), " samples")));
    EXPECT_GT(samples.size(), previous) << "a later cut keeps more";
    EXPECT_LT(samples.size(), all_samples_.size());
    for (const std::string& s : samples) EXPECT_TRUE(all_samples_.count(s)) << s;
    previous = samples.size();
  }
}

// Cut after the data, in the feature sections: all samples, but incomplete.
TEST_F(PerfDataDamageTest, CutInTheFeatures) {
  PerfDataStats stats;
  std::set<std::string> samples;
  WICK_ASSERT_OK(Open(bytes_.substr(0, data_offset_ + data_size_ + 8), &stats, &samples));
  EXPECT_EQ(samples, all_samples_);
  EXPECT_FALSE(stats.complete);
  EXPECT_THAT(stats.truncation_note, ::testing::HasSubstr("feature sections"));
}

// perf killed before it wrote the data size: the data runs to the end of the file.
TEST_F(PerfDataDamageTest, UnfinishedDataSize) {
  std::string bytes = bytes_.substr(0, data_offset_ + data_size_);
  std::memset(bytes.data() + 48, 0, 8);
  PerfDataStats stats;
  std::set<std::string> samples;
  WICK_ASSERT_OK(Open(bytes, &stats, &samples));
  EXPECT_EQ(samples, all_samples_);
  EXPECT_FALSE(stats.complete);
  EXPECT_THAT(stats.truncation_note, ::testing::HasSubstr("perf record did not finish"));
}

TEST_F(PerfDataDamageTest, OtherEndiannessOrArchitecture) {
  std::string swapped = bytes_;
  std::reverse(swapped.begin(), swapped.begin() + 8);
  EXPECT_THAT(std::string(Open(swapped).message()), ::testing::HasSubstr("big-endian"));
  // The ARCH feature says "x86_64": make it another machine's.
  std::string arm = bytes_;
  const size_t at = arm.find(std::string("x86_64\0", 7), data_offset_ + data_size_);
  ASSERT_NE(at, std::string::npos);
  std::memcpy(arm.data() + at, "aarch64", 8);
  const absl::Status st = Open(arm);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("recorded on aarch64"));
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("x86_64 recordings only"));
}

TEST_F(PerfDataDamageTest, HeaderThatLies) {
  auto with = [&](size_t offset, uint64_t value) {
    std::string b = bytes_;
    std::memcpy(b.data() + offset, &value, 8);
    return b;
  };
  struct Case {
    std::string bytes, expected;
  };
  auto at = [&](size_t offset) {
    uint64_t v;
    std::memcpy(&v, bytes_.data() + offset, 8);
    return v;
  };
  const uint64_t attr_size = at(16), attrs_offset = at(24);
  const std::vector<Case> cases = {
      {with(48, uint64_t{1} << 60), "absurd"},           // data size
      {with(32, attr_size << 30), "runs past the end"},  // attrs size (beyond the file)
      {with(32, 7), "not a multiple of attr_size"},      // attrs size
      {with(16, 3), "attr_size 3"},                      // attr_size
      {with(40, attrs_offset), "overlaps"},              // data over the attrs
      {with(24, 0), "overlaps the header"},              // attrs over the header
      {with(8, 77), "header size 77"},                   // header size
  };
  for (const Case& c : cases) {
    const absl::Status st = Open(c.bytes);
    EXPECT_FALSE(st.ok()) << c.expected;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(c.expected));
    EXPECT_EQ(std::string(st.message()).find('\n'), std::string::npos);
  }
}

TEST_F(PerfDataDamageTest, NotAPerfData) {
  const std::string elf = ReadFile(workloads::KnownTreePath());
  EXPECT_THAT(std::string(Open(elf).message()), ::testing::HasSubstr("not a perf.data"));
  // A file-mode perf.data cannot be streamed from a pipe.
  FILE* pipe = popen(absl::StrCat("cat ", path_).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFd(fileno(pipe), "stdin");
  pclose(pipe);
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(std::string(reader.status().message()),
              ::testing::HasSubstr("cannot be read from a pipe"));
}

TEST_F(PerfDataKernelTest, EmptyPipe) {
  FILE* pipe = popen("true", "r");
  ASSERT_NE(pipe, nullptr);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFd(fileno(pipe), "stdin");
  pclose(pipe);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(std::string(reader.status().message()),
            "stdin: empty input: no perf.data header (did perf record -o - fail?)");
}

// A pipe-mode stream cut short, through a real pipe: what came before the cut, and a note.
TEST_F(PerfDataKernelTest, PipeCutShort) {
  const std::string whole = TempPath("pipe-whole.perf.data");
  const RunResult r =
      RunProgram({"/bin/sh", "-c",
                  absl::StrCat(kPerf, " record -q --buildid-mmap -e cpu-clock -F 999 -g -o - -- ",
                               workloads::KnownTreePath(), " r20 2>/dev/null > ", whole)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bytes = ReadFile(whole);
  const std::string cut_path = TempPath("pipe-cut.perf.data");
  WriteBytes(cut_path, bytes.substr(0, bytes.size() * 2 / 3 + 5));
  FILE* pipe = popen(absl::StrCat("cat ", cut_path).c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  absl::StatusOr<PerfDataReader> reader = PerfDataReader::OpenFd(fileno(pipe), "stdin");
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<WickReading> wick = ReadWithWick(*reader);
  pclose(pipe);
  ASSERT_TRUE(wick.ok()) << wick.status();
  EXPECT_FALSE(reader->stats().complete);
  EXPECT_THAT(reader->stats().truncation_note, ::testing::HasSubstr("cut short"));
  const size_t samples = Samples(wick->events);
  EXPECT_GT(samples, 20u);
  EXPECT_LT(samples, Samples(Wick(whole).events));
}

}  // namespace
}  // namespace wick::testing

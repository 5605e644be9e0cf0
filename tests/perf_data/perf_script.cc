#include "perf_script.h"

#include <asm/perf_regs.h>

#include <bit>
#include <cinttypes>
#include <cstdio>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wick::testing {
namespace {

absl::Status Bad(absl::string_view line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("perf script line '", line, "': ", why));
}

// build_id: hex, "" when the record has none.
std::string MmapDetail(int32_t pid, int32_t tid, uint64_t addr, uint64_t len, uint64_t pgoff,
                       absl::string_view filename, absl::string_view build_id) {
  return absl::StrFormat("%d/%d [%#x(%#x) @ %#x%s] %s", pid, tid, addr, len, pgoff,
                         build_id.empty() ? "" : absl::StrCat(" <", build_id, ">"), filename);
}

// The sideband part of a line after "TID TIME: ".
absl::Status ParseSideband(absl::string_view line, absl::string_view rest, ScriptEvent* e) {
  if (absl::ConsumePrefix(&rest, "PERF_RECORD_MMAP2 ")) {
    e->kind = "MMAP2";
  } else if (absl::ConsumePrefix(&rest, "PERF_RECORD_MMAP ")) {
    e->kind = "MMAP";
  } else if (absl::ConsumePrefix(&rest, "PERF_RECORD_COMM")) {
    e->kind = "COMM";
    const bool exec = absl::ConsumePrefix(&rest, " exec");
    if (!absl::ConsumePrefix(&rest, ": ")) return Bad(line, "COMM without ': '");
    const size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos) return Bad(line, "COMM without ':PID/TID'");
    e->detail =
        absl::StrCat(rest.substr(0, colon), " ", rest.substr(colon + 1), exec ? " exec" : "");
    return absl::OkStatus();
  } else if (absl::ConsumePrefix(&rest, "PERF_RECORD_FORK") ||
             absl::ConsumePrefix(&rest, "PERF_RECORD_EXIT")) {
    e->kind =
        absl::StartsWith(line.substr(line.find("PERF_RECORD_") + 12), "FORK") ? "FORK" : "EXIT";
    e->detail = std::string(rest);
    return absl::OkStatus();
  } else {
    return Bad(line, "an event kind this parser does not know");
  }
  // "PID/TID: [ADDR(LEN) @ PGOFF ...]: PROT FILENAME"
  int pid = 0, tid = 0, used = 0;
  uint64_t addr = 0, len = 0, pgoff = 0;
  const std::string s(rest);
  if (std::sscanf(s.c_str(), "%d/%d: [%" SCNx64 "(%" SCNx64 ") @ %" SCNx64 "%n", &pid, &tid, &addr,
                  &len, &pgoff, &used) != 5) {
    return Bad(line, "not 'PID/TID: [ADDR(LEN) @ PGOFF'");
  }
  const size_t close = s.find("]: ", used);
  if (close == std::string::npos) return Bad(line, "no ']: ' after the mapping");
  const size_t space = s.find(' ', close + 3);
  if (space == std::string::npos) return Bad(line, "no file name after the protection");
  // " maj:min ino generation", or " <build-id>" when the record carries one.
  absl::string_view between = absl::string_view(s).substr(used, close - used);
  std::string build_id;
  if (const size_t lt = between.find(" <"); lt != absl::string_view::npos) {
    if (!absl::EndsWith(between, ">")) return Bad(line, "unterminated <build-id>");
    build_id = std::string(between.substr(lt + 2, between.size() - lt - 3));
  }
  e->detail = MmapDetail(pid, tid, addr, len, pgoff, s.substr(space + 1), build_id);
  return absl::OkStatus();
}

}  // namespace

std::string ScriptEvent::ToString() const {
  return absl::StrFormat("%s tid %u time %u %s ip %#x %s", kind, tid, time, event, ip, detail);
}

std::vector<std::string> ScriptEventArgs(const std::string& path) {
  return {"script",
          "-i",
          path,
          "--ns",
          "-F",
          "tid,time,event,ip",
          "-G",
          "--show-mmap-events",
          "--show-task-events"};
}

absl::StatusOr<std::vector<ScriptEvent>> ParseScriptEvents(const std::string& text) {
  std::vector<ScriptEvent> events;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ScriptEvent e;
    unsigned tid = 0;
    uint64_t sec = 0, nsec = 0;
    int used = 0;
    const std::string s(line);
    if (std::sscanf(s.c_str(), " %u %" SCNu64 ".%9" SCNu64 ":%n", &tid, &sec, &nsec, &used) != 3 ||
        used == 0) {
      return Bad(line, "not 'TID SEC.NSEC:'");
    }
    e.tid = tid;
    e.time = sec * 1000000000 + nsec;
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(used));
    if (absl::StartsWith(rest, "PERF_RECORD_")) {
      absl::Status st = ParseSideband(line, rest, &e);
      if (!st.ok()) return st;
    } else {
      // "EVENT: IP"; the event name has colons of its own (sched:sched_switch:).
      const size_t colon = rest.rfind(':');
      if (colon == absl::string_view::npos) return Bad(line, "no 'EVENT:'");
      e.kind = "SAMPLE";
      e.event = std::string(rest.substr(0, colon));
      absl::string_view ip = absl::StripAsciiWhitespace(rest.substr(colon + 1));
      if (ip.empty() || !absl::SimpleHexAtoi(ip, &e.ip)) return Bad(line, "no hex ip");
    }
    events.push_back(std::move(e));
  }
  return events;
}

absl::StatusOr<std::vector<ScriptCallchain>> ParseScriptCallchains(const std::string& text) {
  std::vector<ScriptCallchain> chains;
  bool in_sample = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) {
      in_sample = false;
      continue;
    }
    if (line[0] != '\t') {
      ScriptCallchain c;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &c.tid)) {
        return Bad(line, "not a 'TID' sample header");
      }
      chains.push_back(std::move(c));
      in_sample = true;
      continue;
    }
    // "ADDRESS", or "ADDRESS SYMBOL" where perf adds names on its own (pipe-mode input).
    absl::string_view entry = absl::StripAsciiWhitespace(line);
    entry = entry.substr(0, entry.find(' '));
    uint64_t ip = 0;
    if (!in_sample || !absl::SimpleHexAtoi(entry, &ip) || absl::StrContains(line, "(inlined)")) {
      return Bad(line, "not a callchain address");
    }
    chains.back().ips.push_back(ip);
  }
  return chains;
}

namespace {

// The mappings perf's threads have, enough to print a user address as perf script does.
class Maps {
 public:
  void Add(const MmapRecord& m) { maps_[m.pid].push_back({m.addr, m.len, m.pgoff}); }
  void Fork(uint32_t pid, uint32_t ppid) {
    if (pid != ppid && !maps_.count(pid)) maps_[pid] = maps_[ppid];
  }
  // address - start + pgoff of the newest mapping holding it (a newer mapping replaces what
  // it overlaps); the address itself when none does.
  uint64_t Relative(uint32_t pid, uint64_t ip) const {
    auto it = maps_.find(pid);
    if (it == maps_.end()) return ip;
    for (auto m = it->second.rbegin(); m != it->second.rend(); ++m) {
      if (ip >= m->start && ip - m->start < m->len) return ip - m->start + m->pgoff;
    }
    return ip;
  }

 private:
  struct Map {
    uint64_t start, len, pgoff;
  };
  std::map<uint32_t, std::vector<Map>> maps_;
};

}  // namespace

absl::StatusOr<WickReading> ReadWithWick(PerfDataReader& reader) {
  WickReading out;
  Maps maps;
  while (true) {
    absl::StatusOr<const PerfDataRecord*> next = reader.Next();
    if (!next.ok()) return next.status();
    if (*next == nullptr) break;
    const PerfDataRecord& rec = **next;
    const ParsedRecord& p = rec.parsed;
    ScriptEvent e;
    e.tid = p.has_sample_id ? p.sample_id.tid : 0;
    e.time = rec.time;
    switch (p.type) {
      case PERF_RECORD_SAMPLE: {
        const SampleRecord& s = p.sample;
        e.kind = "SAMPLE";
        e.tid = s.tid;
        e.event = reader.info().attrs[rec.attr].name;
        e.ip = s.ip;
        const PerfDataAttr& attr = reader.info().attrs[rec.attr];
        if (attr.attr.sample_type & PERF_SAMPLE_CALLCHAIN) {
          ScriptCallchain c;
          c.tid = s.tid;
          bool user = false;
          for (uint64_t ip : s.callchain) {
            if (IsContextMarker(ip)) {
              // perf discards a whole chain with a marker the kernel does not define (a user
              // frame-pointer walk can read -1 off a garbage stack).
              if (ClassifyContextMarker(ip) == CallchainContext::kUnknown) {
                c.ips.clear();
                break;
              }
              user = ip == kContextUser;
              continue;
            }
            c.ips.push_back(user ? maps.Relative(s.pid, ip) : ip);
          }
          out.callchains.push_back(std::move(c));
        }
        if (attr.attr.sample_type & PERF_SAMPLE_REGS_USER) {
          uint64_t first = 0;
          const uint64_t mask = attr.attr.sample_regs_user;
          if (!s.regs_user.empty() && (mask >> PERF_REG_X86_IP & 1)) {
            const uint64_t regs_ip =
                s.regs_user[std::popcount(mask & ((uint64_t{1} << PERF_REG_X86_IP) - 1))];
            first = maps.Relative(s.pid, regs_ip);
            if ((p.misc & PERF_RECORD_MISC_CPUMODE_MASK) == PERF_RECORD_MISC_USER) {
              out.user_ips.emplace_back(s.ip, regs_ip);
            }
          }
          out.first_user_frames.push_back(first);
        }
        if (attr.attr.sample_type & PERF_SAMPLE_STACK_USER) {
          out.stack_bytes += s.stack_user.size();
          out.stack_dyn_bytes += s.stack_user_dyn_size;
          if (!s.stack_user.empty()) ++out.samples_with_stack;
        }
        break;
      }
      case PERF_RECORD_MMAP:
      case PERF_RECORD_MMAP2: {
        std::string build_id;
        for (std::byte b : p.mmap.build_id) {
          absl::StrAppend(&build_id, absl::Hex(uint8_t(b), absl::kZeroPad2));
        }
        e.kind = p.type == PERF_RECORD_MMAP ? "MMAP" : "MMAP2";
        e.detail =
            MmapDetail(static_cast<int32_t>(p.mmap.pid), static_cast<int32_t>(p.mmap.tid),
                       p.mmap.addr, p.mmap.len, p.mmap.pgoff,
                       absl::string_view(p.mmap.filename.data(), p.mmap.filename.size()), build_id);
        maps.Add(p.mmap);
        break;
      }
      case PERF_RECORD_COMM:
        e.kind = "COMM";
        e.detail = absl::StrCat(absl::string_view(p.comm.comm.data(), p.comm.comm.size()), " ",
                                p.comm.pid, "/", p.comm.tid, p.comm.exec ? " exec" : "");
        break;
      case PERF_RECORD_FORK:
      case PERF_RECORD_EXIT:
        e.kind = p.type == PERF_RECORD_FORK ? "FORK" : "EXIT";
        e.detail = absl::StrCat("(", p.fork_exit.pid, ":", p.fork_exit.tid, "):(", p.fork_exit.ppid,
                                ":", p.fork_exit.ptid, ")");
        if (p.type == PERF_RECORD_FORK) maps.Fork(p.fork_exit.pid, p.fork_exit.ppid);
        break;
      default:
        continue;  // perf script does not print these with ScriptEventArgs()
    }
    out.events.push_back(std::move(e));
  }
  return out;
}

}  // namespace wick::testing

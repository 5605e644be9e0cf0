// Symbolization throughput in distinct addresses per second over real binaries: the C and
// C++ runtimes this process has mapped (with their /usr/lib/debug DWARF when installed) and
// the known_tree workloads. Addresses are evenly spaced file offsets across each binary's
// executable PT_LOAD segment, so most land inside functions and many share one, as the
// distinct addresses of a real profile do.
//   BM_SymbolizeCold: a fresh Symbolizer per iteration (opens every file, reads its symbol
//                     table and DWARF, resolves every address once).
//   BM_SymbolizeWarm: one Symbolizer whose cache already holds every address.
// items_per_second is distinct addresses per second; "named" is the share that got a name.
//   BM_KallsymsLoad: this boot's /proc/kallsyms read and indexed (what every recording and
//                    every perf.data file read on this boot pays once); items are symbols.
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "wick/kernel_symbols.h"
#include "wick/symbolizer.h"
#include "workloads.h"

namespace wick {
namespace {

struct Binary {
  std::string path;
  std::string build_id;
  uint64_t text_offset = 0;  // file offset of the executable PT_LOAD segment
  uint64_t text_size = 0;
};

struct Address {
  const Binary* binary;
  uint64_t file_offset;
};

// The first mapped object whose path contains `part` ("" when none).
std::string MappedObject(const char* part) {
  struct Search {
    const char* part;
    std::string found;
  } search{part, ""};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        if (info->dlpi_name != nullptr &&
            std::string(info->dlpi_name).find(s->part) != std::string::npos) {
          s->found = info->dlpi_name;
          return 1;
        }
        return 0;
      },
      &search);
  return search.found;
}

// The largest executable PT_LOAD segment of `path`: {file offset, size}.
bool ExecutableSegment(const std::string& path, uint64_t* offset, uint64_t* size) {
  elf_version(EV_CURRENT);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  size_t n = 0;
  *size = 0;
  if (elf != nullptr && elf_getphdrnum(elf, &n) == 0) {
    for (size_t i = 0; i < n; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) continue;
      if (phdr.p_type == PT_LOAD && (phdr.p_flags & PF_X) && phdr.p_filesz > *size) {
        *offset = phdr.p_offset;
        *size = phdr.p_filesz;
      }
    }
  }
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return *size > 0;
}

const std::vector<Binary>& Binaries() {
  static const auto* binaries = [] {
    auto* out = new std::vector<Binary>();
    for (const std::string& path :
         {MappedObject("libc.so"), MappedObject("libstdc++"), workloads::KnownTreePath(),
          workloads::KnownTreeCcPath(), workloads::KnownTreeInlinePath()}) {
      Binary b;
      b.path = path;
      auto build_id = workloads::ReadElfBuildId(path);
      if (path.empty() || !build_id.ok() ||
          !ExecutableSegment(path, &b.text_offset, &b.text_size)) {
        std::fprintf(stderr, "symbolizer_benchmark: cannot use '%s'\n", path.c_str());
        std::exit(1);
      }
      b.build_id = *build_id;
      out->push_back(std::move(b));
    }
    return out;
  }();
  return *binaries;
}

// `total` distinct addresses split evenly over the binaries (a small binary gets at most one
// per byte of its code), each binary's spread evenly across its code. `only` >= 0 takes
// them all from that one binary.
std::vector<Address> Addresses(size_t total, int only = -1) {
  const std::vector<Binary>& binaries = Binaries();
  std::vector<Address> out;
  const size_t per_binary = only >= 0 ? total : total / binaries.size();
  for (size_t i = 0; i < binaries.size(); ++i) {
    if (only >= 0 && static_cast<size_t>(only) != i) continue;
    const Binary& b = binaries[i];
    const uint64_t n = std::min<uint64_t>(per_binary, b.text_size);
    for (uint64_t i = 0; i < n; ++i) {
      out.push_back({&b, b.text_offset + i * b.text_size / n});
    }
  }
  // Interleave the binaries as a report meets them.
  std::sort(out.begin(), out.end(), [](const Address& x, const Address& y) {
    return x.file_offset * 2654435761u % 1000003 < y.file_offset * 2654435761u % 1000003;
  });
  return out;
}

size_t SymbolizeAll(Symbolizer& symbolizer, const std::vector<Address>& addresses) {
  size_t named = 0;
  for (const Address& a : addresses) {
    const SymbolizedAddress& s =
        symbolizer.SymbolizeFile(a.binary->build_id, a.binary->path, a.file_offset);
    named += s.known() ? 1 : 0;
    benchmark::DoNotOptimize(&s);
  }
  return named;
}

void BM_SymbolizeCold(benchmark::State& state) {
  const std::vector<Address> addresses = Addresses(static_cast<size_t>(state.range(0)));
  size_t named = 0;
  for (auto _ : state) {
    Symbolizer symbolizer;
    named = SymbolizeAll(symbolizer, addresses);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * addresses.size()));
  state.counters["addresses"] = static_cast<double>(addresses.size());
  state.counters["named"] = static_cast<double>(named) / static_cast<double>(addresses.size());
}
BENCHMARK(BM_SymbolizeCold)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// One binary at a time (0 libc, 1 libstdc++, 2-4 the known_tree workloads), 2000 addresses
// or one per byte of code: which kind of file costs what. The label names the binary.
void BM_SymbolizeColdOneBinary(benchmark::State& state) {
  const int index = static_cast<int>(state.range(0));
  const std::vector<Address> addresses = Addresses(2000, index);
  size_t named = 0;
  for (auto _ : state) {
    Symbolizer symbolizer;
    named = SymbolizeAll(symbolizer, addresses);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * addresses.size()));
  state.SetLabel(Binaries()[index].path.substr(Binaries()[index].path.rfind('/') + 1));
  state.counters["addresses"] = static_cast<double>(addresses.size());
  state.counters["named"] = static_cast<double>(named) / static_cast<double>(addresses.size());
}
BENCHMARK(BM_SymbolizeColdOneBinary)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);

void BM_SymbolizeWarm(benchmark::State& state) {
  const std::vector<Address> addresses = Addresses(static_cast<size_t>(state.range(0)));
  Symbolizer symbolizer;
  size_t named = SymbolizeAll(symbolizer, addresses);
  for (auto _ : state) named = SymbolizeAll(symbolizer, addresses);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * addresses.size()));
  state.counters["addresses"] = static_cast<double>(addresses.size());
  state.counters["named"] = static_cast<double>(named) / static_cast<double>(addresses.size());
}
BENCHMARK(BM_SymbolizeWarm)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_KallsymsLoad(benchmark::State& state) {
  size_t symbols = 0;
  for (auto _ : state) {
    absl::StatusOr<KallsymsTable> table = KallsymsTable::Load();
    if (!table.ok()) {
      state.SkipWithError(std::string(table.status().message()).c_str());
      return;
    }
    symbols = table->size();
    benchmark::DoNotOptimize(table);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * symbols));
}
BENCHMARK(BM_KallsymsLoad)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace
}  // namespace wick

// A hand-built Recording whose user frames point into the known_tree workloads, shared by the
// writer tests: exact names without running anything.
#ifndef WICK_TESTS_OUTPUT_OUTPUT_FIXTURE_H_
#define WICK_TESTS_OUTPUT_OUTPUT_FIXTURE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "wick/profile.h"
#include "wick/recording.h"
#include "wick/symbolizer.h"
#include "workloads.h"

namespace wick {

inline constexpr uint64_t kKernelBase = 0xffffffff81000000;

inline Frame User(uint32_t binary, uint64_t offset) {
  return {offset, binary, FrameKind::kUserFile};
}
inline Frame Kernel(uint64_t addr) { return {addr, 0, FrameKind::kKernel}; }
inline Frame Raw(uint64_t addr) { return {addr, 0, FrameKind::kUserRaw}; }

class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b", "c", "work", "main"}) {
      absl::StatusOr<workloads::ElfSymbol> sym =
          workloads::FindElfSymbol(workloads::KnownTreePath(), name);
      ASSERT_TRUE(sym.ok()) << sym.status();
      offsets_[name] = sym->file_offset + 2;  // a few bytes in, where samples land
    }
    absl::StatusOr<std::string> build_id = workloads::ReadElfBuildId(workloads::KnownTreePath());
    ASSERT_TRUE(build_id.ok()) << build_id.status();
    build_id_ = *build_id;
    rec_.binaries.push_back({0, *build_id, workloads::KnownTreePath()});
    rec_.binaries.push_back({1, "", "/nonexistent/lib/libfoo.so"});
    rec_.comms.push_back({0, "known_tree_fp"});
    rec_.kernel_symbols.push_back({kKernelBase, 0x100, "entry_SYSCALL_64", ""});
    rec_.kernel_symbols.push_back({kKernelBase + 0x100, 0x80, "do_syscall_64", ""});
    rec_.kernel_symbols.push_back({kKernelBase + 0x1000, 0x40, "ext4_sync_fs", "ext4"});
  }

  void AddStack(uint32_t comm, std::vector<Frame> frames, uint64_t count) {
    RecordedStack stack;
    stack.id = static_cast<uint32_t>(rec_.stacks.size());
    stack.comm = comm;
    stack.frames = std::move(frames);
    stack.count = count;
    rec_.stacks.push_back(std::move(stack));
  }

  Frame F(const char* name, uint64_t delta = 0) { return User(0, offsets_[name] + delta); }

  // The profile of `event` ("" = the default) of `rec`; an empty samples profile (and a test
  // failure) when it cannot be built.
  Profile ProfileOf(const Recording& rec, bool inlined = true, const std::string& event = "") {
    ProfileOptions opts;
    opts.inlined = inlined;
    opts.event = event;
    absl::StatusOr<Profile> p = BuildProfile(rec, sym_, opts);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) return *std::move(p);
    Profile empty;
    empty.value_types.push_back({"samples", "count"});
    empty.totals.push_back(0);
    return empty;
  }
  Profile Prof(bool inlined = true) { return ProfileOf(rec_, inlined); }

  // Adds known_tree_inline as binary 2; returns {offset in outer where burn is inlined,
  // offset in main}.
  std::pair<uint64_t, uint64_t> AddInlineBinary() {
    const std::string path = workloads::KnownTreeInlinePath();
    absl::StatusOr<workloads::ElfSymbol> outer = workloads::FindElfSymbol(path, "outer");
    EXPECT_TRUE(outer.ok()) << outer.status();
    absl::StatusOr<workloads::ElfSymbol> main_sym = workloads::FindElfSymbol(path, "main");
    EXPECT_TRUE(main_sym.ok()) << main_sym.status();
    if (!outer.ok() || !main_sym.ok()) return {0, 0};
    uint64_t offset = 0;
    for (uint64_t i = 0; i < outer->size && offset == 0; ++i) {
      if (!sym_.SymbolizeFile("", path, outer->file_offset + i).inlined.empty()) {
        offset = outer->file_offset + i;
      }
    }
    EXPECT_NE(offset, 0u);
    rec_.binaries.push_back({2, "", path});
    return {offset, main_sym->file_offset + 1};
  }

  // The known tree: main -> work -> {a 6, b 3, c 1}, plus a kernel stack under c.
  void AddKnownTree() {
    AddStack(0, {F("a"), F("work"), F("main")}, 6);
    AddStack(0, {F("b"), F("work"), F("main")}, 3);
    AddStack(0, {F("c"), F("work"), F("main")}, 1);
    AddStack(0,
             {Kernel(kKernelBase + 0x1004), Kernel(kKernelBase + 0x120), Kernel(kKernelBase + 0x10),
              F("c"), F("work"), F("main")},
             2);
  }

  Recording rec_;
  Symbolizer sym_;
  std::string build_id_;
  std::map<std::string, uint64_t> offsets_;
};

}  // namespace wick

#endif  // WICK_TESTS_OUTPUT_OUTPUT_FIXTURE_H_

#include "folded.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "run.h"

namespace wick::testing {

absl::StatusOr<Folded> Folded::Parse(absl::string_view text) {
  Folded out;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("folded line ", line_no, " ", why, ": '", line, "'"));
    };
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) return bad("has no count");
    FoldedStack stack;
    if (!absl::SimpleAtoi(line.substr(space + 1), &stack.count) ||
        line.substr(space + 1).find_first_not_of("0123456789") != absl::string_view::npos) {
      return bad("does not end in a count");
    }
    if (stack.count == 0) return bad("has a count of 0");
    if (space == 0) return bad("has no frames");
    for (absl::string_view frame : absl::StrSplit(line.substr(0, space), ';')) {
      if (frame.empty()) return bad("has an empty frame");
      stack.frames.emplace_back(frame);
    }
    out.total_ += stack.count;
    out.stacks_.push_back(std::move(stack));
  }
  return out;
}

uint64_t Folded::With(const std::vector<std::string>& frames) const {
  return CountIf([&frames](const FoldedStack& s) {
    auto at = s.frames.begin();
    for (const std::string& f : frames) {
      at = std::find(at, s.frames.end(), f);
      if (at == s.frames.end()) return false;
      ++at;
    }
    return true;
  });
}

uint64_t Folded::WithFrame(const std::function<bool(const std::string&)>& pred) const {
  return CountIf([&pred](const FoldedStack& s) {
    return std::any_of(s.frames.begin(), s.frames.end(), pred);
  });
}

uint64_t Folded::CountIf(const std::function<bool(const FoldedStack&)>& pred) const {
  uint64_t n = 0;
  for (const FoldedStack& s : stacks_) {
    if (pred(s)) n += s.count;
  }
  return n;
}

std::map<std::string, uint64_t> Folded::ByRoot() const {
  std::map<std::string, uint64_t> roots;
  for (const FoldedStack& s : stacks_) roots[s.frames[0]] += s.count;
  return roots;
}

Folded Folded::OnlyRoot(absl::string_view root) const {
  Folded out;
  for (const FoldedStack& s : stacks_) {
    if (s.frames[0] != root) continue;
    out.total_ += s.count;
    out.stacks_.push_back(s);
  }
  return out;
}

std::map<std::string, uint64_t> Folded::LeafMost(const std::vector<std::string>& names) const {
  std::map<std::string, uint64_t> out;
  for (const FoldedStack& s : stacks_) {
    for (auto f = s.frames.rbegin(); f != s.frames.rend(); ++f) {
      if (std::find(names.begin(), names.end(), *f) == names.end()) continue;
      out[*f] += s.count;
      break;
    }
  }
  return out;
}

Folded ParseFoldedOrFail(absl::string_view text) {
  absl::StatusOr<Folded> folded = Folded::Parse(text);
  if (folded.ok()) return *std::move(folded);
  ADD_FAILURE() << folded.status().message();
  return Folded();
}

Folded ReportFolded(const std::string& wick, const std::string& file,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {wick, "report", "-i", file, "--folded"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  RunResult r = RunProgram(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return ParseFoldedOrFail(r.out);
}

KnownSplit KnownTreeSplit(const Folded& folded) {
  std::map<std::string, uint64_t> leaf = folded.LeafMost({"a", "b", "c"});
  return KnownSplit{leaf["a"], leaf["b"], leaf["c"]};
}

void ExpectKnownSplit(const KnownSplit& split, double tolerance, uint64_t min_samples) {
  const uint64_t sum = split.sum();
  ASSERT_GT(sum, min_samples) << "too few samples in a/b/c";
  EXPECT_NEAR(100.0 * double(split.a) / double(sum), 60.0, tolerance)
      << split.a << "/" << split.b << "/" << split.c;
  EXPECT_NEAR(100.0 * double(split.b) / double(sum), 30.0, tolerance)
      << split.a << "/" << split.b << "/" << split.c;
  EXPECT_NEAR(100.0 * double(split.c) / double(sum), 10.0, tolerance)
      << split.a << "/" << split.b << "/" << split.c;
}

double KnownTreeCpu(absl::string_view err) {
  double total = 0;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(err, '\n')) {
    if (!absl::ConsumePrefix(&line, "known_tree: cpu ")) continue;
    double cpu = 0;
    if (!absl::SimpleAtod(line, &cpu)) {
      ADD_FAILURE() << "bad known_tree line: " << line;
      return 0;
    }
    total += cpu;
    found = true;
  }
  if (!found) ADD_FAILURE() << "known_tree did not report its CPU time:\n" << err;
  return total;
}

}  // namespace wick::testing

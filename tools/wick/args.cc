#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "commands.h"

namespace wick::cli {
namespace {

// True when `name` ("-c", "--count") is an option of `sub` that takes a value (a flag
// expects none).
bool TakesValue(const CLI::App& sub, const std::string& name) {
  const CLI::Option* opt = sub.get_option_no_throw(name);
  return opt != nullptr && opt->get_expected_min() > 0;
}

}  // namespace

std::vector<std::string> SplitOffCommand(const CLI::App& sub, const std::vector<std::string>& words,
                                         std::vector<std::string>* command) {
  std::vector<std::string> own;
  size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") {
      ++i;
      break;
    }
    if (w.size() < 2 || w[0] != '-') break;  // the command's first word
    own.push_back(w);
    if (w[1] == '-') {
      // --name=value holds its value; --name may take the next word.
      if (w.find('=') == std::string::npos && TakesValue(sub, w) && i + 1 < words.size()) {
        own.push_back(words[++i]);
      }
      continue;
    }
    // A cluster of short options (-ga, -F99, -c 100): the first that takes a value takes the
    // rest of the word, or the next word when nothing is left.
    for (size_t c = 1; c < w.size(); ++c) {
      if (!TakesValue(sub, std::string{'-', w[c]})) continue;
      if (c + 1 == w.size() && i + 1 < words.size()) own.push_back(words[++i]);
      break;
    }
  }
  command->assign(words.begin() + static_cast<std::ptrdiff_t>(i), words.end());
  return own;
}

CLI::Validator MoreThanZero() {
  return CLI::Validator(
      [](std::string& value) {
        double v = 0;
        if (!absl::SimpleAtod(value, &v)) return std::string();  // the type's own check says
        return v > 0 ? std::string() : "must be more than 0, not " + value;
      },
      "> 0");
}

}  // namespace wick::cli

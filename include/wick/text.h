// Text from outside — thread names, paths, symbol names, trace-event strings — made safe for
// the formats that need valid text: JSON (wick script --json, the flame graph's data), HTML
// and pprof's protobuf strings. One escaper with one rule: valid UTF-8 passes through as it
// is; each byte that does not begin a valid UTF-8 sequence becomes U+FFFD and is counted (a
// comm may hold any byte but NUL); control characters are escaped in JSON.
// Plain functions, no state, thread-safe; nothing fails.
#ifndef WICK_TEXT_H_
#define WICK_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace wick {

// Length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when s[i] does not
// begin one (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut
// short by the end of `s`).
size_t Utf8SequenceLength(std::string_view s, size_t i);

// `s` as valid UTF-8: each byte that does not begin a valid sequence becomes U+FFFD. Adds the
// number of bytes replaced to *replaced when given.
std::string ToValidUtf8(std::string_view s, uint64_t* replaced = nullptr);

enum class JsonEscape {
  kPlain,
  // Also '<', '>', '&' (so "</script>" cannot end an HTML <script> element) and U+2028/2029
  // (line ends to older JavaScript parsers).
  kInsideHtmlScript,
};

// Appends `s` as a JSON string literal, quotes included: valid UTF-8 as is, invalid bytes as
// U+FFFD (counted in *replaced when given), '"', '\' and control characters (and DEL)
// escaped.
void AppendJsonString(std::string_view s, std::string* out, JsonEscape mode = JsonEscape::kPlain,
                      uint64_t* replaced = nullptr);

// HTML text: valid UTF-8 (as ToValidUtf8) with '<', '>', '&' and '"' as entities.
std::string HtmlEscape(std::string_view s, uint64_t* replaced = nullptr);

}  // namespace wick

#endif  // WICK_TEXT_H_

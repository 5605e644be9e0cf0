#include "wick/trace_format.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "wick/status.h"
#include "wick/text.h"

namespace wick {
namespace {

std::string_view Trim(std::string_view s) { return Sv(absl::StripAsciiWhitespace(Sv(s))); }

// Size in bytes of a scalar C type as tracepoints spell it (x86_64), 0 when unknown.
uint32_t ScalarTypeSize(std::string_view type) {
  std::string t(Trim(type));
  for (std::string_view prefix : {"const ", "volatile "}) {
    while (absl::StartsWith(t, Sv(prefix))) t = t.substr(prefix.size());
  }
  if (t.find('*') != std::string::npos) return sizeof(void*);
  static constexpr std::pair<std::string_view, uint32_t> kSizes[] = {
      {"char", 1},
      {"signed char", 1},
      {"unsigned char", 1},
      {"bool", 1},
      {"_Bool", 1},
      {"u8", 1},
      {"s8", 1},
      {"__u8", 1},
      {"__s8", 1},
      {"uint8_t", 1},
      {"int8_t", 1},
      {"short", 2},
      {"unsigned short", 2},
      {"u16", 2},
      {"s16", 2},
      {"__u16", 2},
      {"__s16", 2},
      {"uint16_t", 2},
      {"int16_t", 2},
      {"int", 4},
      {"unsigned", 4},
      {"unsigned int", 4},
      {"u32", 4},
      {"s32", 4},
      {"__u32", 4},
      {"__s32", 4},
      {"uint32_t", 4},
      {"int32_t", 4},
      {"pid_t", 4},
      {"long", 8},
      {"unsigned long", 8},
      {"long long", 8},
      {"unsigned long long", 8},
      {"u64", 8},
      {"s64", 8},
      {"__u64", 8},
      {"__s64", 8},
      {"uint64_t", 8},
      {"int64_t", 8},
      {"size_t", 8},
      {"dma_addr_t", 8},
      {"phys_addr_t", 8},
  };
  for (const auto& [name, size] : kSizes) {
    if (t == name) return size;
  }
  return 0;
}

// Signedness of an array element type given by name (for __data_loc arrays).
bool TypeIsSigned(std::string_view type) {
  const std::string_view t = Trim(type);
  if (absl::StrContains(Sv(t), "unsigned") || absl::StartsWith(Sv(t), "u") ||
      absl::StartsWith(Sv(t), "__u") || t == "bool" || t == "size_t" || t == "char") {
    return false;
  }
  return true;
}

bool IsCharType(std::string_view type) {
  std::string_view t = Trim(type);
  if (absl::StartsWith(Sv(t), "const ")) t = Trim(t.substr(6));
  return t == "char" || t == "signed char";
}

absl::Status FieldError(size_t line_no, std::string_view line, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("format line ", line_no, " '", Sv(Trim(line)), "': ", Sv(why)));
}

// Fills type/name/kind/array info of `f` from "TYPE NAME[N]" (offset/size/signed already set).
absl::Status ParseDeclaration(std::string_view decl, TraceField& f, size_t line_no,
                              std::string_view line) {
  decl = Trim(decl);
  // The name is the last identifier, possibly with a [N] suffix.
  size_t name_end = decl.size();
  std::string_view array_suffix;
  if (!decl.empty() && decl.back() == ']') {
    const size_t open = decl.rfind('[');
    if (open == std::string_view::npos) return FieldError(line_no, line, "unbalanced ']'");
    array_suffix = decl.substr(open);
    name_end = open;
  }
  size_t name_begin = name_end;
  while (name_begin > 0 && (absl::ascii_isalnum(static_cast<unsigned char>(decl[name_begin - 1])) ||
                            decl[name_begin - 1] == '_')) {
    --name_begin;
  }
  if (name_begin == name_end) return FieldError(line_no, line, "no field name");
  f.name = std::string(decl.substr(name_begin, name_end - name_begin));
  std::string_view type = Trim(decl.substr(0, name_begin));
  if (type.empty()) return FieldError(line_no, line, "no field type");
  f.type = std::string(type);
  f.is_common = absl::StartsWith(f.name, "common_");

  const bool data_loc = absl::StartsWith(Sv(type), "__data_loc");
  const bool rel_loc = absl::StartsWith(Sv(type), "__rel_loc");
  if (data_loc || rel_loc) {
    // "__data_loc char[]", "__data_loc unsigned int[]": the element type before "[]".
    std::string_view element = Trim(type.substr(data_loc ? 10 : 9));
    if (absl::EndsWith(Sv(element), "[]")) element = Trim(element.substr(0, element.size() - 2));
    if (f.size != 4) return FieldError(line_no, line, "a __data_loc/__rel_loc field has size 4");
    if (IsCharType(element)) {
      f.kind = data_loc ? TraceField::Kind::kDataLocString : TraceField::Kind::kRelLocString;
      f.element_size = 1;
    } else {
      f.kind = data_loc ? TraceField::Kind::kDataLocArray : TraceField::Kind::kRelLocArray;
      f.element_size = ScalarTypeSize(element);
      if (f.element_size == 0) f.element_size = 1;  // unknown element type: bytes
      f.element_signed = f.element_size > 1 && TypeIsSigned(element);
    }
    return absl::OkStatus();
  }
  if (!array_suffix.empty()) {
    const std::string_view count_text = Trim(array_suffix.substr(1, array_suffix.size() - 2));
    uint32_t count = 0;
    if (!count_text.empty() && !absl::SimpleAtoi(Sv(count_text), &count)) {
      count = 0;  // an unexpanded macro: derive from the sizes below
    }
    uint32_t element_size = ScalarTypeSize(type);
    if (count > 0 && f.size % count == 0) element_size = f.size / count;
    if (element_size == 0) element_size = 1;
    f.array_length = count;
    f.element_size = element_size;
    f.element_signed = f.is_signed;
    f.kind = IsCharType(type) && element_size == 1 ? TraceField::Kind::kCharArray
                                                   : TraceField::Kind::kArray;
    return absl::OkStatus();
  }
  if (type.find('*') != std::string_view::npos && (f.size == 4 || f.size == 8)) {
    f.kind = TraceField::Kind::kPointer;
  } else if (f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8) {
    f.kind = TraceField::Kind::kInteger;
  } else {
    f.kind = TraceField::Kind::kBytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<TraceField> ParseFieldLine(std::string_view line, size_t line_no) {
  TraceField f;
  std::string_view decl;
  bool have_decl = false, have_offset = false, have_size = false;
  for (absl::string_view part : absl::StrSplit(Sv(line), ';')) {
    std::string_view p = Trim(Sv(part));
    if (p.empty()) continue;
    const size_t colon = p.find(':');
    if (colon == std::string_view::npos) return FieldError(line_no, line, "expected key:value");
    const std::string_view key = Trim(p.substr(0, colon));
    const std::string_view value = Trim(p.substr(colon + 1));
    if (key == "field") {
      decl = value;
      have_decl = true;
    } else if (key == "offset" || key == "size" || key == "signed") {
      uint32_t n = 0;
      if (!absl::SimpleAtoi(Sv(value), &n)) {
        return FieldError(line_no, line, absl::StrCat(Sv(key), " is not a number"));
      }
      if (key == "offset") {
        f.offset = n;
        have_offset = true;
      } else if (key == "size") {
        f.size = n;
        have_size = true;
      } else {
        f.is_signed = n != 0;
      }
    }  // unknown keys: newer kernels may add some; ignore them
  }
  if (!have_decl || !have_offset || !have_size) {
    return FieldError(line_no, line, "needs field:, offset: and size:");
  }
  // Offsets and sizes index a record of at most 64 KiB (the u16 __data_loc offset).
  if (f.offset > 0xffff || f.size > 0xffff) {
    return FieldError(line_no, line, "offset or size beyond 64 KiB");
  }
  WICK_RETURN_IF_ERROR(ParseDeclaration(decl, f, line_no, line));
  return f;
}

// Reads `size` bytes (1/2/4/8) at `p` as an unsigned integer in host order.
uint64_t LoadUnsigned(const std::byte* p, uint32_t size) {
  switch (size) {
    case 1: {
      uint8_t v;
      std::memcpy(&v, p, 1);
      return v;
    }
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    default: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
  }
}

int64_t SignExtend(uint64_t v, uint32_t size) {
  if (size >= 8) return static_cast<int64_t>(v);
  const unsigned shift = 64 - size * 8;
  return static_cast<int64_t>(v << shift) >> shift;
}

bool IsIntegerSize(uint32_t size) { return size == 1 || size == 2 || size == 4 || size == 8; }

void DecodeArray(const TraceField& f, std::span<const std::byte> bytes, TraceValue& v) {
  if (!IsIntegerSize(f.element_size)) {
    v.type = TraceValue::Type::kBytes;
    v.str.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return;
  }
  const size_t n = bytes.size() / f.element_size;
  if (f.element_signed) {
    v.type = TraceValue::Type::kSignedArray;
    v.signed_array.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      v.signed_array.push_back(SignExtend(
          LoadUnsigned(bytes.data() + i * f.element_size, f.element_size), f.element_size));
    }
  } else {
    v.type = TraceValue::Type::kUnsignedArray;
    v.unsigned_array.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      v.unsigned_array.push_back(LoadUnsigned(bytes.data() + i * f.element_size, f.element_size));
    }
  }
}

std::string CString(std::span<const std::byte> bytes) {
  const char* p = reinterpret_cast<const char*>(bytes.data());
  return std::string(p, strnlen(p, bytes.size()));
}

void AppendHex(std::string& out, std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
template <typename T>
void AppendArray(std::string& out, const std::vector<T>& values) {
  out.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, values[i]);
  }
  out.push_back(']');
}

}  // namespace

absl::StatusOr<TraceFormat> TraceFormat::Parse(std::string_view text) {
  TraceFormat format;
  bool have_name = false, have_id = false, in_format = false;
  size_t line_no = 0;
  bool in_print_fmt = false;
  for (absl::string_view raw_line : absl::StrSplit(Sv(text), '\n')) {
    ++line_no;
    const std::string_view line = Sv(raw_line);
    if (in_print_fmt) {
      // The print format is last and may span lines (a string with embedded newlines, as
      // ext4_fc_stats and the fsmap events have).
      if (!line.empty()) absl::StrAppend(&format.print_fmt, "\n", Sv(line));
      continue;
    }
    const std::string_view trimmed = Trim(line);
    if (trimmed.empty()) continue;
    if (absl::StartsWith(Sv(trimmed), "name:")) {
      format.name = std::string(Trim(trimmed.substr(5)));
      have_name = true;
    } else if (absl::StartsWith(Sv(trimmed), "ID:")) {
      if (!absl::SimpleAtoi(Sv(Trim(trimmed.substr(3))), &format.id)) {
        return FieldError(line_no, line, "ID is not a number");
      }
      have_id = true;
    } else if (trimmed == "format:") {
      in_format = true;
    } else if (absl::StartsWith(Sv(trimmed), "field:")) {
      if (!in_format) return FieldError(line_no, line, "field before 'format:'");
      WICK_ASSIGN_OR_RETURN(TraceField field, ParseFieldLine(trimmed, line_no));
      format.fields.push_back(std::move(field));
    } else if (absl::StartsWith(Sv(trimmed), "print fmt:")) {
      format.print_fmt = std::string(Trim(trimmed.substr(10)));
      in_print_fmt = true;
    } else {
      return FieldError(line_no, line, "unexpected line");
    }
  }
  if (!have_name || !have_id || !in_format) {
    return absl::InvalidArgumentError(
        "not a tracepoint format file (needs 'name:', 'ID:' and 'format:')");
  }
  return format;
}

const TraceField* TraceFormat::FindField(std::string_view name) const {
  for (const TraceField& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

uint32_t TraceFormat::FixedSize() const {
  uint32_t end = 0;
  for (const TraceField& f : fields) end = std::max(end, f.offset + f.size);
  return end;
}

absl::StatusOr<std::vector<TraceValue>> DecodeTraceFields(const TraceFormat& format,
                                                          std::span<const std::byte> raw,
                                                          bool include_common) {
  std::vector<TraceValue> out;
  out.reserve(format.fields.size());
  for (const TraceField& f : format.fields) {
    if (f.is_common && !include_common) continue;
    if (static_cast<size_t>(f.offset) + f.size > raw.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(format.name, ": field ", f.name, " (offset ", f.offset, ", size ", f.size,
                       ") past the end of a ", raw.size(), "-byte payload"));
    }
    const std::span<const std::byte> bytes = raw.subspan(f.offset, f.size);
    TraceValue v;
    v.field = &f;
    switch (f.kind) {
      case TraceField::Kind::kInteger: {
        const uint64_t u = LoadUnsigned(bytes.data(), f.size);
        if (f.is_signed) {
          v.type = TraceValue::Type::kSigned;
          v.s = SignExtend(u, f.size);
        } else {
          v.type = TraceValue::Type::kUnsigned;
          v.u = u;
        }
        break;
      }
      case TraceField::Kind::kPointer:
        v.type = TraceValue::Type::kPointer;
        v.u = LoadUnsigned(bytes.data(), f.size);
        break;
      case TraceField::Kind::kCharArray:
        v.type = TraceValue::Type::kString;
        v.str = CString(bytes);
        break;
      case TraceField::Kind::kArray:
        // NAME[] (size 0) runs to the end of the payload.
        DecodeArray(f, f.size == 0 ? raw.subspan(f.offset) : bytes, v);
        break;
      case TraceField::Kind::kDataLocString:
      case TraceField::Kind::kDataLocArray:
      case TraceField::Kind::kRelLocString:
      case TraceField::Kind::kRelLocArray: {
        const uint32_t loc = static_cast<uint32_t>(LoadUnsigned(bytes.data(), 4));
        const bool rel =
            f.kind == TraceField::Kind::kRelLocString || f.kind == TraceField::Kind::kRelLocArray;
        // __rel_loc offsets count from the end of the field itself.
        const size_t data_offset = (loc & 0xffff) + (rel ? f.offset + f.size : 0);
        const size_t length = loc >> 16;
        if (data_offset + length > raw.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(format.name, ": ", rel ? "__rel_loc" : "__data_loc", " field ", f.name,
                           " points at bytes ", data_offset, "..", data_offset + length, " of a ",
                           raw.size(), "-byte payload"));
        }
        const std::span<const std::byte> data = raw.subspan(data_offset, length);
        if (f.kind == TraceField::Kind::kDataLocString ||
            f.kind == TraceField::Kind::kRelLocString) {
          v.type = TraceValue::Type::kString;
          v.str = CString(data);
        } else {
          DecodeArray(f, data, v);
        }
        break;
      }
      case TraceField::Kind::kBytes:
        v.type = TraceValue::Type::kBytes;
        v.str.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        break;
    }
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

// One value as text (`json` false: strings bare, pointers and bytes as bare hex) or as JSON
// (strings escaped and quoted; pointers and bytes as quoted hex).
void AppendValue(std::string& out, const TraceValue& v, bool json, uint64_t* text_not_utf8) {
  const char* quote = json ? "\"" : "";
  switch (v.type) {
    case TraceValue::Type::kSigned:
      absl::StrAppend(&out, v.s);
      break;
    case TraceValue::Type::kUnsigned:
      absl::StrAppend(&out, v.u);
      break;
    case TraceValue::Type::kPointer:
      absl::StrAppend(&out, quote, "0x", absl::Hex(v.u), quote);
      break;
    case TraceValue::Type::kString:
      if (json) {
        AppendJsonString(v.str, &out, JsonEscape::kPlain, text_not_utf8);
      } else {
        out.append(v.str);
      }
      break;
    case TraceValue::Type::kSignedArray:
      AppendArray(out, v.signed_array);
      break;
    case TraceValue::Type::kUnsignedArray:
      AppendArray(out, v.unsigned_array);
      break;
    case TraceValue::Type::kBytes:
      out.append(quote);
      AppendHex(out, v.str);
      out.append(quote);
      break;
  }
}

}  // namespace

std::string FormatTraceText(const std::vector<TraceValue>& values) {
  std::string out;
  for (const TraceValue& v : values) {
    if (!out.empty()) out.push_back(' ');
    absl::StrAppend(&out, v.field != nullptr ? v.field->name : "?", "=");
    AppendValue(out, v, /*json=*/false, nullptr);
  }
  return out;
}

std::string FormatTraceJson(const std::vector<TraceValue>& values, uint64_t* text_not_utf8) {
  std::string out = "{";
  for (const TraceValue& v : values) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(v.field != nullptr ? v.field->name : "?", &out, JsonEscape::kPlain,
                     text_not_utf8);
    out.push_back(':');
    AppendValue(out, v, /*json=*/true, text_not_utf8);
  }
  out.push_back('}');
  return out;
}

}  // namespace wick

// The ftrace event format file (tracefs events/SYSTEM/EVENT/format) and the decoding of a
// tracepoint's PERF_SAMPLE_RAW payload into typed field values.
//
// TraceFormat::Parse() reads "name:", "ID:", the "field:TYPE NAME; offset:N; size:N;
// signed:N;" lines and "print fmt:". DecodeTraceFields() turns the raw bytes of one sample
// (which start with the common_* fields) into a list of values: integers of every size and
// signedness, pointers, fixed char arrays as strings, other fixed arrays, and __data_loc /
// __rel_loc strings and arrays. FormatTraceText() prints them like `perf script`
// ("prev_comm=bash prev_pid=12 ..."), FormatTraceJson() as one JSON object. Everything is
// pure and thread-safe; malformed input is InvalidArgument naming the field or line.
#ifndef WICK_TRACE_FORMAT_H_
#define WICK_TRACE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wick {

struct TraceField {
  // How the bytes of a field are interpreted, derived from its declaration and size.
  enum class Kind {
    kInteger,        // size 1/2/4/8, signed or not ("int", "pid_t", "bool", "u64", "long")
    kPointer,        // a C pointer type ("const char *", "void *"): printed as hex
    kCharArray,      // "char NAME[N]": a NUL-terminated string (u8[N] etc. are kArray)
    kArray,          // "TYPE NAME[N]" of integers; N == 0 ("NAME[]") runs to the payload end
    kDataLocString,  // "__data_loc char[] NAME": u32 (offset low 16 bits, length high 16)
    kDataLocArray,   // "__data_loc TYPE[] NAME" of integers
    kRelLocString,   // "__rel_loc char[] NAME": like __data_loc, offset from the field's end
    kRelLocArray,    // "__rel_loc TYPE[] NAME"
    kBytes,          // anything else (a scalar of unusual size): printed as hex bytes
  };

  std::string type;  // the declared type as written, minus the name ("unsigned long",
                     // "__data_loc char[]", "char" for "char prev_comm[16]")
  std::string name;  // "prev_comm"
  uint32_t offset = 0;
  uint32_t size = 0;
  bool is_signed = false;
  Kind kind = Kind::kInteger;
  uint32_t array_length = 0;    // declared N of NAME[N] (0 for NAME[] and non-arrays)
  uint32_t element_size = 0;    // bytes per element of arrays (kArray, k*LocArray)
  bool element_signed = false;  // arrays: whether elements are signed (from the type name
                                // for __data_loc/__rel_loc, whose `signed:` is the u32's)
  bool is_common = false;       // common_type, common_pid, ... (the first block)
};

struct TraceFormat {
  std::string name;                // "sched_switch"
  uint64_t id = 0;                 // "ID:", the PERF_TYPE_TRACEPOINT config
  std::vector<TraceField> fields;  // common fields first, in file order
  std::string print_fmt;           // the text after "print fmt: ", unparsed

  // Parses the format file text. InvalidArgument (naming the line) on malformed field lines,
  // a missing name/ID/format section, or offsets+sizes that do not fit in 16 bits.
  static absl::StatusOr<TraceFormat> Parse(std::string_view text);

  // The field called `name`, or nullptr.
  const TraceField* FindField(std::string_view name) const;
  // Bytes the fixed part of the payload needs (max over fields of offset + size).
  uint32_t FixedSize() const;
};

// One decoded field. Strings and arrays are copied out of the sample.
struct TraceValue {
  enum class Type { kSigned, kUnsigned, kPointer, kString, kSignedArray, kUnsignedArray, kBytes };

  const TraceField* field = nullptr;  // points into the TraceFormat passed to the decoder
  Type type = Type::kUnsigned;
  int64_t s = 0;                         // kSigned
  uint64_t u = 0;                        // kUnsigned, kPointer
  std::string str;                       // kString; kBytes (the raw bytes)
  std::vector<int64_t> signed_array;     // kSignedArray
  std::vector<uint64_t> unsigned_array;  // kUnsignedArray
};

// Decodes `raw` (a PERF_SAMPLE_RAW payload; may include trailing padding) field by field.
// With include_common false the common_* fields are skipped, as perf script does.
// InvalidArgument when the payload is shorter than a field or a __data_loc / __rel_loc points
// outside it. The values point at `format`: keep it alive while using them.
absl::StatusOr<std::vector<TraceValue>> DecodeTraceFields(const TraceFormat& format,
                                                          std::span<const std::byte> raw,
                                                          bool include_common = false);

// "name=value name=value ...": integers in decimal, pointers as 0x%lx, strings as is,
// arrays as [1,2,3], bytes as hex.
std::string FormatTraceText(const std::vector<TraceValue>& values);

// {"name":value,...}: integers as JSON numbers, pointers as "0x..." strings, strings escaped
// (non-UTF-8-safe bytes as \u00XX), arrays as JSON arrays, bytes as a hex string.
// Strings that are not UTF-8 get U+FFFD for each bad byte, counted in *text_not_utf8.
std::string FormatTraceJson(const std::vector<TraceValue>& values,
                            uint64_t* text_not_utf8 = nullptr);

}  // namespace wick

#endif  // WICK_TRACE_FORMAT_H_

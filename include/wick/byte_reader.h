// Bounded reader over outside bytes (ring-buffer records, recording files, ELF notes).
//
// Every read checks the remaining length first and fails (returns false / nullopt) instead
// of passing the end; once a read fails the reader stays failed, so a parser can do a run of
// reads and check ok() once. Scalars are read with memcpy (no alignment assumptions);
// arrays come back as zero-copy sub-spans of the input, which the caller must not outlive.
#ifndef WICK_BYTE_READER_H_
#define WICK_BYTE_READER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

namespace wick {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const std::byte> data) : data_(data) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  size_t size() const { return data_.size(); }
  bool ok() const { return ok_; }
  // Marks the reader failed, e.g. when a decoded value is out of range.
  void Fail() { ok_ = false; }

  template <typename T>
  bool Read(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (!Check(sizeof(T))) return false;
    std::memcpy(out, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // Reads `count` elements of T as raw bytes; count * sizeof(T) is overflow-checked.
  template <typename T>
  bool ReadArray(uint64_t count, std::span<const std::byte>* out) {
    if (count > (SIZE_MAX / sizeof(T))) return Failed();
    return ReadBytes(count * sizeof(T), out);
  }

  bool ReadBytes(uint64_t n, std::span<const std::byte>* out) {
    if (!Check(n)) return false;
    *out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  // A string of exactly n bytes, cut at the first NUL if there is one.
  bool ReadString(uint64_t n, std::string_view* out) {
    std::span<const std::byte> bytes;
    if (!ReadBytes(n, &bytes)) return false;
    const char* p = reinterpret_cast<const char*>(bytes.data());
    size_t len = strnlen(p, bytes.size());
    *out = std::string_view(p, len);
    return true;
  }

  bool Skip(uint64_t n) {
    if (!Check(n)) return false;
    pos_ += n;
    return true;
  }

  // Moves to absolute offset `pos` (at most size()).
  bool Seek(uint64_t pos) {
    if (!ok_ || pos > data_.size()) return Failed();
    pos_ = pos;
    return true;
  }

  std::span<const std::byte> Rest() const {
    return ok_ ? data_.subspan(pos_) : std::span<const std::byte>();
  }

 private:
  bool Check(uint64_t n) {
    if (!ok_ || n > data_.size() - pos_) return Failed();
    return true;
  }
  bool Failed() {
    ok_ = false;
    return false;
  }

  std::span<const std::byte> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// Reads a trivially copyable T from an aligned-or-not span of u64 words in place.
template <typename T>
inline std::span<const T> AsSpanOf(std::span<const std::byte> bytes) {
  static_assert(std::is_trivially_copyable_v<T>);
  return std::span<const T>(reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T));
}

}  // namespace wick

#endif  // WICK_BYTE_READER_H_

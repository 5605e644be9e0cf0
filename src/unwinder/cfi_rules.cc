#include "cfi_rules.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>

#include "wick/build_id.h"

namespace wick::unwinder_internal {
namespace {

// The file bytes of `image` from link-time address `vaddr` to the end of its PT_LOAD.
std::span<const std::byte> BytesAt(const ElfImage& image, uint64_t vaddr) {
  for (const ElfImage::Load& l : image.loads) {
    if (vaddr >= l.vaddr && vaddr - l.vaddr < l.filesz) {
      const uint64_t off = vaddr - l.vaddr + l.offset;
      if (off >= image.bytes.size()) return {};
      const uint64_t in_load = l.filesz - (vaddr - l.vaddr);
      return image.bytes.subspan(off, std::min<uint64_t>(in_load, image.bytes.size() - off));
    }
  }
  return {};
}

// A cursor over CFI bytes that knows the link-time address of each byte (for pc-relative
// pointers). Any read past the end sets !ok.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, uint64_t vaddr) : bytes_(bytes), vaddr_(vaddr) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= bytes_.size(); }
  uint64_t vaddr() const { return vaddr_ + pos_; }
  size_t pos() const { return pos_; }
  void Limit(size_t end) { bytes_ = bytes_.first(std::min(end, bytes_.size())); }
  template <typename T>
  T Fixed() {
    T v{};
    if (bytes_.size() - pos_ < sizeof(T) || pos_ > bytes_.size()) {
      ok_ = false;
      pos_ = bytes_.size();
      return v;
    }
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  uint64_t Uleb() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = Fixed<uint8_t>();
      if (!ok_ || shift > 63) return ok_ = false, 0;
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
  }
  int64_t Sleb() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b = 0;
    do {
      b = Fixed<uint8_t>();
      if (!ok_ || shift > 63) return ok_ = false, 0;
      v |= int64_t{b & 0x7f} << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= static_cast<int64_t>(~uint64_t{0} << shift);
    return v;
  }
  // A ULEB128 operand as a signed value; one past int64 fails.
  int64_t SignedUleb() {
    const uint64_t v = Uleb();
    if (v > uint64_t{INT64_MAX}) return ok_ = false, 0;
    return static_cast<int64_t>(v);
  }
  // An operand times an alignment factor; an overflow (hostile CFI) fails.
  int64_t Scaled(int64_t v, int64_t factor) {
    int64_t out = 0;
    if (__builtin_mul_overflow(v, factor, &out)) return ok_ = false, 0;
    return out;
  }
  void Skip(uint64_t n) {
    if (n > bytes_.size() - pos_) {
      ok_ = false;
      pos_ = bytes_.size();
    } else {
      pos_ += n;
    }
  }
  // A DW_EH_PE_* encoded pointer: absolute or pc-relative, of the usual sizes. nullopt for
  // an encoding this does not read (indirect, datarel, aligned).
  std::optional<uint64_t> Pointer(uint8_t enc) {
    if (enc == 0xff || (enc & 0x80) != 0) return std::nullopt;  // omit, indirect
    const uint64_t field = vaddr();
    uint64_t v = 0;
    switch (enc & 0x0f) {
      case 0x00:
        v = Fixed<uint64_t>();
        break;
      case 0x01:
        v = Uleb();
        break;
      case 0x02:
        v = Fixed<uint16_t>();
        break;
      case 0x03:
        v = Fixed<uint32_t>();
        break;
      case 0x04:
        v = Fixed<uint64_t>();
        break;
      case 0x09:
        v = static_cast<uint64_t>(Sleb());
        break;
      case 0x0a:
        v = static_cast<uint64_t>(int64_t{Fixed<int16_t>()});
        break;
      case 0x0b:
        v = static_cast<uint64_t>(int64_t{Fixed<int32_t>()});
        break;
      case 0x0c:
        v = Fixed<uint64_t>();
        break;
      default:
        return std::nullopt;
    }
    switch (enc & 0x70) {
      case 0x00:
        return v;
      case 0x10:
        return v + field;
      default:
        return std::nullopt;
    }
  }

 private:
  std::span<const std::byte> bytes_;
  uint64_t vaddr_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// How a register is recovered in the caller.
struct RegRule {
  enum Kind : uint8_t { kSame, kUndefined, kOffset, kOther } kind = kSame;
  int64_t offset = 0;
};

struct Row {
  uint64_t cfa_reg = kDwarfRsp;
  int64_t cfa_offset = 8;
  bool cfa_ok = true;
  RegRule ra, rbp;
};

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = -8;
  uint64_t ra_reg = kDwarfRip;
  uint8_t fde_encoding = 0;  // DW_EH_PE_absptr
  bool augmented = false;    // 'z': FDEs carry an augmentation length
  std::span<const std::byte> initial;
  uint64_t initial_vaddr = 0;
};

RegRule* RuleOf(Row& row, const Cie& cie, uint64_t reg) {
  if (reg == cie.ra_reg) return &row.ra;
  if (reg == kDwarfRbp) return &row.rbp;
  return nullptr;
}

// DW_CFA_restore: the rule the CIE's initial instructions gave `reg`.
void Restore(Row& row, const Row& initial, const Cie& cie, uint64_t reg) {
  if (reg == cie.ra_reg) row.ra = initial.ra;
  if (reg == kDwarfRbp) row.rbp = initial.rbp;
}

// Runs CFA instructions, stopping at the first row past `target` (rows apply from their
// location on). False on an instruction this does not know (the unwind goes to libunwind).
bool Execute(Cursor& c, const Cie& cie, const Row& initial, uint64_t target, uint64_t* loc,
             Row* row) {
  Row stack[8];
  int depth = 0;
  while (!c.done()) {
    const uint8_t op = c.Fixed<uint8_t>();
    const uint8_t high = op & 0xc0, low = op & 0x3f;
    uint64_t reg = 0;
    int64_t offset = 0;
    uint64_t advance = 0;
    if (high == 0x40) {
      advance = low;
    } else if (high == 0x80) {
      if (RegRule* r = RuleOf(*row, cie, low))
        *r = {RegRule::kOffset, c.Scaled(c.SignedUleb(), cie.data_align)};
      else
        c.Uleb();
    } else if (high == 0xc0) {
      Restore(*row, initial, cie, low);
    } else {
      switch (op) {
        case 0x00:
          break;  // nop
        case 0x02:
          advance = c.Fixed<uint8_t>();
          break;  // advance_loc1
        case 0x03:
          advance = c.Fixed<uint16_t>();
          break;
        case 0x04:
          advance = c.Fixed<uint32_t>();
          break;
        case 0x05:  // offset_extended
          reg = c.Uleb();
          offset = c.Scaled(c.SignedUleb(), cie.data_align);
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOffset, offset};
          break;
        case 0x11:  // offset_extended_sf
          reg = c.Uleb();
          offset = c.Scaled(c.Sleb(), cie.data_align);
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOffset, offset};
          break;
        case 0x2f:  // GNU_negative_offset_extended
          reg = c.Uleb();
          offset = c.Scaled(c.SignedUleb(), -cie.data_align);
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOffset, offset};
          break;
        case 0x06:  // restore_extended
          reg = c.Uleb();
          Restore(*row, initial, cie, reg);
          break;
        case 0x07:  // undefined
          if (RegRule* r = RuleOf(*row, cie, c.Uleb())) *r = {RegRule::kUndefined, 0};
          break;
        case 0x08:  // same_value
          if (RegRule* r = RuleOf(*row, cie, c.Uleb())) *r = {RegRule::kSame, 0};
          break;
        case 0x09:  // register
          reg = c.Uleb();
          c.Uleb();
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOther, 0};
          break;
        case 0x14:  // val_offset
        case 0x15:  // val_offset_sf
          reg = c.Uleb();
          if (op == 0x14)
            c.Uleb();
          else
            c.Sleb();
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOther, 0};
          break;
        case 0x10:  // expression
        case 0x16:  // val_expression
          reg = c.Uleb();
          c.Skip(c.Uleb());
          if (RegRule* r = RuleOf(*row, cie, reg)) *r = {RegRule::kOther, 0};
          break;
        case 0x0a:  // remember_state
          if (depth == 8) return false;
          stack[depth++] = *row;
          break;
        case 0x0b:  // restore_state: the CFA is restored too (as GCC and libunwind do)
          if (depth == 0) return false;
          *row = stack[--depth];
          break;
        case 0x0c:  // def_cfa
          row->cfa_reg = c.Uleb();
          row->cfa_offset = c.SignedUleb();
          row->cfa_ok = true;
          break;
        case 0x12:  // def_cfa_sf
          row->cfa_reg = c.Uleb();
          row->cfa_offset = c.Scaled(c.Sleb(), cie.data_align);
          row->cfa_ok = true;
          break;
        case 0x0d:
          row->cfa_reg = c.Uleb();
          break;  // def_cfa_register
        case 0x0e:
          row->cfa_offset = c.SignedUleb();
          break;  // def_cfa_offset
        case 0x13:
          row->cfa_offset = c.Scaled(c.Sleb(), cie.data_align);
          break;    // def_cfa_offset_sf
        case 0x0f:  // def_cfa_expression (PLT entries, stack realignment)
          c.Skip(c.Uleb());
          row->cfa_ok = false;
          break;
        case 0x2e:
          c.Uleb();
          break;  // GNU_args_size
        default:
          return false;  // set_loc, vendor opcodes
      }
    }
    if (!c.ok()) return false;
    if (advance != 0) {
      const uint64_t next = *loc + advance * cie.code_align;
      if (next > target) return true;
      *loc = next;
    }
  }
  return c.ok();
}

bool ParseCie(const ElfImage& image, uint64_t vaddr, Cie* cie) {
  const std::span<const std::byte> bytes = BytesAt(image, vaddr);
  Cursor c(bytes, vaddr);
  const uint32_t length = c.Fixed<uint32_t>();
  if (!c.ok() || length == 0 || length == 0xffffffff) return false;
  c.Limit(4 + size_t{length});
  if (c.Fixed<uint32_t>() != 0) return false;  // not a CIE
  const uint8_t version = c.Fixed<uint8_t>();
  if (version != 1 && version != 3) return false;
  std::string_view aug;
  {
    const size_t start = c.pos();
    while (c.ok() && c.Fixed<uint8_t>() != 0) {
    }
    if (!c.ok()) return false;
    aug =
        std::string_view(reinterpret_cast<const char*>(bytes.data()) + start, c.pos() - start - 1);
  }
  cie->code_align = c.Uleb();
  cie->data_align = c.Sleb();
  // x86-64 compilers write 1 and -8; anything far off is not CFI this reads.
  if (cie->code_align == 0 || cie->code_align > 256 || cie->data_align < -256 ||
      cie->data_align > 256) {
    return false;
  }
  cie->ra_reg = version == 1 ? c.Fixed<uint8_t>() : c.Uleb();
  if (!aug.empty()) {
    if (aug[0] != 'z') return false;
    cie->augmented = true;
    const uint64_t aug_length = c.Uleb();
    const size_t aug_end = c.pos() + aug_length;
    for (char a : aug.substr(1)) {
      if (a == 'R') {
        cie->fde_encoding = c.Fixed<uint8_t>();
      } else if (a == 'L') {
        c.Fixed<uint8_t>();
      } else if (a == 'P') {
        const uint8_t enc = c.Fixed<uint8_t>();
        if (!c.Pointer(enc & 0x7f)) return false;  // its size is all that matters
      } else {
        return false;  // 'S' (a signal frame) and anything newer: libunwind's
      }
    }
    if (!c.ok() || c.pos() > aug_end) return false;
    c.Skip(aug_end - c.pos());
  }
  if (!c.ok() || cie->ra_reg != kDwarfRip) return false;
  const size_t end = std::min(4 + size_t{length}, bytes.size());
  cie->initial = bytes.subspan(c.pos(), end - std::min(end, c.pos()));
  cie->initial_vaddr = c.vaddr();
  return true;
}

// The FDE covering `vaddr`, through the .eh_frame_hdr table (sorted initial locations).
std::optional<uint64_t> FindFde(const ElfImage& image, uint64_t vaddr) {
  const uint64_t hdr = image.eh_frame_hdr_vaddr;
  if (hdr == 0) return std::nullopt;
  const std::span<const std::byte> bytes = BytesAt(image, hdr);
  if (bytes.size() < kEhFrameHdrSize) return std::nullopt;
  const std::optional<uint32_t> count = EhFrameHdrFdeCount(bytes.first<kEhFrameHdrSize>());
  if (!count || *count == 0 || (bytes.size() - kEhFrameHdrSize) / 8 < *count) return std::nullopt;
  const std::byte* table = bytes.data() + kEhFrameHdrSize;
  const int64_t want = int64_t(vaddr - hdr);
  size_t lo = 0, hi = *count;  // find the last entry with initial location <= want
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    int32_t loc = 0;
    std::memcpy(&loc, table + mid * 8, 4);
    if (loc <= want)
      lo = mid;
    else
      hi = mid;
  }
  int32_t loc = 0, fde = 0;
  std::memcpy(&loc, table + lo * 8, 4);
  std::memcpy(&fde, table + lo * 8 + 4, 4);
  if (loc > want) return std::nullopt;
  return hdr + static_cast<uint64_t>(int64_t{fde});
}

}  // namespace

CfiRule FindCfiRule(const ElfImage& image, uint64_t vaddr) {
  const std::optional<uint64_t> fde_vaddr = FindFde(image, vaddr);
  if (!fde_vaddr) return {};
  Cursor c(BytesAt(image, *fde_vaddr), *fde_vaddr);
  const uint32_t length = c.Fixed<uint32_t>();
  if (!c.ok() || length == 0 || length == 0xffffffff) return {};
  c.Limit(4 + size_t{length});
  const uint64_t cie_field = c.vaddr();
  const uint32_t cie_pointer = c.Fixed<uint32_t>();
  Cie cie;
  if (!c.ok() || cie_pointer == 0 || !ParseCie(image, cie_field - cie_pointer, &cie)) return {};
  const std::optional<uint64_t> begin = c.Pointer(cie.fde_encoding);
  const std::optional<uint64_t> range = c.Pointer(cie.fde_encoding & 0x0f);
  if (!begin || !range || vaddr < *begin || vaddr - *begin >= *range) return {};
  if (cie.augmented) c.Skip(c.Uleb());
  if (!c.ok()) return {};

  Row initial;
  uint64_t loc = *begin;
  Cursor ci(cie.initial, cie.initial_vaddr);
  if (!Execute(ci, cie, initial, UINT64_MAX, &loc, &initial)) return {};
  Row row = initial;
  loc = *begin;
  if (!Execute(c, cie, initial, vaddr, &loc, &row)) return {};

  CfiRule rule;
  if (row.ra.kind == RegRule::kUndefined) {
    rule.kind = CfiRule::kEnd;
    return rule;
  }
  if (!row.cfa_ok || (row.cfa_reg != kDwarfRsp && row.cfa_reg != kDwarfRbp) ||
      row.ra.kind != RegRule::kOffset || row.rbp.kind == RegRule::kOther ||
      row.rbp.kind == RegRule::kUndefined) {
    return {};
  }
  const auto fits = [](int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; };
  if (!fits(row.cfa_offset) || !fits(row.ra.offset) || !fits(row.rbp.offset)) return {};
  rule.kind = CfiRule::kStep;
  rule.cfa_reg = static_cast<uint8_t>(row.cfa_reg);
  rule.cfa_offset = static_cast<int32_t>(row.cfa_offset);
  rule.ra_offset = static_cast<int32_t>(row.ra.offset);
  rule.rbp_saved = row.rbp.kind == RegRule::kOffset;
  rule.rbp_offset = static_cast<int32_t>(row.rbp.offset);
  return rule;
}

}  // namespace wick::unwinder_internal

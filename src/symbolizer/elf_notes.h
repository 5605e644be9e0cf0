// Private helpers of the symbolizer: the GNU build-id of an ELF file, read with libelf.
#ifndef WICK_SRC_SYMBOLIZER_ELF_NOTES_H_
#define WICK_SRC_SYMBOLIZER_ELF_NOTES_H_

#include <libelf.h>

#include <string>

namespace wick::symbolizer_internal {

// Raw NT_GNU_BUILD_ID bytes of `elf`, from SHT_NOTE sections or else PT_NOTE segments;
// empty when there is none.
std::string ElfBuildId(Elf* elf);

// Opens `path` and reads its build-id. False when the file is not a readable ELF file.
bool FileBuildId(const std::string& path, std::string* build_id);

}  // namespace wick::symbolizer_internal

#endif  // WICK_SRC_SYMBOLIZER_ELF_NOTES_H_

#include "commands.h"

namespace wick::cli {

void AddSymbolFlags(CLI::App* app, SymbolFlags& f) {
  app->add_option("--symfs", f.symfs,
                  "Look binaries up under this root first (files copied from another machine "
                  "or a container)");
  app->add_option("--debug-dir", f.debug_dirs,
                  "Also search DIR/.build-id/xx/rest.debug and DIR/<binary's dir>/<debuglink> "
                  "(repeatable; /usr/lib/debug is always searched)");
  app->add_flag("!--no-symbol-cache", f.symbol_cache,
                "Neither read nor write the symbol cache (names of binaries' addresses and the "
                "kernel's symbols, in $WICK_CACHE_DIR, else ~/.cache/wick)");
}

SymbolizerOptions MakeSymbolizerOptions(const SymbolFlags& f) {
  SymbolizerOptions options;
  options.symfs = f.symfs;
  // The user's directories first: they are there to win over the system's.
  std::vector<std::string> dirs = f.debug_dirs;
  for (const std::string& d : options.debug_dirs) dirs.push_back(d);
  options.debug_dirs = std::move(dirs);
  if (f.symbol_cache && !DefaultCacheDir().empty()) {
    options.cache_dir = DefaultCacheDir() + "/symbols";
  }
  return options;
}

void AddRecordedSymbols(const Recording& rec, Symbolizer& symbolizer) {
  for (const auto& [id, symbols] : rec.binary_symbols) {
    symbolizer.AddFileSymbols(rec.binaries[id].build_id, rec.binaries[id].path, symbols);
  }
}

}  // namespace wick::cli

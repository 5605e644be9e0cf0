#!/bin/bash
# Installs wick from a build tree into a scratch directory and checks every file that lands:
#
#   install_test.sh tree BUILD SOURCE VERSION   `cmake --install BUILD --prefix TMP`
#   install_test.sh deb  BUILD SOURCE VERSION   `cpack -G DEB` into TMP; the .deb's control
#       fields and file list (dpkg-deb -f / -c); its files extracted with dpkg-deb -x; every
#       library the binary needs comes from a Debian package that Depends names
#
# Both run the installed wick and render each installed man page with `man -l`. Nothing is
# installed on the machine; TMP is removed at the end.
set -euo pipefail

mode="$1"
build="$2"
src="$3"
version="$4"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "install_${mode}_test: FAIL: $*" >&2
  exit 1
}
need() {  # need PROGRAM PACKAGE
  command -v "$1" >/dev/null || fail "$1 not found: install Debian's $2 (tools/setup does)"
}
need man man-db
need dpkg-deb dpkg

# check_installed PREFIX: PREFIX/bin/wick runs and is this version; PREFIX/share/man holds
# exactly the pages of man/, gzip'd, each the source page, rendered by man without a warning.
check_installed() {
  local prefix="$1"
  [[ -x "$prefix/bin/wick" ]] || fail "$prefix/bin/wick is missing or not executable"
  local said
  said="$("$prefix/bin/wick" --version)" || fail "installed wick --version exited with $?"
  [[ "$said" == "wick $version" ]] || fail "installed wick --version says '$said', want 'wick $version'"
  "$prefix/bin/wick" --help >"$tmp/help" || fail "installed wick --help exited with $?"
  grep -q '^ *record ' "$tmp/help" || fail "installed wick --help lists no 'record' command"

  local page name section title gz warnings sources=0
  for page in "$src"/man/*.[1-9]; do
    name="${page##*/}"
    section="${name##*.}"
    title="${name%.*}"
    title="${title^^}"
    gz="$prefix/share/man/man$section/$name.gz"
    [[ -f "$gz" ]] || fail "$gz is missing (man page $name)"
    gzip -dc "$gz" | cmp -s - "$page" || fail "$gz does not hold $page"
    grep -q "^\.TH $title $section .*\"wick $version\"" "$page" ||
      fail "$page: its .TH line does not say \"wick $version\" (project()'s version)"
    warnings="$(MANWIDTH=80 man --warnings -l "$gz" 2>&1 >"$tmp/rendered")" ||
      fail "man -l $gz failed: $warnings"
    [[ -z "$warnings" ]] || fail "man -l $gz warns: $warnings"
    grep -q "^$title($section) " "$tmp/rendered" || fail "man -l $gz shows no '$title($section)' header"
    grep -q "^NAME" "$tmp/rendered" || fail "man -l $gz shows no NAME section"
    sources=$((sources + 1))
  done
  [[ $sources -gt 0 ]] || fail "no man pages in $src/man"
  local installed
  installed="$(find "$prefix/share/man" -type f | wc -l)"
  [[ "$installed" -eq "$sources" ]] ||
    fail "$installed files under $prefix/share/man, want the $sources pages of $src/man"
  echo "install_${mode}_test: $prefix/bin/wick ($said) and $sources man pages"
}

case "$mode" in
  tree)
    cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
      { cat "$tmp/install.log" >&2; fail "cmake --install $build --prefix $tmp/prefix failed"; }
    check_installed "$tmp/prefix"
    ;;
  deb)
    need dpkg-shlibdeps dpkg-dev
    cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
      { cat "$tmp/cpack.log" >&2; fail "cpack -G DEB failed"; }
    arch="$(dpkg --print-architecture)"
    deb="$tmp/pkg/wick_${version}_${arch}.deb"
    [[ -f "$deb" ]] || fail "cpack wrote no $deb (wrote: $(ls "$tmp/pkg"))"
    dpkg-deb -I "$deb"

    field() { dpkg-deb -f "$deb" "$1"; }
    [[ "$(field Package)" == wick ]] || fail "Package is '$(field Package)', want wick"
    [[ "$(field Version)" == "$version" ]] || fail "Version is '$(field Version)', want $version"
    [[ "$(field Architecture)" == "$arch" ]] ||
      fail "Architecture is '$(field Architecture)', want $arch"
    [[ "$(field Section)" == devel ]] || fail "Section is '$(field Section)', want devel"
    [[ "$(field Maintainer)" == *@* ]] || fail "Maintainer '$(field Maintainer)' has no address"
    [[ "$(field Description)" == *perf_event_open* ]] ||
      fail "Description does not say what wick is: '$(field Description)'"

    # The file list: the binary and the man pages under /usr, nothing else.
    dpkg-deb -c "$deb" | awk '{print $NF}' | grep -v '/$' | sort >"$tmp/files"
    { echo ./usr/bin/wick
      for page in "$src"/man/*.[1-9]; do
        name="${page##*/}"
        echo "./usr/share/man/man${name##*.}/$name.gz"
      done
    } | sort >"$tmp/want"
    diff -u "$tmp/want" "$tmp/files" >&2 || fail "the .deb's files (+) are not the expected ones (-)"

    dpkg-deb -x "$deb" "$tmp/root"
    bin="$tmp/root/usr/bin/wick"
    if readelf -S "$bin" | grep -q '\.debug_info'; then
      fail "usr/bin/wick is not stripped (Debian ships stripped binaries)"
    fi
    check_installed "$tmp/root/usr"

    # Every library wick needs directly comes from an installed Debian package that Depends
    # names, so `apt install ./wick_*.deb` brings it onto a fresh machine.
    depends="$(field Depends)"
    [[ -n "$depends" ]] || fail "the .deb has no Depends (did dpkg-shlibdeps run?)"
    depended="$(sed 's/([^)]*)//g; s/[,|]/\n/g; s/ //g' <<<"$depends" | grep . | sort -u)"
    needed="$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
    [[ -n "$needed" ]] || fail "readelf -d $bin lists no NEEDED libraries"
    ldd "$bin" >"$tmp/ldd" || fail "ldd $bin failed"
    # The owner of each library's file, asked of dpkg once for all of them under every
    # spelling: dpkg lists some libraries under /lib and others under /usr/lib, while /lib is a
    # link to /usr/lib on a merged-/usr system. dpkg -S fails for the spellings it does not know.
    declare -A path_of=()
    spellings=()
    for lib in $needed; do
      path="$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' "$tmp/ldd")"
      [[ -n "$path" && "$path" != not ]] || fail "$lib (NEEDED by wick) is not found by ldd"
      path_of[$lib]="$path"
      spellings+=("$path" "${path#/usr}" "/usr$path" "$(readlink -f "$path")")
    done
    dpkg -S "${spellings[@]}" 2>/dev/null | grep -v '^diversion' >"$tmp/owners" || true
    declare -A owner_of=()
    while IFS= read -r line; do
      owner_of[${line#*: }]="$(sed 's/:[^,]*//g; s/,.*//' <<<"${line%%: *}")"
    done <"$tmp/owners"
    for lib in $needed; do
      path="${path_of[$lib]}"
      pkg=""
      for alt in "$path" "${path#/usr}" "/usr$path" "$(readlink -f "$path")"; do
        pkg="${owner_of[$alt]:-}"
        [[ -n "$pkg" ]] && break
      done
      [[ -n "$pkg" ]] || fail "$lib ($path) belongs to no installed Debian package"
      grep -qx "$pkg" <<<"$depended" ||
        fail "$lib comes from $pkg, which Depends does not name: $depends"
      echo "install_deb_test: $lib -> $pkg (in Depends)"
    done
    ;;
  *)
    fail "unknown mode '$mode' (tree or deb)"
    ;;
esac
echo "install_${mode}_test: PASS"

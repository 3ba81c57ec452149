#!/usr/bin/env bash
# `cmake --install BUILD --prefix DIR` (a user's ~/.local) and
# `DESTDIR=DIR cmake --install BUILD` (the default prefix) put exactly the
# expected files, and the installed seedfs prints its version with the commit
# it was built from (the source tree's HEAD).
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

expected="bin/seedfs
share/bash-completion/completions/seedfs
share/fish/vendor_completions.d/seedfs.fish
share/man/man1/seedfs.1.gz
share/zsh/vendor-completions/_seedfs"

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
got=$(cd "$tmp/prefix" && find . -not -type d | sed 's|^\./||' | sort)
[[ $got == "$expected" ]] || fail "--prefix installed:
$got
expected:
$expected"
[[ -x $tmp/prefix/bin/seedfs ]] || fail "bin/seedfs is not executable"

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR=$tmp/dest cmake --install "$build" >/dev/null
got=$(cd "$tmp/dest$prefix" && find . -not -type d | sed 's|^\./||' | sort)
[[ $got == "$expected" ]] || fail "DESTDIR + $prefix installed:
$got"
[[ -z $(cd "$tmp/dest" && find . -not -type d -not -path ".$prefix/*") ]] || fail "DESTDIR: files outside $prefix"

version=$("$tmp/prefix/bin/seedfs" --version)
if head=$(git -C "$src" rev-parse HEAD 2>/dev/null); then
  [[ $version =~ ^seedfs\ [0-9]+\.[0-9]+\.[0-9]+\ \(git\ ([0-9a-f]{7,})(-dirty)?,\ [0-9]{4}-[0-9]{2}-[0-9]{2}\)$ ]] ||
    fail "--version: '$version'"
  [[ $head == "${BASH_REMATCH[1]}"* ]] || fail "--version names ${BASH_REMATCH[1]}, HEAD is $head"
else
  [[ $version =~ ^seedfs\ [0-9.]+\ \(unknown\ commit\)$ ]] || fail "--version outside git: '$version'"
fi
echo "install_test: $version; $fails failures"
((fails == 0))

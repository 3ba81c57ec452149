#!/usr/bin/env bash
# The .deb: `cpack -G DEB` makes seedfs_<version>_<arch>.deb whose Depends
# hold libfuse3-3 (dpkg-shlibdeps) and fuse3, and which holds exactly the
# binary, the man page and the three completions under /usr. Then, as root
# and only when no seedfs package is installed already: dpkg -i, the
# installed /usr/bin/seedfs runs (--version, --help, and `seedfs doctor`
# where --help lists it: exit 0 or 1, never a usage error or a crash),
# dpkg -r, and every file is gone. A trap removes the package on any failure.
#   package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
installed=""
cleanup() {
  if [[ -n $installed ]]; then dpkg -r seedfs >/dev/null 2>&1 || echo "WARNING: dpkg -r seedfs failed" >&2; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
deb=$tmp/out/seedfs_${version}_$(dpkg --print-architecture).deb
[[ -f $deb ]] || { ls "$tmp/out" >&2; echo "FAIL: no $deb" >&2; exit 1; }

depends=$(dpkg-deb -f "$deb" Depends)
for dep in libfuse3-3 fuse3 libc6; do
  [[ ", $depends," =~ ,\ $dep[\ ,] ]] || fail "Depends lacks $dep: $depends"
done
for field in Maintainer Description Section; do
  [[ -n $(dpkg-deb -f "$deb" "$field") ]] || fail "no $field"
done
files="/usr/bin/seedfs
/usr/share/bash-completion/completions/seedfs
/usr/share/fish/vendor_completions.d/seedfs.fish
/usr/share/man/man1/seedfs.1.gz
/usr/share/zsh/vendor-completions/_seedfs"
got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort)
[[ $got == "$files" ]] || fail "the package holds:
$got"

if [[ $(id -u) -ne 0 ]]; then
  echo "package_test: not root, dpkg -i skipped"
elif dpkg-query -W -f='${Status}' seedfs 2>/dev/null | grep -q "ok installed"; then
  echo "package_test: a seedfs package is installed already, dpkg -i skipped"
else
  installed=1
  dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i"; }
  for f in $files; do [[ -f $f ]] || fail "dpkg -i: no $f"; done
  v=$(/usr/bin/seedfs --version) || fail "seedfs --version exited $?"
  [[ $v =~ ^seedfs\ $version\  ]] || fail "seedfs --version: $v"
  help=$(/usr/bin/seedfs --help) || fail "seedfs --help exited $?"
  if grep -qE '^  doctor ' <<<"$help"; then
    rc=0
    /usr/bin/seedfs doctor >"$tmp/doctor" 2>&1 || rc=$?
    ((rc == 0 || rc == 1)) || fail "seedfs doctor exited $rc: $(cat "$tmp/doctor")"
  fi
  dpkg -r seedfs >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r"; }
  installed=""
  for f in $files; do [[ ! -e $f ]] || fail "dpkg -r left $f"; done
  ! dpkg-query -W -f='${Status}' seedfs 2>/dev/null | grep -q "ok installed" || fail "dpkg -s: still installed"
  echo "package_test: installed, ran and removed $(basename "$deb")"
fi
echo "package_test: Depends: $depends; $fails failures"
((fails == 0))

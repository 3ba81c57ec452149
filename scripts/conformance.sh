#!/usr/bin/env bash
# POSIX conformance of a live seedfs view beside ext4 and fuse-overlayfs (see
# scripts/conformance.py --help). Fetches and builds the two public suites it
# runs, pinned to the commits below, into build/conformance/ (once: a second
# run reuses them), then runs them. About 90 minutes on 2 cores; not part of CI.
#
#   scripts/conformance.sh                         # everything
#   scripts/conformance.sh --targets ext4 "seedfs kept"
#   scripts/conformance.sh --build-only            # fetch and build the suites, no run
#
# Sources come from GitHub. Offline, point SEEDFS_CONFORMANCE_SOURCES at a dir
# holding a clone (or a bare mirror) of each, named pjdfstest and xfstests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null

# Pinned so that two runs months apart compare the same tests.
PJDFSTEST_URL=https://github.com/pjd/pjdfstest
PJDFSTEST_REV=85a8aea9e685999ef0540392fd80535f873d7ff7   # 2026-08-07
XFSTESTS_URL=https://github.com/kdave/xfstests
XFSTESTS_REV=63a29724a85f1999e49bf0a9bf0d22643b6116e5    # 2026-01-01

dest=build/conformance
mkdir -p "$dest"

need=()
for p in fuse-overlayfs perl autoconf automake libtool gcc make xfslibs-dev uuid-dev libattr1-dev \
         libacl1-dev libaio-dev liburing-dev libgdbm-dev libcap-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  echo "conformance: installing ${need[*]}" >&2
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# fetch NAME URL REV: a checkout of REV in $dest/NAME.
fetch() {
  local name=$1 url=$2 rev=$3 dir=$dest/$1
  [[ -d $dir/.git ]] && [[ $(git -C "$dir" rev-parse HEAD) == "$rev" ]] && return
  rm -rf "$dir"
  local from=$url
  [[ -n ${SEEDFS_CONFORMANCE_SOURCES:-} ]] && from=$SEEDFS_CONFORMANCE_SOURCES/$name
  echo "conformance: fetching $name from $from" >&2
  if ! git clone -q --no-checkout "$from" "$dir"; then
    echo "conformance: cannot fetch $name; offline, set SEEDFS_CONFORMANCE_SOURCES (see the top of $0)" >&2
    exit 1
  fi
  git -C "$dir" -c advice.detachedHead=false checkout -q "$rev"
}

fetch pjdfstest "$PJDFSTEST_URL" "$PJDFSTEST_REV"
if [[ ! -x $dest/pjdfstest/pjdfstest ]]; then
  echo "conformance: building pjdfstest" >&2
  (cd "$dest/pjdfstest" && autoreconf -ifs && ./configure && make pjdfstest) >"$dest/pjdfstest.log" 2>&1 ||
    { echo "conformance: building pjdfstest failed; see $dest/pjdfstest.log" >&2; exit 1; }
fi

fetch xfstests "$XFSTESTS_URL" "$XFSTESTS_REV"
if [[ ! -x $dest/xfstests/ltp/fsx ]]; then
  echo "conformance: building fsx (xfstests)" >&2
  # Only what fsx needs: the configured tree, its library, and ltp/.
  (cd "$dest/xfstests" && make include/builddefs && make -C lib && make -C ltp) >"$dest/xfstests.log" 2>&1 ||
    { echo "conformance: building fsx failed; see $dest/xfstests.log" >&2; exit 1; }
fi

[[ ${1:-} == --build-only ]] && { echo "conformance: suites built in $dest" >&2; exit 0; }
exec python3 scripts/conformance.py --seedfs "$PWD/build/seedfs" --pjdfstest "$dest/pjdfstest" \
  --fsx "$dest/xfstests/ltp/fsx" "$@"

#!/usr/bin/env bash
# POSIX conformance of a live seedfs view beside ext4 and fuse-overlayfs (see
# scripts/conformance.py --help). pjdfstest and fsx are not Debian packages
# and not part of this repository: build them from their public sources and
# pass them in. Takes about an hour (pjdfstest on six targets); not run by CI.
#
#   scripts/conformance.sh --pjdfstest ~/src/pjdfstest --fsx ~/src/xfstests/ltp/fsx
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
need=()
command -v fuse-overlayfs >/dev/null || need+=(fuse-overlayfs)
command -v prove >/dev/null || need+=(perl)
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "conformance: could not install ${need[*]}" >&2
fi
exec python3 scripts/conformance.py --seedfs "$PWD/build/seedfs" "$@"

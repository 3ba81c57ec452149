#!/usr/bin/env bash
# Benchmarks `seedfs mount` against plain directories and fuse-overlayfs, side
# by side in one run, on a fresh loop-mounted ext4 (so that deletions made
# earlier on this machine's disk do not distort mkdir and inode allocation).
# Prints a table of medians and ratios. See scripts/bench_mount.py --help.
#
#   scripts/bench-mount.sh                 # scales 1 and 4, 5 rounds
#   scripts/bench-mount.sh --scales 0.2 --rounds 2
#   scripts/bench-mount.sh --scales 1 --bytes-scale 0.31 --fs own      # real bytes, this disk
#   scripts/bench-mount.sh --scales 1 --bytes-scale 0.31 --cross-fs    # workspaces elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if ! command -v fuse-overlayfs >/dev/null; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get install -y -qq fuse-overlayfs >/dev/null 2>&1 || echo "bench: fuse-overlayfs unavailable; its rows are skipped" >&2
fi
exec python3 scripts/bench_mount.py --seedfs "$PWD/build/seedfs" "$@"

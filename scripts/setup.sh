#!/usr/bin/env bash
# Installs what seedfs needs on Debian 12 (only what is missing, so it is fast
# when all is there) and builds it into build/.
#
#   scripts/setup.sh                 # RelWithDebInfo build in build/
#   BUILD_DIR=build-asan SEEDFS_CMAKE_ARGS=-DSEEDFS_ASAN=ON scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake make pkg-config                  # toolchain
  libfuse3-dev fuse3                         # the FUSE view (fusermount3 for non-root users)
  libspdlog-dev libtomlplusplus-dev libcli11-dev libgtest-dev
  python3                                    # scripts/gen-cargo-tree and the benchmarks
  e2fsprogs util-linux time rsync            # mkfs.ext4, losetup, GNU time and rsync for the benchmarks
  git bc zlib1g-dev                          # the real-cargo e2e fixture (tests/e2e/) ...
  librust-anyhow-dev librust-thiserror-dev   # ... built offline from Debian's crates
  librust-clap-dev librust-regex-dev librust-aho-corasick-dev
  librust-serde-dev librust-serde-derive-dev librust-serde-json-dev
  librust-rand-dev librust-flate2-dev librust-libz-sys-dev librust-ring-dev librust-cc-dev
  librust-sha2-dev librust-log-dev librust-env-logger-dev librust-walkdir-dev
  librust-chrono-dev librust-itertools-dev
  binutils lld mold                          # the linkers and strip/objcopy the e2e suite runs in a workspace
  xfsprogs btrfs-progs                       # reflinks: the seeding tests on XFS and btrfs loop images
  dpkg-dev                                   # cpack -G DEB: dpkg-shlibdeps finds the .deb's Depends (tests/install/)
  bash-completion zsh fish groff-base man-db # tests/install/: run the generated completions, render seedfs(1)
)
# The e2e suite uses the cargo on PATH; where there is none, Debian's.
command -v cargo >/dev/null || packages+=(cargo)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=${BUILD_DIR:-build}
# shellcheck disable=SC2086  # SEEDFS_CMAKE_ARGS is a list of flags
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${SEEDFS_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^-- ' || true
test -x "$build/seedfs"
echo "setup: built $build/seedfs" >&2

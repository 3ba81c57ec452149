#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through ctest.
#   SEEDFS_REQUIRE_FUSE=1  a FUSE test that would skip (no /dev/fuse) fails instead
#   BUILD_DIR, SEEDFS_CMAKE_ARGS  as for scripts/setup.sh (e.g. -DSEEDFS_TSAN=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"

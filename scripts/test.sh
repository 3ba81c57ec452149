#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through ctest.
#   SEEDFS_REQUIRE_FUSE=1  a FUSE test that would skip (no /dev/fuse) fails instead
#   BUILD_DIR, SEEDFS_CMAKE_ARGS  as for scripts/setup.sh (e.g. -DSEEDFS_TSAN=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${BUILD_DIR:-build}
cd "$build"
# Sanitizer builds write every report here (tests/CMakeLists.txt), the
# daemons' too: any report fails the run, even where no test noticed.
rm -rf sanitizer-reports && mkdir -m 1777 sanitizer-reports  # daemons run as a test user too
rc=0
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@" || rc=$?
if compgen -G "sanitizer-reports/*" >/dev/null; then
  echo "test: sanitizer reports in $build/sanitizer-reports:" >&2
  for f in sanitizer-reports/*; do echo "== $f" >&2; head -60 "$f" >&2; done
  rc=1
fi
exit $rc

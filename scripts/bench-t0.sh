#!/usr/bin/env bash
# What judging the root against T0 costs: this build against a baseline build
# of seedfs (default: the last commit before T0), side by side in one run.
# Builds the baseline from that revision into build-baseline-<rev>/ once.
# See scripts/bench_t0.py --help.
#
#   scripts/bench-t0.sh                                  # scale 1, 5 rounds, with the cargo rows
#   scripts/bench-t0.sh --rounds 3 --scale 0.5
#   BASELINE_REV=<rev> scripts/bench-t0.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
rev=${BASELINE_REV:-7e8f42f}
base="build-baseline-$rev"
if [[ ! -x $base/seedfs ]]; then
  src=$(mktemp -d)
  git archive "$rev" | tar -x -C "$src"
  cmake -S "$src" -B "$base" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEEDFS_TESTS=OFF >/dev/null
  cmake --build "$base" -j"$(nproc)" --target seedfs >/dev/null
  rm -rf "$src"
fi
tests/e2e/make-fixture.sh "$PWD/build/e2e-fixture" >/dev/null
exec python3 scripts/bench_t0.py --seedfs "$PWD/build/seedfs" --baseline "$PWD/$base/seedfs" \
  --baseline-name "seedfs at $rev (before T0)" --cargo-fixture "$PWD/build/e2e-fixture" "$@"

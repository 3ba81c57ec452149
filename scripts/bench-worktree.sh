#!/usr/bin/env bash
# Benchmarks a new worktree's first `cargo build` (from `git worktree add` to
# its end) with seedfs's hook, `seedfs seed`, `cp -al`, `cp -a --reflink=auto`,
# a shared CARGO_TARGET_DIR and a cold build, side by side in one run, on the
# e2e fixture. Prints a table of medians and ratios. With --parallel N: N
# worktrees made at once (the hook, `cp -a --reflink=auto`, a shared
# CARGO_TARGET_DIR) beside a single one, the slowest first build against the
# single one's. See scripts/bench_worktree.py --help.
#
#   scripts/bench-worktree.sh               # 5 rounds
#   scripts/bench-worktree.sh --rounds 2
#   scripts/bench-worktree.sh --parallel 8 --rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec python3 scripts/bench_worktree.py --seedfs "$PWD/build/seedfs" "$@"

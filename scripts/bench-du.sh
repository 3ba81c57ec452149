#!/usr/bin/env bash
# Benchmarks `seedfs du` against `du -s` over the same build dirs, warm and
# cold, side by side in one run. Prints a table of medians and ratios. See
# scripts/bench_du.py --help.
#
#   scripts/bench-du.sh                       # 10 dirs of 50,089 files, 5 rounds, fresh ext4
#   scripts/bench-du.sh --dirs 4 --rounds 3 --fs xfs
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec python3 scripts/bench_du.py --seedfs "$PWD/build/seedfs" "$@"

#!/usr/bin/env bash
# Benchmarks `seedfs seed` against `cp -al`, side by side in one run, on a
# fresh loop-mounted ext4. Prints a table of medians and ratios. See
# scripts/bench_seed.py --help.
#
#   scripts/bench-seed.sh                   # scales 1 and 4, 5 rounds
#   scripts/bench-seed.sh --scales 0.2 --rounds 2
#   scripts/bench-seed.sh --scales 1 --bytes-scale 0.31 --fs own --sync  # real bytes, written out
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec python3 scripts/bench_seed.py --seedfs "$PWD/build/seedfs" "$@"

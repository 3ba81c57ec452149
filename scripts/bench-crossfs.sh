#!/usr/bin/env bash
# A new worktree on another filesystem than the root, at real byte size:
# `seedfs mount` then build, against copying target/ first (cp -a, rsync -a),
# and the materializer's priorities and limits side by side. Needs root (loop
# images, drop_caches) and the e2e fixture. See scripts/bench_crossfs.py --help.
#
#   scripts/bench-crossfs.sh                     # 2 GB, 3 rounds
#   scripts/bench-crossfs.sh --size-gb 9.7 --rounds 2
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
tests/e2e/make-fixture.sh build/e2e-fixture >/dev/null
exec python3 scripts/bench_crossfs.py --seedfs "$PWD/build/seedfs" "$@"

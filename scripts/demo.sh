#!/usr/bin/env bash
# seedfs on a real Rust project, in one command: a cargo workspace of 8 members
# on ~55 crates from Debian's packages (tests/e2e/make-fixture.sh, built
# offline once and cached in build/e2e-fixture), copied into a temp dir as "the
# main checkout". Then, timed side by side:
#
#   1. a new worktree without seedfs: `git worktree add`, a cold `cargo build`
#   2. `seedfs hook install`, `git worktree add`, `cargo build` (0 compiled),
#      `seedfs status` while it materializes, an edit that rebuilds only its
#      crate and the binary, `seedfs wait`, `seedfs verify`
#
# and a summary. Everything lives in one temp dir, removed at the end. It exits
# 1 if what it shows is not so (tests/e2e/CMakeLists.txt runs it in CI).
#
#   scripts/demo.sh                  # installs what is missing, builds seedfs and the project
#   SEEDFS=build/seedfs SEEDFS_E2E_FIXTURE=build/e2e-fixture scripts/demo.sh   # reuse both
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [[ -z ${SEEDFS:-} ]]; then
  scripts/setup.sh
  SEEDFS=$repo/build/seedfs
fi
seedfs=$(realpath "$SEEDFS")
fixture=${SEEDFS_E2E_FIXTURE:-$repo/build/e2e-fixture}
if [[ ! -e /dev/fuse ]]; then
  echo "demo: no /dev/fuse on this machine: seedfs needs FUSE (try: sudo modprobe fuse)" >&2
  exit 1
fi
if [[ ! -f $fixture/stamp ]]; then
  echo "== building the demo project once (a real cargo workspace from Debian's crates; cached in $fixture)"
  tests/e2e/make-fixture.sh "$fixture"
fi

demo=$(mktemp -d /tmp/seedfs-demo-XXXXXX)
cleanup() {
  for wt in "$demo"/myproject-*; do
    [[ -d $wt/target ]] && "$seedfs" unmount "$wt" >/dev/null 2>&1 || true
  done
  rm -rf "$demo"
}
trap cleanup EXIT
# The demo's daemon state (socket, log, journal) and config stay in the temp dir.
export XDG_STATE_HOME=$demo/state XDG_RUNTIME_DIR=$demo/run XDG_CONFIG_HOME=$demo/config
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/seedfs"
# Slow the background materializer down, so that `seedfs status` has something
# to show on a project this small (by default it has no limit).
printf 'rate = 150   # files per second: the demo slows it down to watch it\n' \
  >"$XDG_CONFIG_HOME/seedfs/config.toml"
export CARGO_TERM_COLOR=never
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
# `cargo build` in $1, timed; prints its verdicts and leaves the count of units
# it compiled in $compiled and the time in $took.
build() {
  local t0 t1 log=$demo/build.log
  printf '$ cd %s && cargo build\n' "${1#"$demo"/}"
  t0=$(now)
  (cd "$1" && cargo build 2>&1) | tee "$log" | grep -E '^\s+(Compiling|Finished)' | sed 's/^ */  /' | tail -12
  t1=$(now)
  took=$(secs "$t0" "$t1")
  compiled=$(grep -cE '^\s+Compiling ' "$log" || true)
  echo "  -> ${took} s, ${compiled} units compiled"
}
# Every name, mode, size, mtime and content hash under $1.
snapshot() {
  python3 - "$1" <<'EOF'
import hashlib, os, sys
top = sys.argv[1]
h = hashlib.sha256()
for d, dirs, files in os.walk(top):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        h.update(f"{os.path.relpath(p, top)} {st.st_mode:o} {st.st_size} {st.st_mtime_ns}\n".encode())
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
print(h.hexdigest())
EOF
}

say "the main checkout, built: $demo/myproject (a copy of the demo project, debug profile)"
main=$demo/myproject
mkdir -p "$main/target"
(cd "$fixture/main" && cp -a $(ls -A | grep -vx target) "$main/")
cp -a "$fixture/main/target/CACHEDIR.TAG" "$fixture/main/target/debug" "$main/target/"
# The copy's first build only rewrites target/debug/*.d (they name the checkout's path).
build "$main"
root_build=$took
cd "$main"
echo "  $(git ls-files | wc -l) tracked files, $(find target -type f | wc -l) files in target/ ($(du -sh target | cut -f1))"
before=$(snapshot "$main/target")

say "1. a new worktree without seedfs: everything compiles"
run git worktree add -q ../myproject-cold
build "$demo/myproject-cold"
cold=$took cold_units=$compiled

say "2. with seedfs: install the hook once, then every new worktree gets the view"
run "$seedfs" hook install
t0=$(now)
run git worktree add -q ../myproject-feature
t1=$(now)
add=$(secs "$t0" "$t1")
echo "  -> ${add} s (the hook mounted the view; its daemon goes on in the background)"
ws=$demo/myproject-feature
build "$ws"
first=$took first_units=$compiled
total=$(python3 -c "print(f'{$add + $first:.2f}')")

say "while you build, the files are linked into target/ in the background"
run "$seedfs" status "$ws"

say "an edit in the worktree rebuilds its crate and its dependents, nothing else"
echo '// edited in the worktree' >>"$ws/crates/codec/src/lib.rs"
echo '$ echo "// edited in the worktree" >> crates/codec/src/lib.rs'
build "$ws"
edit_units=$compiled
edited=$(grep -E '^\s+Compiling ' "$demo/build.log" | awk '{print $2}' | sort | tr '\n' ' ')
(cd "$ws" && run target/debug/seedfs-e2e-app)

say "seedfs wait: until target/ is a plain directory (the mount is gone)"
run "$seedfs" wait "$ws"
if grep -q " $ws/target " /proc/self/mountinfo; then mounted=yes; else mounted=no; fi
echo "  still mounted: $mounted"

say "seedfs verify: nothing in the worktree shares an inode it should not with the root"
verify_rc=0
run "$seedfs" verify "$main" "$ws" || verify_rc=$?

after=$(snapshot "$main/target")
if [[ $before == "$after" ]]; then unchanged=yes; else unchanged=NO; fi
speedup=$(python3 -c "print(f'{$cold / $total:.0f}')")

say "summary"
echo "  a new worktree's first build: cold ${cold} s; with seedfs ${total} s, \`git worktree add\` included (${speedup}x faster); the root's own no-op build ${root_build} s"
echo "  units compiled: ${cold_units} cold, ${first_units} with seedfs, ${edit_units} after the edit (${edited% })"
echo "  the root's target/ unchanged (every name, mode, size, mtime and byte): ${unchanged}"

ok=1
[[ $first_units -eq 0 ]] || { echo "demo: expected 0 units compiled with seedfs" >&2; ok=0; }
[[ $edited == "e2e-codec seedfs-e2e-app " ]] || { echo "demo: expected the edit to rebuild e2e-codec and seedfs-e2e-app" >&2; ok=0; }
[[ $unchanged == yes && $mounted == no && $verify_rc -eq 0 && $cold_units -gt 50 ]] || ok=0
((ok)) || { echo "demo: FAILED" >&2; exit 1; }

#!/usr/bin/env bash
# Builds seedfs, generates a cargo-like root (50,087 files, the shape of a real
# project) in a temp dir, and seeds a new workspace from it, with progress lines
# and the final summary. Everything lives in one temp dir, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
seedfs=$PWD/build/seedfs
demo=$(mktemp -d /tmp/seedfs-demo-XXXXXX)
trap 'rm -rf "$demo"' EXIT
# Keep the demo's daemon state (socket, log, journal) inside the temp dir.
export XDG_STATE_HOME=$demo/state XDG_RUNTIME_DIR=$demo/run
mkdir -p "$XDG_RUNTIME_DIR"

echo
echo "== a root checkout that was built: $demo/main"
scripts/gen-cargo-tree "$demo/main/target" --scale 1 --bytes-scale 0.001
mkdir -p "$demo/feature-1"
# Progress every 50 ms here, so that the lines show on a run this short (default 5 s).
printf 'progress_interval = 0.05\n' > "$demo/feature-1/.seedfs.toml"

echo
echo "== what would happen: seedfs seed --dry-run"
"$seedfs" seed --dry-run "$demo/main" "$demo/feature-1"

echo
echo "== seedfs seed $demo/main $demo/feature-1"
"$seedfs" seed "$demo/main" "$demo/feature-1"

echo
echo "== the workspace now: hardlinks share the root's inode, copies have their own"
rlib=$(cd "$demo/main" && find target/debug/deps -name '*.rlib' -print -quit)
fp=$(cd "$demo/main" && find target/debug/.fingerprint -type f -name 'lib-*' -print -quit)
for f in "$rlib" "$fp"; do
  for side in main feature-1; do
    (cd "$demo" && stat -c "  inode %-9i links %h  mtime %y  %n" "$side/$f")
  done
done

echo
echo "== seeding again keeps what is there"
"$seedfs" seed "$demo/main" "$demo/feature-1" --json | python3 -c \
  'import json,sys; a=json.load(sys.stdin)["artifacts"][0]; print("  kept", a["kept"], "of", a["files_done"], "files")'

if [[ -w /dev/fuse || $(id -u) -eq 0 ]] && [[ -e /dev/fuse ]]; then
  echo
  echo "== seedfs mount: the view is live at once, materialization runs in the background"
  mkdir -p "$demo/feature-2"
  # Slowed down on purpose (a hidden test option), so that there is something to watch.
  "$seedfs" mount "$demo/main" "$demo/feature-2" --throttle-us 200
  echo
  echo "== through the view, right away:"
  ls "$demo/feature-2/target/debug" | head -5 | sed 's/^/  /'
  echo "  ... $(find "$demo/feature-2/target" -type f | wc -l) files visible"
  echo "== a write through the view lands in the workspace, the root is untouched:"
  echo "changed" > "$demo/feature-2/target/debug/.fingerprint/$(ls "$demo/main/target/debug/.fingerprint" | head -1)/invoked.timestamp"
  "$seedfs" status "$demo/feature-2"
  echo
  echo "== seedfs wait: until target/ is a plain directory"
  "$seedfs" wait "$demo/feature-2" | tail -2
  grep -q " $demo/feature-2/target " /proc/self/mountinfo && echo "  still mounted?!" || echo "  no mount left at $demo/feature-2/target"
else
  echo "(no usable /dev/fuse here: skipping the seedfs mount part of the demo)"
fi

#!/usr/bin/env python3
"""A new worktree on another filesystem than the root, at real byte size.

Across filesystems nothing can be hardlinked: every byte of target/ must be
copied, and that is where the view earns its keep. The root is a copy of the
e2e fixture (tests/e2e/make-fixture.sh: 8 members on ~55 units of Debian's
crates, built for four profiles) on one fresh ext4, its target/ padded to
--size-gb with files of a measured project's shape (scripts/gen-cargo-tree,
in target/pad/, which cargo ignores). Every worktree goes on a second fresh
ext4. Each variant, in a new worktree per round, with the page cache dropped
first (across filesystems the point is I/O):

  seedfs mount ...        `seedfs mount`, at once an edit to the app and `cargo build`
                          (it compiles the app: rustc reads the libraries of every
                          dependency through the view), then `seedfs wait`
  cp -a, then build       `cp -a root/target`, the same edit, `cargo build`
  rsync -a, then build    the same with rsync

with the seedfs variants: the default (low priority), `--priority normal`
(full speed), `--priority idle`, `--bytes-rate 100M`, and `--keep-mounted`
(nothing copied). Reported: the time to the end of the first build, the
build itself, the time until target/ is complete, the bytes copied and the
units compiled. A second table: reading a 1 GiB file of the root through the
view while the materializer copies, at each priority, against reading it
from the root directly; both cold.
"""
import argparse
import contextlib
import json
import os
import shutil
import sys
import time

from benchlib import fresh_fs, median, read_file, sh
from bench_worktree import compiled, run, timed_run

GIB = 1 << 30
SEEDFS_VARIANTS = {
    "seedfs mount (default: low priority)": [],
    "seedfs mount --priority normal": ["--priority", "normal"],
    "seedfs mount --priority idle": ["--priority", "idle"],
    "seedfs mount --bytes-rate 100M": ["--bytes-rate", "100M"],
    "seedfs mount --keep-mounted": ["--keep-mounted"],
}
COPY_VARIANTS = ["cp -a, then build", "rsync -a, then build"]
EDIT = "\n#[used]\nstatic BENCH_EDIT: [u8; 4] = *b\"edit\";\n"


def drop_caches():
    sh(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def du_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for n in files:
            st = os.lstat(os.path.join(dirpath, n))
            total += st.st_size
    return total


class Bench:
    def __init__(self, a, root_fs, ws_fs):
        self.a = a
        self.root = os.path.join(root_fs, "main")
        self.ws_fs = ws_fs
        self.env = dict(os.environ, CARGO_TERM_COLOR="never", CARGO_NET_OFFLINE="true",
                        XDG_RUNTIME_DIR=os.path.join(root_fs, "run"), XDG_STATE_HOME=os.path.join(root_fs, "state"),
                        XDG_CONFIG_HOME=os.path.join(root_fs, "config"))
        for k in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"):
            self.env.pop(k, None)
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700)
        self.n = 0

    def setup(self):
        print(f"bench: copying the fixture to {self.root}", file=sys.stderr)
        sh(["cp", "-a", os.path.join(self.a.fixture, "main"), self.root])
        out = run(["cargo", "build", "-v"], self.root, self.env)  # rewrites target/debug/*.d for the copy's path
        if compiled(out):
            raise SystemExit("bench: the fixture's copy is not a fresh build:\n" + out)
        fixture_bytes = du_bytes(os.path.join(self.root, "target"))
        pad_bytes = max(0, self.a.size_gb * 1e9 - fixture_bytes - GIB)  # the 1 GiB file below is part of it
        pad = os.path.join(self.root, "target", "pad")
        # gen-cargo-tree's bytes at --bytes-scale 1 and scale 1: 6.45 GB.
        print(f"bench: padding target/ with {pad_bytes / 1e9:.1f} GB of the measured shape", file=sys.stderr)
        sh([os.path.join(os.path.dirname(__file__), "gen-cargo-tree"), pad, "--scale", "1",
            "--bytes-scale", f"{pad_bytes / 6.45e9:.6f}"])
        self.big = os.path.join(self.root, "target", "pad", "libbig-0000000000000000.rlib")
        chunk = os.urandom(1 << 20)
        with open(self.big, "wb") as f:
            for _ in range(GIB >> 20):
                f.write(chunk)
        self.size = du_bytes(os.path.join(self.root, "target"))
        self.files = sum(len(f) for _, _, f in os.walk(os.path.join(self.root, "target")))

    def worktree(self):
        self.n += 1
        ws = os.path.join(self.ws_fs, f"wt-{self.n}")
        run(["git", "worktree", "add", "-q", "--detach", ws], self.root, self.env)
        with open(os.path.join(ws, "crates/app/src/main.rs"), "a") as f:
            f.write(EDIT)
        return ws

    def remove(self, ws):
        run(["git", "worktree", "remove", "--force", ws], self.root, self.env, check=False)
        shutil.rmtree(ws, ignore_errors=True)

    def seedfs(self, *args, check=True):
        return run([self.a.seedfs, *args], self.root, self.env, check=check)

    def one(self, variant):
        """(to end of first build, first build, until complete, bytes copied, units compiled)"""
        ws = self.worktree()
        drop_caches()
        start = time.perf_counter()
        copied = 0
        if variant in SEEDFS_VARIANTS:
            self.seedfs("mount", self.root, ws, *SEEDFS_VARIANTS[variant])
        elif variant.startswith("cp -a"):
            sh(["cp", "-a", os.path.join(self.root, "target"), os.path.join(ws, "target")])
        else:
            sh(["rsync", "-a", os.path.join(self.root, "target") + "/", os.path.join(ws, "target")])
        build, out = timed_run(["cargo", "build", "-v"], ws, self.env)
        built = time.perf_counter() - start
        if variant in SEEDFS_VARIANTS and "--keep-mounted" not in SEEDFS_VARIANTS[variant]:
            status = json.loads(self.seedfs("wait", ws, "--json"))
            complete = time.perf_counter() - start
            copied = sum(art["bytes"] for art in status["artifacts"])
        elif variant in SEEDFS_VARIANTS:  # kept: never complete, nothing copied ahead
            complete = float("nan")
            self.seedfs("unmount", ws)
        else:
            complete = built - build
            copied = du_bytes(os.path.join(self.root, "target"))
        units = compiled(out)
        self.remove(ws)
        return built, build, complete, copied, units

    def read_during(self, extra):
        """Seconds to read the 1 GiB file through the view while the materializer copies."""
        ws = self.worktree()
        drop_caches()
        self.seedfs("mount", self.root, ws, *extra)
        t = time.perf_counter()
        read_file(os.path.join(ws, "target", os.path.relpath(self.big, os.path.join(self.root, "target"))))
        t = time.perf_counter() - t
        self.seedfs("unmount", ws, check=False)
        self.remove(ws)
        return t

    def read_direct(self):
        drop_caches()
        t = time.perf_counter()
        read_file(self.big)
        return time.perf_counter() - t


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seedfs", required=True)
    p.add_argument("--fixture", default=os.path.join(here, "..", "build", "e2e-fixture"))
    p.add_argument("--size-gb", type=float, default=2.0, help="target/ size (the measured project: 9.7)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workdir", default=os.environ.get("BENCH_DIR", "/var/tmp"))
    p.add_argument("--variants", nargs="+", help="only these (names as in the table)")
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    a.seedfs = os.path.abspath(a.seedfs)
    variants = list(SEEDFS_VARIANTS) + COPY_VARIANTS
    if a.variants:
        variants = [v for v in variants if v in a.variants]
    image_gb = int(a.size_gb * 2.5) + 4
    with fresh_fs(a.workdir, image_gb, a.keep) as root_fs, fresh_fs(a.workdir, image_gb, a.keep) as ws_fs:
        b = Bench(a, root_fs, ws_fs)
        b.setup()
        times = {v: [] for v in variants}
        reads = {"direct from the root": [], "view, default (low)": [], "view, --priority normal": [],
                 "view, --priority idle": []}
        read_flags = {"view, default (low)": [], "view, --priority normal": ["--priority", "normal"],
                      "view, --priority idle": ["--priority", "idle"]}
        for r in range(a.rounds):
            # Each round starts with the next variant: none always runs first,
            # on a filesystem still settling after its creation.
            for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                times[v].append(b.one(v))
                print(f"bench: round {r + 1}: {v}: {times[v][-1]}", file=sys.stderr)
            reads["direct from the root"].append(b.read_direct())
            for name, flags in read_flags.items():
                reads[name].append(b.read_during(flags))
    report(a, b, times, reads)


def report(a, b, times, reads):
    print(f"\ntarget/ of {b.size / 1e9:.2f} GB in {b.files:,} files; root and worktree on two fresh ext4 "
          f"images; medians of {a.rounds} interleaved rounds (each starting with the next variant), page cache dropped before each\n")
    base = "cp -a, then build"
    ref = median([t[0] for t in times[base]]) if base in times else float("nan")
    print("| variant | to end of first build | first build | until target/ complete | bytes copied | "
          "units compiled | speed to the end of the first build vs cp -a |")
    print("|---|---|---|---|---|---|---|")
    for v, ts in times.items():
        col = lambda i: median([t[i] for t in ts])
        complete = col(2)
        print(f"| {v} | {col(0):.2f} s | {col(1):.2f} s | "
              f"{'never (kept mounted)' if complete != complete else f'{complete:.1f} s'} | "
              f"{col(3) / 1e9:.2f} GB | {col(4):.0f} | {ref / col(0):.2f}x |")
    d = median(reads["direct from the root"])
    print("\n| reading a 1 GiB root file, cold | MB/s | vs direct |")
    print("|---|---|---|")
    for name, ts in reads.items():
        t = median(ts)
        print(f"| {name}{' (while the materializer copies)' if name.startswith('view') else ''} | "
              f"{GIB / t / 1e6:.0f} | {d / t * 100:.0f}% |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What judging the root against T0 costs: this build of seedfs against a
baseline build (by default the last one before T0 existed), side by side in
one run, rounds interleaved, on a fresh ext4 (--fs, --cross-fs as elsewhere).

T0 (seeding/instant.hpp) adds to every root entry the view shows a statx in
place of an lstat, to every file the materializer makes an open and a statx
(it links the inode it judged, through its fd, and judges a copy's source again
after copying), and to `seedfs mount` and `seed` the shared locks T0 is taken
in. Rows, medians over --rounds, baseline | this build | ratio:

  time until the view is live                       (bench-mount's first row)
  find + stat of every entry, first and second walk  (bench-mount's walk rows)
  reading every file back through the view
  materialization: `seedfs mount` to `seedfs wait`, and `seedfs seed`
  `seedfs seed` as a user who is not root (the link goes through /proc/self/fd)
  cargo: first and no-op build in a new workspace through the view (bench-mount's cargo rows)
  a new worktree with the hook: `git worktree add` to the end of its first
    cargo build (bench-worktree's seedfs row)
"""
import argparse
import contextlib
import copy
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_mount  # noqa: E402
import bench_worktree  # noqa: E402
from benchlib import add_place_args, dev_fuse_open_to_all, median, place_text, places, sh, timed  # noqa: E402


def compare(a, fs, ws_fs, rows):
    if a.no_tree:
        return cargo_and_worktree(a, fs, ws_fs, rows)
    # One Bench makes the user's dirs and toolchain; the other is its copy
    # with the other binary.
    base = bench_mount.Bench(a, fs, ws_fs)
    base.seedfs = a.baseline
    this = copy.copy(base)
    this.seedfs = a.seedfs
    benches = {"baseline": base, "this build": this}
    root = bench_mount.make_tree(benches["baseline"], a.scale)
    plain = benches["baseline"].new_dir("plain")
    benches["baseline"].seed(root, plain)
    sh(["sync"])
    slow = 10_000_000
    t = {k: {n: [] for n in benches} for k in ("live", "walk1", "walk2", "read", "materialize", "seed", "seed_user")}
    b0 = benches["baseline"]
    if b0.user:
        uroot = bench_mount.user_copy(b0, root, "root")
    for rnd in range(a.rounds + 1):
        for name, b in benches.items():
            b.n = b0.n = max(b.n, b0.n) + 1
            keep = rnd > 0  # round 0 warms the caches
            ws = b.new_dir("ws")
            live = b.mount(root, ws, slow)
            view = os.path.join(ws, "target")
            w1 = b.measure("walk", view)
            w2 = b.measure("walk", view)
            b.unmount(ws)
            ws = b.new_dir("ws")
            b.mount(root, ws, slow)
            rd = b.measure("read_all", os.path.join(ws, "target"))
            b.unmount(ws)
            ws = b.new_dir("ws")
            t0 = time.perf_counter()
            b.mount(root, ws)
            b.wait(ws)
            mat = time.perf_counter() - t0
            b.unmount(ws)
            seed_dir = b.new_dir("seed")
            sd = b.seed(root, seed_dir)
            shutil.rmtree(seed_dir)
            su = float("nan")
            if b.user:
                seed_dir = b.new_dir("seed", user=True)
                su = b.seed(uroot, seed_dir, user=True)
                shutil.rmtree(seed_dir)
            if keep:
                for k, v in (("live", live), ("walk1", w1), ("walk2", w2), ("read", rd), ("materialize", mat),
                             ("seed", sd), ("seed_user", su)):
                    t[k][name].append(v)
            print(f"bench: round {rnd} {name}: live {live*1000:.1f} ms, walks {w1:.3f}/{w2:.3f} s, read {rd:.3f} s, "
                  f"materialize {mat:.3f} s, seed {sd:.3f} s, as a user {su:.3f} s", file=sys.stderr)
    n = bench_mount.walk(os.path.join(plain, "target"))
    labels = {"live": "time until the view is live", "walk1": f"find+stat through the view, first walk ({n} entries)",
              "walk2": "find+stat through the view, second walk", "read": "read every file back through the view",
              "materialize": "materialize: `seedfs mount` to `seedfs wait`", "seed": "`seedfs seed`",
              "seed_user": "`seedfs seed` as a user (links through /proc/self/fd)"}
    for k, label in labels.items():
        if all(x != x for x in t[k]["this build"]):
            continue
        rows.append((label + f", scale {a.scale:g}", median(t[k]["baseline"]), median(t[k]["this build"])))
    if a.cargo_fixture:
        cargo_rows(a, benches, rows)
        worktree_rows(a, fs, rows)


def cargo_and_worktree(a, fs, ws_fs, rows):
    """--no-tree: only the cargo rows and the worktree row."""
    base = bench_mount.Bench(a, fs, ws_fs)
    base.seedfs = a.baseline
    this = copy.copy(base)
    this.seedfs = a.seedfs
    cargo_rows(a, {"baseline": base, "this build": this}, rows)
    worktree_rows(a, fs, rows)


def cargo_rows(a, benches, rows):
    env = dict(benches["baseline"].env, CARGO_NET_OFFLINE="true")
    root = os.path.join(a.cargo_fixture, "main")
    first = {n: [] for n in benches}
    noop = {n: [] for n in benches}
    for rnd in range(a.rounds + 1):
        for name, b in benches.items():
            b.n += 1
            ws = os.path.join(b.ws_fs, f"wt-{name.replace(' ', '-')}-{b.n}")
            sh(["git", "-C", root, "worktree", "add", "--detach", ws])
            cargo = lambda: sh(["cargo", "build", "--offline"], env=env, cwd=ws)
            b.mount(root, ws, 20_000)
            f = timed(cargo)
            nn = median([timed(cargo) for _ in range(3)])
            b.unmount(ws, remove=False)
            sh(["git", "-C", root, "worktree", "remove", "--force", ws], check=False)
            print(f"bench: round {rnd} {name}: cargo first {f:.3f} s, no-op {nn:.3f} s", file=sys.stderr)
            if rnd:
                first[name].append(f)
                noop[name].append(nn)
    rows.append(("cargo build, first in a new workspace through the view", median(first["baseline"]),
                 median(first["this build"])))
    rows.append(("cargo build, no-op through the view", median(noop["baseline"]), median(noop["this build"])))


def worktree_rows(a, fs, rows):
    wa = argparse.Namespace(fixture=os.path.abspath(os.path.join(a.cargo_fixture, "..", os.path.basename(a.cargo_fixture))),
                            seedfs=a.seedfs)
    base = os.path.join(fs, "worktree-bench")
    os.makedirs(base)
    b = bench_worktree.Bench(wa, base, base)
    b.setup()  # installs this build's hook; each round installs the one it measures
    total = {"baseline": [], "this build": []}
    for rnd in range(a.rounds + 1):
        for name, binary in (("baseline", a.baseline), ("this build", a.seedfs)):
            b.a.seedfs = binary
            bench_worktree.run([binary, "hook", "install"], b.root, b.env)
            add, prep, build, units = b.one("seedfs (hook)")
            print(f"bench: round {rnd} {name}: worktree add {add:.3f} s + first build {build:.3f} s, "
                  f"{units} compiled", file=sys.stderr)
            if rnd:
                total[name].append(add + prep + build)
    bench_worktree.run([a.seedfs, "hook", "uninstall"], b.root, b.env)
    rows.append(("new worktree with the hook: `git worktree add` + first cargo build", median(total["baseline"]),
                 median(total["this build"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seedfs", required=True, help="this build's binary")
    ap.add_argument("--baseline", required=True, help="the baseline's binary")
    ap.add_argument("--baseline-name", default="baseline", help="what the baseline is, for the heading")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--bytes-scale", type=float, default=0.001)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", default=os.environ.get("BENCH_DIR", "/var/tmp"))
    ap.add_argument("--cargo-fixture", help="the e2e fixture dir (tests/e2e/make-fixture.sh)")
    ap.add_argument("--user", default="seedfs-bench", help="the user for the unprivileged row ('' for none)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-tree", action="store_true", help="only the cargo and worktree rows (needs the fixture)")
    add_place_args(ap)
    a = ap.parse_args()
    rows = []
    with places(a, 60) as (fs, ws_fs), \
            dev_fuse_open_to_all() if a.user and os.geteuid() == 0 else contextlib.nullcontext():
        compare(a, fs, ws_fs, rows)
    print(f"\n{a.rounds} interleaved rounds per row, medians; {place_text(a)}; baseline: {a.baseline_name}\n")
    print("| row | baseline | this build | this build / baseline |")
    print("|---|---|---|---|")
    for label, base, this in rows:
        unit = (lambda x: f"{x*1000:.1f} ms") if base < 0.1 else (lambda x: f"{x:.3f} s")
        print(f"| {label} | {unit(base)} | {unit(this)} | {this / base:.2f}x |")


if __name__ == "__main__":
    main()

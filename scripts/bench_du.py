"""Benchmarks `seedfs du` against `du -s` over the same dirs, side by side in one
run: N worktrees' build dirs of one repository (default 10 of 50,089 files
each: a root made by gen-cargo-tree, and the others hardlinked from it the
way `cp -al` and `seedfs seed --no-skip` make them), warm and cold (the page
cache dropped before each round). Prints a table of medians and the ratio
against `du -s`; the goal is within 1.5x.

  scripts/bench-du.sh                        # 10 dirs, 5 rounds, fresh ext4
  scripts/bench-du.sh --dirs 4 --rounds 3 --fs xfs   # where seedfs du asks FIEMAP
"""
import argparse
import json
import os
import subprocess
import sys

from benchlib import add_place_args, median, places, place_text, sh, timed

here = os.path.dirname(os.path.abspath(__file__))


def drop_caches():
    sh(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def make_dirs(a, fs):
    """The root's target/ and n-1 worktrees' build dirs: alternately `cp -al`
    (every file shares the root's inode) and `seedfs seed --no-skip` (links
    what the rules link, copies the rest: on XFS and btrfs a reflink)."""
    root = os.path.join(fs, "wt-0", "target")
    sh([os.path.join(here, "gen-cargo-tree"), root, "--scale", str(a.scale), "--bytes-scale", str(a.bytes_scale)])
    dirs = [root]
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(fs, "no-config"),
               XDG_STATE_HOME=os.path.join(fs, "state"), XDG_RUNTIME_DIR=os.path.join(fs, "run"))
    os.makedirs(env["XDG_RUNTIME_DIR"], exist_ok=True)
    for i in range(1, a.dirs):
        ws = os.path.join(fs, f"wt-{i}")
        os.makedirs(ws)
        if i % 2:
            sh(["cp", "-al", root, os.path.join(ws, "target")])
        else:
            sh([a.seedfs, "seed", "--no-skip", "--no-sync-mtimes", os.path.dirname(root), ws], env=env)
        dirs.append(os.path.join(ws, "target"))
    return dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seedfs", required=True)
    ap.add_argument("--dirs", type=int, default=10, help="build dirs to measure (default 10)")
    ap.add_argument("--scale", type=float, default=1.0, help="gen-cargo-tree's scale (1: 50,089 files a dir)")
    ap.add_argument("--bytes-scale", type=float, default=0.001)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", default=os.environ.get("BENCH_DIR", "/var/tmp"))
    ap.add_argument("--keep", action="store_true")
    add_place_args(ap)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-du: must run as root (it drops the page cache for the cold rounds)")

    with places(a, 40) as (fs, _):
        dirs = make_dirs(a, fs)
        variants = {
            "du -s": ["du", "-s"] + dirs,
            "seedfs du": [a.seedfs, "du"] + dirs,
            "seedfs du --threads 1": [a.seedfs, "du", "--threads", "1"] + dirs,
        }
        times = {(v, c): [] for v in variants for c in ("warm", "cold")}
        for cache in ("warm", "cold"):
            for name, cmd in variants.items():  # one warm-up each
                sh(cmd)
            for r in range(a.rounds):
                order = list(variants.items())
                order = order[r % len(order):] + order[:r % len(order)]
                for name, cmd in order:
                    if cache == "cold":
                        drop_caches()
                    times[(name, cache)].append(timed(lambda: sh(cmd)))
        report = json.loads(subprocess.run([a.seedfs, "du", "--json"] + dirs, capture_output=True,
                                           text=True, check=True).stdout)
        du_c = subprocess.run(["du", "-s", "-B1", "-c"] + dirs, capture_output=True, text=True, check=True).stdout
        du_total = int(du_c.strip().splitlines()[-1].split()[0])
        files = sum(d["files"] + d["dirs"] for d in report["dirs"])

    print(f"\n{a.dirs} build dirs, {files:,} entries in all; {place_text(a)}; {a.rounds} rounds, "
          f"rotated order, medians; cold: page cache dropped before each run\n")
    print("| variant | warm | vs `du -s` | cold | vs `du -s` |")
    print("|---|---|---|---|---|")
    for name in variants:
        w, c = median(times[(name, "warm")]), median(times[(name, "cold")])
        bw, bc = median(times[("du -s", "warm")]), median(times[("du -s", "cold")])
        print(f"| {name} | {w:.3f} s | {w / bw:.2f}x | {c:.3f} s | {c / bc:.2f}x |")
    gb = 1 << 30
    print(f"\nseedfs du: {report['total_on_disk'] / gb:.2f} GiB really on disk "
          f"(du -s -c: {du_total / gb:.2f} GiB; seedfs's own du_total: {report['du_total'] / gb:.2f} GiB); "
          f"FIEMAP asked: {report['extents_asked']}")
    for d in report["dirs"][:3]:
        print(f"  {d['dir']}: on disk {d['on_disk'] / gb:.3f} GiB, own {d['own'] / gb:.3f} GiB, "
              f"shared {(d['shared_links'] + d['shared_extents']) / gb:.3f} GiB")


if __name__ == "__main__":
    main()

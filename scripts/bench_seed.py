#!/usr/bin/env python3
"""Benchmark `seedfs seed` against `cp -al`, side by side in one run.

On a fresh loop-mounted ext4, at each --scale, the same generated root is
seeded --rounds times by each variant, interleaved (round 1 of every variant,
then round 2, ...), each into a new directory that is deleted afterwards:

  seedfs seed                       default rules (skip .o/.d/incremental, copy what cargo rewrites)
  seedfs seed --no-skip             every file
  seedfs seed --workers 1 --no-skip every file, one worker
  seedfs seed --no-hardlinks        default rules, every file copied (reflinked where possible)
  ..., the rules before 2026-12-03  executables and .o files linked too (what the new rules cost)
  seedfs seed, reflinks = false     hardlinks even where the filesystem could reflink (--fs xfs, btrfs)
  cp -al                            hardlink the whole tree

It prints medians of wall time, files/s, the ratio to `cp -al`, peak RSS
(the child's maxrss) and, for seedfs, where the thread-time went. With
--sync the wall time of every variant includes a `sync -f` of the
workspace's filesystem: what the copies cost once the disk has written them
(on a busy disk, writeback of earlier work meets the next run otherwise).
"""
import argparse
import json
import os
import shutil
import subprocess
import time

from benchlib import add_place_args, median, place_text, places, sh

VARIANTS = {
    "seedfs seed": ["--json"],
    "seedfs seed --no-skip": ["--no-skip", "--json"],
    "seedfs seed --workers 1 --no-skip": ["--workers", "1", "--no-skip", "--json"],
    "seedfs seed --no-hardlinks": ["--no-hardlinks", "--json"],
    "seedfs seed, the rules before 2026-12-03": ["--config", "@OLD_RULES@", "--json"],
    "seedfs seed --no-skip, the rules before 2026-12-03": ["--no-skip", "--config", "@OLD_RULES@", "--json"],
    "seedfs seed, reflinks = false": ["--config", "@NO_REFLINKS@", "--json"],
}
# The baselines: what seedfs is measured against. `cp -al` cannot cross
# filesystems; with --cross-fs, `cp -a` and `rsync -a` are what users run.
BASELINES = {
    "cp -al": lambda src, dst: ["cp", "-al", src, dst],
    "cp -a": lambda src, dst: ["cp", "-a", src, dst],
    "rsync -a": lambda src, dst: ["rsync", "-a", src + "/", dst],
}


def run_measured(cmd, env, scratch):
    """Wall time, peak RSS (kB) and stdout of one command. GNU time reports the
    RSS: a child forked from this Python would count Python's pages too."""
    rss_file = os.path.join(scratch, "rss")
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed with {p.returncode}")
    with open(rss_file) as f:
        return wall, int(f.read().split()[-1]), p.stdout


def old_rules(fs):
    """A config file with the link rules seedfs used until 2026-12-03: every
    library anywhere, .o files and executables linked."""
    path = os.path.join(fs, "old-rules.toml")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write('[artifacts.cargo]\n'
                    'link = ["**/*.rlib", "**/*.rmeta", "**/*.so", "**/*.dylib", "**/*.dll", "**/*.a", "**/*.o"]\n'
                    'link_executables = true\n')
    return path


def no_reflinks(fs):
    path = os.path.join(fs, "no-reflinks.toml")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("reflinks = false\n")
    return path


def bench_scale(a, fs, ws_fs, scale, env):
    root = os.path.join(fs, f"root-{scale:g}")
    sh([os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-cargo-tree"),
        os.path.join(root, "target"), "--scale", str(scale), "--bytes-scale", str(a.bytes_scale)])
    sh(["sync"])
    total = sum(len(files) for _, _, files in os.walk(os.path.join(root, "target")))
    variants = {v: VARIANTS.get(v) for v in a.variants}
    results = {v: {"wall": [], "rss": [], "files": [], "threads": []} for v in variants}
    n = 0
    for rnd in range(a.rounds + 1):  # round 0 warms the page cache and is not counted
        for name, flags in variants.items():
            n += 1
            ws = os.path.join(ws_fs, f"ws-{n}")
            os.makedirs(ws)
            if flags is None:
                cmd = BASELINES[name](os.path.join(root, "target"), os.path.join(ws, "target"))
            else:
                configs = {"@OLD_RULES@": old_rules, "@NO_REFLINKS@": no_reflinks}
                cmd = [a.seedfs, "seed", root, ws] + [configs[f](fs) if f in configs else f for f in flags]
            wall, rss, out = run_measured(cmd, env, fs)
            if a.sync:
                t = time.perf_counter()
                sh(["sync", "-f", ws])
                wall += time.perf_counter() - t
            if rnd > 0:
                r = results[name]
                r["wall"].append(wall)
                r["rss"].append(rss / 1024)
                if flags is None:
                    r["files"].append(total)
                else:
                    art = json.loads(out)["artifacts"][0]
                    r["files"].append(art["files_done"])
                    r["threads"].append(art["thread_seconds"])
            shutil.rmtree(ws)
            sh(["sync"])
    return total, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seedfs", required=True)
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bytes-scale", type=float, default=0.001,
                    help="file sizes, as gen-cargo-tree takes them (default 0.001: 6.4 MB at scale 1; 0.31: 2.0 GB)")
    ap.add_argument("--workdir", default=os.environ.get("BENCH_DIR", "/var/tmp"))
    ap.add_argument("--keep", action="store_true")
    add_place_args(ap)
    ap.add_argument("--sync", action="store_true",
                    help="count a sync of the workspace's filesystem in every variant's time")
    ap.add_argument("--variants", nargs="+", help="only these (default: all; names as in the table)")
    a = ap.parse_args()
    baselines = ["cp -a", "rsync -a"] if a.cross_fs else ["cp -al"]
    a.variants = a.variants or list(VARIANTS) + baselines
    for v in a.variants:
        if v not in VARIANTS and v not in BASELINES:
            raise SystemExit(f"bench: no variant {v!r} (known: {', '.join(list(VARIANTS) + list(BASELINES))})")
    base = next((v for v in a.variants if v in BASELINES), None)
    if not base:
        raise SystemExit("bench: name a baseline among the variants (" + ", ".join(baselines) + ")")

    env = dict(os.environ)
    tables = []
    with places(a, 40) as (fs, ws_fs):
        for scale in a.scales:
            env["XDG_CONFIG_HOME"] = os.path.join(fs, "no-config")  # built-in rules only
            tables.append((scale, *bench_scale(a, fs, ws_fs, scale, env)))

    where = place_text(a)
    if a.sync:
        where += ", each time up to the end of a sync of the workspace's filesystem"
    print(f"\n{a.rounds} rounds per variant, interleaved, medians; {where}, new destination each round\n")
    print(f"| scale | variant | files | wall | files/s | speed vs {base} | peak RSS | thread-s walk / mkdir / link+copy |")
    print("|---|---|---|---|---|---|---|---|")
    for scale, total, results in tables:
        cp = median(results[base]["wall"])
        for name, r in results.items():
            wall = median(r["wall"])
            files = int(median(r["files"]))
            th = "-"
            if r["threads"]:
                th = " / ".join(f"{median([t[k] for t in r['threads']]):.3f}" for k in ("walk", "mkdir", "link_copy"))
            print(f"| {scale:g} | {name} | {files:,} of {total:,} | {wall:.3f} s | {files / wall:,.0f} | "
                  f"{cp / wall:.2f}x | {median(r['rss']):.1f} MB | {th} |")


if __name__ == "__main__":
    main()

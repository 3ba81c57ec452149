#!/usr/bin/env python3
"""Benchmark a new worktree's first build, side by side in one run.

The root is a copy of the e2e fixture (tests/e2e/make-fixture.sh: a cargo
workspace of 8 members on ~55 units of Debian's crates, built for debug). For
each variant, every round makes a new `git worktree add` of it and times,
until the end of the first `cargo build` in the worktree:

  seedfs (hook)           `seedfs hook install` in the root; `git worktree add` mounts, then cargo build
  seedfs (hook), cargo path in the config
                          the same with artifacts.cargo.path = "target" in the user config: seedfs
                          does not ask `cargo metadata` where the build dir is
  seedfs seed             git worktree add, `seedfs seed`, cargo build
  cp -al                  git worktree add, `cp -al root/target`, cargo build (on a scratch copy
                          of the root: the build writes through the shared inodes)
  cp -a --reflink=auto    git worktree add, `cp -a --reflink=auto root/target`, cargo build
  rsync -a                git worktree add, `rsync -a root/target/`, cargo build
  shared CARGO_TARGET_DIR git worktree add, cargo build into the root's target dir (a scratch copy)
  cold build              git worktree add, cargo build from nothing

and, as the baseline, a no-op `cargo build` in the root itself. Rounds are
interleaved (round 1 of every variant, then round 2, ...); round 0 warms the
caches and is not counted. It prints medians, the ratios to the root's no-op
build and to the cold build, and the units cargo compiled (`Compiling` lines
of `cargo build -v`).
"""
import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import fresh_fs, median, sh

VARIANTS = ["seedfs (hook)", "seedfs (hook), cargo path in the config", "seedfs seed", "cp -al", "cp -a --reflink=auto",
            "rsync -a", "shared CARGO_TARGET_DIR", "cold build"]


def run(cmd, cwd, env, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} in {cwd} failed with {p.returncode}:\n{p.stdout}")
    return p.stdout


def timed_run(cmd, cwd, env):
    t = time.perf_counter()
    out = run(cmd, cwd, env)
    return time.perf_counter() - t, out


def compiled(cargo_output):
    return len(re.findall(r"^\s*Compiling ", cargo_output, re.M))


class Bench:
    def __init__(self, a, base, ws_base):
        self.a = a
        self.base = base
        self.ws_base = ws_base  # where the worktrees go: another filesystem with --cross-fs
        self.root = os.path.join(base, "main")
        self.env = dict(os.environ, CARGO_TERM_COLOR="never",
                        XDG_RUNTIME_DIR=os.path.join(base, "run"), XDG_STATE_HOME=os.path.join(base, "state"))
        for k in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "SEEDFS_NO_HOOK"):
            self.env.pop(k, None)
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700)
        self.no_hook = dict(self.env, SEEDFS_NO_HOOK="1")
        config_home = os.path.join(base, "config-with-path")
        os.makedirs(os.path.join(config_home, "seedfs"))
        with open(os.path.join(config_home, "seedfs", "config.toml"), "w") as f:
            f.write('[artifacts.cargo]\npath = "target"\n')
        self.with_path = dict(self.env, XDG_CONFIG_HOME=config_home)
        self.n = 0

    def setup(self):
        print(f"bench: copying the fixture {self.a.fixture} to {self.root}", file=sys.stderr)
        sh(["cp", "-a", os.path.join(self.a.fixture, "main"), self.root])
        # The copy's no-op build rewrites target/debug/*.d (they name the copy's path).
        out = run(["cargo", "build", "-v"], self.root, self.env)
        if compiled(out):
            raise SystemExit("bench: the fixture's copy is not a fresh build:\n" + out)
        run([self.a.seedfs, "hook", "install"], self.root, self.env)

    def worktree(self):
        self.n += 1
        return os.path.join(self.ws_base, f"wt-{self.n}")

    def remove(self, ws, env):
        run(["git", "worktree", "remove", "--force", ws], self.root, env, check=False)
        shutil.rmtree(ws, ignore_errors=True)

    def scratch_root_target(self):
        """A copy of the root's target/, for the variants whose build writes into it."""
        d = os.path.join(self.base, f"scratch-{self.n}")
        sh(["cp", "-a", os.path.join(self.root, "target"), d])
        return d

    def one(self, variant):
        """(git worktree add s, prepare s, first build s, units compiled)"""
        ws = self.worktree()
        env = {"seedfs (hook)": self.env, "seedfs (hook), cargo path in the config": self.with_path}.get(
            variant, self.no_hook)
        scratch = None
        if variant == "cp -al" or variant == "shared CARGO_TARGET_DIR":
            scratch = self.scratch_root_target()
        add, _ = timed_run(["git", "worktree", "add", "-q", "--detach", ws], self.root, env)
        build_env = env
        prepare = 0.0
        if variant == "seedfs seed":
            prepare, _ = timed_run([self.a.seedfs, "seed", self.root, ws], self.base, env)
        elif variant == "cp -al":
            prepare, _ = timed_run(["cp", "-al", scratch, os.path.join(ws, "target")], self.base, env)
        elif variant == "cp -a --reflink=auto":
            prepare, _ = timed_run(["cp", "-a", "--reflink=auto", os.path.join(self.root, "target"),
                                    os.path.join(ws, "target")], self.base, env)
        elif variant == "rsync -a":
            prepare, _ = timed_run(["rsync", "-a", os.path.join(self.root, "target") + "/",
                                    os.path.join(ws, "target")], self.base, env)
        elif variant == "shared CARGO_TARGET_DIR":
            build_env = dict(env, CARGO_TARGET_DIR=scratch)
        build, out = timed_run(["cargo", "build", "-v"], ws, build_env)
        units = compiled(out)
        if variant.startswith("seedfs (hook)"):
            run([self.a.seedfs, "wait", ws], self.base, env)
        self.remove(ws, env)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        return add, prepare, build, units

    def root_noop(self):
        t, out = timed_run(["cargo", "build", "-v"], self.root, self.env)
        return t, compiled(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seedfs", required=True, help="the seedfs binary")
    p.add_argument("--fixture", default=os.path.join(here, "..", "build", "e2e-fixture"),
                   help="a dir made by tests/e2e/make-fixture.sh (made there if missing)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workdir", default=None, help="where the loop image or temp dir goes (default: $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the scratch dirs")
    p.add_argument("--cross-fs", action="store_true",
                   help="the worktrees on a second fresh ext4: nothing can be linked, every file is copied")
    p.add_argument("--variants", nargs="+", help="only these (default: all)")
    a = p.parse_args()
    variants = a.variants or VARIANTS
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"bench: no variant {v!r} (known: {', '.join(VARIANTS)})")
    a.seedfs = os.path.abspath(a.seedfs)
    a.fixture = os.path.abspath(a.fixture)
    sh([os.path.join(here, "..", "tests", "e2e", "make-fixture.sh"), a.fixture], quiet=False)

    workdir = a.workdir or tempfile.gettempdir()
    with fresh_fs(workdir, 8, a.keep) as fs, \
            (fresh_fs(workdir, 8, a.keep) if a.cross_fs else contextlib.nullcontext(fs)) as ws_fs:
        b = Bench(a, fs, ws_fs)
        b.setup()
        res = {v: {"add": [], "prepare": [], "build": [], "total": [], "units": []} for v in variants}
        noop, noop_units = [], []
        for rnd in range(a.rounds + 1):
            t, u = b.root_noop()
            if rnd:
                noop.append(t)
                noop_units.append(u)
            for v in variants:
                add, prep, build, units = b.one(v)
                print(f"bench: round {rnd} {v}: add {add:.3f} s, prepare {prep:.3f} s, build {build:.3f} s, "
                      f"{units} compiled", file=sys.stderr)
                if rnd == 0:
                    continue
                r = res[v]
                r["add"].append(add)
                r["prepare"].append(prep)
                r["build"].append(build)
                r["total"].append(add + prep + build)
                r["units"].append(units)
        run([a.seedfs, "hook", "uninstall"], b.root, b.env)

    base = median(noop)
    cold = median(res["cold build"]["total"]) if "cold build" in res else float("nan")
    print(f"\nA new worktree's first `cargo build`, from `git worktree add` to its end; medians of {a.rounds} "
          f"interleaved rounds" + ("; the worktrees on another filesystem" if a.cross_fs else ""))
    print(f"root: no-op `cargo build` {base:.3f} s ({int(median(noop_units))} compiled)\n")
    print("| variant | `git worktree add` | seed or copy | first `cargo build` | total | vs root no-op build "
          "| speed vs cold build | units compiled |")
    print("|---|---|---|---|---|---|---|---|")
    for v in variants:
        r = res[v]
        total = median(r["total"])
        print(f"| {v} | {median(r['add']):.3f} s | {median(r['prepare']):.3f} s | {median(r['build']):.3f} s "
              f"| **{total:.3f} s** | {total / base:.2f}x | {cold / total:.1f}x | {int(median(r['units']))} |")


if __name__ == "__main__":
    main()

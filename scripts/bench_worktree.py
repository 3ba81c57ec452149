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

With --parallel N it measures many worktrees made at once instead (developers
and agent tools make 5 to 10 within a second). For each of

  seedfs (hook)           the hook installed in the root: each `git worktree add` mounts
  cp -a --reflink=auto    each worktree copies the root's target/ after its `git worktree add`
  shared CARGO_TARGET_DIR all build into one scratch copy of the root's target dir (cargo's
                          build lock serializes them)

it makes N worktrees at once (N threads, released together: each runs
`git worktree add`, then at once its first `cargo build -v`) and, in the same
rounds, a single one the same way. Rounds are interleaved (round 1: every
variant with 1 worktree, then with N; round 2: ...), round 0 warms up and is
not counted; every round removes its worktrees (`seedfs wait`, `git worktree
remove --force`, `git worktree prune`). A `git worktree add` that fails on
git 2.39's race between concurrent adds ("failed to read .git/worktrees/<x>/
commondir") is tried again, up to 5 times; the retries are counted. Per
variant and count it prints medians of: the wall time from the first `git
worktree add` to the end of the last first build; the slowest first `cargo
build` and its ratio to the single worktree's; the slowest worktree from its
`git worktree add` to its build's end; the units compiled (min/max over the
worktrees); the CPU time (user+sys) of everything it ran, seedfs's daemons
included; how busy the machine's CPUs were meanwhile (other work counts); and
for seedfs the sum of the daemons' peak RSS (VmHWM of each daemon, whose pid is
in $XDG_RUNTIME_DIR/seedfs/*.pid, sampled every 10 ms until it exits: its
last value). Then one line with the issue's goal: at N = 8, seedfs's slowest
first build within 2x of a single one.

  scripts/bench-worktree.sh --parallel 8 --rounds 2
"""
import argparse
import concurrent.futures
import contextlib
import glob
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

from benchlib import fresh_fs, median, sh

VARIANTS = ["seedfs (hook)", "seedfs (hook), cargo path in the config", "seedfs seed", "cp -al", "cp -a --reflink=auto",
            "rsync -a", "shared CARGO_TARGET_DIR", "cold build"]
PARALLEL_VARIANTS = ["seedfs (hook)", "cp -a --reflink=auto", "shared CARGO_TARGET_DIR"]
ADD_ATTEMPTS = 5  # git 2.39's race between concurrent `git worktree add`s
GOAL_RATIO = 2.0  # issue 20: the slowest of 8 first builds within 2x of a single one


def run(cmd, cwd, env, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} in {cwd} failed with {p.returncode}:\n{p.stdout}")
    return p.stdout


def timed_run(cmd, cwd, env):
    t = time.perf_counter()
    out = run(cmd, cwd, env)
    return time.perf_counter() - t, out


def run_cpu(cmd, cwd, env):
    """run(), and the CPU time (user+sys) of cmd and the descendants it waited for."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, out, ru.ru_utime + ru.ru_stime


def compiled(cargo_output):
    return len(re.findall(r"^\s*Compiling ", cargo_output, re.M))


def machine_cpu():
    """(busy, total) seconds of all the machine's CPUs so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(v[:8])  # user nice system idle iowait irq softirq steal
    return (total - v[3] - v[4]) / tick, total / tick


class DaemonSampler:
    """Samples, every 10 ms, the VmHWM and CPU time of each seedfs daemon whose
    pid file is in `run_dir`; keeps each daemon's last sample (VmHWM only
    grows, so the last is its peak up to 10 ms before its exit)."""

    def __init__(self, run_dir, interval=0.01):
        self.run_dir = run_dir
        self.interval = interval
        self.daemons = {}  # pid -> {"ws", "hwm_kb", "cpu"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _loop(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self):
        for pid_file in glob.glob(os.path.join(self.run_dir, "*.pid")):
            try:
                with open(pid_file) as f:
                    lines = f.read().split("\n")
                pid = int(lines[0])
                with open(f"/proc/{pid}/status") as f:
                    status = f.read()
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read().rsplit(")", 1)[1].split()
            except (OSError, ValueError, IndexError):
                continue  # not written yet, or the daemon is gone
            m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            if not m:
                continue  # a zombie
            self.daemons[pid] = {"ws": lines[1] if len(lines) > 1 else "", "hwm_kb": int(m.group(1)),
                                 "cpu": (int(stat[11]) + int(stat[12])) / self.tick}  # utime, stime


def last_status_rss_kb(state_dir, pids):
    """peak_rss_kb that each daemon in `pids` wrote to its last-status.toml as it exited."""
    found = {}
    for path in glob.glob(os.path.join(state_dir, "*", "last-status.toml")):
        try:
            with open(path, "rb") as f:
                t = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if t.get("pid") in pids:
            found[t["pid"]] = t.get("peak_rss_kb", 0)
    return found


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
        if a.parallel:  # no user config of seedfs either (an empty config dir of the bench's own)
            self.env["XDG_CONFIG_HOME"] = os.path.join(base, "config")
            os.makedirs(self.env["XDG_CONFIG_HOME"])
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

    # --parallel: N worktrees at once.

    def add_worktree(self, ws, env):
        """`git worktree add`, tried again on git 2.39's race between concurrent
        adds; (the number of retries, CPU seconds of git and its hook)."""
        cpu = 0.0
        for attempt in range(ADD_ATTEMPTS):
            rc, out, c = run_cpu(["git", "worktree", "add", "-q", "--detach", ws], self.root, env)
            cpu += c
            if rc == 0:
                return attempt, cpu
            if "failed to read .git/worktrees/" not in out or attempt + 1 == ADD_ATTEMPTS:
                raise SystemExit(f"bench: git worktree add {ws} failed with {rc} (attempt {attempt + 1}):\n{out}")
            print(f"bench: git worktree add {os.path.basename(ws)}: git's race, again: {out.strip()}",
                  file=sys.stderr)

    def one_of_many(self, variant, ws, env, build_env, start):
        """One worktree of a batch: waits for the others, then adds it and builds."""
        start.wait(timeout=60)
        t0 = time.perf_counter()
        retries, add_cpu = self.add_worktree(ws, env)
        t_add = time.perf_counter()
        copy_cpu = 0.0
        if variant == "cp -a --reflink=auto":
            cmd = ["cp", "-a", "--reflink=auto", os.path.join(self.root, "target"), os.path.join(ws, "target")]
            rc, out, copy_cpu = run_cpu(cmd, self.base, env)
            if rc:
                raise SystemExit(f"bench: {' '.join(cmd)} failed with {rc}:\n{out}")
        t_build = time.perf_counter()
        rc, out, build_cpu = run_cpu(["cargo", "build", "-v"], ws, build_env)
        if rc:
            raise SystemExit(f"bench: cargo build in {ws} failed with {rc}:\n{out}")
        t_end = time.perf_counter()
        return {"start": t0, "end": t_end, "add": t_add - t0, "prepare": t_build - t_add,
                "build": t_end - t_build, "units": compiled(out), "retries": retries,
                "add_cpu": add_cpu, "copy_cpu": copy_cpu, "build_cpu": build_cpu}

    def batch(self, variant, n):
        """n worktrees of `variant` made at once; what one_of_many measured of
        each, and the batch's CPU and the daemons' peak RSS."""
        seedfs = variant == "seedfs (hook)"
        env = self.env if seedfs else self.no_hook
        wss = [self.worktree() for _ in range(n)]
        scratch = self.scratch_root_target() if variant == "shared CARGO_TARGET_DIR" else None
        build_env = dict(env, CARGO_TARGET_DIR=scratch) if scratch else env
        sampler = DaemonSampler(os.path.join(self.env["XDG_RUNTIME_DIR"], "seedfs")) if seedfs else None
        start = threading.Barrier(n)
        try:
            if sampler:
                sampler.start()
            ru0, cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu()
            with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
                futures = [ex.submit(self.one_of_many, variant, ws, env, build_env, start) for ws in wss]
                each = [f.result() for f in futures]
            ru1, cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu()
            if seedfs:
                for ws in wss:
                    run([self.a.seedfs, "wait", ws], self.base, env)
        finally:
            if sampler:
                sampler.stop()
            if seedfs:
                for ws in wss:  # only if something failed: the daemon is gone after `wait`
                    if os.path.ismount(os.path.join(ws, "target")):
                        run([self.a.seedfs, "unmount", ws], self.base, env, check=False)
            for ws in wss:
                self.remove(ws, env)
            run(["git", "worktree", "prune"], self.root, env)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        wall = max(e["end"] for e in each) - min(e["start"] for e in each)
        r = {"wall": wall,
             "build": max(e["build"] for e in each),
             "worktree": max(e["end"] - e["start"] for e in each),
             "add": max(e["add"] for e in each),
             "units_min": min(e["units"] for e in each), "units_max": max(e["units"] for e in each),
             "retries": sum(e["retries"] for e in each),
             "cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
             "add_cpu": sum(e["add_cpu"] for e in each), "copy_cpu": sum(e["copy_cpu"] for e in each),
             "build_cpu": sum(e["build_cpu"] for e in each), "daemon_cpu": 0.0,
             "busy": (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1]) if cpu1[1] > cpu0[1] else float("nan")}
        if sampler:
            d = sampler.daemons
            if len(d) != n:
                print(f"bench: saw {len(d)} daemons of {n} worktrees", file=sys.stderr)
            r["daemons"] = len(d)
            r["rss_mb"] = sum(x["hwm_kb"] for x in d.values()) / 1024
            r["daemon_cpu"] = sum(x["cpu"] for x in d.values())
            r["cpu"] += r["daemon_cpu"]
            # The daemons' own word at their end (getrusage's ru_maxrss), as a check of the sampling.
            at_exit = last_status_rss_kb(os.path.join(self.env["XDG_STATE_HOME"], "seedfs"), set(d))
            r["rss_exit_mb"] = sum(at_exit.values()) / 1024
        return r



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
    p.add_argument("--parallel", type=int, metavar="N", default=0,
                   help="N worktrees at once, beside a single one, for the variants " + ", ".join(PARALLEL_VARIANTS))
    a = p.parse_args()
    known = PARALLEL_VARIANTS if a.parallel else VARIANTS
    variants = a.variants or known
    for v in variants:
        if v not in known:
            raise SystemExit(f"bench: no variant {v!r}{' with --parallel' if a.parallel else ''} "
                             f"(known: {', '.join(known)})")
    if a.parallel < 0 or a.parallel == 1:
        raise SystemExit("bench: --parallel N needs N >= 2 (a single worktree is measured beside it)")
    a.seedfs = os.path.abspath(a.seedfs)
    a.fixture = os.path.abspath(a.fixture)
    sh([os.path.join(here, "..", "tests", "e2e", "make-fixture.sh"), a.fixture], quiet=False)

    workdir = a.workdir or tempfile.gettempdir()
    if a.parallel:
        return main_parallel(a, variants, workdir)
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


def main_parallel(a, variants, workdir):
    n = a.parallel
    counts = [1, n]
    # Room for n copies of the fixture's target/ (0.8 GB) besides the root, on an
    # image whose inode tables take 3 GB.
    size = 8 + n
    with fresh_fs(workdir, size, a.keep) as fs, \
            (fresh_fs(workdir, size, a.keep) if a.cross_fs else contextlib.nullcontext(fs)) as ws_fs:
        b = Bench(a, fs, ws_fs)
        b.setup()
        res = {(v, k): [] for v in variants for k in counts}
        noop, noop_units, warm_retries = [], [], 0
        for rnd in range(a.rounds + 1):
            t, u = b.root_noop()
            if rnd:
                noop.append(t)
                noop_units.append(u)
            for v in variants:
                for k in counts:
                    r = b.batch(v, k)
                    extra = (f", daemons {r['daemons']}: peak RSS sum {r['rss_mb']:.1f} MB sampled, "
                             f"{r['rss_exit_mb']:.1f} MB at exit, CPU {r['daemon_cpu']:.2f} s"
                             if "rss_mb" in r else "")
                    print(f"bench: round {rnd} {v} x{k}: wall {r['wall']:.3f} s, slowest build {r['build']:.3f} s, "
                          f"slowest worktree {r['worktree']:.3f} s, slowest add {r['add']:.3f} s, "
                          f"{r['units_min']}-{r['units_max']} compiled, {r['retries']} retries, "
                          f"CPU {r['cpu']:.2f} s, machine busy {r['busy']:.0%}{extra}", file=sys.stderr)
                    if rnd:
                        res[(v, k)].append(r)
                    else:
                        warm_retries += r["retries"]
        t, u = b.root_noop()
        if u:
            raise SystemExit(f"bench: the root's no-op build compiled {u} units after the run")
        run([a.seedfs, "hook", "uninstall"], b.root, b.env)

    def med(v, k, key):
        return median([r[key] for r in res[(v, k)]])

    ncpu = os.cpu_count()
    print(f"\n{n} new worktrees made at once, each `git worktree add` then at once its first `cargo build -v`, "
          f"beside a single one; medians of {a.rounds} interleaved rounds on {ncpu} CPUs"
          + ("; the worktrees on another filesystem" if a.cross_fs else ""))
    print(f"root: no-op `cargo build` {median(noop):.3f} s ({int(median(noop_units))} compiled)\n")
    print("| variant | worktrees | wall: first `git worktree add` to the last build's end "
          "| slowest first `cargo build` | vs a single one | slowest worktree, add to build end "
          "| units compiled (min/max) | `git worktree add` retries | CPU user+sys | machine busy "
          "| daemons' peak RSS (sum) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        one, one_wt = med(v, 1, "build"), med(v, 1, "worktree")
        for k in counts:
            rs = res[(v, k)]
            build, wt = med(v, k, "build"), med(v, k, "worktree")
            rss = f"{med(v, k, 'rss_mb'):.1f} MB" if v == "seedfs (hook)" else "-"
            print(f"| {v} | {k} | **{med(v, k, 'wall'):.3f} s** | {build:.3f} s | "
                  f"{'-' if k == 1 else f'**{build / one:.2f}x**'} | {wt:.3f} s{'' if k == 1 else f' ({wt / one_wt:.2f}x)'} | "
                  f"{min(r['units_min'] for r in rs)}/{max(r['units_max'] for r in rs)} | "
                  f"{sum(r['retries'] for r in rs)} | {med(v, k, 'cpu'):.2f} s | {med(v, k, 'busy'):.0%} | {rss} |")
    print(f"\nWhere the CPU went (user+sys, summed over the worktrees; medians); the machine's capacity is "
          f"the wall time times its {ncpu} CPUs\n")
    print("| variant | worktrees | `git worktree add` (with the hook's `seedfs mount`) | copy | first `cargo build` "
          "| seedfs daemons | all | the machine's capacity | our share of it |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        for k in counts:
            wall, cpu = med(v, k, "wall"), med(v, k, "cpu")
            print(f"| {v} | {k} | {med(v, k, 'add_cpu'):.2f} s | {med(v, k, 'copy_cpu'):.2f} s "
                  f"| {med(v, k, 'build_cpu'):.2f} s | {med(v, k, 'daemon_cpu'):.2f} s | {cpu:.2f} s "
                  f"| {wall * ncpu:.2f} s | {cpu / (wall * ncpu):.0%} |")
    print(f"\n`git worktree add` retries in the warm-up round (not counted above): {warm_retries}")
    if "seedfs (hook)" in variants:
        ratio = med("seedfs (hook)", n, "build") / med("seedfs (hook)", 1, "build")
        print(f"Goal: with the hook, the slowest of {n} first builds within {GOAL_RATIO:g}x of a single one: "
              f"{ratio:.2f}x, {'met' if ratio <= GOAL_RATIO else 'missed'}")


if __name__ == "__main__":
    main()

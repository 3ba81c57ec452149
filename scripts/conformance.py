#!/usr/bin/env python3
"""POSIX conformance of a live seedfs view, beside ext4 and fuse-overlayfs, in one run.

Runs two public suites, which are not Debian packages and are not part of this
repository (scripts/conformance.sh fetches and builds them, then calls this
with their paths):

  pjdfstest (--pjdfstest DIR)  a built pjdfstest tree (tests/ and the pjdfstest binary);
                               run with `prove -r` in a new directory of each target
  fsx (--fsx BIN)              fsx from xfstests (ltp/fsx.c): random reads, writes, mmap
                               reads and writes, truncation, fallocate, hole punching and
                               copy_file_range on one file, checked against a copy in memory;
                               once on a new file and once on a file that comes from the root

against these targets, each on a fresh loop-mounted ext4:

  ext4                     a plain directory (the baseline)
  fuse-overlayfs           Debian's fuse-overlayfs, its lower dir a root tree
  seedfs kept              `seedfs mount --keep-mounted`: the view for the whole run
  seedfs materializing     `seedfs mount --rate 0.2`: the view while the materializer
                           links and copies under it (a file per 5 s: it outlasts the run)
  seedfs dropped caches    `seedfs mount --keep-mounted`, with the kernel's dentry and
                           inode caches dropped every 3 s for the whole run (FORGETs,
                           then fresh LOOKUPs, of nodes the daemon still tracks)
  ext4 as a user           the same as the user `seedfs-test` (the baseline for the next)
  fuse-overlayfs as a user, seedfs kept as a user, seedfs materializing as a user,
  seedfs dropped caches as a user
                           the same, mounted by `seedfs-test` through fusermount3
                           (/dev/fuse is opened to everyone for the run)

The root tree of every seedfs target is checked after its run: no name, type,
mode, owner, size, content or mtime may have changed. The output is one table
of counts per suite and target, then every pjdfstest test and fsx run that
fails on a seedfs target where it passes on ext4 as the same user.
"""
import argparse
import contextlib
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time

import benchlib
from benchlib import chown_tree, dev_fuse_open_to_all, ensure_user, fresh_fs, sh

USER = "seedfs-test"
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- the test user and /dev/fuse ----

def as_user(cmd):
    return benchlib.as_user(USER, cmd)


# ---- the root tree and its snapshot ----

def make_root(project):
    """A cargo-like target/ (the generator's shape, small) and a 256 KiB file for fsx."""
    target = os.path.join(project, "target")
    sh([os.path.join(HERE, "gen-cargo-tree"), target, "--scale", "0.05", "--bytes-scale", "0.001"])
    fsx_file = os.path.join(target, "debug/deps/libfsx-0000000000000000.rlib")
    with open(fsx_file, "wb") as f:
        f.write(os.urandom(256 << 10))
    return fsx_file


def snapshot(top):
    """Every entry below `top`: type, mode, owner, size, mtime, content or target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            what = ""
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            out[os.path.relpath(p, top)] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                            st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0, what)
    return out


def snapshot_diff(before, after):
    names = sorted(set(before) | set(after))
    return [n for n in names if before.get(n) != after.get(n)]


# ---- targets ----

class Target:
    """Where the suites run: `dir` (a new, empty directory), `fsx_file` (a
    file that comes from the root, or a plain copy of it), and `user`."""

    def __init__(self, name, user=False):
        self.name, self.user = name, user
        self.dir = self.fsx_file = None
        self.root_check = None  # (root target dir, snapshot) for a seedfs target
        self.cleanups = []

    def close(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep unmounting the rest
                print(f"conformance: cleanup of {self.name}: {e}", file=sys.stderr)
        self.cleanups = []


def seedfs_env(base):
    env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(base, "run"), XDG_STATE_HOME=os.path.join(base, "state"),
               XDG_CONFIG_HOME=os.path.join(base, "config"), HOME=base)
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    return env


def setup_plain(t, fs, uid_gid=None):
    base = os.path.join(fs, re.sub(r"\W+", "-", t.name))
    os.makedirs(base)
    t.dir = os.path.join(base, "work")
    os.makedirs(t.dir)
    root_project = os.path.join(base, "rootp")
    src = make_root(root_project)
    t.fsx_file = os.path.join(t.dir, "from-root.rlib")
    shutil.copy2(src, t.fsx_file)
    if uid_gid:
        chown_tree(base, *uid_gid)


def setup_overlayfs(t, fs, uid_gid=None):
    base = os.path.join(fs, re.sub(r"\W+", "-", t.name))
    lower, upper, work, mnt = (os.path.join(base, d) for d in ("rootp", "upper", "work", "mnt"))
    for d in (upper, work, mnt):
        os.makedirs(d)
    src = make_root(lower)
    if uid_gid:
        chown_tree(base, *uid_gid)
    before = snapshot(lower)
    cmd = ["fuse-overlayfs", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}", mnt]
    sh(as_user(cmd) if t.user else cmd)
    unmount = ["fusermount3", "-u", mnt] if t.user else ["umount", mnt]
    t.cleanups.append(lambda: sh(as_user(unmount) if t.user else unmount, check=False))
    t.dir = os.path.join(mnt, "work")
    mkdir = ["mkdir", t.dir]
    sh(as_user(mkdir) if t.user else mkdir)
    t.fsx_file = os.path.join(mnt, os.path.relpath(src, lower))
    t.root_check = (lower, before)


def setup_seedfs(t, fs, seedfs, mount_flags, uid_gid=None):
    base = os.path.join(fs, re.sub(r"\W+", "-", t.name))
    root, ws = os.path.join(base, "main"), os.path.join(base, "ws")
    os.makedirs(ws)
    src = make_root(root)
    env = seedfs_env(os.path.join(base, "home"))
    if uid_gid:
        chown_tree(base, *uid_gid)
    before = snapshot(os.path.join(root, "target"))
    cmd = [seedfs, "mount", root, ws, "--no-sync-mtimes"] + mount_flags
    p = subprocess.run(as_user(cmd) if t.user else cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise SystemExit(f"conformance: {' '.join(cmd)} failed:\n{p.stdout}")
    unmount = [seedfs, "unmount", ws]
    t.cleanups.append(lambda: sh(as_user(unmount) if t.user else unmount, env=env, check=False))
    t.env = env
    t.ws = ws
    t.dir = os.path.join(ws, "target", "conformance")
    mkdir = ["mkdir", t.dir]
    sh(as_user(mkdir) if t.user else mkdir)
    t.fsx_file = os.path.join(ws, "target", os.path.relpath(src, os.path.join(root, "target")))
    t.root_check = (os.path.join(root, "target"), before)


class CacheDropper:
    """Drops the kernel's dentries and inodes every `every` seconds while
    running: the kernel FORGETs what the view told it, and looks it up again."""

    def __init__(self, every=3.0):
        self.every, self.stop, self.drops = every, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(self.every):
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2")  # dentries and inodes (page cache stays: that is not the point)
            self.drops += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def still_live(t, seedfs):
    """A seedfs target's view must still be mounted when its suites end."""
    if not hasattr(t, "ws"):
        return True
    cmd = [seedfs, "status", t.ws, "--json"]
    p = subprocess.run(as_user(cmd) if t.user else cmd, env=t.env, stdout=subprocess.PIPE, text=True)
    return p.returncode == 0 and '"phase" : "done"' not in p.stdout


# ---- the suites ----

def run_pjdfstest(t, pjd, jobs):
    """prove's verdicts: files and tests run, and the failed tests by file."""
    cmd = ["prove", "-r", f"-j{jobs}", os.path.join(pjd, "tests")]
    start = time.perf_counter()
    # A user's view without allow_other is closed to root: the user's own
    # process changes into it, not this one.
    argv, cwd = (as_user(["env", f"--chdir={t.dir}"] + cmd), None) if t.user else (cmd, t.dir)
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    secs = time.perf_counter() - start
    m = re.search(r"Files=(\d+), Tests=(\d+)", p.stdout)
    files, tests = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if files == 0:  # nothing ran: a count of 0 failures would be a lie
        raise SystemExit(f"conformance: pjdfstest ran no tests on {t.name}:\n{p.stdout[-2000:]}")
    failed = parse_prove_failures(p.stdout, pjd)
    return {"files": files, "tests": tests, "failed": failed, "seconds": secs,
            "failed_tests": sum(len(v) for v in failed.values()), "log": p.stdout}


def parse_prove_failures(out, pjd):
    """{test file: set of failed test numbers} from prove's summary report."""
    failed, current = {}, None
    summary = out[out.find("Test Summary Report"):] if "Test Summary Report" in out else ""
    for line in summary.splitlines():
        m = re.match(r"^(\S+\.t)\s+\(Wstat: (\d+) Tests: (\d+) Failed: (\d+)\)", line)
        if m:
            current = os.path.relpath(m.group(1), os.path.join(pjd, "tests"))
            failed.setdefault(current, set())
            if int(m.group(2)) != 0:  # died: count the file as failed
                failed[current].add("exit")
            continue
        m = re.match(r"^\s+Failed tests?:\s+(.*)$", line)
        if m and current:
            for part in m.group(1).replace(" ", "").split(","):
                if "-" in part:
                    a, b = part.split("-")
                    failed[current].update(str(i) for i in range(int(a), int(b) + 1))
                elif part:
                    failed[current].add(part)
            continue
        m = re.match(r"^\s+(Parse errors|Non-zero exit status):", line)
        if m and current:
            failed[current].add(m.group(1).lower())
    return {f: t for f, t in failed.items() if t}  # a file listed only for a TODO that passed is fine


def run_fsx(t, fsx, ops, which):
    """fsx on a new file (which="new") or on the file from the root ("root", keeping its content)."""
    logdir = os.path.join(t.dir, f".fsx-{which}")
    mkdir = ["mkdir", "-p", logdir]
    sh(as_user(mkdir) if t.user else mkdir)
    path = os.path.join(t.dir, "fsx-new.bin") if which == "new" else t.fsx_file
    cmd = [fsx, "-N", str(ops), "-S", "7", "-P", logdir]
    if which == "root":
        cmd.append("-k")  # keep the root's bytes: the first write copies the file up
    cmd.append(path)
    p = subprocess.run(as_user(cmd) if t.user else cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # fsx probes each kind of operation first and leaves out what the target refuses.
    off = re.findall(r"does not support (?:fallocate mode )?(\S+(?: IO)?), disabling", p.stdout)
    return {"ok": p.returncode == 0, "ops": ops, "log": p.stdout[-3000:], "unsupported": off}


# ---- the run ----

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seedfs", default=os.path.join(HERE, "..", "build", "seedfs"))
    ap.add_argument("--pjdfstest", help="a built pjdfstest tree (its tests/ and pjdfstest binary)")
    ap.add_argument("--fsx", help="a built fsx binary (xfstests' ltp/fsx.c)")
    ap.add_argument("--fsx-ops", type=int, default=20000)
    ap.add_argument("--jobs", type=int, default=2, help="prove -j")
    ap.add_argument("--targets", nargs="+", help="only these (names as in the table)")
    ap.add_argument("--workdir", default=os.environ.get("BENCH_DIR", "/var/tmp"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not a.pjdfstest and not a.fsx:
        raise SystemExit("conformance: give --pjdfstest DIR and/or --fsx BIN (see --help)")
    seedfs = os.path.abspath(a.seedfs)
    # The suites run in each target's dir: relative paths would not be found there.
    a.pjdfstest = a.pjdfstest and os.path.abspath(a.pjdfstest)
    a.fsx = a.fsx and os.path.abspath(a.fsx)
    uid_gid = ensure_user(USER)

    kept, materializing = ["--keep-mounted"], ["--rate", "0.2", "--priority", "normal"]
    plan = []
    for user in (False, True):
        ids = uid_gid if user else None
        suffix = " as a user" if user else ""
        plan += [
            ("ext4" + suffix, user, lambda t, fs, ids=ids: setup_plain(t, fs, ids)),
            ("fuse-overlayfs" + suffix, user, lambda t, fs, ids=ids: setup_overlayfs(t, fs, ids)),
            ("seedfs kept" + suffix, user, lambda t, fs, ids=ids: setup_seedfs(t, fs, seedfs, kept, ids)),
            ("seedfs materializing" + suffix, user,
             lambda t, fs, ids=ids: setup_seedfs(t, fs, seedfs, materializing, ids)),
            ("seedfs dropped caches" + suffix, user, lambda t, fs, ids=ids: setup_seedfs(t, fs, seedfs, kept, ids)),
        ]
    if a.targets:
        plan = [p for p in plan if p[0] in a.targets]
    if not shutil.which("fuse-overlayfs"):
        plan = [p for p in plan if not p[0].startswith("fuse-overlayfs")]
        print("conformance: fuse-overlayfs is not installed; its column is left out", file=sys.stderr)

    results = {}
    started = time.perf_counter()
    with fresh_fs(a.workdir, 8, a.keep) as fs, dev_fuse_open_to_all():
        for d in (fs, os.path.dirname(fs)):  # the test user walks into it
            os.chmod(d, 0o755)
        for name, user, setup in plan:
            t = Target(name, user)
            r = {}
            try:
                setup(t, fs)
                print(f"conformance: {name} ...", file=sys.stderr, flush=True)
                dropper = CacheDropper() if "dropped caches" in name else contextlib.nullcontext()
                with dropper:
                    if a.pjdfstest:
                        r["pjdfstest"] = run_pjdfstest(t, a.pjdfstest, a.jobs)
                    if a.fsx:
                        r["fsx new file"] = run_fsx(t, a.fsx, a.fsx_ops, "new")
                        r["fsx root file"] = run_fsx(t, a.fsx, a.fsx_ops, "root")
                if isinstance(dropper, CacheDropper):
                    r["drops"] = dropper.drops
                r["live"] = still_live(t, seedfs)
            except (SystemExit, subprocess.CalledProcessError) as e:  # one target's failure is a cell
                print(f"conformance: {name}: {e}", file=sys.stderr)
                r = {"error": str(e).splitlines()[0]}
            finally:
                t.close()
            if t.root_check:
                top, before = t.root_check
                r["root changed"] = snapshot_diff(before, snapshot(top))
            results[name] = r
    report(results, time.perf_counter() - started)


def report(results, seconds):
    names = list(results)
    print(f"\nconformance run of {seconds / 60:.1f} min\n")
    print("| suite | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))

    def row(title, cell):
        print(f"| {title} | " + " | ".join("error" if "error" in results[n] else cell(results[n])
                                           for n in names) + " |")

    ok = [r for r in results.values() if "error" not in r]
    if any("pjdfstest" in r for r in ok):
        row("pjdfstest: test files failed / run",
            lambda r: f"{len(r['pjdfstest']['failed'])} / {r['pjdfstest']['files']}")
        row("pjdfstest: tests failed / run",
            lambda r: f"{r['pjdfstest']['failed_tests']} / {r['pjdfstest']['tests']}")
        row("pjdfstest: minutes", lambda r: f"{r['pjdfstest']['seconds'] / 60:.1f}")
    for suite in ("fsx new file", "fsx root file"):
        if any(suite in r for r in ok):
            row(f"{suite}: {next(r[suite]['ops'] for r in ok if suite in r)} ops",
                lambda r, s=suite: "pass" if r[s]["ok"] else "FAIL")
    if any("fsx new file" in r for r in ok):
        row("fsx: operations the target refuses",
            lambda r: ", ".join(x.replace("FALLOC_FL_", "") for x in r["fsx new file"]["unsupported"]) or "none")
    row("view live to the end", lambda r: "yes" if r["live"] else "NO")
    if any("drops" in r for r in ok):
        row("caches dropped", lambda r: str(r["drops"]) if "drops" in r else "-")
    row("root unchanged", lambda r: ("yes" if not r["root changed"] else f"NO ({len(r['root changed'])})")
        if "root changed" in r else "-")

    print("\nFailing on a seedfs target where ext4 passes (as the same user):")
    any_listed = False
    for n in names:
        if not n.startswith("seedfs"):
            continue
        base = results.get("ext4 as a user" if "as a user" in n else "ext4")
        if base and "error" in base:
            base = None
        r = results[n]
        if "error" in r:
            any_listed = True
            print(f"  {n}: could not run: {r['error']}")
            continue
        if "pjdfstest" in r:
            ref = base["pjdfstest"]["failed"] if base else {}
            for f, tests in sorted(r["pjdfstest"]["failed"].items()):
                extra = sorted(tests - ref.get(f, set()), key=lambda x: (len(x), x))
                if extra:
                    any_listed = True
                    print(f"  {n}: pjdfstest {f}: {', '.join(extra)}")
        for suite in ("fsx new file", "fsx root file"):
            if suite in r and not r[suite]["ok"] and (not base or base[suite]["ok"]):
                any_listed = True
                print(f"  {n}: {suite}:\n" + "\n".join("      " + l for l in r[suite]["log"].splitlines()[-15:]))
        if r.get("root changed"):
            any_listed = True
            print(f"  {n}: the root changed: {', '.join(r['root changed'][:10])}")
    if not any_listed:
        print("  none")


if __name__ == "__main__":
    main()

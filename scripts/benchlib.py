"""What the benchmark scripts share: running commands, timing, medians, and a
fresh ext4 to measure on."""
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def sh(cmd, env=None, quiet=True, check=True, cwd=None):
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(cmd, env=env, stdout=out, stderr=out, check=check, cwd=cwd)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read_file(path):
    """Reads `path` to the end in 1 MiB reads, unbuffered (a sequential reader)."""
    buf = bytearray(1 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def median(xs):
    return statistics.median(xs) if xs else float("nan")


MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F", "-N", "12000000"],
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],  # reflinks
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
}


@contextlib.contextmanager
def fresh_fs(workdir, size_gb, keep, fs_type="ext4"):
    """A new filesystem (ext4 unless told) on a loop device, or a temp dir when
    that is not possible or `fs_type` is "own" (the machine's own disk)."""
    base = tempfile.mkdtemp(prefix="seedfs-bench-", dir=workdir)
    img, mnt = os.path.join(base, "fs.img"), os.path.join(base, "mnt")
    os.makedirs(mnt)
    mounted = False
    try:
        if fs_type == "own":
            pass
        elif os.geteuid() == 0:
            with open(img, "wb") as f:
                f.truncate(size_gb << 30)
            sh(MKFS[fs_type] + [img])
            sh(["mount", "-o", "loop", img, mnt])
            mounted = True
        else:
            print("bench: not root: measuring on the ordinary disk, where earlier deletions "
                  "can slow mkdir down", file=sys.stderr)
        yield mnt
    finally:
        if mounted:
            subprocess.run(["umount", "-l", mnt])
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def add_place_args(ap):
    """--fs and --cross-fs: where a benchmark puts its roots and its workspaces."""
    ap.add_argument("--fs", choices=["ext4", "xfs", "btrfs", "own"], default="ext4",
                    help="a fresh loop image of this kind (xfs and btrfs reflink), or own: the machine's disk")
    ap.add_argument("--cross-fs", action="store_true",
                    help="the workspaces on a second filesystem of the same kind: every file is copied")


@contextlib.contextmanager
def places(a, size_gb):
    """(roots' dir, workspaces' dir) as --fs and --cross-fs ask: one
    filesystem for both, or two."""
    with fresh_fs(a.workdir, size_gb, a.keep, a.fs) as fs, \
            (fresh_fs(a.workdir, size_gb, a.keep, a.fs) if a.cross_fs else contextlib.nullcontext(fs)) as ws_fs:
        yield fs, ws_fs


def place_text(a):
    """The places, as the tables' headings name them."""
    where = f"fresh {a.fs}" if a.fs != "own" else "the machine's own disk"
    return where + (", workspaces on a second one" if a.cross_fs else "")


def ensure_user(name):
    """(uid, gid) of the system user `name`, made if missing (root only)."""
    import pwd
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        sh(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name])
        pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


@contextlib.contextmanager
def dev_fuse_open_to_all():
    """/dev/fuse at 0666 (Debian's default; 0600 on some machines) while in
    use, for a user's fusermount3; its mode put back after."""
    mode = os.stat("/dev/fuse").st_mode & 0o7777
    os.chmod("/dev/fuse", 0o666)
    try:
        yield
    finally:
        os.chmod("/dev/fuse", mode)


def as_user(user, cmd, env=None):
    """`cmd` run as `user`: with exactly `env` (a dict) if given, else with
    the caller's environment."""
    if env is None:
        return ["runuser", "-u", user, "--"] + list(cmd)
    return ["runuser", "-u", user, "--", "env", "-i"] + [f"{k}={v}" for k, v in env.items()] + list(cmd)


def chown_tree(path, uid, gid):
    """`path` and everything below to uid:gid, links themselves, never their targets."""
    os.lchown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)

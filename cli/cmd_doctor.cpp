// `seedfs doctor [root] [ws]`: what seedfs will do on this machine, found out
// before anyone relies on it. Each check is a short function that returns one
// finding (OK, WARN, FAIL or SKIP) and, where something is wrong, the fix.
//
// Doctor reads; it never writes in the root (DESIGN.md, invariant 1: not a
// byte, name, mode or mtime, not even a lock file). The only thing it
// creates is the reflink probe's temp file, in the workspace's filesystem,
// nameless (O_TMPFILE) where the filesystem can, else unlinked at once.
#include <linux/fs.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include "cargo/metadata.hpp"
#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "fs/mount.hpp"
#include "git/checkout.hpp"
#include "git/hook.hpp"
#include "seeding/build_lock.hpp"
#include "seeding/seeder.hpp"
#include "seeding/sys.hpp"

namespace seedfs::cli {
namespace {

enum class Status { ok, warn, fail, skip };

const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "OK";
    case Status::warn: return "WARN";
    case Status::fail: return "FAIL";
    case Status::skip: return "SKIP";
  }
  return "?";
}

struct Check {
  std::string name;
  Status status = Status::ok;
  std::string message;
  std::string fix;  // a command or a config key; for WARN and FAIL
};

Check ok(std::string name, std::string msg) { return {std::move(name), Status::ok, std::move(msg), {}}; }
Check skip(std::string name, std::string msg) { return {std::move(name), Status::skip, std::move(msg), {}}; }
Check warn(std::string name, std::string msg, std::string fix) {
  return {std::move(name), Status::warn, std::move(msg), std::move(fix)};
}
Check fail(std::string name, std::string msg, std::string fix) {
  return {std::move(name), Status::fail, std::move(msg), std::move(fix)};
}

std::string user_name(uid_t uid) {
  const passwd* pw = ::getpwuid(uid);
  return pw ? pw->pw_name : "uid " + std::to_string(uid);
}

// ---------------------------------------------------------------- machine

// The daemon opens /dev/fuse itself (root) or through fusermount3 (users);
// both need it read-write (fs::fuse_unavailable is what `mount` refuses on).
Check check_dev_fuse() {
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return ok("fuse_device", "/dev/fuse opens read-write for this user");
  }
  int err = errno;
  if (err == ENOENT)
    return fail("fuse_device", "/dev/fuse does not exist: no FUSE here, `seedfs mount` exits 5 (`seedfs seed` works)",
                "sudo modprobe fuse (in a container: docker run --device /dev/fuse --cap-add SYS_ADMIN)");
  struct stat st {};
  char mode[64] = "";
  if (::stat("/dev/fuse", &st) == 0)
    std::snprintf(mode, sizeof mode, " (mode %04o, owner %s)", st.st_mode & 07777, user_name(st.st_uid).c_str());
  return fail("fuse_device",
              std::string("/dev/fuse: ") + std::strerror(err) + mode +
                  ": FUSE needs it read-write, `seedfs mount` exits 5 (`seedfs seed` works)",
              "sudo chmod 0666 /dev/fuse (Debian's default; a udev rule KERNEL==\"fuse\", MODE=\"0666\" keeps it)");
}

// fusermount3 on PATH, else where Debian puts it.
std::optional<stdfs::path> find_fusermount() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(std::string(path ? path : "") + ":/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    if (d.empty()) continue;
    stdfs::path p = stdfs::path(d) / "fusermount3";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

// A user's daemon mounts and unmounts through fusermount3, which must be
// setuid root to call mount(2); root calls it directly.
Check check_fusermount() {
  bool root = ::geteuid() == 0;
  auto p = find_fusermount();
  if (!p) {
    if (root) return ok("fusermount3", "not installed; not needed as root (users need it: apt install fuse3)");
    return fail("fusermount3", "fusermount3 is not installed: a user cannot mount FUSE without it",
                "sudo apt install fuse3");
  }
  struct stat st {};
  if (::stat(p->c_str(), &st) != 0 || st.st_uid != 0 || !(st.st_mode & S_ISUID)) {
    if (root) return ok("fusermount3", p->string() + " is not setuid root; not needed as root");
    return fail("fusermount3", p->string() + " is not setuid root: a user's mount fails with EPERM",
                "sudo chmod u+s " + p->string() + " (or reinstall: sudo apt install --reinstall fuse3)");
  }
  return ok("fusermount3", p->string() + " (setuid root)" + (root ? "; not needed as root" : ""));
}

// Whether this process may hand backing files to the kernel: CAP_SYS_ADMIN,
// effective, in the initial user namespace.
bool has_init_sys_admin() {
  std::ifstream status("/proc/self/status");
  bool cap = false;
  for (std::string line; std::getline(status, line);)
    if (line.rfind("CapEff:", 0) == 0) cap = (std::stoull(line.substr(7), nullptr, 16) >> 21) & 1;
  std::ifstream map("/proc/self/uid_map");
  uint64_t inside = 1, outside = 1, count = 0;
  map >> inside >> outside >> count;
  return cap && inside == 0 && outside == 0 && count == 4294967295ull;
}

// FUSE passthrough (fs/passthrough.hpp): the kernel reads big files itself
// instead of asking the daemon. The daemon asks for it only as root
// (fs/artifact_mount.cpp); without it everything still works, more slowly
// for big files read before they are materialized. Never a WARN: there is
// nothing a user should change for it.
Check check_passthrough() {
  utsname u{};
  ::uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  std::string kernel = std::string("kernel ") + u.release;
  if (major < 6 || (major == 6 && minor < 9))
    return ok("passthrough", kernel + " has no FUSE passthrough (6.9+): the daemon serves reads through the "
                                      "view itself, slower for big files until they are materialized");
  if (::geteuid() != 0)
    return ok("passthrough", kernel + " has FUSE passthrough, but only CAP_SYS_ADMIN may use it: as " +
                                 user_name(::geteuid()) + ", the daemon serves reads itself (slower for big files "
                                 "until they are materialized)");
  if (!has_init_sys_admin())
    return ok("passthrough", kernel + ": root without CAP_SYS_ADMIN in the initial namespace (a container?): "
                                      "the kernel refuses passthrough, the daemon serves reads itself");
  return ok("passthrough", kernel + ", root: files of 64 KiB and more are read by the kernel directly (passthrough)");
}

// "\040" in /proc/self/mountinfo is a space, and so on.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// This user's seedfs mounts (user_id=<uid> in the mount options, as the
// kernel records who mounted a FUSE fs): a dead one (daemon killed, statfs
// fails with ENOTCONN) makes every access to that dir fail.
Check check_mounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::string me = "user_id=" + std::to_string(::getuid());
  std::vector<std::string> live, dead;
  for (std::string line; std::getline(in, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, opts;
    tail >> fstype >> source >> opts;
    if (fstype != "fuse.seedfs") continue;
    if (("," + opts + ",").find("," + me + ",") == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mnt;
    head >> id >> parent >> dev >> root >> mnt;
    mnt = unescape(mnt);
    (fs::is_dead_mount(mnt) ? dead : live).push_back(mnt);
  }
  if (!dead.empty()) {
    std::string where, fix;
    for (const auto& m : dead) {
      where += (where.empty() ? "" : ", ") + m;
      fix += std::string(fix.empty() ? "" : "; ") + "seedfs unmount " + stdfs::path(m).parent_path().string();
    }
    return fail("mounts",
                "dead seedfs mount" + std::string(dead.size() > 1 ? "s" : "") + " at " + where +
                    " (the daemon is gone: every access there fails with ENOTCONN); `seedfs mount` of that "
                    "workspace also clears it and resumes",
                fix);
  }
  if (live.empty()) return ok("mounts", "no seedfs mounts of this user");
  std::string where;
  for (const auto& m : live) where += (where.empty() ? "" : ", ") + m;
  return ok("mounts", std::to_string(live.size()) + " live seedfs mount" + (live.size() > 1 ? "s" : "") + ": " +
                          where + " (seedfs status)");
}

Check check_cargo(bool& found) {
  auto r = sys::run_program({"cargo", "--version"}, sys::environment_without({}));
  found = r.ok();
  if (found) return ok("cargo", r.out.substr(0, r.out.find('\n')));
  return warn("cargo",
              r.why() + ": seedfs takes the artifact dirs from the config (target/) and cannot see "
                        "CARGO_TARGET_DIR or build.target-dir",
              "put cargo on PATH (rustup: ~/.cargo/bin)");
}

// ---------------------------------------------------------------- project

stdfs::path normal(const stdfs::path& p) {
  std::error_code ec;
  auto c = stdfs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

// Both checkouts building into one dir (one CARGO_TARGET_DIR for both):
// `mount` refuses, since their builds share everything already.
Check check_target_dir(const Projects& p, bool cargo_found, bool& shared) {
  if (!cargo_found) return skip("cargo_target_dir", "no cargo: the artifact dirs come from the config");
  auto ws_lookup = std::async(std::launch::async, [&] { return cargo::locate(p.ws); });
  cargo::Lookup root = cargo::locate(p.root);
  cargo::Lookup ws = ws_lookup.get();
  if (!root.dirs) return skip("cargo_target_dir", "the root is no cargo project (" + root.why + ")");
  stdfs::path rd = normal(root.dirs->build_dir);
  if (!ws.dirs)
    return ok("cargo_target_dir", "the root builds in " + rd.string() + "; the workspace is no cargo project yet");
  stdfs::path wd = normal(ws.dirs->build_dir);
  const char* env = std::getenv("CARGO_TARGET_DIR");
  if (rd == wd) {
    shared = true;
    return fail("cargo_target_dir",
                "the root and the workspace both build in " + rd.string() +
                    (env && *env ? " (CARGO_TARGET_DIR=" + std::string(env) + ")"
                                 : " (build.target-dir or build.build-dir names one dir for both)") +
                    ": their builds share it already, `seedfs mount` refuses (exit 3)",
                "unset CARGO_TARGET_DIR, or give each checkout its own (build.target-dir in its .cargo/config.toml)");
  }
  return ok("cargo_target_dir", "the root builds in " + rd.string() + ", the workspace in " + wd.string());
}

// CARGO_HOME as a checkout's .cargo/config.toml sets it ([env] CARGO_HOME),
// "" if it does not (or cannot be read: cargo would say so itself).
std::string configured_cargo_home(const stdfs::path& project) {
  for (const char* name : {".cargo/config.toml", ".cargo/config"}) {
    std::error_code ec;
    if (!stdfs::is_regular_file(project / name, ec)) continue;
    try {
      toml::table t = toml::parse_file((project / name).string());
      if (auto s = t["env"]["CARGO_HOME"].value<std::string>()) return *s;
      if (auto s = t["env"]["CARGO_HOME"]["value"].value<std::string>()) return *s;
    } catch (const toml::parse_error&) {
    }
    return "";
  }
  return "";
}

// cargo identifies a registry crate by its path under CARGO_HOME: a checkout
// with another CARGO_HOME finds none of the root's dependencies fresh.
Check check_cargo_home(const Projects& p) {
  std::string root = configured_cargo_home(p.root), ws = configured_cargo_home(p.ws);
  if (root != ws)
    return warn("cargo_home",
                "CARGO_HOME differs: [env] in the root's .cargo/config.toml says '" + root + "', the workspace's '" +
                    ws + "': registry paths in the fingerprints differ, every dependency rebuilds in the workspace",
                "one CARGO_HOME for both: the same [env] CARGO_HOME in both .cargo/config.toml, or none");
  const char* env = std::getenv("CARGO_HOME");
  std::string home = !root.empty() ? root + " ([env] of both checkouts)"
                     : env && *env ? std::string(env) + " (CARGO_HOME)"
                                   : "~/.cargo";
  return ok("cargo_home", "one CARGO_HOME for both, " + home + ": the root's dependencies stay fresh in the workspace");
}

// What a dry run of the seeder says about one artifact: only metadata is read.
struct Weight {
  std::optional<seeding::Stats> stats;
  std::string error;
};

Weight weigh(const ArtifactDirs& a) {
  Weight w;
  std::error_code ec;
  sys::UniqueFd root = sys::open_dir(AT_FDCWD, a.root_dir.c_str(), ec);
  if (!root) return w.error = sys::describe(a.root_dir.string(), ec), w;
  seeding::Options opts;
  opts.dry_run = true;
  opts.workers = 2;
  seeding::Seeder seeder(std::move(root), sys::UniqueFd(), *a.artifact, opts);
  if (auto failure = seeder.run()) return w.error = failure->to_string(), w;
  w.stats = seeder.stats();
  return w;
}

// The nearest existing dir at or above the workspace dir, never inside a
// seedfs view over it: where the workspace's files will really be.
stdfs::path ws_real_dir(const ArtifactDirs& a) {
  stdfs::path p = a.ws_dir;
  if (auto m = fs::mount_at(p.string()); m && m->fstype == "fuse.seedfs") p = p.parent_path();
  std::error_code ec;
  while (!p.empty() && p != p.root_path() && !stdfs::is_directory(p, ec)) p = p.parent_path();
  return p.empty() ? stdfs::path("/") : p;
}

std::string fs_name(const stdfs::path& p, dev_t* dev = nullptr) {
  struct statfs sf {};
  struct stat st {};
  if (::statfs(p.c_str(), &sf) != 0 || ::stat(p.c_str(), &st) != 0) return "unknown";
  if (dev) *dev = st.st_dev;
  switch (static_cast<uint32_t>(sf.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0xF2F52010: return "f2fs";
    case 0xCA451A4E: return "bcachefs";
    case 0x6969: return "nfs";
    case 0xFF534D42: return "cifs";
    case 0xFE534D42: return "smb2";
    case 0x65735546: return "fuse";
    case 0x73717368: return "squashfs";
    case 0xF15F: return "ecryptfs";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sf.f_type));
  return buf;
}

// A regular file of the root to probe with (the first found, a non-empty
// one preferred), or "" if the walk finds none within a few thousand entries.
stdfs::path sample_file(const stdfs::path& root) {
  std::error_code ec;
  stdfs::path empty;
  int budget = 5000;
  for (auto it = stdfs::recursive_directory_iterator(root, stdfs::directory_options::skip_permission_denied, ec);
       !ec && it != stdfs::recursive_directory_iterator() && budget-- > 0; it.increment(ec)) {
    std::error_code e;
    if (!it->is_regular_file(e) || it->is_symlink(e)) continue;
    if (it->file_size(e) > 0) return it->path();
    if (empty.empty()) empty = it->path();
  }
  return empty;
}

// What the workspace's filesystem can do with the root's files.
struct Facts {
  std::string root_fs, ws_fs;
  bool same_fs = false;
  bool reflink = false;
  bool protected_links = false;  // the kernel refuses hardlinks of the root's files to this user
  stdfs::path ws_dir;            // where the probe and the free space are looked at
  stdfs::path sample;
};

Check check_filesystem(const ArtifactDirs& a, Facts& f, const Weight& w) {
  dev_t rdev = 0, wdev = 1;
  f.ws_dir = ws_real_dir(a);
  f.root_fs = fs_name(a.root_dir, &rdev);
  f.ws_fs = fs_name(f.ws_dir, &wdev);
  f.same_fs = rdev == wdev;
  std::string name = a.artifact->name;
  if (f.same_fs)
    return ok("filesystem", name + ": root and workspace on one " + f.root_fs +
                                " filesystem: libraries are hardlinked, the rest copied");
  std::string what = w.stats ? " (" + bytes(w.stats->bytes) + " by the rules)" : "";
  return warn("filesystem",
              name + ": the root is on " + f.root_fs + " (" + a.root_dir.string() + "), the workspace on another " +
                  f.ws_fs + " (" + f.ws_dir.string() + "): no hardlinks across filesystems, every file is copied" +
                  what,
              "put the workspace on the root's filesystem (e.g. git worktree add beside the root)");
}

// FICLONE from a root file into a temp file on the workspace's filesystem.
// The root file is opened read-only and nothing else is done to it.
Check check_reflink(const ArtifactDirs& a, Facts& f) {
  std::string name = a.artifact->name;
  if (f.sample.empty()) return skip("reflink", name + ": no file in the root to probe with");
  int src = ::open(f.sample.c_str(), O_RDONLY | O_NOATIME | O_CLOEXEC);
  if (src < 0) src = ::open(f.sample.c_str(), O_RDONLY | O_CLOEXEC);  // O_NOATIME: owner only
  if (src < 0)
    return skip("reflink", name + ": cannot open " + sys::describe(f.sample.string(), sys::last_error()));
  sys::UniqueFd src_fd(src);
  // No name at all where the filesystem allows; else a name unlinked at once.
  sys::UniqueFd dst(::open(f.ws_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!dst) {
    std::string tmpl = (f.ws_dir / ".seedfs-doctor-XXXXXX").string();
    dst.reset(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (dst) ::unlink(tmpl.c_str());
  }
  if (!dst)
    return skip("reflink", name + ": cannot create a temp file in " +
                               sys::describe(f.ws_dir.string(), sys::last_error()));
  int err = ::ioctl(dst.get(), FICLONE, src_fd.get()) == 0 ? 0 : errno;
  f.reflink = err == 0;
  if (f.reflink)
    return ok("reflink", name + ": reflinks work (" + f.ws_fs + "): copies share the root's blocks and cost no space");
  if (err == EXDEV) return ok("reflink", name + ": no reflinks across filesystems: copies are real copies");
  return ok("reflink", name + ": " + f.ws_fs + " has no reflinks (" + std::strerror(err) +
                           "): copies are real copies (most are small: fingerprints, build-script output)");
}

// fs.protected_hardlinks = 1: the kernel lets a user hardlink only files it
// owns or may read and write. seedfs then copies instead, as for EXDEV.
Check check_protected_hardlinks(const ArtifactDirs& a, Facts& f, const Weight& w) {
  std::string name = a.artifact->name;
  std::ifstream in("/proc/sys/fs/protected_hardlinks");
  int on = 0;
  in >> on;
  if (!on) return ok("protected_hardlinks", "fs.protected_hardlinks = 0: hardlinks of any readable file are allowed");
  if (::geteuid() == 0) return ok("protected_hardlinks", "fs.protected_hardlinks = 1; root may link any file");
  struct stat st {};
  stdfs::path probe = f.sample.empty() ? a.root_dir : f.sample;
  if (::stat(probe.c_str(), &st) != 0 || st.st_uid == ::geteuid() || ::access(probe.c_str(), R_OK | W_OK) == 0)
    return ok("protected_hardlinks", name + ": fs.protected_hardlinks = 1, and the root's files are yours: "
                                            "hardlinks allowed");
  f.protected_links = true;
  std::string what = w.stats ? " (" + bytes(w.stats->bytes) + ")" : "";
  return warn("protected_hardlinks",
              name + ": fs.protected_hardlinks = 1 and the root's files belong to " + user_name(st.st_uid) +
                  ": the kernel refuses to hardlink them for " + user_name(::geteuid()) +
                  ", every file is copied" + what,
              "run seedfs as " + user_name(st.st_uid) +
                  ", or sudo sysctl fs.protected_hardlinks=0 (weakens a protection system-wide)");
}

// cargo holds its lock files for a whole build: `mount` refuses then (exit 4).
Check check_build_lock(const ArtifactDirs& a) {
  std::error_code ec;
  sys::UniqueFd dir = sys::open_dir(AT_FDCWD, a.root_dir.c_str(), ec);
  if (!dir) return skip("build_lock", "cannot open " + sys::describe(a.root_dir.string(), ec));
  if (auto held = seeding::held_build_lock(dir.get()))
    return warn("build_lock",
                a.artifact->name + ": a build in the root holds " + (a.root_dir / *held).string() +
                    " right now: `seedfs mount` and `seedfs seed` refuse (exit 4) until it ends",
                "wait for the build to finish, or seedfs mount --force (T0 then falls inside that build)");
  return ok("build_lock", a.artifact->name + ": no build running in the root");
}

// The bytes the rules copy (all of them where no hardlink can be made; none
// of the data where reflinks work) against the workspace's free space.
Check check_free_space(const ArtifactDirs& a, const Facts& f, const Weight& w, bool hardlinks) {
  std::string name = a.artifact->name;
  if (!w.stats) return fail("free_space", name + ": cannot weigh the root: " + w.error,
                            "make the root readable to this user (seedfs reads every file of it)");
  const seeding::Stats& s = *w.stats;
  struct statvfs sv {};
  if (::statvfs(f.ws_dir.c_str(), &sv) != 0)
    return skip("free_space", name + ": " + sys::describe(f.ws_dir.string(), sys::last_error()));
  uint64_t avail = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  bool links = hardlinks && f.same_fs && !f.protected_links;
  uint64_t need = f.reflink ? 0 : links ? s.copy_bytes : s.bytes;
  std::string plan = count(s.files_found) + " files, " + bytes(s.bytes) + "; " +
                     (f.reflink   ? "copies are reflinks, they take no data blocks"
                      : links     ? bytes(s.copy_bytes) + " of it copied, the rest hardlinked"
                                  : "all of it copied") +
                     "; " + bytes(avail) + " free on " + f.ws_dir.string();
  if (avail < need)
    return fail("free_space", name + ": " + plan + ": not enough for " + bytes(need) + " of copies",
                "free " + bytes(need - avail) + " or more on " + f.ws_dir.string());
  if (avail < 2 * need)
    return warn("free_space", name + ": " + plan + ": less than twice the " + bytes(need) + " of copies",
                "free space on " + f.ws_dir.string() + " before builds in the workspace need it");
  return ok("free_space", name + ": " + plan);
}

// The post-checkout hook's own line: exec '<seedfs>' mount --from-hook.
std::optional<stdfs::path> hook_binary(const stdfs::path& hook) {
  std::ifstream in(hook);
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find("exec '");
    if (at == std::string::npos || line.find("mount --from-hook") == std::string::npos) continue;
    std::string out;
    for (size_t i = at + 6; i < line.size();) {
      if (line.compare(i, 4, "'\\''") == 0) out += '\'', i += 4;
      else if (line[i] == '\'') return out;
      else out += line[i++];
    }
  }
  return std::nullopt;
}

// The hook (git/hook.hpp) is optional; one that names a seedfs binary that
// is gone makes every `git worktree add` print an error and seed nothing.
Check check_hook(const git::Checkout& c) {
  std::string why;
  stdfs::path dir = git::hooks_dir(c, why);
  if (dir.empty()) return skip("hook", why);
  stdfs::path hook = dir / "post-checkout", chained = hook.string() + ".seedfs-chained";
  std::error_code ec;
  std::string install = "seedfs hook install " + c.top.string();
  if (!stdfs::exists(hook, ec))
    return ok("hook", "not installed: new worktrees are seeded by `seedfs mount` only (`" + install +
                          "` does it for every `git worktree add`)");
  if (!git::is_our_hook(hook))
    return ok("hook", hook.string() + " is someone else's post-checkout hook; `" + install +
                          "` keeps it and runs it first");
  if (::access(hook.c_str(), X_OK) != 0)
    return fail("hook", hook.string() + " is not executable: git skips it, no worktree is seeded", install);
  auto bin = hook_binary(hook);
  if (!bin) return fail("hook", hook.string() + " names no seedfs binary (damaged?)", install);
  if (::access(bin->c_str(), X_OK) != 0)
    return fail("hook",
                hook.string() + " runs " + bin->string() + ", which " +
                    (stdfs::exists(*bin, ec) ? "is not executable" : "does not exist") +
                    ": every `git worktree add` prints an error and seeds nothing",
                install);
  std::string msg = "installed: " + hook.string() + " runs " + bin->string();
  if (stdfs::exists(chained, ec)) {
    if (::access(chained.c_str(), X_OK) != 0)
      return warn("hook", msg + "; the hook it chains, " + chained.string() + ", is not executable: it is skipped",
                  "chmod +x " + chained.string());
    msg += ", after the hook it chains (" + chained.string() + ")";
  }
  return ok("hook", msg);
}

// ---------------------------------------------------------------- report

void print_human(const std::vector<Check>& checks, const std::string& head, int fails, int warns) {
  std::cout << head << "\n";
  for (const auto& c : checks) {
    char line[64];
    std::snprintf(line, sizeof line, "%-4s  %-19s ", to_string(c.status), c.name.c_str());
    std::cout << line << c.message << "\n";
    if (!c.fix.empty() && (c.status == Status::warn || c.status == Status::fail))
      std::cout << std::string(26, ' ') << "fix: " << c.fix << "\n";
  }
  if (!fails && !warns) std::cout << "all good: seedfs will work here as described\n";
  else
    std::cout << fails << (fails == 1 ? " failure, " : " failures, ") << warns
              << (warns == 1 ? " warning" : " warnings") << (fails ? ": fix the FAIL lines first\n" : "\n");
}

}  // namespace

int cmd_doctor(const DoctorArgs& args) {
  std::vector<Check> checks;
  checks.push_back(check_dev_fuse());
  checks.push_back(check_fusermount());
  checks.push_back(check_passthrough());
  checks.push_back(check_mounts());
  bool cargo_found = false;
  checks.push_back(check_cargo(cargo_found));

  const char* project_checks[] = {"cargo_target_dir", "cargo_home", "config",  "artifacts",  "filesystem",
                                  "reflink",          "protected_hardlinks",    "build_lock", "free_space"};
  Projects projects;
  std::string head;
  std::optional<git::Checkout> checkout;
  if (auto e = find_projects(args.root, args.ws, projects)) {
    // Given dirs that are wrong are a failure; defaults that cannot be found
    // (run outside a linked worktree) leave the project checks out.
    bool given = args.root || args.ws;
    checks.push_back(given ? fail("projects", e->message, "seedfs doctor <root> <ws>")
                           : skip("projects", e->message));
    for (const char* n : project_checks) checks.push_back(skip(n, "no root and workspace (see projects)"));
    head = "seedfs doctor: this machine" + std::string(given ? "" : " (no <root> <ws>: project checks skipped)");
    std::error_code ec;
    std::string why;
    checkout = git::checkout_of(args.ws ? *args.ws : stdfs::current_path(ec), why);
  } else {
    head = "seedfs doctor: " + projects.root.string() + " -> " + projects.ws.string();
    checks.push_back(ok("projects", "root " + projects.root.string() + ", workspace " + projects.ws.string()));
    bool shared = false;
    checks.push_back(check_target_dir(projects, cargo_found, shared));
    checks.push_back(check_cargo_home(projects));
    config::Config cfg;
    std::vector<ArtifactDirs> dirs;
    if (auto ce = load_config(args.common.config_file, projects.ws, projects.root, cfg)) {
      checks.push_back(fail("config", ce->message, "seedfs config --root " + projects.root.string() + " --ws " +
                                                       projects.ws.string() + " (then fix that key)"));
    } else {
      checks.push_back(ok("config", cfg.source == config::kBuiltin ? "built-in defaults (no config file)"
                                                                    : "read " + cfg.source));
      if (!cfg.hardlinks) cfg.drop_hardlinks();
      if (auto se = select_artifacts(cfg, projects, std::nullopt, dirs)) {
        if (shared) checks.push_back(skip("artifacts", "both build in one dir (see cargo_target_dir)"));
        else
          checks.push_back(fail("artifacts", se->message,
                                se->message.find("build the root first") != std::string::npos
                                    ? "cd " + projects.root.string() + " && cargo build"
                                    : "seedfs doctor <root> <ws> with a built root and a separate workspace"));
        dirs.clear();
      } else {
        for (const auto& a : dirs)
          checks.push_back(ok("artifacts", a.artifact->name + ": " + a.root_dir.string() + " -> " +
                                               a.ws_dir.string() + " (dirs from " + a.found_by + ")"));
      }
    }
    if (dirs.empty())
      for (const char* n : {"filesystem", "reflink", "protected_hardlinks", "build_lock", "free_space"})
        checks.push_back(skip(n, "no artifact to seed (see above)"));
    for (const auto& a : dirs) {
      Weight w = weigh(a);
      Facts f;
      checks.push_back(check_filesystem(a, f, w));
      f.sample = sample_file(a.root_dir);
      checks.push_back(check_reflink(a, f));
      checks.push_back(check_protected_hardlinks(a, f, w));
      checks.push_back(check_build_lock(a));
      checks.push_back(check_free_space(a, f, w, cfg.hardlinks));
    }
    checkout = projects.ws_checkout;
    if (!checkout) {
      std::string why;
      checkout = git::checkout_of(projects.ws, why);
    }
  }
  checks.push_back(checkout ? check_hook(*checkout) : skip("hook", "not in a git checkout"));

  int fails = 0, warns = 0;
  for (const auto& c : checks) fails += c.status == Status::fail, warns += c.status == Status::warn;
  if (args.common.json) {
    toml::array arr;
    for (const auto& c : checks)
      arr.push_back(toml::table{{"name", c.name}, {"status", to_string(c.status)}, {"message", c.message},
                                {"fix", c.fix}});
    toml::table t{{"ok", fails == 0}, {"checks", std::move(arr)}, {"fails", fails}, {"warns", warns}};
    if (!projects.root.empty()) t.insert("root", projects.root.string()), t.insert("workspace", projects.ws.string());
    std::cout << to_json(t) << std::endl;
  } else {
    print_human(checks, head, fails, warns);
  }
  return fails ? kFailed : kOk;
}

}  // namespace seedfs::cli

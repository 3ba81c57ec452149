// Helpers shared by the tests: temp dirs, files, and tree snapshots that prove
// the root unchanged ("no byte, name, mode, owner or mtime").
#pragma once

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace seedfs::test {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "seedfs-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

// Writes `content` to `p` (creating parents) with `mode` and, if nonzero, mtime (seconds).
void write_file(const fs::path& p, const std::string& content, mode_t mode = 0644,
                int64_t mtime = 0);
std::string read_file(const fs::path& p);

struct Entry {
  char type;  // 'f' file, 'd' dir, 'l' symlink, 'o' other
  mode_t mode;
  uid_t uid;
  gid_t gid;
  int64_t size;
  int64_t mtime_ns;  // files and symlinks; dirs' mtimes move when seeding adds entries elsewhere
  uint64_t hash;     // content (files) or target (symlinks)
  ino_t ino;
  nlink_t nlink;
  bool operator==(const Entry& o) const;
};
using Snapshot = std::map<std::string, Entry>;  // relative path -> entry

// Every entry below `root`, not following symlinks.
Snapshot snapshot(const fs::path& root);

// Human-readable differences between two snapshots; empty when they are equal.
// Inode numbers and link counts are ignored unless `identity` is set (a
// hardlink moves the root's link count and ctime, as DESIGN.md allows).
std::string diff(const Snapshot& before, const Snapshot& after, bool identity = false);

uint64_t hash_bytes(const std::string& s);

// `n` bytes that say where they are (a misplaced block shows in a diff).
std::string blob(const std::string& tag, size_t n);

// SEEDFS_LONG=1: the long runs meant for a benchmark machine.
bool long_mode();

// filtered(root) as a tree of private copies: the seeding engine with the
// cargo skip rules but no hardlinks, so that what a test does to the
// reference can never reach the root. Modes, owners and mtimes are kept, as
// in the view. A fatal test failure if seeding fails.
void make_reference(const fs::path& root, const fs::path& ref);

// What counts as "changed by the test" for an mtime (see compare_trees): from
// a little before now. Files get their times from the kernel's coarse clock,
// which may lag CLOCK_REALTIME by a tick.
int64_t changes_since();

// The two trees, compared by test::diff (names, types, modes, owners, sizes,
// contents, symlink targets, file mtimes; not inode numbers or link counts: the
// workspace's files are hardlinks of the root's where the reference has
// copies). A file or symlink changed by the test has the time of that change,
// which differs between the two sides by the time between the two calls:
// where both sides have an mtime from after `since`, it compares as "recent".
// The root's mtimes and those set by utimensat (always before `since`) compare
// exactly, so a lost utimens, or a copy that did not keep the mtime, still shows.
std::string compare_trees(const fs::path& got, const fs::path& want, int64_t since);

struct Result {
  int rc = -1;      // exit code, or 128 + signal
  std::string out;  // stdout, and stderr too when merged
  std::string err;
};

// Runs `argv` (looked up on PATH) in `cwd` (unless empty) with stdin from
// /dev/null, capturing its output; `merge_err` sends stderr to `out`, in order.
Result run_process(const std::vector<std::string>& argv, const fs::path& cwd = {}, bool merge_err = false);

// One value of a JSON document, by a dotted path of keys and array indexes
// ("artifacts.0.root"): a string as it is, anything else as JSON (true, 3);
// "(missing)" when the path is not there, "(invalid JSON)" when `json` is not.
// Parsed by Python's json module, so that the tests do not trust seedfs's own writer.
std::string json_value(const std::string& json, const std::string& path);

// The system user the unprivileged tests run seedfs as ("seedfs-test"),
// made if missing (root only). Empty, with uid and gid set, or why not.
std::string ensure_test_user(uid_t& uid, gid_t& gid);
inline constexpr const char* kTestUser = "seedfs-test";

// /dev/fuse opened to everyone (0666, Debian's default) for the scope, its
// mode put back after (these machines have 0600). Tests holding one run one
// at a time (ctest RESOURCE_LOCK e2e).
class DevFuseOpenToAll {
 public:
  DevFuseOpenToAll();
  ~DevFuseOpenToAll();
  DevFuseOpenToAll(const DevFuseOpenToAll&) = delete;
  DevFuseOpenToAll& operator=(const DevFuseOpenToAll&) = delete;

 private:
  mode_t mode_ = 0;
};

// `argv` as `user` with exactly the environment `env` ("NAME=value"), in `cwd`.
Result run_as(const std::string& user, const std::vector<std::string>& env, const std::vector<std::string>& argv,
              const fs::path& cwd, bool merge_err = false);

// The exit code and both outputs, for a failure message.
std::string show(const Result& r);

// A loop image of `type` mounted at `dir` for the scope (root only).
class LoopFs {
 public:
  LoopFs(const fs::path& image, const fs::path& dir, const std::string& type) : dir_(dir) {
    why_ = mount(image, type);
    mounted_ = why_.empty();
  }
  ~LoopFs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& why_not() const { return why_; }

 private:
  // Empty when mounted, else why not.
  std::string mount(const fs::path& image, const std::string& type) {
    if (::geteuid() != 0) return "not root: cannot mount a loop image";
    std::string mkfs = "mkfs." + type;
    if (run_process({"sh", "-c", "command -v " + mkfs}).rc != 0)
      return mkfs + " is not installed (scripts/setup.sh installs xfsprogs and btrfs-progs)";
    std::ofstream(image).close();
    fs::resize_file(image, 512u << 20);
    std::vector<std::string> args{mkfs, "-q", image.string()};
    if (type == "xfs") args.insert(args.begin() + 1, {"-m", "reflink=1"});
    test::Result m = run_process(args, {}, true);
    if (m.rc != 0) return mkfs + " failed: " + m.out;
    fs::create_directories(dir_);
    test::Result mnt = run_process({"mount", "-o", "loop", image.string(), dir_.string()}, {}, true);
    if (mnt.rc != 0) return "cannot mount the " + type + " image (no " + type + " in this kernel?): " + mnt.out;
    return "";
  }

  fs::path dir_;
  bool mounted_ = false;
  std::string why_;
};

}  // namespace seedfs::test

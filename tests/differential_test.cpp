// A randomized differential test of the view (DESIGN.md invariants 1, 3, 4
// and 5): the same random operations go to the view (<ws>/target, mounted
// over a cargo-like root while the materializer works on it) and to a plain
// reference directory that starts as filtered(root). Every operation must
// give the same result and errno on both sides, read back the same bytes,
// and after each sequence the two trees must be equal — through the view,
// and again in the plain workspace dir once the mount went away — while the
// root stays as it was.
//
//   SEEDFS_SEED=<n>       replay the operations of seed n (the materializer's
//                         timing still differs from run to run)
//   SEEDFS_SEQUENCE=<i>   run only sequence i of that seed
//   SEEDFS_LONG=1         2000 sequences of 1000 operations (the benchmark
//                         machine; run the binary itself, ctest stops it at 600 s)
//   SEEDFS_DIFF_SEQUENCES, SEEDFS_DIFF_OPS   override the counts
//   SEEDFS_DIFF_LOG=<file>  on a failure, write every operation of the sequence there
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <random>
#include <sstream>
#include <thread>

#include "fs/artifact_mount.hpp"
#include "seeding/seeder.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs::fs {
namespace {

using test::Snapshot;
using test::TempDir;
using test::blob;
using test::changes_since;
using test::compare_trees;
using test::long_mode;
using test::make_reference;
using test::write_file;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kOld = 1600000000;

uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string hex8(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(v & 0xffffffffull));
  return buf;
}

// A cargo target/ of 200-500 entries: deps with .rlib/.rmeta (linked) and
// .d/.o (skipped), fingerprints and build-script output (copied), an
// executable, symlinks, an empty dir, incremental/ and lock files (skipped).
// No hardlinks inside the root: a pair of them stays one inode in the
// workspace (the root's), which a copy-up splits, and no plain reference tree
// behaves like that for both a write and a rename between the two names.
void make_root(const stdfs::path& t, std::mt19937_64& rng) {
  auto rnd = [&](uint64_t n) { return rng() % n; };
  write_file(t / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55", 0644, kOld);
  int crates = 25 + static_cast<int>(rnd(20));
  for (int i = 0; i < crates; ++i) {
    std::string c = "c" + std::to_string(i), h = hex8(rng());
    int64_t mt = kOld + i * 10;
    auto deps = t / "debug/deps", fp = t / "debug/.fingerprint" / (c + "-" + h);
    write_file(deps / ("lib" + c + "-" + h + ".rlib"), blob("rlib " + c, 100 + rnd(20000)), 0644, mt);
    write_file(deps / ("lib" + c + "-" + h + ".rmeta"), blob("rmeta " + c, 50 + rnd(3000)), 0644, mt + 1);
    write_file(deps / (c + "-" + h + ".d"), "deps of " + c, 0644, mt);
    for (uint64_t k = 0, n = 1 + rnd(2); k < n; ++k)
      write_file(deps / (c + "-" + h + "." + c + "." + std::to_string(k) + ".rcgu.o"), blob("obj", 200), 0644, mt);
    write_file(fp / ("lib-" + c), hex8(rng()) + hex8(rng()), 0644, mt + 2);
    write_file(fp / ("lib-" + c + ".json"), "{\"rustc\":" + std::to_string(rng() % 1000) + "}", 0644, mt + 3);
    write_file(fp / ("dep-lib-" + c), blob("dep", 10 + rnd(300)), 0644, mt + 4);
    write_file(fp / "invoked.timestamp", "", 0644, mt + 5);
    if (i % 4 == 0) {
      std::string h2 = hex8(rng()), h3 = hex8(rng());
      write_file(t / "debug/build" / (c + "-" + h2) / "build-script-build", blob("elf", 3000), 0755, mt);
      write_file(t / "debug/build" / (c + "-" + h2) / ("build_script_build-" + h2 + ".d"), "d", 0644, mt);
      auto b = t / "debug/build" / (c + "-" + h3);
      write_file(b / "output", "cargo:rustc-link-lib=static=" + c + "\n", 0644, mt + 6);
      write_file(b / "root-output", (t / "debug/build" / (c + "-" + h3) / "out").string(), 0644, mt + 6);
      write_file(b / "stderr", "", 0644, mt + 6);
      write_file(b / "out/gen.rs", blob("pub const X: u32 = 1;", 500 + rnd(2000)), 0644, mt + 7);
      write_file(b / ("out/lib" + c + ".a"), blob("ar", 1000 + rnd(5000)), 0644, mt + 7);
    }
    if (i % 7 == 0) {
      write_file(t / "debug/incremental" / (c + "-x") / "s-1" / "dep-graph.bin", blob("inc", 400), 0644, mt);
      write_file(t / "debug/incremental" / (c + "-x") / "s-1" / "query-cache.bin", blob("qc", 400), 0644, mt);
    }
  }
  write_file(t / "debug/app", blob("#!app", 30000), 0755, kOld + 999);
  write_file(t / "debug/app.d", "app deps", 0644, kOld);
  write_file(t / "debug/.cargo-lock", "", 0644, kOld);
  write_file(t / "release/deps/libzz-1.rlib", blob("rel", 4000), 0644, kOld + 5);
  write_file(t / "release/.fingerprint/zz-1/lib-zz", "fpzz", 0644, kOld + 5);
  write_file(t / "release/.cargo-lock", "", 0644, kOld);
  stdfs::create_directories(t / "debug/examples");
  stdfs::create_directories(t / "release/examples");
  for (auto& e : stdfs::directory_iterator(t / "debug/deps")) {
    if (e.path().extension() == ".rmeta") {
      ::symlink(("deps/" + e.path().filename().string()).c_str(), (t / "debug/latest.rmeta").c_str());
      break;
    }
  }
  ::symlink("no-such-file", (t / "debug/dangling").c_str());
}

// ---- operations ----

enum class Kind {
  create, pwrite, truncate, append, rewrite, mkdir, unlink, rmdir, rename, symlink, link, chmod,
  utimens, read, stat, readdir, readlink, held,
};

const char* name_of(Kind k) {
  static const char* names[] = {"create", "pwrite",  "truncate", "append", "rewrite", "mkdir",
                                "unlink", "rmdir",   "rename",   "symlink", "link",   "chmod",
                                "utimens", "read",   "stat",     "readdir", "readlink", "held"};
  return names[static_cast<int>(k)];
}

struct Op {
  Kind kind;
  std::string a, b;  // paths relative to the tree; b: the second path, or a symlink's target
  uint64_t n = 0;    // offset, length, mode or seconds
  uint64_t m = 0;    // open or rename flags, fsync, ...
  std::string data;

  std::string describe() const {
    std::ostringstream o;
    o << name_of(kind) << " '" << a << "'";
    if (!b.empty() || kind == Kind::rename || kind == Kind::link || kind == Kind::symlink) o << " '" << b << "'";
    o << " n=" << n << " m=" << m;
    if (!data.empty()) o << " data=" << data.size() << "B";
    return o.str();
  }
};

struct Result {
  int err = 0;      // 0 or the errno of the first step that failed
  std::string out;  // what was read: bytes, a stat summary, a listing, a target
  bool operator==(const Result& o) const { return err == o.err && out == o.out; }
};

std::string printable(const std::string& s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') out += "\\n";
    else if (c < 32 || c > 126) out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
    else out += static_cast<char>(c);
  }
  if (s.size() > max) out += "...";
  return out;
}

std::string show(const Result& r) {
  std::string s = r.err ? std::string(std::strerror(r.err)) + " (" + std::to_string(r.err) + ")" : "ok";
  if (!r.out.empty()) s += ", out " + std::to_string(r.out.size()) + "B: " + printable(r.out, 60);
  return s;
}

int write_all(int fd, const std::string& data, off_t off, bool positional) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = positional ? ::pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done))
                           : ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Opens, writes and closes; the first error wins.
Result write_op(const stdfs::path& p, int flags, mode_t mode, const std::string& data, off_t off, bool positional,
                bool sync) {
  Result r;
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return r.err = errno, r;
  r.err = write_all(fd, data, off, positional);
  if (!r.err && sync && ::fsync(fd) != 0) r.err = errno;
  if (::close(fd) != 0 && !r.err) r.err = errno;
  return r;
}

std::string stat_summary(const struct stat& st) {
  char buf[96];
  char type = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'o';
  // Not the inode, link count or times: see compare_trees for mtimes.
  std::snprintf(buf, sizeof buf, "%c %04o %u:%u size %lld", type, st.st_mode & 07777, st.st_uid, st.st_gid,
                S_ISDIR(st.st_mode) ? 0ll : static_cast<long long>(st.st_size));
  return buf;
}

Result apply(const stdfs::path& base, const Op& op) {
  auto at = [&](const std::string& rel) { return rel.empty() ? base : base / rel; };
  Result r;
  auto check = [&](int rc) {
    if (rc != 0) r.err = errno;
    return r;
  };
  switch (op.kind) {
    case Kind::create:  // m: O_EXCL or O_TRUNC
      return write_op(at(op.a), O_WRONLY | O_CREAT | static_cast<int>(op.m), static_cast<mode_t>(op.n), op.data, 0,
                      false, false);
    case Kind::pwrite:
      return write_op(at(op.a), O_WRONLY, 0, op.data, static_cast<off_t>(op.n), true, op.m != 0);
    case Kind::append:
      return write_op(at(op.a), O_WRONLY | O_APPEND, 0, op.data, 0, false, false);
    case Kind::rewrite:  // in place, as cargo rewrites fingerprints
      return write_op(at(op.a), O_WRONLY | O_TRUNC, 0, op.data, 0, false, false);
    case Kind::truncate:
      return check(::truncate(at(op.a).c_str(), static_cast<off_t>(op.n)));
    case Kind::mkdir:
      return check(::mkdir(at(op.a).c_str(), static_cast<mode_t>(op.n)));
    case Kind::unlink:
      return check(::unlink(at(op.a).c_str()));
    case Kind::rmdir:
      return check(::rmdir(at(op.a).c_str()));
    case Kind::rename:
      return check(::renameat2(AT_FDCWD, at(op.a).c_str(), AT_FDCWD, at(op.b).c_str(), static_cast<unsigned>(op.m)));
    case Kind::symlink:
      return check(::symlink(op.b.c_str(), at(op.a).c_str()));
    case Kind::link:
      return check(::link(at(op.a).c_str(), at(op.b).c_str()));
    case Kind::chmod:
      return check(::chmod(at(op.a).c_str(), static_cast<mode_t>(op.n)));
    case Kind::utimens: {
      struct timespec ts[2] = {{static_cast<time_t>(op.n), 0}, {static_cast<time_t>(op.n), 0}};
      if (op.n == 0) ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
      return check(::utimensat(AT_FDCWD, at(op.a).c_str(), ts, static_cast<int>(op.m)));
    }
    case Kind::read: {
      int fd = ::open(at(op.a).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return r.err = errno, r;
      char buf[65536];
      for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          r.err = errno;
          break;
        }
        if (n == 0) break;
        r.out.append(buf, static_cast<size_t>(n));
      }
      struct stat st {};
      if (!r.err && ::fstat(fd, &st) == 0) r.out += "|" + stat_summary(st);
      ::close(fd);
      return r;
    }
    case Kind::stat: {
      struct stat st {};
      if (::lstat(at(op.a).c_str(), &st) != 0) return r.err = errno, r;
      r.out = stat_summary(st);
      return r;
    }
    case Kind::readdir: {
      DIR* d = ::opendir(at(op.a).c_str());
      if (!d) return r.err = errno, r;
      std::vector<std::string> names;
      for (;;) {
        errno = 0;
        dirent* e = ::readdir(d);
        if (!e) {
          r.err = errno;  // 0 at the end
          break;
        }
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        names.push_back(n + ":" + std::to_string(e->d_type));
      }
      ::closedir(d);
      std::sort(names.begin(), names.end());
      for (auto& n : names) r.out += n + "\n";
      return r;
    }
    case Kind::held: {  // open a, change the namespace (m), then fstat and read through the fd
      int fd = ::open(at(op.a).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return r.err = errno, r;
      int rc = op.m == 0 ? ::unlink(at(op.a).c_str())
               : op.m == 1 ? ::rename(at(op.b).c_str(), at(op.a).c_str())
                           : ::rename(at(op.a).c_str(), at(op.b).c_str());
      r.out = "namespace change: " + std::string(rc == 0 ? "ok" : std::strerror(errno)) + "|";
      struct stat st {};
      if (::fstat(fd, &st) != 0) r.err = errno;
      else r.out += stat_summary(st) + "|";
      char buf[65536];
      for (off_t off = 0; !r.err;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, off);
        if (n < 0) r.err = errno;
        if (n <= 0) break;
        r.out.append(buf, static_cast<size_t>(n));
        off += n;
      }
      ::close(fd);
      return r;
    }
    case Kind::readlink: {
      char buf[4096];
      ssize_t n = ::readlink(at(op.a).c_str(), buf, sizeof buf);
      if (n < 0) return r.err = errno, r;
      r.out.assign(buf, static_cast<size_t>(n));
      return r;
    }
  }
  return r;
}

// ---- choosing operations ----

// The reference's paths by type, from a walk (refreshed now and then; a stale
// path is fine: both sides must then agree on ENOENT).
struct Paths {
  std::vector<std::string> files, dirs, links;  // dirs include "" (the top)

  void refresh(const stdfs::path& ref) {
    files.clear();
    links.clear();
    dirs.assign(1, "");
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(ref, ec); !ec && it != stdfs::end(it); it.increment(ec)) {
      std::string rel = it->path().lexically_relative(ref).string();
      auto st = it->symlink_status(ec);
      if (stdfs::is_symlink(st)) links.push_back(rel);
      else if (stdfs::is_directory(st)) dirs.push_back(rel);
      else if (stdfs::is_regular_file(st)) files.push_back(rel);
    }
  }
  void add(const stdfs::path& ref, const std::string& rel) {
    struct stat st {};
    if (::lstat((ref / rel).c_str(), &st) != 0) return;
    (S_ISDIR(st.st_mode) ? dirs : S_ISLNK(st.st_mode) ? links : files).push_back(rel);
  }
};

class Generator {
 public:
  Generator(std::mt19937_64& rng, const stdfs::path& ref, Paths& paths) : rng_(rng), ref_(ref), p_(paths) {}

  Op next() {
    // Weights: writes and reads most, then the namespace changes.
    static const std::pair<Kind, int> weights[] = {
        {Kind::create, 12}, {Kind::pwrite, 12}, {Kind::truncate, 5}, {Kind::append, 7}, {Kind::rewrite, 6},
        {Kind::mkdir, 6},   {Kind::unlink, 8},  {Kind::rmdir, 5},    {Kind::rename, 11}, {Kind::symlink, 4},
        {Kind::link, 4},    {Kind::chmod, 4},   {Kind::utimens, 4},  {Kind::read, 12},  {Kind::stat, 5},
        {Kind::readdir, 5}, {Kind::readlink, 2}, {Kind::held, 4}};
    int total = 0;
    for (auto& w : weights) total += w.second;
    int pick = static_cast<int>(rnd(static_cast<uint64_t>(total)));
    Kind k = Kind::read;
    for (auto& w : weights)
      if ((pick -= w.second) < 0) {
        k = w.first;
        break;
      }
    Op op{k, "", "", 0, 0, ""};
    switch (k) {
      case Kind::create:
        op.a = chance(75) ? new_path() : any_entry();
        op.n = pick_of<mode_t>({0644, 0600, 0755, 0640});
        op.m = chance(60) ? O_EXCL : O_TRUNC;
        op.data = data();
        break;
      case Kind::pwrite:
        op.a = file_ish();
        op.n = rnd(size_of(op.a) + 2000);
        op.m = chance(10);  // and fsync
        op.data = data();
        break;
      case Kind::truncate:
        op.a = file_ish();
        op.n = chance(20) ? 0 : rnd(size_of(op.a) * 2 + 100);
        break;
      case Kind::append:
      case Kind::rewrite:
        op.a = file_ish();
        op.data = data();
        break;
      case Kind::mkdir:
        op.a = chance(85) ? new_path() : any_entry();
        op.n = pick_of<mode_t>({0755, 0700, 0750, 0775});
        break;
      case Kind::unlink:
        op.a = chance(80) ? (chance(80) ? one_of(p_.files) : one_of(p_.links)) : any_entry();
        break;
      case Kind::rmdir:
        op.a = chance(75) ? empty_dir_or_any() : any_entry();
        break;
      case Kind::rename:
        op.a = chance(15) ? dir() : any_entry();
        op.b = rnd(100) < 40 ? new_path() : chance(50) ? any_entry() : empty_dir_or_any();
        op.m = chance(20) ? RENAME_NOREPLACE : 0;
        break;
      case Kind::symlink:
        op.a = chance(85) ? new_path() : any_entry();
        op.b = symlink_target();
        break;
      case Kind::link:
        op.a = chance(85) ? one_of(p_.files) : any_entry();
        op.b = chance(85) ? new_path() : any_entry();
        break;
      case Kind::chmod:
        op.a = any_entry();
        op.n = is_dir(op.a) ? pick_of<mode_t>({0755, 0700, 0750, 0555}) : pick_of<mode_t>({0644, 0600, 0755, 0444, 0640});
        break;
      case Kind::utimens:
        op.a = any_entry();
        op.n = chance(15) ? 0 : static_cast<uint64_t>(kOld - 1000000 - static_cast<int64_t>(rnd(100000000)));
        op.m = chance(30) ? AT_SYMLINK_NOFOLLOW : 0;
        break;
      case Kind::read:
        op.a = chance(90) ? file_ish() : any_entry();
        break;
      case Kind::stat:
        op.a = any_entry();
        break;
      case Kind::readdir:
        op.a = chance(90) ? one_of(p_.dirs) : any_entry();
        break;
      case Kind::readlink:
        op.a = chance(80) ? one_of(p_.links) : any_entry();
        break;
      case Kind::held:  // unlinked while open, replaced by a rename while open, renamed while open
        op.a = chance(90) ? one_of(p_.files) : any_entry();
        op.m = rnd(3);
        op.b = op.m == 1 ? (chance(80) ? one_of(p_.files) : any_entry()) : new_path();
        break;
    }
    return op;
  }

 private:
  uint64_t rnd(uint64_t n) { return n ? rng_() % n : 0; }
  bool chance(int percent) { return rnd(100) < static_cast<uint64_t>(percent); }
  template <class T>
  T pick_of(std::initializer_list<T> xs) {
    return *(xs.begin() + rnd(xs.size()));
  }
  std::string one_of(const std::vector<std::string>& v) { return v.empty() ? "missing-" + std::to_string(rnd(3)) : v[rnd(v.size())]; }
  std::string dir() {
    std::string d = one_of(p_.dirs);
    return d.empty() && p_.dirs.size() > 1 ? dir() : d;
  }
  bool is_dir(const std::string& rel) {
    struct stat st {};
    return ::stat((ref_ / rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  uint64_t size_of(const std::string& rel) {
    struct stat st {};
    return ::stat((ref_ / rel).c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  }
  // Mostly a file; now and then what is not one, for the errors.
  std::string file_ish() {
    uint64_t r = rnd(100);
    if (r < 85) return one_of(p_.files);
    if (r < 92) return one_of(p_.links);
    if (r < 97) return dir();
    return new_path();
  }
  // Anything but the top (which is the mount point on one side only).
  std::string any_entry() {
    uint64_t r = rnd(100);
    if (r < 55) return one_of(p_.files);
    if (r < 80) return dir();
    if (r < 92) return one_of(p_.links);
    return new_path();
  }
  std::string empty_dir_or_any() {
    for (int tries = 0; tries < 8; ++tries) {
      std::string d = dir();
      std::error_code ec;
      if (!d.empty() && stdfs::is_empty(ref_ / d, ec) && !ec) return d;
    }
    return chance(50) ? dir() : any_entry();
  }
  // A name that may or may not exist: a few names recur, so that new entries
  // collide with each other and with the root's (also with skipped ones).
  std::string new_path() {
    static const char* names[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "out", "output",
                                  "lib-new.rlib", "new.rmeta", "x.d", "y.o", "incremental", ".cargo-lock",
                                  "dep-lib-c1", "invoked.timestamp", "build", "deps"};
    std::string parent = chance(95) ? one_of(p_.dirs) : "no-such-dir";
    std::string name = chance(25) && !p_.files.empty() ? stdfs::path(one_of(p_.files)).filename().string()
                                                       : names[rnd(std::size(names))];
    return parent.empty() ? name : parent + "/" + name;
  }
  // Relative and without "..": the view is reached through a dir fd (see
  // run_sequence), and above the top of a detached mount ".." stays at the
  // top, where the reference would leave its tree.
  std::string symlink_target() {
    uint64_t r = rnd(100);
    if (r < 50 && !p_.files.empty()) return stdfs::path(one_of(p_.files)).filename().string();
    if (r < 65) return pick_of<std::string>({"n0", "n1", "deps", "missing"});
    if (r < 80 && !p_.files.empty()) return one_of(p_.files);  // a path from the top: works there only
    return stdfs::path(dir()).filename().string();
  }
  std::string data() {
    uint64_t r = rnd(100);
    size_t n = r < 10 ? 0 : r < 80 ? rnd(3000) : r < 97 ? rnd(40000) : 70000 + rnd(140000);
    std::string s(n, '\0');
    uint64_t x = rng_();
    for (size_t i = 0; i < n; ++i) {
      if (i % 8 == 0) x = splitmix(x);
      s[i] = static_cast<char>('!' + (x >> ((i % 8) * 8)) % 90);
    }
    return s;
  }

  std::mt19937_64& rng_;
  stdfs::path ref_;
  Paths& p_;
};

// ---- the test ----

struct Totals {
  uint64_t ops = 0, live_ops = 0, sequences = 0;  // live: while the materializer ran
};

// The files of `ws` (a plain dir) that are the root's inode at the same path, one per line.
std::string shared_with(const stdfs::path& root, const stdfs::path& ws) {
  std::string out;
  for (auto& e : stdfs::recursive_directory_iterator(ws)) {
    struct stat w {}, r {};
    if (::lstat(e.path().c_str(), &w) != 0 || !S_ISREG(w.st_mode)) continue;
    if (::lstat((root / stdfs::relative(e.path(), ws)).c_str(), &r) == 0 && r.st_dev == w.st_dev &&
        r.st_ino == w.st_ino)
      out += stdfs::relative(e.path(), ws).string() + "\n";
  }
  return out;
}

class Differential : public ::testing::TestWithParam<bool> {
 protected:
  // One sequence: a new root, reference and mount; `ops` operations; the checks.
  // `keep`: the view kept mounted (no materializer); afterwards it is
  // unmounted and a materializing mount with the same journal completes it.
  void run_sequence(uint64_t master, uint64_t index, uint64_t ops, Totals& totals, bool keep) {
    const uint64_t seed = splitmix(master + index * 0x1000193);
    std::ostringstream id;
    id << "seed=" << master << " sequence=" << index << " (replay: SEEDFS_SEED=" << master
       << " SEEDFS_SEQUENCE=" << index << ")";
    SCOPED_TRACE(id.str());
    std::mt19937_64 rng(seed);

    TempDir tmp("seedfs-diff");
    auto root = tmp / "main/target", ws = tmp / "ws/target", ref = tmp / "refp/target";
    make_root(root, rng);
    stdfs::create_directories(ws);
    Snapshot root_before = test::snapshot(root);
    make_reference(root, ref);
    if (HasFatalFailure()) return;

    static const std::chrono::microseconds throttles[] = {0us, 200us, 2000us};
    MountSettings s;
    s.artifact = *config::builtin().find("cargo");
    s.root_dir = root;
    s.ws_dir = ws;
    s.journal_file = tmp / "state/cargo.journal";
    s.throttle = throttles[rng() % 3];
    s.workers = 1 + static_cast<unsigned>(rng() % 2);
    s.passthrough = rng() % 2 == 0;  // both ways of serving file data
    s.keep_mounted = keep;
    std::ostringstream setup;
    setup << id.str() << (keep ? " kept mounted" : "") << " throttle=" << s.throttle.count() << "us workers=" << s.workers
          << " passthrough=" << s.passthrough << " files=" << root_before.size();
    // The real workspace dir under the mount, as the daemon sees it (for the failure log).
    sys::UniqueFd upper_fd(::open(ws.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto m = std::make_unique<ArtifactMount>(s);
    std::string why;
    auto ec = m->mount(why);
    ASSERT_FALSE(ec) << why << ": " << ec.message() << " " << setup.str();
    // Every operation goes through the view, also after the materializer is
    // done: this open dir keeps the mount busy, so it is then unmounted lazily
    // and keeps serving through the fd. By a path, the operations would reach
    // the plain dir, whose linked files are the root's: writing them in place
    // is outside the contract once the mount is gone (README: link rules).
    sys::UniqueFd view_fd(::open(ws.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(view_fd) << std::strerror(errno);
    const stdfs::path view = "/proc/self/fd/" + std::to_string(view_fd.get());
    const int64_t since = changes_since();
    m->start();

    // Half the sequences start by walking the whole view (the kernel then
    // knows every name and has read every file, as after a cargo build's
    // scan), the others start cold (every name is met first by an operation).
    std::string d;
    const bool warm = rng() % 2;
    setup << (warm ? " warm" : " cold");
    if (warm) {
      d = compare_trees(view, ref, since);
      ASSERT_EQ(d, "") << "the view differs from filtered(root) right after mounting; " << setup.str();
    }

    Paths paths;
    paths.refresh(ref);
    Generator gen(rng, ref, paths);
    // What was done, for the failure message: the last operations, and the
    // earlier ones that named the same file or dir.
    std::vector<std::pair<Op, std::string>> log;
    auto history = [&](const Op* failed = nullptr) {
      std::string h;
      size_t from = log.size() > 30 ? log.size() - 30 : 0;
      if (failed) {
        std::set<std::string> names;
        for (const std::string* p : {&failed->a, &failed->b})
          if (!p->empty()) names.insert(stdfs::path(*p).filename().string());
        auto names_it = [&](const Op& o) {
          for (const std::string* p : {&o.a, &o.b})
            for (auto& part : stdfs::path(*p))
              if (names.count(part.string())) return true;
          return false;
        };
        for (size_t k = 0; k < from; ++k)
          if (names_it(log[k].first)) h += "    " + log[k].second + "\n";
        h += "    ...\n";
      }
      for (size_t k = from; k < log.size(); ++k) h += "    " + log[k].second + "\n";
      return h;
    };
    // SEEDFS_DIFF_LOG=<file>: every operation and the trees, for a failure.
    auto dump_log = [&] {
      const char* dump = std::getenv("SEEDFS_DIFF_LOG");
      if (!dump) return;
      std::ofstream out(dump);
      for (auto& [_, line] : log) out << line << "\n";
      auto dump_tree = [&](const char* title, const stdfs::path& top) {
        out << "\n" << title << ":\n";
        for (auto& [path, e] : test::snapshot(top))
          out << "  " << e.type << " " << std::oct << e.mode << std::dec << " " << e.size << " ino " << e.ino << " hash "
              << e.hash << " " << path << "\n";
      };
      dump_tree("reference", ref);
      if (view_fd) dump_tree("view", view);
      dump_tree("workspace dir", "/proc/self/fd/" + std::to_string(upper_fd.get()));
    };
    for (uint64_t i = 0; i < ops; ++i) {
      Op op = gen.next();
      bool live = !m->status().stats.finished;
      Result on_ref = apply(ref, op);
      Result on_view = apply(view, op);
      log.emplace_back(op, "#" + std::to_string(i) + (live ? " " : " (materialized) ") + op.describe() + " -> " +
                               show(on_ref));
      ++totals.ops;
      totals.live_ops += live;
      if (!(on_ref == on_view)) {
        std::string first_diff;
        if (on_ref.out != on_view.out) {
          size_t at = 0;
          while (at < on_ref.out.size() && at < on_view.out.size() && on_ref.out[at] == on_view.out[at]) ++at;
          first_diff = " (outputs of " + std::to_string(on_ref.out.size()) + "B vs " + std::to_string(on_view.out.size()) +
                       "B differ from byte " + std::to_string(at) + ")";
        }
        dump_log();
        ADD_FAILURE() << "operation #" << i << " differs: " << op.describe() << "\n  reference: " << show(on_ref)
                      << "\n  view:      " << show(on_view) << first_diff << "\n  " << setup.str()
                      << "\n  earlier operations on these names, then the last ones:\n" << history(&op);
        return;
      }
      if (!on_ref.err) {
        if (op.kind == Kind::create || op.kind == Kind::mkdir || op.kind == Kind::symlink) paths.add(ref, op.a);
        if (op.kind == Kind::rename || op.kind == Kind::link || op.kind == Kind::held) paths.add(ref, op.b);
      }
      if (i % 25 == 24) paths.refresh(ref);
    }

    d = compare_trees(view, ref, since);
    if (!d.empty()) dump_log();
    ASSERT_EQ(d, "") << "the view differs from the reference after " << ops << " operations; " << setup.str()
                     << "\n  the last operations:\n" << history();
    view_fd.reset();
    if (keep) {
      auto kept = m->status();
      EXPECT_EQ(kept.phase, Phase::kept) << kept.error << "; " << setup.str();
      EXPECT_EQ(kept.stats.files_done, 0u) << "a kept view materializes nothing ahead; " << setup.str();
      m->stop();
      ASSERT_TRUE(m->wait_for(120s)) << "the kept view did not unmount; " << setup.str();
      EXPECT_FALSE(mount_at(ws.string())) << setup.str();
      // Nothing it wrote shares an inode with the root: what stays in the
      // workspace dir after a kept view must be safe to change in place.
      EXPECT_EQ(shared_with(root, ws), "") << setup.str();
      m = std::make_unique<ArtifactMount>([&] {
        MountSettings again = s;
        again.keep_mounted = false;
        return again;
      }());
      ec = m->mount(why);
      ASSERT_FALSE(ec) << why << ": " << ec.message() << " " << setup.str();
      m->start();
    }
    ASSERT_TRUE(m->wait_for(120s)) << "materialization did not finish; " << setup.str();
    auto st = m->status();
    EXPECT_EQ(st.phase, Phase::done) << st.error << "; " << setup.str();
    EXPECT_FALSE(mount_at(ws.string())) << "the mount must be gone; " << setup.str();
    d = compare_trees(ws, ref, since);
    if (!d.empty()) dump_log();
    EXPECT_EQ(d, "") << "the workspace dir differs from the reference after the unmount; " << setup.str()
                     << "\n  the last operations:\n" << history();
    EXPECT_EQ(test::diff(root_before, test::snapshot(root)), "") << "the root changed; " << setup.str();
    ++totals.sequences;
  }
};

// Materializing (false) and kept mounted (true).
TEST_P(Differential, RandomOperationsAgreeWithAPlainDirectory) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  const uint64_t master = env_u64("SEEDFS_SEED", std::random_device{}() * 0x100000001ull ^ std::random_device{}());
  const bool lng = long_mode();
  const uint64_t sequences = env_u64("SEEDFS_DIFF_SEQUENCES", lng ? 2000 : 12);
  const uint64_t ops = env_u64("SEEDFS_DIFF_OPS", lng ? 1000 : 300);
  const char* only = std::getenv("SEEDFS_SEQUENCE");
  std::cout << "differential: seed=" << master << " sequences=" << sequences << " ops/sequence=" << ops << std::endl;
  SCOPED_TRACE("seed=" + std::to_string(master));
  Totals totals;
  auto started = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < sequences; ++i) {
    if (only && *only && std::strtoull(only, nullptr, 10) != i) continue;
    run_sequence(master, i, ops, totals, GetParam());
    if (HasFailure()) break;  // later sequences would only bury the first report
    if (lng && i % 50 == 49)
      std::cout << "differential: " << totals.sequences << " sequences, " << totals.ops << " operations ("
                << totals.live_ops << " while materializing), seed=" << master << std::endl;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "differential: seed=" << master << ": " << totals.sequences << " sequences, " << totals.ops
            << " operations, " << totals.live_ops << (GetParam() ? " through the kept view" : " while materializing")
            << ", in " << secs << " s" << std::endl;
  RecordProperty("seed", std::to_string(master));
  RecordProperty("operations", std::to_string(totals.ops));
  if (HasFailure()) ADD_FAILURE() << "to replay: SEEDFS_SEED=" << master;
}

INSTANTIATE_TEST_SUITE_P(Mode, Differential, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Kept" : "Materializing"; });

}  // namespace
}  // namespace seedfs::fs

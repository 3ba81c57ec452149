// The seeding engine on real trees: what is linked, copied, kept and skipped,
// the fallbacks, fail-fast, the hooks the view uses, and the root untouched.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cstring>
#include <functional>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "seeding/build_lock.hpp"
#include "seeding/materialize.hpp"
#include "seeding/pace.hpp"
#include "seeding/seeder.hpp"
#include "tests/test_util.hpp"

namespace seedfs::seeding {
namespace {

using test::Snapshot;
using test::LoopFs;
using test::TempDir;
using test::write_file;
namespace fs = std::filesystem;

constexpr int64_t kOld = 1600000000;  // an mtime a copy would lose

// A small cargo-like tree with one of each interesting kind of entry.
void make_tree(const fs::path& t) {
  write_file(t / "debug/deps/libfoo-1.rlib", "rlib bytes", 0644, kOld);
  write_file(t / "debug/deps/libfoo-1.rmeta", "rmeta bytes", 0644, kOld + 1);
  write_file(t / "debug/deps/libpm-1.so", "proc macro", 0755, kOld + 2);
  write_file(t / "debug/deps/app-1", "executable", 0755, kOld + 3);
  write_file(t / "debug/app", "executable", 0755, kOld + 3);  // uplifted by cargo for users
  write_file(t / "debug/deps/foo-1.d", "deps", 0644, kOld);
  write_file(t / "debug/deps/foo-1.foo.0-cgu.0.rcgu.o", "object", 0644, kOld);
  write_file(t / "debug/.fingerprint/foo-1/lib-foo", "fingerprint", 0644, kOld + 4);
  write_file(t / "debug/.fingerprint/foo-1/invoked.timestamp", "", 0644, kOld + 5);
  write_file(t / "debug/build/foo-2/output", "cargo:rustc-link-lib=z", 0600, kOld + 6);
  write_file(t / "debug/build/foo-2/out/gen.rs", "pub fn f() {}", 0644, kOld + 7);
  write_file(t / "debug/build/foo-2/out/gen.sh", "#!/bin/sh", 0755, kOld + 8);
  write_file(t / "debug/build/foo-2/out/libfoo.a", "archive", 0644, kOld + 9);
  write_file(t / "debug/incremental/foo-x/s-1/query.bin", "inc", 0644, kOld);
  write_file(t / "debug/.cargo-lock", "", 0644, kOld);
  write_file(t / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55", 0644, kOld);
  fs::create_directories(t / "debug/examples");
  fs::create_directories(t / "debug/private");
  ::chmod((t / "debug/private").c_str(), 0750);
  fs::create_directories(t / "debug/readonly/sub");
  write_file(t / "debug/readonly/sub/x.rlib", "x", 0644, kOld);
  ::chmod((t / "debug/readonly").c_str(), 0555);
  fs::create_symlink("deps/libfoo-1.rmeta", t / "debug/latest.rmeta");
  ::mkfifo((t / "debug/fifo").c_str(), 0644);
}

sys::UniqueFd open_dir(const fs::path& p) {
  std::error_code ec;
  auto fd = sys::open_dir(AT_FDCWD, p.c_str(), ec);
  EXPECT_TRUE(fd) << p << ": " << ec.message();
  return fd;
}

config::Artifact cargo() { return *config::builtin().find("cargo"); }

struct SeedRun {
  Stats stats;
  std::optional<Failure> failure;
};

SeedRun seed(const fs::path& root, const fs::path& dest, Options opts = {}) {
  fs::create_directories(dest);
  Seeder s(open_dir(root), open_dir(dest), cargo(), opts);
  SeedRun r;
  r.failure = s.run();
  r.stats = s.stats();
  return r;
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

bool same_inode(const fs::path& a, const fs::path& b) {
  auto x = lstat_of(a), y = lstat_of(b);
  return x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

void expect_copy(const fs::path& root, const fs::path& dest, const std::string& rel) {
  SCOPED_TRACE(rel);
  ASSERT_TRUE(fs::exists(dest / rel));
  auto a = lstat_of(root / rel), b = lstat_of(dest / rel);
  EXPECT_FALSE(a.st_dev == b.st_dev && a.st_ino == b.st_ino) << "should be a copy";
  EXPECT_EQ(test::read_file(root / rel), test::read_file(dest / rel));
  EXPECT_EQ(a.st_mode, b.st_mode);
  EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
  EXPECT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
  EXPECT_EQ(b.st_nlink, 1u);
}

TEST(Seeder, SeedsByTheRulesAndLeavesTheRootAlone) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  Snapshot before = test::snapshot(root);

  SeedRun r = seed(root, dest);
  ASSERT_FALSE(r.failure) << r.failure->to_string();

  // Files that tools only replace share the root's inode.
  for (const char* rel : {"debug/deps/libfoo-1.rlib", "debug/deps/libfoo-1.rmeta",
                          "debug/deps/libpm-1.so"})
    EXPECT_TRUE(same_inode(root / rel, dest / rel)) << rel;
  // Files that cargo rewrites in place, and the final artifacts users may strip,
  // are copies with the same bytes, mode and mtime.
  for (const char* rel : {"debug/.fingerprint/foo-1/lib-foo",
                          "debug/.fingerprint/foo-1/invoked.timestamp", "debug/build/foo-2/output",
                          "debug/build/foo-2/out/gen.rs", "debug/build/foo-2/out/gen.sh",
                          "debug/build/foo-2/out/libfoo.a", "debug/app", "debug/deps/app-1",
                          "debug/readonly/sub/x.rlib",
                          "CACHEDIR.TAG"})
    expect_copy(root, dest, rel);
  // Skipped by rule, or by type.
  for (const char* rel : {"debug/deps/foo-1.d", "debug/deps/foo-1.foo.0-cgu.0.rcgu.o",
                          "debug/incremental", "debug/.cargo-lock", "debug/fifo"})
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest / rel))) << rel;
  // Symlinks keep their target text.
  EXPECT_EQ(fs::read_symlink(dest / "debug/latest.rmeta"), "deps/libfoo-1.rmeta");
  // Directories keep their modes, even read-only ones (filled first).
  EXPECT_EQ(lstat_of(dest / "debug/private").st_mode & 07777, 0750u);
  EXPECT_EQ(lstat_of(dest / "debug/readonly").st_mode & 07777, 0555u);
  EXPECT_TRUE(fs::is_directory(dest / "debug/examples"));

  EXPECT_EQ(r.stats.linked, 3u);
  EXPECT_EQ(r.stats.copied + r.stats.reflinked, 10u);
  EXPECT_EQ(r.stats.symlinks, 1u);
  EXPECT_EQ(r.stats.kept, 0u);
  EXPECT_EQ(r.stats.skipped_type, 1u);
  EXPECT_EQ(r.stats.skipped_rule, 4u);  // .d, .o, .cargo-lock, incremental/ (pruned)
  EXPECT_EQ(r.stats.dirs_pruned, 1u);
  EXPECT_EQ(r.stats.files_found, r.stats.files_done);
  EXPECT_TRUE(r.stats.scan_done);

  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

TEST(Seeder, KeepsFilesAlreadyInTheWorkspace) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  write_file(dest / "debug/deps/libfoo-1.rlib", "mine", 0600, kOld - 5);
  write_file(dest / "debug/.fingerprint/foo-1/lib-foo", "mine too", 0600, kOld - 5);
  Snapshot before = test::snapshot(root);

  SeedRun r = seed(root, dest);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_EQ(test::read_file(dest / "debug/deps/libfoo-1.rlib"), "mine");
  EXPECT_EQ(test::read_file(dest / "debug/.fingerprint/foo-1/lib-foo"), "mine too");
  EXPECT_EQ(lstat_of(dest / "debug/deps/libfoo-1.rlib").st_mode & 07777, 0600u);
  EXPECT_EQ(r.stats.kept, 2u);

  // A second run keeps everything.
  SeedRun again = seed(root, dest);
  ASSERT_FALSE(again.failure);
  EXPECT_EQ(again.stats.kept, again.stats.files_done);
  EXPECT_EQ(again.stats.linked + again.stats.copied, 0u);
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

TEST(Seeder, NoSkipSeedsEverythingButSpecialFiles) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  Options opts;
  opts.apply_skip = false;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure);
  // rustc has LLVM write object files in place: copied.
  expect_copy(root, dest, "debug/deps/foo-1.foo.0-cgu.0.rcgu.o");
  expect_copy(root, dest, "debug/deps/foo-1.d");
  expect_copy(root, dest, "debug/incremental/foo-x/s-1/query.bin");
  EXPECT_EQ(r.stats.skipped_rule, 0u);
  EXPECT_EQ(r.stats.skipped_type, 1u);
}

// Cargo's uplifted binary is a second name of deps/<bin>-<hash>: copied once,
// the other name a hardlink of the copy (inside the workspace, as in the root).
TEST(Seeder, NamesOfOneCopiedInodeStayOneInode) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  write_file(root / "debug/deps/app-0123456789abcdef", "executable", 0755, kOld);
  fs::create_hard_link(root / "debug/deps/app-0123456789abcdef", root / "debug/app");
  write_file(root / "debug/build/foo-1/build_script_build-0123456789abcdef", "script", 0755, kOld);
  fs::create_hard_link(root / "debug/build/foo-1/build_script_build-0123456789abcdef",
                       root / "debug/build/foo-1/build-script-build");
  // Many more, so that the two workers often meet both names of one at once.
  for (int i = 0; i < 40; ++i) {
    std::string bin = "bin" + std::to_string(i);
    write_file(root / "debug/deps" / (bin + "-0123456789abcdef"), "b", 0755, kOld);
    fs::create_hard_link(root / "debug/deps" / (bin + "-0123456789abcdef"), root / "debug" / bin);
  }
  Snapshot before = test::snapshot(root);
  Options opts;
  opts.workers = 2;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  for (int i = 0; i < 40; ++i) {
    std::string bin = "bin" + std::to_string(i);
    EXPECT_TRUE(same_inode(dest / "debug" / bin, dest / "debug/deps" / (bin + "-0123456789abcdef"))) << bin;
  }
  EXPECT_TRUE(same_inode(dest / "debug/app", dest / "debug/deps/app-0123456789abcdef"));
  EXPECT_TRUE(same_inode(dest / "debug/build/foo-1/build-script-build",
                         dest / "debug/build/foo-1/build_script_build-0123456789abcdef"));
  EXPECT_FALSE(same_inode(dest / "debug/app", root / "debug/app")) << "executables are copied";
  EXPECT_EQ(r.stats.bytes, std::string("executable").size() + std::string("script").size() + 40)
      << "each inode's bytes copied once";
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

TEST(Seeder, DryRunCreatesNothing) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  Options opts;
  opts.dry_run = true;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure);
  EXPECT_TRUE(fs::is_empty(dest));
  EXPECT_EQ(r.stats.linked, 3u);
  EXPECT_EQ(r.stats.copied, 10u);
  // It still weighs what it would do: the bytes of every file, and of the copies.
  EXPECT_GT(r.stats.copy_bytes, 0u);
  EXPECT_GT(r.stats.bytes, r.stats.copy_bytes);
}

TEST(Seeder, ManyFilesAcrossBatchesAndWorkers) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  for (int d = 0; d < 20; ++d)
    for (int f = 0; f < (d == 0 ? 2000 : 30); ++f)
      write_file(root / ("d" + std::to_string(d)) / "deps" / ("f" + std::to_string(f) + (f % 2 ? ".rlib" : ".json")),
                 std::to_string(d * 100000 + f), 0644, kOld + f);
  Snapshot before = test::snapshot(root);
  Options opts;
  opts.workers = 4;
  opts.batch_size = 64;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure);
  EXPECT_EQ(r.stats.files_done, 2000u + 19 * 30);
  EXPECT_EQ(r.stats.linked, 1000u + 19 * 15);
  Snapshot after = test::snapshot(dest);
  EXPECT_EQ(test::diff(before, after), "") << "the workspace must equal the root";
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

// A different filesystem: links fail with EXDEV, so everything is copied.
TEST(Seeder, FallsBackToCopiesAcrossFilesystems) {
  TempDir tmp;
  auto root = tmp / "root", mnt = tmp / "tmpfs";
  make_tree(root);
  fs::create_directories(mnt);
  if (::mount("seedfs-test", mnt.c_str(), "tmpfs", 0, "size=16m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); run as root to test the EXDEV fallback";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  Snapshot before = test::snapshot(root);
  SeedRun r = seed(root, mnt / "ws");
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_EQ(r.stats.linked, 0u);
  EXPECT_EQ(r.stats.copied + r.stats.reflinked, 13u);
  for (const char* rel : {"debug/deps/libfoo-1.rlib", "debug/deps/app-1", "debug/build/foo-2/output"})
    expect_copy(root, mnt / "ws", rel);
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

// On a filesystem that reflinks (XFS with reflink=1, btrfs), a file to link is
// reflinked: the root's blocks, a new inode, so that nothing written in the
// workspace later can reach the root. With reflinks = false, hardlinks again.
class Reflinks : public ::testing::TestWithParam<const char*> {};

TEST_P(Reflinks, FilesToLinkAreReflinkedAndShareNoInode) {
  TempDir tmp;
  LoopFs loop(tmp / "fs.img", tmp / "mnt", GetParam());
  if (!loop.why_not().empty()) GTEST_SKIP() << loop.why_not();
  auto root = tmp / "mnt/root", dest = tmp / "mnt/ws";
  make_tree(root);
  Snapshot before = test::snapshot(root);
  SeedRun r = seed(root, dest);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_EQ(r.stats.linked, 0u);
  EXPECT_EQ(r.stats.reflinked, 12u) << "every file with data";
  EXPECT_EQ(r.stats.copied, 1u) << "the empty invoked.timestamp: nothing to share";
  Snapshot after = test::snapshot(dest);
  for (const auto& [rel, e] : after) {
    if (e.type != 'f') continue;
    EXPECT_FALSE(same_inode(root / rel, dest / rel)) << rel;
  }
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
  std::string content = test::read_file(dest / "debug/deps/libfoo-1.rlib");
  EXPECT_EQ(content, "rlib bytes");

  config::Artifact hard = cargo();
  hard.reflink_first = false;
  fs::create_directories(tmp / "mnt/ws2");
  Seeder s(open_dir(root), open_dir(tmp / "mnt/ws2"), hard, {});
  ASSERT_FALSE(s.run());
  EXPECT_EQ(s.stats().linked, 3u);
  EXPECT_TRUE(same_inode(root / "debug/deps/libfoo-1.rlib", tmp / "mnt/ws2/debug/deps/libfoo-1.rlib"));
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

INSTANTIATE_TEST_SUITE_P(OnXfsAndBtrfs, Reflinks, ::testing::Values("xfs", "btrfs"),
                         [](const auto& info) { return std::string(info.param); });

TEST(Seeder, NoSpaceFailsFastWithThePath) {
  TempDir tmp;
  auto root = tmp / "root", mnt = tmp / "tiny";
  write_file(root / "debug/big.json", std::string(512 * 1024, 'x'));
  fs::create_directories(mnt);
  if (::mount("seedfs-test", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here; run as root to test ENOSPC";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  Snapshot before = test::snapshot(root);
  SeedRun r = seed(root, mnt / "ws");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->ec.value(), ENOSPC);
  EXPECT_EQ(r.failure->path, "debug/big.json");
  EXPECT_FALSE(fs::exists(mnt / "ws/debug/big.json")) << "no half-written copy may appear";
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

// Runs `body` as an unprivileged user (root ignores permission bits), in a child.
int as_nobody(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(99);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

TEST(Seeder, FailsFastOnAnUnreadableDirectoryWithItsPath) {
  TempDir tmp;
  fs::permissions(tmp.path(), fs::perms::all);
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  for (int i = 0; i < 50; ++i) write_file(root / "debug/more" / (std::to_string(i) + ".json"), "x");
  fs::create_directories(root / "debug/locked/inner");
  fs::create_directories(dest);
  if (::geteuid() == 0)
    for (auto& e : fs::recursive_directory_iterator(tmp.path()))
      ::lchown(e.path().c_str(), 65534, 65534);
  ::chmod((root / "debug/locked").c_str(), 0);
  Snapshot before = test::snapshot(root);
  int rc = as_nobody([&] {
    Seeder s(open_dir(root), open_dir(dest), cargo(), Options{});
    auto failure = s.run();
    if (!failure) return 1;
    if (failure->path != "debug/locked") return 2;
    if (failure->ec.value() != EACCES) return 3;
    return 0;
  });
  EXPECT_EQ(rc, 0) << "1: no failure, 2: wrong path, 3: wrong errno, 99: could not drop privileges";
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
  ::chmod((root / "debug/locked").c_str(), 0755);
}

// What the view does: refuse some paths, and see every path go through the hook.
class RecordingHooks : public Hooks {
 public:
  std::set<std::string> refuse;
  std::mutex mu;
  std::set<std::string> seen;
  bool guard(std::string_view rel, EntryKind, FunctionRef<void()> make) override {
    std::lock_guard lock(mu);
    seen.insert(std::string(rel));
    if (refuse.count(std::string(rel))) return false;
    make();
    return true;
  }
};

TEST(Seeder, HooksDecidePerPath) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  RecordingHooks hooks;
  hooks.refuse = {"debug/deps/libfoo-1.rlib", "debug/build"};
  Options opts;
  opts.hooks = &hooks;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure);
  EXPECT_FALSE(fs::exists(dest / "debug/deps/libfoo-1.rlib"));
  EXPECT_FALSE(fs::exists(dest / "debug/build"));
  EXPECT_TRUE(fs::exists(dest / "debug/deps/libfoo-1.rmeta"));
  EXPECT_EQ(r.stats.left_to_view, 2u);
  EXPECT_TRUE(hooks.seen.count("debug/deps/app-1"));
  EXPECT_TRUE(hooks.seen.count("debug/latest.rmeta"));
  EXPECT_FALSE(hooks.seen.count("debug/build/foo-2")) << "a refused dir is not entered";
  EXPECT_FALSE(hooks.seen.count("debug/deps/foo-1.d")) << "skipped paths never reach the hook";
}

TEST(Seeder, SubtreeOnly) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  make_tree(root);
  fs::create_directories(dest / "debug/build");
  Options opts;
  opts.subtree = "debug/build";
  opts.workers = 0;
  SeedRun r = seed(root, dest, opts);
  ASSERT_FALSE(r.failure);
  EXPECT_TRUE(fs::exists(dest / "debug/build/foo-2/out/gen.rs"));
  EXPECT_FALSE(fs::exists(dest / "debug/deps"));
}

// A slowed-down run (5 ms per file), cancelled once it has done 3 files.
struct CancelledRun {
  Stats stats;
  bool failed = false;
  bool cancelled = false;
};
CancelledRun seed_and_cancel(const fs::path& root, const fs::path& dest) {
  fs::create_directories(dest);
  Options opts;
  opts.throttle = std::chrono::milliseconds(5);
  Seeder s(open_dir(root), open_dir(dest), cargo(), opts);
  s.start();
  while (s.stats().files_done < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.cancel();
  CancelledRun r;
  r.failed = s.wait().has_value();
  r.cancelled = s.cancelled();
  r.stats = s.stats();
  return r;
}

TEST(Seeder, CancelStopsEarlyWithoutFailure) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  for (int f = 0; f < 200; ++f) write_file(root / "d" / (std::to_string(f) + ".rlib"), "x");
  CancelledRun r = seed_and_cancel(root, dest);
  EXPECT_FALSE(r.failed);
  EXPECT_TRUE(r.cancelled);
  EXPECT_LT(r.stats.files_done, 200u);
  EXPECT_TRUE(r.stats.finished);
}

// A directory without owner write permission is made writable to be filled
// and given its mode back at the end, also when the run that made it was
// interrupted and a later one completes it. A mode the workspace chose itself
// is kept.
TEST(Seeder, ReadOnlyDirsGetTheirModeBackAfterAnInterruptedRun) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  for (int f = 0; f < 100; ++f) write_file(root / "ro/sub" / (std::to_string(f) + ".rlib"), "x");
  ::chmod((root / "ro/sub").c_str(), 0555);
  ::chmod((root / "ro").c_str(), 0555);
  write_file(root / "other/a.rlib", "a");
  ::chmod((root / "other").c_str(), 0500);
  write_file(dest / "other/mine", "mine");
  ::chmod((dest / "other").c_str(), 0750);  // the workspace's own choice
  Snapshot before = test::snapshot(root);

  CancelledRun first = seed_and_cancel(root, dest);
  EXPECT_FALSE(first.failed);
  ASSERT_TRUE(first.cancelled);
  ASSERT_EQ(lstat_of(dest / "ro/sub").st_mode & 07777, 0755u) << "left writable by the interrupted run";

  SeedRun r = seed(root, dest);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_EQ(lstat_of(dest / "ro").st_mode & 07777, 0555u);
  EXPECT_EQ(lstat_of(dest / "ro/sub").st_mode & 07777, 0555u);
  EXPECT_TRUE(fs::exists(dest / "ro/sub/99.rlib"));
  EXPECT_EQ(lstat_of(dest / "other").st_mode & 07777, 0750u);
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
  ::chmod((dest / "ro").c_str(), 0755);  // so that TempDir can remove it
  ::chmod((dest / "ro/sub").c_str(), 0755);
}

TEST(Seeder, ProgressMovesWhileRunning) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  for (int f = 0; f < 40; ++f) write_file(root / "d" / (std::to_string(f) + ".rlib"), "x");
  fs::create_directories(dest);
  Options opts;
  opts.throttle = std::chrono::milliseconds(2);
  opts.workers = 1;
  Seeder s(open_dir(root), open_dir(dest), cargo(), opts);
  s.start();
  std::set<uint64_t> seen;
  while (!s.wait_for(std::chrono::milliseconds(3))) seen.insert(s.stats().files_done);
  EXPECT_FALSE(s.wait());
  EXPECT_GT(seen.size(), 2u) << "progress should be visible while running";
  EXPECT_EQ(s.stats().files_done, 40u);
}

// ---- pace: rate limits and priority ----

TEST(RateLimiter, LetsNoMoreThanTheRateThroughAcrossThreads) {
  std::atomic<bool> stop{false};
  RateLimiter limit(100, stop);  // units per second
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 7; ++i) EXPECT_TRUE(limit.take(1));
    });
  for (auto& t : threads) t.join();
  // 21 units at 100 per second: the last may pass 0.2 s after the first, not
  // before (a lower bound: a slow machine only adds to it).
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 0.19);
  EXPECT_GT(limit.waited(), 0.0);
}

TEST(RateLimiter, StopReleasesAWaiter) {
  std::atomic<bool> stop{false};
  RateLimiter limit(0.001, stop);  // one unit per 1000 s
  EXPECT_TRUE(limit.take(1));      // charged after it passes: the next one waits
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop = true;
  });
  EXPECT_FALSE(limit.take(1)) << "returns once stopped, not after 1000 s";
  stopper.join();
  EXPECT_FALSE(limit.take(1));
}

TEST(RateLimiter, NoRateNoWait) {
  std::atomic<bool> stop{false};
  RateLimiter limit(0, stop);
  EXPECT_FALSE(limit.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limit.take(1e12));
  EXPECT_EQ(limit.waited(), 0.0);
}

// The CPU and I/O priority the guard sees is that of the worker thread that calls it.
// A paced copy is charged each byte once, also where copy_file_range cannot
// work and the copy moves 64 KiB per read (here: disk to tmpfs). Charged per
// step instead, a 100 MB/s limit moved 7 MB/s across filesystems.
TEST(Pacer, ACopyAcrossFilesystemTypesIsChargedItsBytesOnce) {
  struct statfs shm {};
  if (::statfs("/dev/shm", &shm) != 0 || shm.f_type != TMPFS_MAGIC) GTEST_SKIP() << "no tmpfs at /dev/shm";
  TempDir tmp;
  const std::string data = test::blob("paced", (3 << 20) + 5);
  write_file(tmp / "src.rlib", data);
  char dst[] = "/dev/shm/seedfs-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dst), nullptr);
  std::atomic<bool> stop{false};
  config::Pace pace;
  pace.priority = config::Priority::normal;
  pace.bytes_per_s = 1e12;  // a limit that never waits: only the charge is looked at
  Pacer pacer(pace, stop);
  sys::UniqueFd src(::open((tmp / "src.rlib").c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  ASSERT_EQ(::fstat(src.get(), &st), 0);
  Done done;
  std::error_code ec = copy_file(src.get(), st, open_dir(dst).get(), "out.rlib", CopyMode::keep_existing, done,
                                 true, false, &pacer);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(test::read_file(fs::path(dst) / "out.rlib"), data);
  EXPECT_EQ(pacer.bytes_taken(), static_cast<double>(data.size()));
  fs::remove_all(dst);
}

class PriorityHooks : public Hooks {
 public:
  std::mutex mu;
  std::set<int> nice, ioprio;
  bool guard(std::string_view, EntryKind, FunctionRef<void()> make) override {
    pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
    int n = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    int io = static_cast<int>(::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, tid));
    {
      std::lock_guard lock(mu);
      nice.insert(n);
      ioprio.insert(io);
    }
    make();
    return true;
  }
};

TEST(Seeder, WorkersRunAtTheGivenPriority) {
  // Where the tests themselves run niced, a nice value is only ever raised.
  const int base = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
  for (auto [p, want_nice, want_io] : {std::tuple{config::Priority::low, 10, (2 << 13) | 7},
                                       std::tuple{config::Priority::idle, 19, 3 << 13}}) {
    SCOPED_TRACE(config::to_string(p));
    TempDir tmp;
    for (int f = 0; f < 20; ++f) write_file(tmp / "root/d" / (std::to_string(f) + ".rlib"), "x");
    PriorityHooks hooks;
    Options opts;
    opts.hooks = &hooks;
    opts.pace.priority = p;
    SeedRun r = seed(tmp / "root", tmp / "ws", opts);
    ASSERT_FALSE(r.failure);
    EXPECT_EQ(hooks.nice, std::set<int>{std::max(base, want_nice)});
    EXPECT_EQ(hooks.ioprio, std::set<int>{want_io});
  }
  // This thread (the caller's, as the view's threads) keeps its priority.
  EXPECT_EQ(::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid))), base);
}

// A caller that is always busy, as a view under a build that never pauses.
class BusyHooks : public Hooks {
 public:
  std::atomic<int> asked{0};
  bool guard(std::string_view, EntryKind, FunctionRef<void()> make) override { return make(), true; }
  bool busy() override { return ++asked, true; }
};

TEST(Seeder, BelowNormalPriorityYieldsToABusyCallerYetFinishes) {
  TempDir tmp;
  auto root = tmp / "root";
  write_file(root / "debug/deps/a.rlib", "a");
  write_file(root / "debug/deps/b.rlib", "b");
  Snapshot before = test::snapshot(root);
  for (auto p : {config::Priority::normal, config::Priority::low}) {
    SCOPED_TRACE(config::to_string(p));
    BusyHooks hooks;
    Options opts;
    opts.hooks = &hooks;
    opts.pace.priority = p;
    auto ws = tmp / ("ws-" + std::string(config::to_string(p)));
    SeedRun r = seed(root, ws, opts);
    ASSERT_FALSE(r.failure) << r.failure->to_string();
    EXPECT_EQ(r.stats.files_done, 2u) << "a yield is bounded: the work still ends";
    EXPECT_EQ(test::diff(test::snapshot(root), test::snapshot(ws)), "");
    if (p == config::Priority::normal) {
      EXPECT_EQ(hooks.asked, 0) << "normal priority runs at full speed";
      EXPECT_EQ(r.stats.yielded_seconds, 0.0);
    } else {
      EXPECT_GT(hooks.asked, 0);
      EXPECT_GT(r.stats.yielded_seconds, 0.0);
    }
  }
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

TEST(Seeder, RateLimitsPaceTheWorkAndKeepTheResult) {
  TempDir tmp;
  auto root = tmp / "root";
  make_tree(root);
  for (int f = 0; f < 30; ++f) write_file(root / "debug/.fingerprint/many" / std::to_string(f), std::string(40000, 'x'));
  Snapshot before = test::snapshot(root);
  Options opts;
  opts.pace.files_per_s = 200;
  opts.pace.bytes_per_s = 4 << 20;  // the 1.2 MB of copies: about 0.3 s
  SeedRun r = seed(root, tmp / "ws", opts);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_GT(r.stats.paced_seconds, 0.0);
  EXPECT_EQ(r.stats.files_done, r.stats.files_found);
  Options plain;
  SeedRun ref = seed(root, tmp / "ref", plain);
  ASSERT_FALSE(ref.failure);
  EXPECT_EQ(ref.stats.paced_seconds, 0.0);
  EXPECT_EQ(test::diff(test::snapshot(tmp / "ref"), test::snapshot(tmp / "ws")), "");
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

// A cancel in the middle of a paced copy: no failure, and no half-written file
// under the file's name (the copy is an O_TMPFILE until it is whole).
TEST(Seeder, CancelDuringAPacedCopyLeavesNoPartialFile) {
  TempDir tmp;
  auto root = tmp / "root", dest = tmp / "ws";
  write_file(root / "debug/build/x-1/out/big.bin", test::blob("big", 8 << 20));
  Snapshot before = test::snapshot(root);
  fs::create_directories(dest);
  Options opts;
  opts.pace.bytes_per_s = 1 << 20;  // 8 s for the file, in 1 MiB chunks
  Seeder s(open_dir(root), open_dir(dest), cargo(), opts);
  s.start();
  while (s.stats().paced_seconds == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  s.cancel();
  EXPECT_FALSE(s.wait()) << "a cancel is not a failure";
  EXPECT_TRUE(s.cancelled());
  EXPECT_FALSE(fs::exists(dest / "debug/build/x-1/out/big.bin"));
  for (auto& e : fs::directory_iterator(dest / "debug/build/x-1/out"))
    ADD_FAILURE() << "left behind: " << e.path();
  EXPECT_EQ(test::diff(before, test::snapshot(root)), "");
}

TEST(BuildLock, SeesALockHeldByABuild) {
  TempDir tmp;
  auto target = tmp / "target";
  write_file(target / "debug/.cargo-lock", "");
  write_file(target / "x86_64-unknown-linux-gnu/release/.cargo-lock", "");
  auto fd = open_dir(target);
  EXPECT_FALSE(held_build_lock(fd.get()));

  int lock = ::open((target / "x86_64-unknown-linux-gnu/release/.cargo-lock").c_str(), O_RDWR);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(::flock(lock, LOCK_EX), 0);
  // flock conflicts between open file descriptions, even in one process.
  auto held = held_build_lock(fd.get());
  ASSERT_TRUE(held);
  EXPECT_EQ(*held, "x86_64-unknown-linux-gnu/release/.cargo-lock");
  ::close(lock);
  EXPECT_FALSE(held_build_lock(fd.get()));
}

// sys::Reach: a path of PATH_MAX or more is reached a stretch at a time, and
// fails as the call itself would (never ENAMETOOLONG for a path that exists).
TEST(Sys, ReachesPathsLongerThanPathMaxAndFailsAsTheCallWould) {
  TempDir tmp("seedfs-reach");
  std::error_code ec;
  sys::UniqueFd top = sys::open_dir(AT_FDCWD, tmp.path().c_str(), ec);
  std::string name(250, 'n'), rel;
  sys::UniqueFd dir(::dup(top.get()));
  for (int i = 0; i < 40; ++i) {  // 10 KB
    ASSERT_EQ(::mkdirat(dir.get(), name.c_str(), 0755), 0);
    dir.reset(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY));
    rel += (rel.empty() ? "" : "/") + name;
  }
  std::string file = rel + "/file";
  ASSERT_GT(file.size(), 2u * PATH_MAX);
  // Made, written, read, statted and removed through the long path.
  EXPECT_EQ(sys::beneath(top.get(), file.c_str(), [](int d, const char* n) {
              return ::mknodat(d, n, S_IFREG | 0644, 0);
            }), 0) << std::strerror(errno);
  struct stat st {};
  EXPECT_FALSE(sys::lstat_at(top.get(), file.c_str(), st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_TRUE(sys::open_at(top.get(), file.c_str(), O_WRONLY, 0, ec)) << ec.message();
  EXPECT_EQ(sys::beneath(top.get(), file.c_str(), top.get(), (rel + "/renamed").c_str(),
                         [](int d1, const char* n1, int d2, const char* n2) { return ::renameat(d1, n1, d2, n2); }),
            0) << std::strerror(errno);
  EXPECT_EQ(sys::lstat_at(top.get(), file.c_str(), st).value(), ENOENT);
  EXPECT_FALSE(sys::lstat_at(top.get(), (rel + "/renamed").c_str(), st));
  // An intermediate dir missing, or a file where a dir should be: the errno a
  // short path would give.
  std::string missing = rel.substr(0, rel.size() - 1) + "x/" + rel + "/f";
  EXPECT_EQ(sys::lstat_at(top.get(), missing.c_str(), st).value(), ENOENT);
  std::string through_file = rel + "/renamed/" + rel;
  EXPECT_EQ(sys::lstat_at(top.get(), through_file.c_str(), st).value(), ENOTDIR);
  sys::Reach r(top.get(), missing.c_str());
  EXPECT_EQ(r.error().value(), ENOENT);
  // One name longer than PATH_MAX cannot be reached at all.
  EXPECT_EQ(sys::lstat_at(top.get(), std::string(PATH_MAX + 10, 'z').c_str(), st).value(), ENAMETOOLONG);
  // A short path is passed on untouched.
  sys::Reach same(top.get(), "a/b");
  EXPECT_EQ(same.dir(), top.get());
  EXPECT_STREQ(same.name(), "a/b");
}

}  // namespace
}  // namespace seedfs::seeding

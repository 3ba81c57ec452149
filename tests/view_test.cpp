// The FUSE view on real mounts: DESIGN.md's invariants 1-5, checked while the
// materializer runs (throttled, so that the test acts while it works) and
// after it completes and the mount goes away.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "fs/artifact_mount.hpp"
#include "seeding/seeder.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs::fs {
namespace {

using test::Snapshot;
using test::TempDir;
using test::write_file;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kOld = 1600000000;

void make_root(const stdfs::path& t) {
  write_file(t / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55", 0644, kOld);
  for (int i = 0; i < 40; ++i) {
    std::string c = "crate" + std::to_string(i);
    write_file(t / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib of " + c + std::string(i * 100, 'r'), 0644, kOld + i);
    write_file(t / "debug/deps" / ("lib" + c + "-1.rmeta"), "rmeta of " + c, 0644, kOld + i);
    write_file(t / "debug/deps" / (c + "-1.d"), "deps of " + c, 0644, kOld);
    write_file(t / "debug/deps" / (c + "-1." + c + ".0.rcgu.o"), "object", 0644, kOld);
    write_file(t / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp" + std::to_string(i), 0644, kOld + 7);
    write_file(t / "debug/.fingerprint" / (c + "-1") / ("lib-" + c + ".json"), "{\"v\":" + std::to_string(i) + "}", 0644, kOld + 8);
  }
  write_file(t / "debug/deps/app-1", "#!/bin/sh\necho app\n", 0755, kOld);
  write_file(t / "debug/build/ring-1/out/libring.a", "archive", 0644, kOld);
  write_file(t / "debug/build/ring-1/output", "cargo:rustc-link-lib=static=ring", 0644, kOld);
  write_file(t / "debug/incremental/app-x/s-1/dep-graph.bin", "inc", 0644, kOld);
  write_file(t / "debug/.cargo-lock", "", 0644, kOld);
  ::symlink("deps/libcrate0-1.rmeta", (t / "debug/latest.rmeta").c_str());
}

// What the view must equal right after mounting: the root through the skip rules.
Snapshot filtered(const stdfs::path& root, const TempDir& tmp) {
  auto ref = tmp / "reference";
  stdfs::create_directories(ref);
  std::error_code ec;
  seeding::Seeder s(sys::open_dir(AT_FDCWD, root.c_str(), ec), sys::open_dir(AT_FDCWD, ref.c_str(), ec),
                    *config::builtin().find("cargo"), seeding::Options{});
  EXPECT_FALSE(s.run());
  return test::snapshot(ref);
}

class View : public ::testing::Test {
 protected:
  void SetUp() override {
    SEEDFS_REQUIRE_FUSE_OR_SKIP();
    root = tmp / "main/target";
    ws = tmp / "ws/target";
    make_root(root);
    stdfs::create_directories(ws.parent_path());
    root_before = test::snapshot(root);
  }

  void TearDown() override {
    mount_.reset();
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root)), "") << "the root changed";
    }
  }

  void mount(std::chrono::microseconds throttle = 20ms, unsigned workers = 1) {
    MountSettings s;
    s.artifact = *config::builtin().find("cargo");
    s.root_dir = root;
    s.ws_dir = ws;
    s.journal_file = tmp / "state/cargo.journal";
    s.workers = workers;
    s.throttle = throttle;
    s.t0 = t0;
    s.keep_mounted = keep;
    stdfs::create_directories(ws);
    std::error_code ec0;
    upper = sys::open_dir(AT_FDCWD, ws.c_str(), ec0);  // the real dir, as the daemon sees it
    mount_ = std::make_unique<ArtifactMount>(s);
    std::string why;
    auto ec = mount_->mount(why);
    ASSERT_FALSE(ec) << why << ": " << ec.message();
    mount_->start();
  }

  void wait_done() {
    ASSERT_TRUE(mount_->wait_for(60s)) << "materialization did not finish";
    EXPECT_EQ(mount_->status().phase, Phase::done) << mount_->status().error;
  }

  struct stat stat_of(const stdfs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
    return st;
  }

  TempDir tmp{"seedfs-view"};
  stdfs::path root, ws;
  Snapshot root_before;
  std::unique_ptr<ArtifactMount> mount_;
  sys::UniqueFd upper;
  seeding::Instant t0;  // unset: the view shows the root live
  std::error_code ec0;
  bool keep = false;    // MountSettings::keep_mounted

  // One more file in the root, before mounting (the snapshot is taken again).
  void add_root_file(const stdfs::path& rel, const std::string& content) {
    write_file(root / rel, content, 0644, kOld);
    root_before = test::snapshot(root);
  }

  // Still mounted? A test that acts after completion would act on the plain dir.
  bool live() { return mount_at(ws.string()).has_value(); }

  // Whether the workspace dir (under the mount) holds `rel` as a hardlink of the root's file.
  bool linked(const stdfs::path& rel) {
    struct stat u {};
    return ::fstatat(upper.get(), rel.c_str(), &u, AT_SYMLINK_NOFOLLOW) == 0 &&
           u.st_ino == stat_of(root / rel).st_ino;
  }
};

TEST_F(View, IsLiveAtOnceAndEqualsTheFilteredRoot) {
  Snapshot expected = filtered(root, tmp);
  mount(50ms);
  EXPECT_NE(mount_->status().phase, Phase::done);
  EXPECT_EQ(test::diff(expected, test::snapshot(ws)), "");
  EXPECT_EQ(mount_->status().stats.files_done, mount_->status().stats.files_done);
  EXPECT_LT(mount_->status().stats.files_done, 10u) << "the throttle should keep it busy";
}

TEST_F(View, ConvergesToTheViewAndUnmounts) {
  Snapshot expected = filtered(root, tmp);
  mount(0us, 2);
  wait_done();
  EXPECT_FALSE(mount_at(ws.string())) << "the mount must be gone";
  EXPECT_EQ(test::diff(expected, test::snapshot(ws)), "");
  // A plain directory of hardlinks and copies.
  EXPECT_EQ(stat_of(ws / "debug/deps/libcrate3-1.rlib").st_ino, stat_of(root / "debug/deps/libcrate3-1.rlib").st_ino);
  EXPECT_NE(stat_of(ws / "debug/.fingerprint/crate3-1/lib-crate3").st_ino,
            stat_of(root / "debug/.fingerprint/crate3-1/lib-crate3").st_ino);
}

TEST_F(View, WritesLandInTheWorkspaceAndDeletionsNeverComeBack) {
  mount();
  // New files and dirs, in dirs the materializer has not reached yet.
  write_file(ws / "debug/deps/libnew-2.rlib", "new rlib");
  write_file(ws / "debug/.fingerprint/new-2/lib-new", "new fp");
  stdfs::create_directories(ws / "debug/fresh/dir");
  // Deletions of root entries, files and a whole directory.
  stdfs::remove(ws / "debug/deps/libcrate5-1.rlib");
  stdfs::remove(ws / "debug/deps/libcrate39-1.rmeta");
  stdfs::remove_all(ws / "debug/.fingerprint/crate7-1");
  stdfs::remove(ws / "debug/latest.rmeta");
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate5-1.rlib"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/.fingerprint/crate7-1"));
  // A deleted name may be created again, with new content.
  write_file(ws / "debug/deps/libcrate39-1.rmeta", "rebuilt");
  Snapshot view = test::snapshot(ws);
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_EQ(test::diff(view, test::snapshot(ws)), "") << "after unmount, the dir must equal the view";
  EXPECT_EQ(test::read_file(ws / "debug/deps/libnew-2.rlib"), "new rlib");
  EXPECT_EQ(test::read_file(ws / "debug/deps/libcrate39-1.rmeta"), "rebuilt");
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate5-1.rlib"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/.fingerprint/crate7-1"));
  EXPECT_FALSE(stdfs::exists(stdfs::symlink_status(ws / "debug/latest.rmeta")));
  EXPECT_GE(mount_->status().deletions, 4u);
}

TEST_F(View, WritingALinkedFileCopiesItUpFirst) {
  // As a materializer (or an earlier, interrupted mount) leaves them: hardlinks of the root's files.
  const char* rels[] = {"debug/deps/libcrate2-1.rlib", "debug/deps/libcrate3-1.rlib",
                        "debug/deps/libcrate4-1.rlib", "debug/deps/libcrate6-1.rmeta"};
  stdfs::create_directories(ws / "debug/deps");
  for (const char* r : rels) stdfs::create_hard_link(root / r, ws / r);
  mount();
  for (const char* r : rels) ASSERT_TRUE(linked(r)) << r;
  auto rel = stdfs::path(rels[0]);
  {
    int fd = ::open((ws / rel).c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "+tail", 5), 5);
    ::close(fd);
  }
  EXPECT_EQ(test::read_file(ws / rel), test::read_file(root / rel) + "+tail");
  // chmod and utimens of another linked file, a truncate of a third.
  EXPECT_EQ(::chmod((ws / rels[1]).c_str(), 0600), 0);
  struct timespec ts[2] = {{1, 0}, {2, 0}};
  EXPECT_EQ(::utimensat(AT_FDCWD, (ws / rels[2]).c_str(), ts, 0), 0);
  EXPECT_EQ(::truncate((ws / rels[3]).c_str(), 3), 0);
  EXPECT_EQ(test::read_file(ws / rels[3]), "rme");
  ASSERT_TRUE(live()) << "the test must act while the view is mounted";
  EXPECT_EQ(mount_->status().copy_ups, 4u);
  for (const char* r : rels) EXPECT_FALSE(linked(r)) << r << " must be a private copy now";
  wait_done();
  EXPECT_EQ(test::read_file(ws / rel), test::read_file(root / rel) + "+tail");
  EXPECT_EQ(stat_of(ws / rels[1]).st_mode & 07777, 0600u);
  EXPECT_EQ(stat_of(ws / rels[2]).st_mtim.tv_sec, 2);
  EXPECT_EQ(test::read_file(ws / rels[3]), "rme");
  // TearDown: the root is byte-, mode- and mtime-identical.
}

TEST_F(View, TruncatingOpenAndRewriteOfFingerprints) {
  mount();
  auto fp = ws / "debug/.fingerprint/crate1-1/lib-crate1";
  write_file(fp, "rewritten in place", 0644);  // O_TRUNC, as cargo does
  EXPECT_EQ(test::read_file(fp), "rewritten in place");
  auto out = ws / "debug/build/ring-1/output";
  {
    int fd = ::open(out.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "CARGO", 5, 0), 5);
    ::close(fd);
  }
  EXPECT_EQ(test::read_file(out).substr(0, 10), "CARGO:rust");
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_EQ(test::read_file(ws / "debug/.fingerprint/crate1-1/lib-crate1"), "rewritten in place");
}

TEST_F(View, RenamesOfRootFilesAndDirectories) {
  mount();
  stdfs::rename(ws / "debug/deps/libcrate8-1.rlib", ws / "debug/deps/libcrate8-2.rlib");
  stdfs::rename(ws / "debug/.fingerprint/crate9-1", ws / "debug/.fingerprint/crate9-2");
  // Over an existing root file.
  stdfs::rename(ws / "debug/deps/libcrate10-1.rmeta", ws / "debug/deps/libcrate11-1.rmeta");
  // RENAME_NOREPLACE onto an existing name fails.
  EXPECT_NE(::renameat2(AT_FDCWD, (ws / "debug/deps/libcrate12-1.rlib").c_str(), AT_FDCWD,
                        (ws / "debug/deps/libcrate13-1.rlib").c_str(), RENAME_NOREPLACE), 0);
  EXPECT_EQ(errno, EEXIST);
  Snapshot view = test::snapshot(ws);
  EXPECT_FALSE(view.count("debug/deps/libcrate8-1.rlib"));
  EXPECT_TRUE(view.count("debug/.fingerprint/crate9-2/lib-crate9.json"));
  EXPECT_FALSE(view.count("debug/.fingerprint/crate9-1"));
  EXPECT_EQ(test::read_file(ws / "debug/deps/libcrate11-1.rmeta"), "rmeta of crate10");
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_EQ(test::diff(view, test::snapshot(ws)), "");
}

TEST_F(View, RmdirNeedsAnEmptyViewAndSticks) {
  mount();
  auto d = ws / "debug/.fingerprint/crate20-1";
  EXPECT_NE(::rmdir(d.c_str()), 0);
  EXPECT_EQ(errno, ENOTEMPTY);
  stdfs::remove(d / "lib-crate20");
  stdfs::remove(d / "lib-crate20.json");
  EXPECT_EQ(::rmdir(d.c_str()), 0) << std::strerror(errno);
  EXPECT_FALSE(stdfs::exists(d));
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_FALSE(stdfs::exists(d));
}

TEST_F(View, HardlinksMadeThroughTheViewShareWrites) {
  mount();
  write_file(ws / "debug/own.txt", "one");
  ASSERT_EQ(::link((ws / "debug/own.txt").c_str(), (ws / "debug/own2.txt").c_str()), 0);
  write_file(ws / "debug/own2.txt", "two");
  EXPECT_EQ(test::read_file(ws / "debug/own.txt"), "two");
  // A hardlink of a root file: the new family is the workspace's own.
  ASSERT_EQ(::link((ws / "debug/deps/libcrate30-1.rlib").c_str(), (ws / "debug/copy.rlib").c_str()), 0);
  write_file(ws / "debug/copy.rlib", "changed");
  EXPECT_EQ(test::read_file(ws / "debug/deps/libcrate30-1.rlib"), "changed");
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_EQ(test::read_file(ws / "debug/own.txt"), "two");
}

// The same for names that are not regular files (pjdfstest link/00, rename/23,
// unlink/00): a chmod through one name, the link count after a link, an
// unlink or a rename over one of them, all seen at once through the others.
TEST_F(View, HardlinkedFifosShowEachOthersAttributes) {
  mount();
  auto a = ws / "debug/fifo-a", b = ws / "debug/fifo-b", c = ws / "debug/fifo-c";
  ASSERT_EQ(::mkfifo(a.c_str(), 0644), 0);
  EXPECT_EQ(stat_of(a).st_nlink, 1u);  // cached, for an hour if nothing says otherwise
  ASSERT_EQ(::link(a.c_str(), b.c_str()), 0);
  EXPECT_EQ(stat_of(a).st_nlink, 2u);
  ASSERT_EQ(::link(b.c_str(), c.c_str()), 0);
  EXPECT_EQ(stat_of(a).st_nlink, 3u);
  ASSERT_EQ(::chmod(b.c_str(), 0201), 0);
  EXPECT_EQ(stat_of(a).st_mode & 07777, 0201u);
  EXPECT_EQ(stat_of(c).st_mode & 07777, 0201u);
  ASSERT_EQ(::unlink(c.c_str()), 0);
  EXPECT_EQ(stat_of(a).st_nlink, 2u);
  write_file(ws / "debug/plain", "x");
  ASSERT_EQ(::rename((ws / "debug/plain").c_str(), b.c_str()), 0);
  EXPECT_EQ(stat_of(a).st_nlink, 1u);
  ASSERT_TRUE(live());
}

TEST_F(View, MmapReadsAndSymlinks) {
  mount();
  auto p = ws / "debug/deps/libcrate25-1.rlib";
  int fd = ::open(p.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  size_t size = static_cast<size_t>(stat_of(p).st_size);
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  EXPECT_EQ(std::string(static_cast<char*>(m), size), test::read_file(root / "debug/deps/libcrate25-1.rlib"));
  ::munmap(m, size);
  ::close(fd);
  EXPECT_EQ(stdfs::read_symlink(ws / "debug/latest.rmeta"), "deps/libcrate0-1.rmeta");
  EXPECT_EQ(test::read_file(ws / "debug/latest.rmeta"), "rmeta of crate0");
  ::symlink("x", (ws / "debug/newlink").c_str());
  EXPECT_EQ(stdfs::read_symlink(ws / "debug/newlink"), "x");
  ASSERT_TRUE(live());
}

TEST_F(View, SkippedEntriesAreHiddenAndFreeToCreate) {
  mount();
  EXPECT_FALSE(stdfs::exists(ws / "debug/incremental"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/crate1-1.d"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/.cargo-lock"));
  write_file(ws / "debug/deps/crate1-1.d", "new deps");
  stdfs::create_directories(ws / "debug/incremental/app-y");
  EXPECT_EQ(std::distance(stdfs::directory_iterator(ws / "debug/incremental"), stdfs::directory_iterator{}), 1)
      << "the root's incremental/ must not show through";
  ASSERT_TRUE(live());
  wait_done();
  EXPECT_EQ(test::read_file(ws / "debug/deps/crate1-1.d"), "new deps");
  EXPECT_TRUE(stdfs::is_empty(ws / "debug/incremental/app-y"));
}

// FUSE passthrough (fs/passthrough.hpp): the kernel reads the backing file
// itself. Where this kernel has it and the daemon may use it, it must be on.
bool kernel_has_passthrough() {
  struct utsname u {};
  int major = 0, minor = 0;
  if (::geteuid() != 0 || ::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
      major < 6 || (major == 6 && minor < 9))
    return false;
  // Built with it? Where the kernel's config can be read, it says.
  std::string config;
  if (stdfs::exists("/proc/config.gz")) config = test::run_process({"zcat", "/proc/config.gz"}).out;
  else if (stdfs::exists(std::string("/boot/config-") + u.release))
    config = test::read_file(std::string("/boot/config-") + u.release);
  return config.empty() || config.find("CONFIG_FUSE_PASSTHROUGH=y") != std::string::npos;
}

TEST_F(View, PassthroughServesBigFilesAndThePageCacheSmallOnes) {
  const stdfs::path big = "debug/deps/libbig-1.rlib";
  add_root_file(big, std::string(300 * 1024, 'b') + "end");
  mount(10s);
  const stdfs::path small = "debug/deps/libcrate7-1.rlib";
  EXPECT_EQ(test::read_file(ws / small), test::read_file(root / small));
  uint64_t after_small = mount_->status().daemon_reads;
  EXPECT_GT(after_small, 0u) << "a small file is read through the daemon, into the page cache";
  std::string want = test::read_file(root / big);
  EXPECT_EQ(test::read_file(ws / big), want);
  int fd = ::open((ws / big).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* p = ::mmap(nullptr, want.size(), PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(std::string(static_cast<char*>(p), want.size()), want);
  ::munmap(p, want.size());
  ::close(fd);
  if (kernel_has_passthrough()) {
    EXPECT_TRUE(mount_->status().passthrough);
    EXPECT_EQ(mount_->status().daemon_reads, after_small) << "the kernel read the big file itself";
  }
}

// The kernel binds a file to the backing file of its first open while opens
// last; a writer's copy-up makes another. The writer gets a file of its own,
// the reader keeps what it opened, and the root does not change (TearDown).
TEST_F(View, WriterOfAFileThatAReaderHoldsGetsAPrivateCopy) {
  const stdfs::path rel = "debug/deps/libbig-1.rlib";
  const std::string old = std::string(200 * 1024, 'o');
  add_root_file(rel, old);
  mount(10s);
  int reader = ::open((ws / rel).c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  char c = 0;
  ASSERT_EQ(::pread(reader, &c, 1, 0), 1);
  int writer = ::open((ws / rel).c_str(), O_WRONLY);
  ASSERT_GE(writer, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(writer, "NEW", 3, 0), 3);
  ::close(writer);
  std::string now = old;
  now.replace(0, 3, "NEW");
  EXPECT_EQ(test::read_file(ws / rel), now) << "a new open sees the write";
  std::string held(old.size(), '\0');
  EXPECT_EQ(::pread(reader, held.data(), held.size(), 0), static_cast<ssize_t>(old.size()));
  // With passthrough the reader holds the file it opened; through the page
  // cache it shares the node's pages, which the write went through.
  EXPECT_EQ(held.substr(0, 3), kernel_has_passthrough() ? "ooo" : "NEW");
  ::close(reader);
  EXPECT_EQ(test::read_file(ws / rel), now);
}

TEST_F(View, TruncateThroughThePathWhileAReaderHoldsTheFile) {
  const stdfs::path rel = "debug/deps/libbig-1.rlib";
  add_root_file(rel, std::string(200 * 1024, 't'));
  mount(10s);
  int reader = ::open((ws / rel).c_str(), O_RDONLY);
  ASSERT_GE(reader, 0);
  char c = 0;
  ASSERT_EQ(::pread(reader, &c, 1, 0), 1);
  ASSERT_EQ(::truncate((ws / rel).c_str(), 2), 0) << std::strerror(errno);
  EXPECT_EQ(test::read_file(ws / rel), "tt") << "a new open sees the truncated file";
  ::close(reader);
  EXPECT_EQ(test::read_file(ws / rel), "tt");
  EXPECT_EQ(stat_of(ws / rel).st_size, 2);
}

TEST_F(View, BusyMountIsUnmountedLazilyAndKeepsServing) {
  mount(1ms, 1);
  int fd = ::open((ws / "debug/deps/libcrate1-1.rlib").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  int lock_fd = ::open((ws / "debug/.cargo-lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(lock_fd, 0);
  ASSERT_EQ(::flock(lock_fd, LOCK_EX), 0);
  // Materialization finishes; the open files keep the mount busy.
  for (int i = 0; i < 3000 && !(mount_->status().phase == Phase::draining && mount_->status().lazy); ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(mount_->status().lazy) << to_string(mount_->status().phase);
  EXPECT_FALSE(mount_at(ws.string())) << "detached from the namespace";
  char buf[8] = {};
  EXPECT_EQ(::pread(fd, buf, 7, 0), 7) << "an open file keeps working";
  EXPECT_EQ(std::string(buf, 7), "rlib of");
  // The lock reached the real file: taking it on the plain directory now conflicts.
  int real = ::open((ws / "debug/.cargo-lock").c_str(), O_RDWR);
  ASSERT_GE(real, 0);
  EXPECT_NE(::flock(real, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ::close(fd);
  ::close(lock_fd);
  wait_done();
  EXPECT_EQ(::flock(real, LOCK_EX | LOCK_NB), 0) << "the lock must go with the last close";
  ::close(real);
}

// cargo waits for .cargo-lock through the view while the holder keeps
// building through it: a waiting flock holds a daemon thread, and the others
// must go on serving (threads are started as requests need them).
TEST_F(View, LockWaitersHoldAThreadEachAndTheViewServesOn) {
  mount(10s, 1);
  const dev_t view_dev = stat_of(ws).st_dev;  // names the connection, should the view stall
  const auto lock_path = ws / "debug/.cargo-lock";
  int holder = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);  // skipped: made here
  ASSERT_GE(holder, 0) << std::strerror(errno);
  ASSERT_EQ(::flock(holder, LOCK_EX), 0);
  constexpr int kWaiters = 3;
  std::atomic<int> got{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      int fd = ::open(lock_path.c_str(), O_RDWR);
      if (fd < 0) return;
      if (::flock(fd, LOCK_EX) == 0) ++got;  // one at a time, after the holder
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(got.load(), 0) << "the waiters must block while the holder has the lock";
  // While they wait, the holder reads and writes through the view.
  auto work = std::async(std::launch::async, [&] {
    std::string all;
    for (int i = 0; i < 40; ++i)
      all += test::read_file(ws / ("debug/deps/libcrate" + std::to_string(i) + "-1.rmeta"));
    write_file(ws / "debug/holder-was-here", "yes");
    return all.size() > 0 && stdfs::exists(ws / "debug/holder-was-here");
  });
  bool served = work.wait_for(30s) == std::future_status::ready;
  if (!served) {
    // The daemon's only thread waits in flock for a lock that only a close
    // it cannot serve would release: no teardown can end. Free the kernel's
    // side (no stale mount is left) and end the process with the failure.
    test::abort_fuse_connection(view_dev);
    ::umount2(ws.c_str(), MNT_DETACH);
    ADD_FAILURE() << "the view stalled while lock waiters held its threads";
    std::_Exit(1);
  }
  ::close(holder);  // releases the lock: the waiters go on, one after another
  for (auto& t : waiters) t.join();
  EXPECT_TRUE(work.get());
  EXPECT_EQ(got.load(), kWaiters);
  EXPECT_TRUE(live());
}

TEST_F(View, StopLeavesAStateThatTheNextMountResumes) {
  mount(5ms, 1);
  stdfs::remove(ws / "debug/deps/libcrate35-1.rlib");
  write_file(ws / "debug/mine.txt", "kept");
  std::this_thread::sleep_for(50ms);
  mount_->stop();
  ASSERT_TRUE(mount_->wait_for(30s));
  EXPECT_EQ(mount_->status().phase, Phase::stopped);
  EXPECT_FALSE(mount_at(ws.string()));
  EXPECT_TRUE(stdfs::exists(tmp / "state/cargo.journal"));
  mount_.reset();
  mount(0us, 2);
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate35-1.rlib")) << "deleted before the stop";
  wait_done();
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate35-1.rlib"));
  EXPECT_EQ(test::read_file(ws / "debug/mine.txt"), "kept");
  EXPECT_TRUE(stdfs::exists(ws / "debug/deps/libcrate34-1.rlib"));
}

TEST_F(View, DeletionsOutliveCompletionUntilTheDirIsMadeAnew) {
  mount();
  stdfs::remove(ws / "debug/deps/libcrate12-1.rlib");
  stdfs::remove_all(ws / "debug/.fingerprint/crate13-1");
  ASSERT_TRUE(live());
  wait_done();
  // Mounting the same workspace again must not bring them back.
  mount_.reset();
  mount(0us, 2);
  wait_done();
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate12-1.rlib"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/.fingerprint/crate13-1"));
  EXPECT_TRUE(stdfs::exists(ws / "debug/deps/libcrate11-1.rlib"));
  // A new workspace dir is a new start: everything is seeded.
  mount_.reset();
  stdfs::remove_all(ws);
  mount(0us, 2);
  wait_done();
  EXPECT_TRUE(stdfs::exists(ws / "debug/deps/libcrate12-1.rlib"));
  EXPECT_TRUE(stdfs::exists(ws / "debug/.fingerprint/crate13-1/lib-crate13"));
}

// ---- T0: the root rebuilt while the workspace seeds (seeding/instant.hpp) ----

// What the root's cargo does to a unit it rebuilds after T0: replaces the
// rlib, rewrites the fingerprint in place (setting the dep-info's mtime
// back), and adds files of a new unit.
void rebuild_in_root(const stdfs::path& root, int crate) {
  std::string c = "crate" + std::to_string(crate);
  write_file(root / "debug/deps" / ("lib" + c + "-1.rlib.tmp"), "NEW rlib of " + c);
  stdfs::rename(root / "debug/deps" / ("lib" + c + "-1.rlib.tmp"), root / "debug/deps" / ("lib" + c + "-1.rlib"));
  write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "NEW fp");
  write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c + ".json"), "{\"v\":\"NEW\"}", 0644, kOld + 8);
  write_file(root / "debug/.fingerprint/newunit-1/lib-newunit", "NEW unit");
}

class ViewT0 : public View, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    View::SetUp();
    keep = GetParam();
    std::this_thread::sleep_for(20ms);  // the root's files a tick older than T0
    t0 = seeding::Instant::now(sys::open_dir(AT_FDCWD, root.c_str(), ec).get());
  }
  std::error_code ec;
};

// Rebuilt before the view looks: the view never shows the new files, the
// materializer never makes them, and the plain dir it leaves lacks them.
TEST_P(ViewT0, WhatTheRootChangedAfterT0IsNeverShown) {
  rebuild_in_root(root, 5);
  root_before = test::snapshot(root);
  mount(keep ? 0us : 2ms, 2);
  for (const char* gone : {"debug/deps/libcrate5-1.rlib", "debug/.fingerprint/crate5-1/lib-crate5",
                           "debug/.fingerprint/crate5-1/lib-crate5.json", "debug/.fingerprint/newunit-1"}) {
    struct stat st {};
    EXPECT_NE(::lstat((ws / gone).c_str(), &st), 0) << gone << " changed after T0 and is shown";
  }
  std::set<std::string> listed;
  for (auto& e : stdfs::directory_iterator(ws / "debug/deps")) listed.insert(e.path().filename().string());
  EXPECT_FALSE(listed.count("libcrate5-1.rlib"));
  EXPECT_TRUE(listed.count("libcrate5-1.rmeta")) << "untouched by the rebuild: still shown";
  EXPECT_EQ(test::read_file(ws / "debug/deps/libcrate6-1.rlib"), "rlib of crate6" + std::string(600, 'r'));
  // cargo's view of the unit: no fingerprint, so it rebuilds it here.
  EXPECT_FALSE(stdfs::exists(ws / "debug/.fingerprint/crate5-1/lib-crate5"));
  EXPECT_GE(mount_->status().changed_after_t0, 3u);
  if (keep) return;
  wait_done();
  EXPECT_FALSE(stdfs::exists(ws / "debug/deps/libcrate5-1.rlib"));
  EXPECT_FALSE(stdfs::exists(ws / "debug/.fingerprint/newunit-1"));
  EXPECT_TRUE(stdfs::exists(ws / "debug/deps/libcrate5-1.rmeta"));
  EXPECT_EQ(mount_->status().changed_after_t0, 4u);
}

// Rebuilt after the kernel looked the names up and cached them (for an hour):
// an open of a name whose root file changed must not serve the new file. It
// serves the workspace's copy where the materializer made one, else the name
// is gone.
TEST_P(ViewT0, ANameLookedUpBeforeTheRootChangedItNeverServesTheNewFile) {
  mount(keep ? 0us : 1s, 1);  // the materializer reaches a file a second, if at all
  auto rlib = ws / "debug/deps/libcrate7-1.rlib", fp = ws / "debug/.fingerprint/crate7-1/lib-crate7";
  EXPECT_EQ(test::read_file(fp), "fp7");
  struct stat before = stat_of(rlib);
  EXPECT_TRUE(S_ISREG(before.st_mode));
  rebuild_in_root(root, 7);
  root_before = test::snapshot(root);
  for (const auto& p : {rlib, fp}) {
    std::ifstream in(p, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got.find("NEW"), std::string::npos) << p << " served the root's file written after T0";
  }
  // Not materialized (yet): the names are gone, for stat too, once an open
  // found out. Materialized first: the workspace's file, the one of T0.
  if (!keep) mount_->stop();
  for (const auto& p : {rlib, fp}) {
    struct stat st {};
    if (linked(p.lexically_relative(ws)) || ::fstatat(upper.get(), p.lexically_relative(ws).c_str(), &st, 0) == 0) continue;
    EXPECT_NE(::lstat(p.c_str(), &st), 0) << p << ": the kernel kept showing a name whose root file changed";
  }
}

// cargo's freshness check only stats a unit's outputs: a name the kernel
// cached (for an hour) must not keep saying "here" once the root replaced
// it, even if nothing opens it (fs/root_watch.hpp).
TEST_P(ViewT0, ACachedNameTheRootReplacedIsDroppedWithoutAnOpen) {
  mount(keep ? 0us : 1s, 1);
  auto rlib = ws / "debug/deps/libcrate9-1.rlib", rmeta = ws / "debug/deps/libcrate9-1.rmeta";
  struct stat st {};
  ASSERT_EQ(::lstat(rlib.c_str(), &st), 0);
  ASSERT_EQ(::lstat(rmeta.c_str(), &st), 0);
  rebuild_in_root(root, 9);  // replaces the rlib, not the rmeta
  root_before = test::snapshot(root);
  if (linked("debug/deps/libcrate9-1.rlib")) GTEST_SKIP() << "materialized before the root changed it";
  bool dropped = false;
  for (auto until = std::chrono::steady_clock::now() + 30s; !dropped && std::chrono::steady_clock::now() < until;) {
    dropped = ::lstat(rlib.c_str(), &st) != 0 && errno == ENOENT;
    if (!dropped) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(dropped) << "the kernel still shows the root's replaced library";
  EXPECT_EQ(::lstat(rmeta.c_str(), &st), 0) << "an untouched name was dropped";
}

// The root's `cargo clean` while the materializer walks it: what it removed
// is left out, and the materialization completes without a failure.
TEST_F(View, TheRootCleanedDuringMaterializationIsNoFailure) {
  std::this_thread::sleep_for(20ms);  // the root's files a tick older than T0
  t0 = seeding::Instant::now(sys::open_dir(AT_FDCWD, root.c_str(), ec0).get());
  mount(5ms, 1);
  stdfs::remove_all(root / "debug/.fingerprint");
  stdfs::remove_all(root / "debug/deps");
  root_before = test::snapshot(root);
  wait_done();
  EXPECT_TRUE(mount_->status().error.empty()) << mount_->status().error;
  EXPECT_TRUE(stdfs::exists(ws / "debug/build/ring-1/output"));
}

// ---- paths longer than PATH_MAX ----
//
// The kernel walks any depth a name at a time, and ext4 keeps such trees;
// only a single path of PATH_MAX bytes or more is refused. The daemon
// reaches entries by their path below <ws>/target, longer than what its
// caller walked, so a tree a build may make must not end there.

constexpr int kDeepLevels = 60;  // 60 names of 200 bytes: a path of 12 KB, three times PATH_MAX

std::string deep_name(int level) {
  std::string n = "level" + std::to_string(level) + "-";
  return n + std::string(200 - n.size(), 'd');
}

// Opens (O_PATH) the deepest dir of the chain below `top`, a name at a time.
sys::UniqueFd open_deep(const stdfs::path& top, int levels = kDeepLevels) {
  sys::UniqueFd fd(::open(top.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; fd && i < levels; ++i) {
    int next = ::openat(fd.get(), deep_name(i).c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    EXPECT_GE(next, 0) << "level " << i << ": " << std::strerror(errno);
    fd.reset(next);
  }
  return fd;
}

void write_at(int dir, const char* name, const std::string& content, mode_t mode, int64_t mtime = kOld) {
  sys::UniqueFd f(::openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  ASSERT_TRUE(f) << name << ": " << std::strerror(errno);
  ASSERT_EQ(::write(f.get(), content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::fchmod(f.get(), mode);
  struct timespec t[2] = {{mtime, 0}, {mtime, 0}};
  ::futimens(f.get(), t);
}

std::string read_at(int dir, const char* name) {
  sys::UniqueFd f(::openat(dir, name, O_RDONLY | O_CLOEXEC));
  if (!f) return std::string("<") + std::strerror(errno) + ">";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(f.get(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

// A chain of kDeepLevels dirs below `top`, with files, an executable and a
// symlink at a few depths.
void make_deep(const stdfs::path& top) {
  stdfs::create_directories(top);
  sys::UniqueFd fd(::open(top.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < kDeepLevels; ++i) {
    ASSERT_EQ(::mkdirat(fd.get(), deep_name(i).c_str(), 0755), 0) << std::strerror(errno);
    fd.reset(::openat(fd.get(), deep_name(i).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (i % 15 == 14 || i == kDeepLevels - 1) {
      std::string tag = std::to_string(i);
      write_at(fd.get(), "data.bin", "data at level " + tag + std::string(i * 50, 'x'), 0644);
      write_at(fd.get(), "tool", "#!/bin/sh\necho level " + tag + "\n", 0755);
      ASSERT_EQ(::symlinkat("data.bin", fd.get(), "latest"), 0);
    }
  }
}

// Entries below the deepest dir's parent chain except those in it.
test::Snapshot outside_deepest(const test::Snapshot& snap) {
  std::string deepest;
  for (int i = 0; i < kDeepLevels; ++i) deepest += "/" + deep_name(i);
  test::Snapshot out;
  for (const auto& [rel, e] : snap)
    if (rel.find(deepest + "/") == std::string::npos) out.emplace(rel, e);
  return out;
}

TEST_F(View, PathsLongerThanPathMaxWorkThroughTheViewAndMaterialize) {
  stdfs::path top = "debug/build/deep-1/out";
  make_deep(root / top);
  root_before = test::snapshot(root);
  ASSERT_GT(root_before.size(), 300u) << "the snapshot must reach the deepest entries";
  Snapshot expected = filtered(root, tmp);
  std::string deepest = top.string();
  for (int i = 0; i < kDeepLevels; ++i) deepest += "/" + deep_name(i);
  ASSERT_GT(deepest.size(), 2u * PATH_MAX);
  ASSERT_TRUE(expected.count(deepest + "/data.bin")) << "the seeder reaches the deepest file";
  mount(5ms);

  // Reads at every depth, then changes in the deepest dir, through the view.
  sys::UniqueFd deep = open_deep(ws / top);
  ASSERT_TRUE(deep);
  const std::string data = read_at(deep.get(), "data.bin");
  EXPECT_EQ(data.rfind("data at level 59", 0), 0u) << data;
  char link[64] = {};
  EXPECT_EQ(::readlinkat(deep.get(), "latest", link, sizeof link - 1), 8) << std::strerror(errno);
  EXPECT_STREQ(link, "data.bin");
  for (int level : {14, 29, 44}) {
    sys::UniqueFd mid = open_deep(ws / top, level + 1);
    EXPECT_EQ(read_at(mid.get(), "tool"), "#!/bin/sh\necho level " + std::to_string(level) + "\n");
  }
  EXPECT_TRUE(live()) << "the changes below must go through the view";
  write_at(deep.get(), "new.txt", "made through the view", 0640, 0);
  ASSERT_EQ(::mkdirat(deep.get(), "sub", 0700), 0) << std::strerror(errno);
  ASSERT_EQ(::renameat(deep.get(), "data.bin", deep.get(), "moved.bin"), 0) << std::strerror(errno);
  ASSERT_EQ(::unlinkat(deep.get(), "latest", 0), 0) << std::strerror(errno);
  ASSERT_EQ(::linkat(deep.get(), "new.txt", deep.get(), "new-link.txt", 0), 0) << std::strerror(errno);
  ASSERT_EQ(::symlinkat("moved.bin", deep.get(), "to-moved"), 0) << std::strerror(errno);
  {
    sys::UniqueFd f(::openat(deep.get(), "tool", O_WRONLY | O_APPEND | O_CLOEXEC));  // a copy-up
    ASSERT_TRUE(f) << std::strerror(errno);
    ASSERT_EQ(::write(f.get(), "exit 0\n", 7), 7);
  }
  ASSERT_EQ(::fchmodat(deep.get(), "moved.bin", 0600, 0), 0) << std::strerror(errno);
  deep.reset();

  wait_done();
  ASSERT_FALSE(live());
  // The plain dir: the changes, and the rest equal to what the root shows.
  deep = open_deep(ws / top);
  ASSERT_TRUE(deep);
  EXPECT_EQ(read_at(deep.get(), "moved.bin"), data);
  EXPECT_EQ(read_at(deep.get(), "new.txt"), "made through the view");
  EXPECT_EQ(read_at(deep.get(), "tool"), "#!/bin/sh\necho level 59\nexit 0\n");
  struct stat a {}, b {}, m {};
  EXPECT_EQ(::fstatat(deep.get(), "new.txt", &a, 0), 0);
  EXPECT_EQ(::fstatat(deep.get(), "new-link.txt", &b, 0), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(::fstatat(deep.get(), "moved.bin", &m, 0), 0);
  EXPECT_EQ(m.st_mode & 07777, 0600u);
  EXPECT_NE(::faccessat(deep.get(), "data.bin", F_OK, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_NE(::faccessat(deep.get(), "latest", F_OK, AT_SYMLINK_NOFOLLOW), 0);
  struct stat sub {};
  EXPECT_EQ(::fstatat(deep.get(), "sub", &sub, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISDIR(sub.st_mode));
  test::Snapshot got = test::snapshot(ws);
  EXPECT_EQ(got.size(), expected.size() + 3) << "three names more in the deepest dir, the same count elsewhere";
  EXPECT_EQ(test::diff(outside_deepest(expected), outside_deepest(got)), "");
}

INSTANTIATE_TEST_SUITE_P(Mode, ViewT0, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Kept" : "Materializing"; });

}  // namespace
}  // namespace seedfs::fs

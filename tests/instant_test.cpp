// T0 (seeding/instant.hpp): how a root entry is judged against the instant
// the workspace sees, the record that keeps T0 across runs, the locks it is
// taken in, and the engine leaving out what the root changed after it.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "seeding/build_lock.hpp"
#include "seeding/instant.hpp"
#include "seeding/seeder.hpp"
#include "tests/test_util.hpp"

namespace seedfs::seeding {
namespace {

using test::TempDir;
using test::write_file;
namespace fs = std::filesystem;

constexpr int64_t kOld = 1600000000;

sys::UniqueFd open_dir(const fs::path& p) {
  std::error_code ec;
  auto fd = sys::open_dir(AT_FDCWD, p.c_str(), ec);
  EXPECT_TRUE(fd) << p << ": " << ec.message();
  return fd;
}

struct statx statx_of(const fs::path& p) {
  struct statx sx {};
  EXPECT_EQ(sys::statx_at(AT_FDCWD, p.c_str(), sx), std::error_code{}) << p;
  return sx;
}

// T0 now, after the entries made so far are safely older: the coarse clock
// moves in ticks of a few ms, and an entry stamped in T0's own tick counts as
// changed.
Instant t0_after_a_tick(const fs::path& root) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return Instant::now(open_dir(root).get());
}

void set_mtime(const fs::path& p, int64_t secs) {
  struct timespec ts[2] = {{secs, 0}, {secs, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << p;
}

TEST(Instant, UnsetShowsEverything) {
  TempDir t;
  write_file(t / "f", "x");
  EXPECT_FALSE(Instant().set());
  EXPECT_TRUE(Instant().shows(statx_of(t / "f"), Rewrites::in_place));
}

// Each way the root's cargo (or a user) changes an entry after T0, and the
// changes that must not hide one (a hardlink made by another seedfs).
TEST(Instant, JudgesEachKindOfChange) {
  TempDir t;
  for (const char* f : {"untouched", "rewritten", "backdated", "linked.rlib", "linked", "chmodded", "renamed.rlib"})
    write_file(t / f, "old", 0644, kOld);
  fs::create_directories(t / "old-dir");
  Instant t0 = t0_after_a_tick(t.path());
  ASSERT_TRUE(t0.set());

  write_file(t / "rewritten", "new", 0644);           // in place, mtime now
  write_file(t / "backdated", "new", 0644, kOld);     // in place, mtime set back (cargo's dep-info)
  ASSERT_EQ(::link((t / "linked.rlib").c_str(), (t / "elsewhere.rlib").c_str()), 0);  // another seedfs
  ASSERT_EQ(::link((t / "linked").c_str(), (t / "elsewhere").c_str()), 0);
  ASSERT_EQ(::chmod((t / "chmodded").c_str(), 0600), 0);
  write_file(t / "copied-with-old-times", "new", 0644, kOld);  // cp -p: a new inode, old times
  write_file(t / "old-dir/new-entry", "new", 0644);   // the dir's own times move
  fs::create_directories(t / "new-dir");

  auto in_place = [&](const char* f) { return t0.shows(statx_of(t / f), Rewrites::in_place); };
  auto replaced = [&](const char* f) { return t0.shows(statx_of(t / f), Rewrites::replace_only); };
  EXPECT_TRUE(in_place("untouched"));
  EXPECT_TRUE(replaced("untouched"));
  EXPECT_FALSE(in_place("rewritten"));
  EXPECT_FALSE(replaced("rewritten"));
  EXPECT_FALSE(in_place("backdated")) << "only ctime tells a rewrite whose mtime was set back";
  EXPECT_TRUE(replaced("linked.rlib")) << "a second worktree's hardlink must not hide a library";
  EXPECT_FALSE(in_place("linked")) << "a file rewritten in place: any ctime change may be a rewrite";
  EXPECT_FALSE(in_place("chmodded"));
  struct statx born = statx_of(t / "copied-with-old-times");
  if (born.stx_mask & STATX_BTIME) {
    EXPECT_FALSE(t0.shows(born, Rewrites::replace_only)) << "a new inode with old times";
  }
  EXPECT_TRUE(in_place("old-dir")) << "a directory is judged by its birth, not by its entries";
  struct statx new_dir = statx_of(t / "new-dir");
  if (new_dir.stx_mask & STATX_BTIME) {
    EXPECT_FALSE(t0.shows(new_dir, Rewrites::in_place));
  }
}

// The timestamps of files come from the kernel's coarse clock, which lags
// the real time: a write made right after T0 must never look older than T0.
// (Since Linux 6.13 a file whose times were just read gets a fine-grained
// stamp on its next change, as here; before, the coarse clock's lag is what
// taking T0 from that same clock guards against.)
TEST(Instant, AWriteRightAfterT0NeverLooksOlder) {
  TempDir t;
  auto dir = open_dir(t.path());
  for (int i = 0; i < 500; ++i) {
    Instant t0 = Instant::now(dir.get());
    write_file(t / "f", std::to_string(i));
    ASSERT_FALSE(t0.shows(statx_of(t / "f"), Rewrites::replace_only)) << "round " << i;
  }
}

TEST(Instant, RecordKeepsT0ForOneWorkspaceDir) {
  TempDir t;
  fs::create_directories(t / "ws");
  auto file = t / "state/cargo.t0";
  Instant t0 = Instant::at_ns(1765000000123456789);
  {
    auto ws = open_dir(t / "ws");
    EXPECT_FALSE(load_instant(file, ws.get()));
    ASSERT_EQ(save_instant(file, ws.get(), t0), std::error_code{});
    auto back = load_instant(file, ws.get());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->ns(), t0.ns());
  }
  // The dir removed and made anew: another workspace dir, a new seeding.
  fs::remove(t / "ws");
  write_file(t / "filler", "takes the old inode number, if the filesystem reuses it");
  fs::create_directories(t / "ws");
  EXPECT_FALSE(load_instant(file, open_dir(t / "ws").get()));
}

TEST(BuildLocks, HeldSharedTheyKeepABuildOutAndNeverWrite) {
  TempDir t;
  write_file(t / "debug/.cargo-lock", "", 0644, kOld);
  write_file(t / "release/.cargo-lock", "", 0644, kOld);
  auto before = test::snapshot(t.path());
  auto root = open_dir(t.path());
  EXPECT_EQ(BuildLocks::count(root.get()), 2u);
  {
    BuildLocks locks;
    EXPECT_FALSE(locks.acquire(root.get()));
    EXPECT_EQ(locks.held(), 2u);
    // A build's exclusive lock must wait while seedfs holds them.
    sys::UniqueFd build(::open((t / "debug/.cargo-lock").c_str(), O_RDWR | O_CLOEXEC));
    EXPECT_NE(::flock(build.get(), LOCK_EX | LOCK_NB), 0);
  }
  {
    sys::UniqueFd build(::open((t / "release/.cargo-lock").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_EQ(::flock(build.get(), LOCK_EX | LOCK_NB), 0) << "released with the BuildLocks";
    BuildLocks locks;
    auto held = locks.acquire(root.get());
    ASSERT_TRUE(held);
    EXPECT_EQ(*held, "release/.cargo-lock");
    EXPECT_EQ(locks.held(), 0u) << "on a held lock, none is kept";
  }
  EXPECT_EQ(test::diff(before, test::snapshot(t.path())), "");
}

// ---- the engine and T0 ----

config::Artifact cargo() { return *config::builtin().find("cargo"); }

struct T0Run {
  Stats stats;
  std::optional<Failure> failure;
  std::set<std::string> changed;
};

T0Run seed_as_of(const fs::path& root, const fs::path& dest, Instant t0, Options opts = {},
                 config::Artifact art = cargo()) {
  fs::create_directories(dest);
  T0Run r;
  std::mutex mu;
  opts.t0 = t0;
  opts.on_changed = [&](std::string_view rel) {
    std::lock_guard lock(mu);
    r.changed.emplace(rel);
  };
  Seeder s(open_dir(root), open_dir(dest), std::move(art), opts);
  r.failure = s.run();
  r.stats = s.stats();
  return r;
}

// What a root build after T0 does to a cargo target, and what a second
// worktree's seedfs does: the first is left out, the second is not.
TEST(SeederT0, LeavesOutWhatTheRootChangedAfterT0) {
  TempDir t;
  auto root = t / "root";
  write_file(root / "debug/deps/libkept-1.rlib", "kept rlib", 0644, kOld);
  write_file(root / "debug/deps/libkept-1.rmeta", "kept rmeta", 0644, kOld);
  write_file(root / "debug/.fingerprint/kept-1/lib-kept", "kept fp", 0644, kOld);
  write_file(root / "debug/deps/libshared-1.rlib", "shared rlib", 0644, kOld);
  write_file(root / "debug/deps/libre-1.rlib", "old rlib", 0644, kOld);
  write_file(root / "debug/.fingerprint/re-1/lib-re", "old fp", 0644, kOld);
  write_file(root / "debug/.fingerprint/re-1/dep-lib-re", "old dep-info", 0644, kOld);
  write_file(root / "debug/deps/app-1", "old exe", 0755, kOld);
  write_file(root / "debug/build/gone-1/output", "gone", 0644, kOld);
  write_file(root / "debug/deps/libgone-1.rlib", "gone", 0644, kOld);
  fs::create_symlink("deps/libre-1.rlib", root / "debug/latest.rlib");
  // cargo's second name of a library (uplifted): the same inode as the deps/ one.
  ASSERT_EQ(::link((root / "debug/deps/libshared-1.rlib").c_str(), (root / "debug/libshared.rlib").c_str()), 0);
  Instant t0 = t0_after_a_tick(root);

  // The root's cargo rebuilds `re` and the app after T0.
  write_file(root / "debug/deps/libre-1.rlib.tmp", "new rlib", 0644);
  fs::rename(root / "debug/deps/libre-1.rlib.tmp", root / "debug/deps/libre-1.rlib");  // rustc replaces
  write_file(root / "debug/.fingerprint/re-1/lib-re", "new fp", 0644);                    // in place
  write_file(root / "debug/.fingerprint/re-1/dep-lib-re", "new dep-info", 0644, kOld);    // set back
  write_file(root / "debug/deps/app-1", "new exe", 0755);                                 // mold, in place
  write_file(root / "debug/.fingerprint/new-1/lib-new", "a new unit", 0644);
  fs::remove_all(root / "debug/build/gone-1");  // cargo clean -p
  fs::remove(root / "debug/deps/libgone-1.rlib");
  fs::remove(root / "debug/latest.rlib");
  fs::create_symlink("deps/libkept-1.rlib", root / "debug/latest.rlib");
  // Another worktree's seedfs hardlinks a library: not a change.
  fs::create_directories(t / "other");
  ASSERT_EQ(::link((root / "debug/deps/libshared-1.rlib").c_str(), (t / "other/libshared-1.rlib").c_str()), 0);
  auto root_before = test::snapshot(root);

  auto ws = t / "ws";
  T0Run r = seed_as_of(root, ws, t0);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  for (const char* kept : {"debug/deps/libkept-1.rlib", "debug/deps/libkept-1.rmeta",
                           "debug/.fingerprint/kept-1/lib-kept", "debug/deps/libshared-1.rlib",
                           "debug/libshared.rlib"})
    EXPECT_TRUE(fs::exists(ws / kept)) << kept;
  EXPECT_EQ(test::read_file(ws / "debug/deps/libshared-1.rlib"), "shared rlib");
  for (const char* left : {"debug/deps/libre-1.rlib", "debug/.fingerprint/re-1/lib-re",
                           "debug/.fingerprint/re-1/dep-lib-re", "debug/deps/app-1", "debug/.fingerprint/new-1",
                           "debug/latest.rlib"})
    EXPECT_FALSE(fs::exists(fs::symlink_status(ws / left))) << left << " changed after T0 and was seeded";
  EXPECT_EQ(r.changed, (std::set<std::string>{"debug/deps/libre-1.rlib", "debug/.fingerprint/re-1/lib-re",
                                              "debug/.fingerprint/re-1/dep-lib-re", "debug/deps/app-1",
                                              "debug/.fingerprint/new-1", "debug/latest.rlib"}));
  EXPECT_EQ(r.stats.changed, r.changed.size());
  EXPECT_EQ(test::diff(root_before, test::snapshot(root)), "");
}

// A root that changes while the engine walks it: files and dirs removed
// between the listing and the link are left out, never a failure.
TEST(SeederT0, EntriesRemovedDuringTheWalkAreLeftOut) {
  TempDir t;
  auto root = t / "root";
  for (int d = 0; d < 20; ++d)
    for (int f = 0; f < 20; ++f)
      write_file(root / ("debug/build/u-" + std::to_string(d) + "/out/f" + std::to_string(f)), "x", 0644, kOld);
  Instant t0 = t0_after_a_tick(root);
  // Remove each dir as the engine is about to make its first file (a root's
  // `cargo clean` racing the walk), through the hook the view uses.
  struct Remover : Hooks {
    fs::path root;
    std::mutex mu;
    std::set<std::string> removed;
    bool guard(std::string_view rel, EntryKind kind, FunctionRef<void()> make) override {
      if (kind == EntryKind::file) {
        std::string dir(rel.substr(0, rel.find("/out/")));
        std::lock_guard lock(mu);
        if (removed.insert(dir).second && removed.size() % 2 == 0) fs::remove_all(root / dir);
      }
      make();
      return true;
    }
  } hooks;
  hooks.root = root;
  Options opts;
  opts.hooks = &hooks;
  opts.batch_size = 4;
  T0Run r = seed_as_of(root, t / "ws", t0, opts);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_GT(r.stats.changed, 0u);
  EXPECT_EQ(r.stats.files_done, r.stats.files_found);
  for (const auto& rel : r.changed) EXPECT_FALSE(fs::exists(root / rel)) << rel << " is still in the root";
}

// A copy made while the root's cargo rewrites its source in place (a
// fingerprint, a build-script output) is never published torn: the file is
// left out. A library another seedfs hardlinks while it is copied (with
// hardlinks dropped) is still copied: its ctime moved, its bytes did not.
TEST(SeederT0, ACopyTornByARewriteIsNeverPublished) {
  TempDir t;
  auto root = t / "root";
  const size_t size = 8 << 20;
  write_file(root / "debug/build/big-1/out/generated.rs", std::string(size, 'a'), 0644, kOld);
  write_file(root / "debug/deps/libbig-1.rlib", std::string(size, 'r'), 0644, kOld);
  Instant t0 = t0_after_a_tick(root);
  Options opts;
  opts.workers = 1;
  opts.pace.bytes_per_s = 8 << 20;  // each copy takes about a second, in 1 MiB chunks
  std::atomic<bool> done{false};
  std::thread root_build([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // In place, same size, other bytes, and its mtime set back: only ctime tells.
    int fd = ::open((root / "debug/build/big-1/out/generated.rs").c_str(), O_WRONLY | O_CLOEXEC);
    std::string b(size, 'b');
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
    ::close(fd);
    set_mtime(root / "debug/build/big-1/out/generated.rs", kOld);
    ASSERT_EQ(::link((root / "debug/deps/libbig-1.rlib").c_str(), (t / "libbig-1.rlib").c_str()), 0);
    done = true;
  });
  config::Artifact art = cargo();
  art.drop_hardlinks();
  art.reflink_first = false;
  T0Run r = seed_as_of(root, t / "ws", t0, opts, art);
  root_build.join();
  ASSERT_TRUE(done);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_FALSE(fs::exists(t / "ws/debug/build/big-1/out/generated.rs")) << "a torn copy was published";
  EXPECT_EQ(r.changed, std::set<std::string>{"debug/build/big-1/out/generated.rs"});
  ASSERT_TRUE(fs::exists(t / "ws/debug/deps/libbig-1.rlib"));
  EXPECT_EQ(test::read_file(t / "ws/debug/deps/libbig-1.rlib"), std::string(size, 'r'));
  for (auto& e : fs::recursive_directory_iterator(t / "ws"))
    EXPECT_EQ(e.path().filename().string().find(".seedfs-tmp"), std::string::npos) << e.path();
}

// A root file replaced between the walk's look and the link: the new inode
// is never linked (the engine links the inode it judged, through its fd).
TEST(SeederT0, AFileReplacedJustBeforeItsLinkIsLeftOut) {
  TempDir t;
  auto root = t / "root";
  for (int i = 0; i < 50; ++i)
    write_file(root / ("debug/deps/libx-" + std::to_string(i) + ".rlib"), "old " + std::to_string(i), 0644, kOld);
  Instant t0 = t0_after_a_tick(root);
  struct Replacer : Hooks {
    fs::path root;
    bool guard(std::string_view rel, EntryKind, FunctionRef<void()> make) override {
      std::string r(rel);
      if (r.find("-1") != std::string::npos) {  // libx-1, libx-10..19: replaced as rustc does
        write_file(root / (r + ".tmp"), "new");
        fs::rename(root / (r + ".tmp"), root / r);
      }
      make();
      return true;
    }
  } hooks;
  hooks.root = root;
  Options opts;
  opts.hooks = &hooks;
  T0Run r = seed_as_of(root, t / "ws", t0, opts);
  ASSERT_FALSE(r.failure) << r.failure->to_string();
  EXPECT_EQ(r.changed.size(), 11u);
  for (int i = 0; i < 50; ++i) {
    auto p = t / ("ws/debug/deps/libx-" + std::to_string(i) + ".rlib");
    if (r.changed.count("debug/deps/libx-" + std::to_string(i) + ".rlib")) {
      EXPECT_FALSE(fs::exists(p)) << p;
    } else {
      EXPECT_EQ(test::read_file(p), "old " + std::to_string(i));
    }
  }
}

}  // namespace
}  // namespace seedfs::seeding

// git/: the mtime sync of a new worktree's sources, on real git repositories.
// Every test also checks that the root checkout is unchanged: its files, their
// mtimes, and its git index (asked without optional locks, git must not
// rewrite it); only .git/worktrees/, which holds the new worktree's own index,
// may change.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "git/checkout.hpp"
#include "git/mtimes.hpp"
#include "tests/test_util.hpp"

namespace seedfs {
namespace {

namespace stdfs = std::filesystem;
using test::TempDir;

constexpr int64_t kRootTime = 1700000000;  // the root's sources: old, with nanoseconds below

struct timespec mtime_of(const stdfs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mtim;
}

bool same(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

void set_mtime(const stdfs::path& p, int64_t sec, long nsec) {
  const struct timespec t[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(sec), nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), t, AT_SYMLINK_NOFOLLOW), 0) << p;
}

class GitSync : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "main";
    ws = tmp / "feature";
    git(tmp.path(), {"init", "-q", "-b", "main", root.string()});
    test::write_file(root / "Cargo.toml", "[workspace]\nmembers = [\"core\", \"app\"]\n");
    test::write_file(root / "core/src/lib.rs", "pub fn one() -> u32 { 1 }\n");
    test::write_file(root / "app/src/main.rs", "fn main() {}\n");
    test::write_file(root / "app/build.sh", "#!/bin/sh\n", 0755);
    test::write_file(root / "docs/notes.md", "notes\n");
    test::write_file(root / ".gitignore", "/target\n");
    commit("first");
  }

  void TearDown() override {
    if (!before.empty()) {
      EXPECT_EQ(test::diff(before, root_now()), "") << "the root changed";
    }
  }

  test::Result git(const stdfs::path& dir, std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-c", "user.name=t", "-c", "user.email=t@t"});
    test::Result r = test::run_process(args, dir, true);
    EXPECT_EQ(r.rc, 0) << test::show(r);
    return r;
  }

  void commit(const std::string& msg) {
    git(root, {"add", "-A"});
    git(root, {"commit", "-q", "-m", msg});
  }

  // The root's tracked files get old mtimes (as after a build long ago), then
  // a worktree is made (its files: now) and the root snapshotted.
  void make_worktree(const std::string& at = "HEAD") {
    for (auto& e : stdfs::recursive_directory_iterator(root))
      if (e.is_regular_file() && e.path().string().find("/.git/") == std::string::npos)
        set_mtime(e.path(), kRootTime, 123456789);
    git(root, {"worktree", "add", "-q", "--detach", ws.string(), at});
    before = root_now();
  }

  test::Snapshot root_now() {
    test::Snapshot s = test::snapshot(root);
    std::erase_if(s, [](const auto& kv) { return kv.first.rfind(".git/worktrees", 0) == 0; });
    return s;
  }

  TempDir tmp{"seedfs-git"};
  stdfs::path root, ws;
  test::Snapshot before;
};

TEST_F(GitSync, IdenticalFilesGetTheRootsMtime) {
  make_worktree();
  git::MtimeSync s = git::sync_mtimes(root, ws);
  EXPECT_EQ(s.skipped, "");
  EXPECT_EQ(s.warning, "");
  EXPECT_EQ(s.tracked, 6u);
  EXPECT_EQ(s.identical, 6u);
  EXPECT_EQ(s.changed, 6u);
  EXPECT_EQ(s.differ + s.uncommitted, 0u);
  for (auto f : {"Cargo.toml", "core/src/lib.rs", "app/src/main.rs", "app/build.sh", ".gitignore"})
    EXPECT_TRUE(same(mtime_of(ws / f), mtime_of(root / f))) << f;
  // The index was refreshed: git sees no change, and needs to read no file to know.
  EXPECT_EQ(git(ws, {"status", "--porcelain"}).out, "");
  EXPECT_EQ(git(ws, {"diff-files", "--name-only"}).out, "") << "the workspace's index was not refreshed";
  // A second run has nothing left to do.
  git::MtimeSync again = git::sync_mtimes(root, ws);
  EXPECT_EQ(again.identical, 6u);
  EXPECT_EQ(again.changed, 0u);
}

TEST_F(GitSync, OtherContentKeepsItsNewMtime) {
  git(root, {"tag", "old"});
  test::write_file(root / "core/src/lib.rs", "pub fn one() -> u32 { 2 }\n");
  stdfs::remove(root / "docs/notes.md");
  commit("second");
  make_worktree("old");  // the workspace is at the first commit: lib.rs differs, notes.md is not in the root
  auto lib_before = mtime_of(ws / "core/src/lib.rs"), notes_before = mtime_of(ws / "docs/notes.md");
  git::MtimeSync s = git::sync_mtimes(root, ws);
  EXPECT_EQ(s.skipped, "");
  EXPECT_EQ(s.differ, 2u);
  EXPECT_EQ(s.identical, 4u);
  EXPECT_TRUE(same(mtime_of(ws / "core/src/lib.rs"), lib_before));
  EXPECT_TRUE(same(mtime_of(ws / "docs/notes.md"), notes_before));
  EXPECT_GT(mtime_of(ws / "core/src/lib.rs").tv_sec, kRootTime);
  EXPECT_TRUE(same(mtime_of(ws / "app/src/main.rs"), mtime_of(root / "app/src/main.rs")));
}

TEST_F(GitSync, UncommittedEditsOnEitherSideAreLeftAlone) {
  make_worktree();
  // The root's edit was made after its build: its mtime must not be lent.
  test::write_file(root / "core/src/lib.rs", "pub fn one() -> u32 { 3 }\n");
  set_mtime(root / "core/src/lib.rs", kRootTime + 10, 0);
  test::write_file(ws / "app/src/main.rs", "fn main() { println!(); }\n");
  before = root_now();
  auto lib_before = mtime_of(ws / "core/src/lib.rs"), main_before = mtime_of(ws / "app/src/main.rs");
  git::MtimeSync s = git::sync_mtimes(root, ws);
  EXPECT_EQ(s.uncommitted, 2u);
  EXPECT_EQ(s.identical, 4u);
  EXPECT_TRUE(same(mtime_of(ws / "core/src/lib.rs"), lib_before));
  EXPECT_TRUE(same(mtime_of(ws / "app/src/main.rs"), main_before));
  EXPECT_EQ(test::read_file(ws / "app/src/main.rs"), "fn main() { println!(); }\n");
  EXPECT_TRUE(same(mtime_of(ws / "Cargo.toml"), mtime_of(root / "Cargo.toml")));
}

TEST_F(GitSync, OnlyTheProjectDirIsSynced) {
  make_worktree();
  git::MtimeSync s = git::sync_mtimes(root / "core", ws / "core");
  EXPECT_EQ(s.skipped, "");
  EXPECT_EQ(s.tracked, 1u);
  EXPECT_EQ(s.changed, 1u);
  EXPECT_TRUE(same(mtime_of(ws / "core/src/lib.rs"), mtime_of(root / "core/src/lib.rs")));
  EXPECT_GT(mtime_of(ws / "Cargo.toml").tv_sec, kRootTime) << "a file outside the project was changed";
  // The same project must be at the same place in both repositories.
  git::MtimeSync other = git::sync_mtimes(root / "core", ws / "app");
  EXPECT_NE(other.skipped.find("in the workspace's"), std::string::npos) << other.skipped;
}

TEST_F(GitSync, DryRunChangesNothing) {
  make_worktree();
  auto ws_before = test::snapshot(ws);
  git::MtimeSync s = git::sync_mtimes(root, ws, /*dry_run=*/true);
  EXPECT_EQ(s.changed, 6u);
  EXPECT_EQ(test::diff(ws_before, test::snapshot(ws)), "");
}

TEST_F(GitSync, NotACheckoutIsSkipped) {
  make_worktree();
  auto plain = tmp / "plain";
  stdfs::create_directories(plain);
  test::write_file(plain / "Cargo.toml", "[workspace]\n");
  auto plain_before = test::snapshot(plain);
  git::MtimeSync s = git::sync_mtimes(root, plain);
  EXPECT_NE(s.skipped.find("the workspace " + plain.string() + " is not a git checkout"), std::string::npos)
      << s.skipped;
  EXPECT_EQ(test::diff(plain_before, test::snapshot(plain)), "");
  s = git::sync_mtimes(plain, ws);
  EXPECT_NE(s.skipped.find("the root " + plain.string() + " is not a git checkout"), std::string::npos)
      << s.skipped;
}

// Git runs its hooks with GIT_DIR and GIT_WORK_TREE set to the new worktree:
// questions about the root must still reach the root.
TEST_F(GitSync, HookEnvironmentDoesNotMisdirect) {
  make_worktree();
  ::setenv("GIT_DIR", (root / ".git/worktrees/feature").c_str(), 1);
  ::setenv("GIT_WORK_TREE", ws.c_str(), 1);
  git::MtimeSync s = git::sync_mtimes(root, ws);
  std::string why;
  auto c = git::checkout_of(root, why);
  ::unsetenv("GIT_DIR");
  ::unsetenv("GIT_WORK_TREE");
  EXPECT_EQ(s.changed, 6u);
  ASSERT_TRUE(c) << why;
  EXPECT_FALSE(c->linked());
  EXPECT_TRUE(same(mtime_of(ws / "Cargo.toml"), mtime_of(root / "Cargo.toml")));
}

TEST_F(GitSync, CheckoutAndMainWorktree) {
  make_worktree();
  std::string why;
  auto w = git::checkout_of(ws / "core/src", why);
  ASSERT_TRUE(w) << why;
  EXPECT_EQ(w->top, stdfs::canonical(ws));
  EXPECT_EQ(w->prefix, "core/src");
  EXPECT_TRUE(w->linked());
  auto m = git::main_worktree(*w, why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(*m, stdfs::canonical(root));
  EXPECT_FALSE(git::checkout_of(tmp.path(), why));
  EXPECT_NE(why.find("not in a git checkout"), std::string::npos) << why;
}

}  // namespace
}  // namespace seedfs

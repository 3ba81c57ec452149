// seedfs as git starts it: `seedfs seed` and `seedfs mount` with no <root>
// and <ws> in a linked worktree, the errors elsewhere, the source-mtime sync
// as the commands report it, and the post-checkout hook of `seedfs hook
// install` run by a real `git worktree add`. The root is a git repository
// with a cargo-like target/ (no cargo here: tests/e2e/ builds for real);
// every test checks that the root's target/ and sources are unchanged.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "fs/mount.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs {
namespace {

using test::Result;
using test::show;
using test::TempDir;
using test::write_file;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

class Worktree : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_RUNTIME_DIR", (tmp / "run").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (tmp / "state").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp / "config").c_str(), 1);
    ::unsetenv("SEEDFS_NO_HOOK");
    stdfs::create_directories(tmp / "run");
    root = tmp / "main";
    ws = tmp / "feature";
    git(tmp.path(), {"init", "-q", "-b", "main", root.string()});
    write_file(root / "Cargo.toml", "[workspace]\nmembers = [\"app\"]\nresolver = \"2\"\n", 0644, 1600000000);
    write_file(root / "app/Cargo.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
               0644, 1600000000);
    write_file(root / "app/src/main.rs", "fn main() {}\n", 0644, 1600000000);
    write_file(root / ".gitignore", "/target\n", 0644, 1600000000);
    git(root, {"add", "-A"});
    git(root, {"commit", "-q", "-m", "first"});
    for (int i = 0; i < 20; ++i) {
      std::string c = "c" + std::to_string(i);
      write_file(root / "target/debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, 1600000100 + i);
      write_file(root / "target/debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, 1600000100);
    }
  }

  void TearDown() override {
    for (auto p : {ws / "target"})
      if (fs::mount_at(p.string())) {
        seedfs({"unmount", ws.string()});
        if (fs::mount_at(p.string())) ::umount2(p.c_str(), MNT_DETACH);
      }
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, root_now()), "") << "the root changed";
    }
  }

  // The root without .git/ (its worktree list and the new worktree's index
  // live there and change, as with any `git worktree add`).
  test::Snapshot root_now() {
    test::Snapshot s = test::snapshot(root);
    std::erase_if(s, [](const auto& kv) { return kv.first.rfind(".git", 0) == 0; });
    return s;
  }

  Result git(const stdfs::path& dir, std::vector<std::string> args, int expect_rc = 0) {
    args.insert(args.begin(), {"git", "-c", "user.name=t", "-c", "user.email=t@t"});
    Result r = test::run_process(args, dir, true);
    EXPECT_EQ(r.rc, expect_rc) << show(r);
    return r;
  }

  Result seedfs(const std::vector<std::string>& args, const stdfs::path& cwd = {}) {
    std::vector<std::string> argv{SEEDFS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv, cwd.empty() ? tmp.path() : cwd);
  }

  void add_worktree() {
    git(root, {"worktree", "add", "-q", "--detach", ws.string()});
    root_before = root_now();
  }

  static int64_t mtime(const stdfs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mtim.tv_sec;
  }

  // The daemon has exited (materialization done, mount gone).
  void wait_done() {
    Result w = seedfs({"wait"}, ws);
    EXPECT_EQ(w.rc, 0) << show(w);
    for (int i = 0; i < 100 && fs::mount_at((ws / "target").string()); ++i) std::this_thread::sleep_for(50ms);
  }

  static bool have_cargo() { return test::run_process({"cargo", "--version"}).rc == 0; }

  // Commits a .cargo/config.toml to the root (so the worktree has it too).
  void commit_cargo_config(const std::string& text) {
    write_file(root / ".cargo/config.toml", text, 0644, 1600000000);
    git(root, {"add", "-A"});
    git(root, {"commit", "-q", "-m", "cargo config"});
  }

  // A cargo-like tree under the root's `dir` (relative), as cargo's build dir.
  void make_build_dir(const std::string& dir) {
    write_file(root / dir / "debug/deps/libapp-1.rlib", "rlib", 0644, 1600000200);
    write_file(root / dir / "debug/.fingerprint/app-1/bin-app", "fp", 0644, 1600000200);
  }

  TempDir tmp{"seedfs-worktree"};
  stdfs::path root, ws;
  test::Snapshot root_before;
};

TEST_F(Worktree, SeedWithNoArgumentsTakesTheMainWorktree) {
  add_worktree();
  Result r = seedfs({"seed", "--json"}, ws / "app/src");
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.root"), stdfs::canonical(root / "target").string());
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.workspace"), (stdfs::canonical(ws) / "target").string());
  EXPECT_EQ(test::json_value(r.out, "sources.synced"), "true") << r.out;
  EXPECT_EQ(test::json_value(r.out, "sources.mtimes_set"), "4");
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.dirs_from"), have_cargo() ? "cargo metadata" : "config");
  EXPECT_EQ(mtime(ws / "app/src/main.rs"), 1600000000);
  EXPECT_TRUE(stdfs::exists(ws / "target/debug/deps/libc7-1.rlib"));
  Result status = git(ws, {"status", "--porcelain", "--untracked-files=no"});
  EXPECT_EQ(status.out, "");
}

TEST_F(Worktree, MountWithNoArgumentsTakesTheMainWorktree) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  add_worktree();
  Result r = seedfs({"mount", "--throttle-us", "100000"}, ws);  // still live for `status` below
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("sources: 4 of 4 tracked files are the root's, 4 given its mtimes"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  Result s = seedfs({"status", "--json"}, ws);  // no <ws>: every mount; it is the only one
  EXPECT_EQ(test::json_value(s.out, "mounts.0.root"), stdfs::canonical(root).string()) << s.out;
  EXPECT_EQ(test::json_value(s.out, "mounts.0.sources.mtimes_set"), "4") << s.out;
  EXPECT_EQ(mtime(ws / "Cargo.toml"), 1600000000);
  wait_done();  // `wait` with no <ws>: the checkout of the current dir
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  EXPECT_TRUE(stdfs::exists(ws / "target/debug/deps/libc19-1.rlib"));
}

TEST_F(Worktree, NoRootOutsideALinkedWorktreeIsAClearError) {
  add_worktree();
  Result in_main = seedfs({"mount"}, root);
  EXPECT_EQ(in_main.rc, 2) << show(in_main);
  EXPECT_NE(in_main.err.find("is the main worktree of its repository"), std::string::npos) << in_main.err;
  auto plain = tmp / "plain";
  stdfs::create_directories(plain);
  for (const char* cmd : {"mount", "seed"}) {
    Result r = seedfs({cmd}, plain);
    EXPECT_EQ(r.rc, 2) << show(r);
    EXPECT_NE(r.err.find("is not in a git checkout: give <root> <ws>"), std::string::npos) << r.err;
  }
  Result no_ws = seedfs({"seed", root.string()}, plain);
  EXPECT_EQ(no_ws.rc, 2) << show(no_ws);
  EXPECT_NE(no_ws.err.find("no <ws> given"), std::string::npos) << no_ws.err;
  EXPECT_FALSE(stdfs::exists(plain / "target"));
  EXPECT_FALSE(stdfs::exists(ws / "target"));
}

// A workspace whose target/ has content keeps its mtimes (its own build there
// may be of other sources); so does one seeded with --no-sync-mtimes.
TEST_F(Worktree, SyncOnlyForANewWorkspaceAndNotWhenTurnedOff) {
  add_worktree();
  int64_t own = mtime(ws / "Cargo.toml");
  Result off = seedfs({"seed", root.string(), ws.string(), "--no-sync-mtimes", "--json"});
  ASSERT_EQ(off.rc, 0) << show(off);
  EXPECT_EQ(test::json_value(off.out, "sources.synced"), "false");
  EXPECT_EQ(mtime(ws / "Cargo.toml"), own);
  Result again = seedfs({"seed", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << show(again);
  EXPECT_NE(again.out.find("already has content"), std::string::npos) << again.out;
  EXPECT_EQ(mtime(ws / "Cargo.toml"), own);
  write_file(tmp / "config/seedfs/config.toml", "sync_mtimes = false\n");
  stdfs::remove_all(ws / "target");
  Result by_config = seedfs({"seed", root.string(), ws.string()});
  EXPECT_NE(by_config.out.find("mtimes not synced: off"), std::string::npos) << by_config.out;
  EXPECT_EQ(mtime(ws / "Cargo.toml"), own);
}

// `seedfs hook install` keeps the hook that was there and runs it first;
// `git worktree add` then mounts the new worktree with nothing else typed;
// `git checkout` of a branch does nothing; SEEDFS_NO_HOOK=1 skips it;
// uninstall puts the old hook back byte for byte.
TEST_F(Worktree, HookMountsEveryNewWorktree) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  auto hooks = root / ".git/hooks";
  std::string theirs = "#!/bin/sh\necho \"$@\" >> \"$(git rev-parse --git-common-dir)/their-hook.log\"\n";
  write_file(hooks / "post-checkout", theirs, 0755);
  Result install = seedfs({"hook", "install"}, root / "app");
  ASSERT_EQ(install.rc, 0) << show(install);
  EXPECT_NE(install.out.find("the hook that was there runs first"), std::string::npos) << install.out;
  EXPECT_EQ(seedfs({"hook", "install"}, root).rc, 0) << "a second install updates it";
  root_before = root_now();

  Result add = git(root, {"worktree", "add", "-q", "--detach", ws.string()});
  EXPECT_NE(add.out.find("mounted cargo: "), std::string::npos) << add.out;
  EXPECT_TRUE(fs::mount_at((ws / "target").string()) || stdfs::exists(ws / "target/debug/deps/libc0-1.rlib"))
      << "neither a live view nor a seeded target/ after `git worktree add`";
  EXPECT_EQ(mtime(ws / "app/src/main.rs"), 1600000000);
  std::string log = test::read_file(root / ".git/their-hook.log");
  EXPECT_NE(log.find(std::string(40, '0')), std::string::npos) << "their hook did not run: " << log;
  wait_done();

  // A branch checkout in the new worktree: not a new worktree, nothing mounted.
  git(ws, {"checkout", "-q", "-b", "topic"});
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));

  ::setenv("SEEDFS_NO_HOOK", "1", 1);
  auto skipped = tmp / "skipped";
  Result add2 = git(root, {"worktree", "add", "-q", "--detach", skipped.string()});
  ::unsetenv("SEEDFS_NO_HOOK");
  EXPECT_FALSE(stdfs::exists(skipped / "target")) << add2.out;

  Result un = seedfs({"hook", "uninstall"}, ws);  // from any worktree of the repository
  ASSERT_EQ(un.rc, 0) << show(un);
  EXPECT_EQ(test::read_file(hooks / "post-checkout"), theirs);
  EXPECT_FALSE(stdfs::exists(hooks / "post-checkout.seedfs-chained"));
  Result again = seedfs({"hook", "uninstall"}, root);
  EXPECT_EQ(again.rc, 0) << show(again);
  EXPECT_NE(again.out.find("someone else's: left alone"), std::string::npos) << again.out;
}

// The hook never makes the checkout fail, but git reports a chained hook's
// failure, as it would without seedfs.
TEST_F(Worktree, HookKeepsTheChainedHooksExitStatus) {
  auto hooks = root / ".git/hooks";
  write_file(hooks / "post-checkout", "#!/bin/sh\nexit 3\n", 0755);
  ASSERT_EQ(seedfs({"hook", "install"}, root).rc, 0);
  // seedfs itself fails here (the root's target/ is gone): git does not see it.
  stdfs::rename(root / "target", tmp / "target-aside");
  git(root, {"worktree", "add", "-q", "--detach", ws.string()}, 3);
  stdfs::remove(hooks / "post-checkout.seedfs-chained");
  git(root, {"worktree", "add", "-q", "--detach", (tmp / "second").string()}, 0);
  EXPECT_FALSE(stdfs::exists(tmp / "second/target"));
}

// ---- the artifact dirs as cargo sees them (cargo metadata) ----

TEST_F(Worktree, CargosTargetDirIsSeeded) {
  if (!have_cargo()) GTEST_SKIP() << "no cargo on PATH";
  commit_cargo_config("[build]\ntarget-dir = \"out\"\n");
  make_build_dir("out");
  add_worktree();
  Result r = seedfs({"seed", "--json"}, ws);
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.root"), stdfs::canonical(root / "out").string()) << r.out;
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.workspace"), (stdfs::canonical(ws) / "out").string());
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.dirs_from"), "cargo metadata");
  EXPECT_TRUE(stdfs::exists(ws / "out/debug/deps/libapp-1.rlib"));
  EXPECT_FALSE(stdfs::exists(ws / "target")) << "target/ is not where cargo builds here";
}

// build.build-dir (cargo 1.91+) with a {workspace-root} template: the build
// dir is what makes a build fresh, and what is seeded.
TEST_F(Worktree, CargosBuildDirIsSeeded) {
  if (!have_cargo()) GTEST_SKIP() << "no cargo on PATH";
  commit_cargo_config("[build]\nbuild-dir = \"{workspace-root}/build-cache\"\n");
  make_build_dir("build-cache");
  add_worktree();
  Result meta = test::run_process({"cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"}, ws);
  if (test::json_value(meta.out, "build_directory") == "(missing)") GTEST_SKIP() << "cargo older than 1.91";
  Result r = seedfs({"seed", "--json"}, ws);
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.root"), stdfs::canonical(root / "build-cache").string()) << r.out;
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.workspace"), (stdfs::canonical(ws) / "build-cache").string());
  EXPECT_TRUE(stdfs::exists(ws / "build-cache/debug/.fingerprint/app-1/bin-app"));
}

// One CARGO_TARGET_DIR for both: their builds share it already. Refused
// before anything is touched, the sources included.
TEST_F(Worktree, SharedTargetDirIsRefused) {
  if (!have_cargo()) GTEST_SKIP() << "no cargo on PATH";
  auto shared = tmp / "shared-target";
  stdfs::rename(root / "target", shared);
  add_worktree();
  int64_t own = mtime(ws / "Cargo.toml");
  ::setenv("CARGO_TARGET_DIR", shared.c_str(), 1);
  Result seed = seedfs({"seed"}, ws);
  Result mount = seedfs({"mount"}, ws);
  ::unsetenv("CARGO_TARGET_DIR");
  for (const Result* r : {&seed, &mount}) {
    EXPECT_EQ(r->rc, 3) << show(*r);
    EXPECT_NE(r->err.find("build into the same directory " + stdfs::canonical(shared).string()), std::string::npos)
        << r->err;
  }
  EXPECT_EQ(mtime(ws / "Cargo.toml"), own);
  EXPECT_FALSE(fs::mount_at(shared.string()));
}

// Without cargo, the configured path; a path set in the config wins over cargo.
TEST_F(Worktree, ConfiguredPathWhereCargoCannotSay) {
  add_worktree();
  auto bin = tmp / "bin-without-cargo";
  stdfs::create_directories(bin);
  stdfs::create_symlink(test::run_process({"sh", "-c", "command -v git"}).out.substr(0, test::run_process({"sh", "-c", "command -v git"}).out.find('\n')), bin / "git");
  Result r = test::run_process({"env", "PATH=" + bin.string(), SEEDFS_BIN, "seed", "--json"}, ws);
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.dirs_from"), "config") << r.out;
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.workspace"), (stdfs::canonical(ws) / "target").string());

  stdfs::remove_all(ws / "target");
  write_file(ws / ".seedfs.toml", "[artifacts.cargo]\npath = \"target/debug\"\n");
  Result custom = seedfs({"seed", "--json"}, ws);
  ASSERT_EQ(custom.rc, 0) << show(custom);
  EXPECT_EQ(test::json_value(custom.out, "artifacts.0.root"), stdfs::canonical(root / "target/debug").string());
  EXPECT_EQ(test::json_value(custom.out, "artifacts.0.dirs_from"), "config");
}

// `seedfs du` in a worktree: every worktree's build dir, the seeded one's
// hardlinked libraries shared with the root, its copies its own, and the
// total what `du -s` says of both (no reflinks on this filesystem).
TEST_F(Worktree, DuMeasuresEveryWorktreesBuildDir) {
  add_worktree();
  Result s = seedfs({"seed"}, ws);
  ASSERT_EQ(s.rc, 0) << show(s);
  Result r = seedfs({"du", "--json"}, ws / "app");
  ASSERT_EQ(r.rc, 0) << show(r);
  stdfs::path rt = stdfs::canonical(root / "target"), wt = stdfs::canonical(ws / "target");
  ASSERT_EQ(test::json_value(r.out, "dirs.0.dir"), rt.string()) << r.out;
  ASSERT_EQ(test::json_value(r.out, "dirs.1.dir"), wt.string()) << r.out;
  EXPECT_EQ(test::json_value(r.out, "dirs.0.files"), "40");
  EXPECT_EQ(test::json_value(r.out, "dirs.1.files"), "40");
  uint64_t shared = 0, own = 0;
  for (auto& e : stdfs::recursive_directory_iterator(wt)) {
    struct stat st {};
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    (S_ISREG(st.st_mode) && st.st_nlink > 1 ? shared : own) += st.st_blocks * 512;
  }
  struct stat top {};
  ASSERT_EQ(::lstat(wt.c_str(), &top), 0);
  own += top.st_blocks * 512;
  EXPECT_EQ(test::json_value(r.out, "dirs.1.shared_links"), std::to_string(shared)) << r.out;
  EXPECT_EQ(test::json_value(r.out, "dirs.1.own"), std::to_string(own)) << r.out;
  EXPECT_GT(shared, 0u) << "the rlibs are hardlinked";
  Result du = test::run_process({"du", "-s", "-B1", "-c", rt.string(), wt.string()});
  ASSERT_EQ(du.rc, 0);
  std::string total = du.out.substr(du.out.rfind('\n', du.out.size() - 2) + 1);
  EXPECT_EQ(test::json_value(r.out, "total_on_disk"), total.substr(0, total.find('\t'))) << du.out;

  Result text = seedfs({"du", rt.string()});
  EXPECT_EQ(text.rc, 0) << show(text);
  EXPECT_NE(text.out.find("total on disk"), std::string::npos) << text.out;
  Result bad = seedfs({"du", (tmp / "nowhere").string()});
  EXPECT_EQ(bad.rc, 3) << show(bad);
  EXPECT_NE(bad.err.find("nowhere is not a directory"), std::string::npos) << show(bad);
}

// `seedfs gc`: the state of a workspace that is gone and of one whose build
// dir was removed goes (a dry run first says so and removes nothing); a
// live workspace's and an unrecorded (older) state dir stay.
TEST_F(Worktree, GcRemovesTheStateOfWorkspacesThatAreGone) {
  add_worktree();
  stdfs::path gone = tmp / "gone", emptied = tmp / "emptied";
  for (const auto& w : {gone, emptied}) git(root, {"worktree", "add", "-q", "--detach", w.string()});
  for (const auto& w : {ws, gone, emptied}) {
    Result s = seedfs({"seed", root.string(), w.string()});
    ASSERT_EQ(s.rc, 0) << show(s);
  }
  stdfs::path states = tmp / "state/seedfs";
  stdfs::create_directories(states / "legacy-0123456789ab");
  write_file(states / "legacy-0123456789ab/cargo.journal", "old");
  auto state_of = [&](const stdfs::path& w) {
    for (auto& e : stdfs::directory_iterator(states))
      if (e.path().filename().string().rfind(w.filename().string() + "-", 0) == 0) return e.path();
    return stdfs::path();
  };
  stdfs::path ws_state = state_of(ws), gone_state = state_of(gone), emptied_state = state_of(emptied);
  ASSERT_TRUE(stdfs::exists(ws_state / "workspace.toml"));
  git(root, {"worktree", "remove", "--force", gone.string()});
  stdfs::remove_all(emptied / "target");

  Result dry = seedfs({"gc", "--dry-run", "--json"}, ws);
  ASSERT_EQ(dry.rc, 0) << show(dry);
  EXPECT_TRUE(stdfs::exists(gone_state) && stdfs::exists(emptied_state)) << "a dry run removed something";
  EXPECT_NE(dry.out.find("is gone"), std::string::npos) << dry.out;

  Result r = seedfs({"gc"}, ws);
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_FALSE(stdfs::exists(gone_state)) << r.out;
  EXPECT_FALSE(stdfs::exists(emptied_state)) << r.out;
  EXPECT_TRUE(stdfs::exists(ws_state / "cargo.t0")) << r.out;
  EXPECT_TRUE(stdfs::exists(states / "legacy-0123456789ab/cargo.journal")) << r.out;
  EXPECT_NE(r.out.find("removed " + gone_state.string() + " (the workspace " + gone.string() + " is gone)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("with no record of their workspace"), std::string::npos) << r.out;
  Result again = seedfs({"gc"}, ws);
  EXPECT_NE(again.out.find("(nothing to remove)"), std::string::npos) << again.out;
}

// `seedfs gc --targets`: a linked worktree's build dir not built for longer
// than --older-than is removed and what it frees said; a recent one, the
// main worktree's (however old) and the root stay.
TEST_F(Worktree, GcTargetsRemovesIdleWorktreesBuildDirsOnly) {
  add_worktree();
  stdfs::path idle = tmp / "idle";
  git(root, {"worktree", "add", "-q", "--detach", idle.string()});
  for (const auto& w : {ws, idle}) {
    Result s = seedfs({"seed", root.string(), w.string()});
    ASSERT_EQ(s.rc, 0) << show(s);
  }
  // (Not the hardlinked libraries: they are the root's files, and old already.)
  Result old = test::run_process({"sh", "-c", "find '" + (idle / "target").string() +
                                                  "' \\( -type d -o -links 1 \\) -exec touch -h -d '20 days ago' {} +"});
  ASSERT_EQ(old.rc, 0) << show(old);

  Result dry = seedfs({"gc", "--targets", "--older-than", "14d", "--dry-run"}, ws);
  ASSERT_EQ(dry.rc, 0) << show(dry);
  EXPECT_TRUE(stdfs::exists(idle / "target")) << "a dry run removed it";
  Result r = seedfs({"gc", "--targets", "--older-than", "14d", "--json"}, ws);
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_FALSE(stdfs::exists(idle / "target")) << r.out;
  EXPECT_TRUE(stdfs::exists(ws / "target/debug/deps/libc7-1.rlib")) << r.out;
  EXPECT_TRUE(stdfs::exists(root / "target/debug/deps/libc7-1.rlib")) << r.out;
  EXPECT_NE(r.out.find("the main worktree's: never removed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not built for 20 days"), std::string::npos) << r.out;
  // It freed its copies (the fingerprints), not the libraries it shared with the root.
  uint64_t freed = std::stoull(test::json_value(r.out, "freed"));
  EXPECT_GT(freed, 0u) << r.out;
  EXPECT_LT(freed, 200u * 4096) << r.out;
  Result bad = seedfs({"gc", "--targets", "--older-than", "soon"}, ws);
  EXPECT_EQ(bad.rc, 2) << show(bad);
}

}  // namespace
}  // namespace seedfs

// Real cargo builds through a real seedfs mount.
//
// The fixture (make-fixture.sh, run once by ctest as a fixture setup) is a
// cargo workspace of 8 members on ~55 units of Debian's crates, a git repo
// with target/ built for debug, release and tests. Each test makes a `git
// worktree` of it, mounts seedfs over the worktree's target/ with the
// materializer throttled (so that cargo runs while it works), and checks
// cargo's own verdicts (`Fresh` / `Compiling` in `cargo build -v`): what must
// compile and nothing else. Every test also checks that the root's target/
// kept every name, byte, mode and mtime.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <set>

#include "tests/e2e/cargo_e2e.hpp"

namespace seedfs {
namespace {

using namespace e2e;

// The scenarios that run both materializing and with the view kept mounted.
class CargoE2EModes : public CargoE2E, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    keep = GetParam();
    CargoE2E::SetUp();
  }
};

// a (h). The point of seedfs: a new worktree at the root's commit, mount, and
// build at once while materialization runs: nothing compiles, not even the
// workspace's own members (their sources got the root's mtimes), and the
// build script whose rerun-if-changed input is unchanged does not run.
TEST_P(CargoE2EModes, BuildRightAfterMountIsAllFresh) {
  make_worktree();
  auto t0 = Clock::now();
  mount(50000);
  double mount_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Build b = cargo({"build", "-v"}, ws);
  expect_all_fresh(b);
  EXPECT_FALSE(b.ran_build_script("e2e-buildinfo")) << b.result.out;
  expect_still_running();
  EXPECT_EQ(status_value("synced"), "true");
  EXPECT_EQ(status_value("differ"), "0");
  EXPECT_GT(std::stoi(status_value("mtimes_set")), 20);
  Result app = run({(ws / "target/debug" / kApp).string(), "--count", "2"}, ws);
  EXPECT_EQ(app.rc, 0) << app.out;
  EXPECT_NE(app.out.find("2 records (Record: name,sha256,ring_sha256,when)"), std::string::npos) << app.out;
  std::printf("[e2e] mount %.3f s, first cargo build in the new workspace %.2f s (%zu Fresh, 0 compiled)\n",
              mount_s, b.seconds, b.fresh.size());
  RecordProperty("first_build_seconds", std::to_string(b.seconds));
}

// b (h). Release builds and tests reuse the root's release and test artifacts.
TEST_F(CargoE2E, ReleaseAndTestsAreFreshWhileMaterializing) {
  make_worktree();
  mount(50000);
  expect_all_fresh(cargo({"build", "--release", "-v"}, ws));
  expect_all_fresh(cargo({"test", "--no-run", "-v"}, ws));
  Build t = cargo({"test", "-v"}, ws);
  expect_all_fresh(t);
  size_t ok = 0;
  for (size_t at = 0; (at = t.result.out.find("test result: ok.", at)) != std::string::npos; ++at) ++ok;
  EXPECT_GE(ok, 8u) << t.result.out;  // one per member's lib or bin
  EXPECT_EQ(t.result.out.find("FAILED"), std::string::npos) << t.result.out;
  expect_still_running();
}

// c (i). An edit to one member in the worktree compiles that member and its
// dependents, nothing else; the root's next build is still all Fresh.
TEST_P(CargoE2EModes, EditedMemberCompilesWithItsDependentsOnly) {
  make_worktree();
  mount(50000);
  edit(ws, "crates/codec/src/lib.rs", "edited in the workspace");
  expect_compiled(cargo({"build", "-v"}, ws), {"e2e-codec", kApp});
  EXPECT_TRUE(built_with(ws / "target/debug/deps", "libe2e_codec-", "edited in the workspace"));
  expect_still_running();
  expect_root_unchanged();
  expect_all_fresh(cargo({"build", "-v"}, root));
  root_before.clear();  // the root's no-op build rewrites its uplifted target/debug/*.d
}

// j. A worktree at another commit, where two members differ: exactly those
// and their dependents compile.
TEST_F(CargoE2E, OtherCommitCompilesWhatDiffers) {
  make_worktree("other");
  mount(50000);
  expect_compiled(cargo({"build", "-v"}, ws), {"e2e-model", kApp, "e2e-tools"});
  EXPECT_EQ(status_value("differ"), "2");
}

// k. A root with an uncommitted edit to a member, built with it: its artifacts
// are of the edit, the worktree has the committed content, so that member
// compiles there (its mtime was not lent), and nothing else does.
TEST_F(CargoE2E, RootsUncommittedEditIsNotLent) {
  use_private_root();
  edit(root, "crates/tools/src/main.rs", "uncommitted in the root");
  expect_compiled(cargo({"build", "-v"}, root), {"e2e-tools"});
  make_worktree();
  mount(50000);
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {"e2e-tools"});
  EXPECT_EQ(status_value("uncommitted"), "1");
  EXPECT_FALSE(built_with(ws / "target/debug", "e2e-tools", "uncommitted in the root"))
      << "the workspace's tools binary holds the root's uncommitted edit";
}

// l. The build-script member: its rerun-if-changed input changed in the
// worktree, so the script reruns, and the member and the app compile.
TEST_F(CargoE2E, BuildScriptRerunsOnlyWhenItsInputChanged) {
  make_worktree();
  mount(50000);
  std::ofstream(ws / "crates/buildinfo/schema.txt", std::ios::app) << "edited\n";
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {"e2e-buildinfo", kApp});
  EXPECT_TRUE(b.ran_build_script("e2e-buildinfo")) << b.result.out;
  Result app = run({(ws / "target/debug" / kApp).string()}, ws);
  EXPECT_NE(app.out.find("when,edited"), std::string::npos) << app.out;
}

// Without the sync (--no-sync-mtimes), every member compiles, as with any
// copy of target/: what the sync saves.
TEST_F(CargoE2E, WithoutTheSyncEveryMemberCompiles) {
  make_worktree();
  mount(50000, {"--no-sync-mtimes"});
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, kMembers);
  EXPECT_EQ(status_value("synced"), "false");
}

// The limits, as README.md states them: a file outside the package is
// recorded by its absolute path in the root, so an edit to the worktree's
// copy is not seen; env!("CARGO_MANIFEST_DIR") of a reused crate names the root.
TEST_F(CargoE2E, KnownLimitsOfReusedArtifacts) {
  make_worktree();
  mount(50000);
  std::ofstream(ws / "shared/version.txt") << "2.0\n";
  expect_all_fresh(cargo({"build", "-v"}, ws));  // e2e-model includes it, and stays Fresh
  Result v = run({(ws / "target/debug" / kApp).string()}, ws);
  EXPECT_NE(v.out.find("version 1.0"), std::string::npos) << v.out;
  Result dir = run({(ws / "target/debug" / kApp).string(), "--manifest-dir"}, ws);
  EXPECT_EQ(dir.out, (root / "crates/app").string() + "\n");
}

// o. Started by git: with `seedfs hook install` in the root, `git worktree
// add` and then at once `cargo build` in the new worktree is all Fresh, with
// no other command typed.
TEST_F(CargoE2E, WorktreeAddThenBuildIsAllFreshWithTheHook) {
  use_private_root();
  Result install = seedfs({"hook", "install"}, root);
  ASSERT_EQ(install.rc, 0) << install.out;
  ws = tmp / "envs/hooked";
  root_before = test::snapshot(root / "target");
  auto t0 = Clock::now();
  Result add = run({"git", "worktree", "add", "-q", "--detach", ws.string()}, root);
  double add_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(add.rc, 0) << add.out;
  EXPECT_NE(add.out.find("mounted cargo: " + (ws / "target").string()), std::string::npos) << add.out;
  Build b = cargo({"build", "-v"}, ws);
  expect_all_fresh(b);
  std::printf("[e2e] git worktree add with the hook %.3f s, then cargo build %.2f s (0 compiled)\n", add_s,
              b.seconds);
  wait_done();
}

// d. After completion the mount is gone, target/ is a plain directory and a
// build is a no-op.
TEST_F(CargoE2E, AfterCompletionBuildIsANoOp) {
  make_worktree();
  mount(2000);
  expect_all_fresh(cargo({"build", "-v"}, ws));
  wait_done();
  Result fstype = run({"stat", "-f", "-c", "%T", (ws / "target").string()}, ws);
  EXPECT_EQ(fstype.out.find("fuse"), std::string::npos) << fstype.out;
  expect_all_fresh(cargo({"build", "-v"}, ws));
}

// e. `cargo clean -p` of a dependency through the view: it rebuilds, its
// dependents rebuild, nothing else does; the root keeps its copy, and the
// materializer does not bring back what the clean deleted.
TEST_P(CargoE2EModes, CleanOneDependencyRebuildsOnlyIt) {
  make_worktree();
  mount(20000);
  for (auto profile : {"--profile=dev", "--release"}) {
    Result clean = run({"cargo", "clean", "-p", "itertools", profile}, ws);
    ASSERT_EQ(clean.rc, 0) << clean.out;
  }
  expect_compiled(cargo({"build", "-v"}, ws), {"itertools", kApp});
  wait_done();
  // The release profile was cleaned and not rebuilt: it must stay gone, while
  // the root keeps its own.
  auto itertools_in = [](const stdfs::path& dir) {
    std::vector<stdfs::path> found;
    for (auto& e : stdfs::directory_iterator(dir))
      if (e.path().filename().string().find("itertools") != std::string::npos) found.push_back(e.path());
    return found;
  };
  for (auto& p : itertools_in(ws / "target/release/deps")) ADD_FAILURE() << p << " came back after the clean";
  EXPECT_FALSE(itertools_in(root / "target/release/deps").empty());
  // The debug one is the workspace's new build, not the root's file.
  auto rebuilt = itertools_in(ws / "target/debug/deps");
  ASSERT_FALSE(rebuilt.empty());
  for (auto& p : rebuilt) {
    struct stat w {}, r {};
    ASSERT_EQ(::lstat(p.c_str(), &w), 0);
    if (::lstat((root / "target/debug/deps" / p.filename()).c_str(), &r) == 0) {
      EXPECT_NE(w.st_ino, r.st_ino) << p << " is still the root's file";
    }
  }
}

// f. Two builds at once: cargo's lock on target/debug/.cargo-lock, taken
// through the view, serializes them; the crate is compiled once.
TEST_P(CargoE2EModes, TwoBuildsAtOnceAreSerializedByCargosLock) {
  make_worktree();
  mount(20000);
  edit(ws, "crates/app/src/main.rs", "two builds");
  auto one = std::async(std::launch::async, [&] { return cargo({"build", "-v"}, ws); });
  auto two = std::async(std::launch::async, [&] { return cargo({"build", "-v"}, ws); });
  Build a = one.get(), b = two.get();
  EXPECT_EQ(a.result.rc, 0) << a.result.out;
  EXPECT_EQ(b.result.rc, 0) << b.result.out;
  EXPECT_EQ(a.compiled.count(kApp) + b.compiled.count(kApp), 1u)
      << "first:\n" << a.result.out << "second:\n" << b.result.out;
  EXPECT_EQ(a.compiled.size() + b.compiled.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Mode, CargoE2EModes, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Kept" : "Materializing"; });

// g. After completion, builds that rerun a build script and rebuild a member
// write fingerprints, build-script outputs and rlibs in the workspace. With
// plain hardlinks they would be written through the root's inodes; here the
// root keeps every byte and mtime, its own next build is all Fresh, and an
// edit of its own source still rebuilds it.
TEST_F(CargoE2E, WorkspaceRebuildsLeaveTheRootsBuildValid) {
  use_private_root();
  make_worktree();
  mount(0);
  wait_done();
  // Forget the build-script crate `anyhow` (its build script probes rustc and
  // writes output/root-output/stderr) and edit the app: both rebuild.
  for (auto& e : stdfs::directory_iterator(ws / "target/debug/.fingerprint"))
    if (e.path().filename().string().rfind("anyhow-", 0) == 0) stdfs::remove_all(e.path());
  edit(ws, "crates/app/src/main.rs", "workspace edit");
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {"anyhow", kApp});
  EXPECT_NE(b.result.out.find("build-script-build"), std::string::npos) << "the build script did not run";
  expect_compiled(cargo({"build", "--release", "-v"}, ws), {kApp});

  expect_root_unchanged();
  expect_all_fresh(cargo({"build", "-v"}, root));
  edit(root, "crates/app/src/main.rs", "root edit");
  expect_compiled(cargo({"build", "-v"}, root), {kApp});
  root_before.clear();  // the root built itself: its target/ changed on purpose
}

// ---- as a user who is not root ----

// a, as users run it: the test user (tests/test_util.hpp) owns a copy of the
// fixture as its root checkout, makes the worktree, mounts through
// fusermount3 and builds with the same toolchain (hardlinked out of root's
// home, which it cannot enter) and a CARGO_HOME of its own: nothing compiles.
TEST_F(CargoE2E, AsAUserBuildRightAfterMountIsAllFresh) {
  uid_t uid = 0;
  gid_t gid = 0;
  if (std::string why = test::ensure_test_user(uid, gid); !why.empty()) GTEST_SKIP() << why;
  test::DevFuseOpenToAll open_fuse;
  ::chmod(tmp.path().c_str(), 0755);
  auto home = tmp / "home";
  stdfs::create_directories(home / "run");
  // The toolchain, where the user can reach it (same files: same rustc).
  Result sysroot = run({"rustc", "--print", "sysroot"}, tmp.path());
  ASSERT_EQ(sysroot.rc, 0) << sysroot.out;
  auto toolchain = home / "toolchain";
  Result tc = run({"cp", "-al", sysroot.out.substr(0, sysroot.out.find('\n')), toolchain.string()}, tmp.path());
  ASSERT_EQ(tc.rc, 0) << tc.out;
  auto bin = home / "seedfs";
  stdfs::copy_file(SEEDFS_BIN, bin);
  root = home / "main";
  Result cp = run({"cp", "-a", fixture.string(), root.string()}, tmp.path());
  ASSERT_EQ(cp.rc, 0) << cp.out;
  std::string owner = std::to_string(uid) + ":" + std::to_string(gid);
  for (const auto& p : {home / "run", home / "main"}) {
    Result own = run({"chown", "-R", owner, p.string()}, tmp.path());
    ASSERT_EQ(own.rc, 0) << own.out;
  }
  ASSERT_EQ(::chown(home.c_str(), uid, gid), 0);
  ::chmod((home / "run").c_str(), 0700);
  std::vector<std::string> env{"PATH=" + (toolchain / "bin").string() + ":/usr/bin:/bin", "HOME=" + home.string(),
                               "CARGO_HOME=" + (home / ".cargo").string(), "CARGO_TERM_COLOR=never",
                               "XDG_RUNTIME_DIR=" + (home / "run").string(),
                               "XDG_STATE_HOME=" + (home / "state").string()};
  auto as_user = [&](std::vector<std::string> argv, const stdfs::path& cwd) {
    return test::run_as(test::kTestUser, env, argv, cwd, true);
  };
  // Its own checkout is a valid build for it (a no-op build rewrites the
  // uplifted target/debug/*.d: before the snapshot).
  Build own = parse_cargo(as_user({"cargo", "build", "-v"}, root), 0);
  expect_all_fresh(own);
  root_before = test::snapshot(root / "target");

  ws = home / "feature";
  Result add = as_user({"git", "worktree", "add", "-q", "--detach", ws.string()}, root);
  ASSERT_EQ(add.rc, 0) << add.out;
  Result m = as_user({bin.string(), "mount", "--throttle-us", "50000"}, ws);
  ASSERT_EQ(m.rc, 0) << m.out;
  auto mnt = fs::mount_at((ws / "target").string());
  ASSERT_TRUE(mnt);
  Build b = parse_cargo(as_user({"cargo", "build", "-v"}, ws), 0);
  expect_all_fresh(b);
  Result st = as_user({bin.string(), "status", "--json"}, ws);
  std::string phase = test::json_value(st.out, "mounts.0.artifacts.0.phase");
  EXPECT_TRUE(phase == "scanning" || phase == "materializing") << st.out;
  Result app = as_user({(ws / "target/debug" / kApp).string(), "--count", "2"}, ws);
  EXPECT_NE(app.out.find("2 records"), std::string::npos) << app.out;
  Result un = as_user({bin.string(), "unmount"}, ws);
  EXPECT_EQ(un.rc, 0) << un.out;
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  // TearDown removes the worktree as root and checks the root's snapshot.
}

// ---- tools that write build outputs, in a workspace after the unmount ----
//
// After materialization the workspace is a plain dir whose files in deps/ and
// build/ share the root's inodes (the link rules). `seedfs seed` makes that
// state directly. Each test runs a tool there and the TearDown checks that the
// root kept every byte, name, mode and mtime.

// The first file in `dir` whose name starts with `prefix` and ends with `suffix`.
stdfs::path find_in(const stdfs::path& dir, const std::string& prefix, const std::string& suffix = "") {
  for (auto& e : stdfs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        n.find(".d") == std::string::npos)
      return e.path();
  }
  return {};
}

bool same_inode(const stdfs::path& a, const stdfs::path& b) {
  struct stat x {}, y {};
  return ::lstat(a.c_str(), &x) == 0 && ::lstat(b.c_str(), &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

// Relinking in the workspace leaves the root alone: a shared object in deps/
// (a hardlink of the root's: each linker writes a new file and renames it, or
// unlinks the old one first) and a build-script binary (copied by the rules:
// mold 1.10 writes a relinked executable into the existing file, which for a
// hardlink would be the root's).
class Linker : public CargoE2E, public ::testing::WithParamInterface<const char*> {};

TEST_P(Linker, RelinkingInTheWorkspaceLeavesTheRootAlone) {
  std::string ld = GetParam();
  auto src = tmp / "probe.c";
  test::write_file(src, "int main(void) { return 0; }\nint seedfs_probe(void) { return 1; }\n");
  Result obj = run({"cc", "-fPIC", "-c", src.string(), "-o", (tmp / "probe.o").string()}, tmp.path());
  ASSERT_EQ(obj.rc, 0) << obj.out;
  Result probe = run({"cc", "-fuse-ld=" + ld, "-o", (tmp / "probe").string(), (tmp / "probe.o").string()}, tmp.path());
  if (probe.rc != 0) GTEST_SKIP() << "the linker " << ld << " is not installed here (cc -fuse-ld=" << ld << "): " << probe.out;

  make_worktree();
  Result seed = seedfs({"seed", root.string(), ws.string()});
  ASSERT_EQ(seed.rc, 0) << seed.out;
  // (Of the two dirs build/e2e-buildinfo-*, the one that compiled the script holds it.)
  stdfs::path build_dir;
  for (auto& e : stdfs::directory_iterator(ws / "target/debug/build"))
    if (e.path().filename().string().rfind("e2e-buildinfo-", 0) == 0 && stdfs::exists(e.path() / "build-script-build"))
      build_dir = e.path();
  ASSERT_FALSE(build_dir.empty());
  stdfs::path exe = build_dir / "build-script-build";
  stdfs::path so = find_in(ws / "target/debug/deps", "libe2e_macros-", ".so");
  ASSERT_FALSE(so.empty());
  auto root_of = [&](const stdfs::path& p) { return root / "target" / p.lexically_relative(ws / "target"); };
  ASSERT_TRUE(same_inode(so, root_of(so))) << so << " is not shared: nothing to prove";
  EXPECT_FALSE(same_inode(exe, root_of(exe))) << "an executable is shared with the root";
  Result a = run({"cc", "-fuse-ld=" + ld, "-o", exe.string(), (tmp / "probe.o").string()}, tmp.path());
  Result b = run({"cc", "-fuse-ld=" + ld, "-shared", "-o", so.string(), (tmp / "probe.o").string()}, tmp.path());
  EXPECT_EQ(a.rc, 0) << a.out;
  EXPECT_EQ(b.rc, 0) << b.out;
  EXPECT_FALSE(same_inode(so, root_of(so)));
}

INSTANTIATE_TEST_SUITE_P(EachLinker, Linker, ::testing::Values("bfd", "gold", "lld", "mold"),
                         [](const auto& info) { return std::string(info.param); });

// strip and objcopy write *into* a file that has other links (binutils keeps
// the links): on the final artifacts, which the link rules copy, and on
// anything with --no-hardlinks, the root keeps its bytes.
TEST_F(CargoE2E, StripAndObjcopyLeaveTheRootAlone) {
  make_worktree();
  Result seed = seedfs({"seed", root.string(), ws.string()});
  ASSERT_EQ(seed.rc, 0) << seed.out;
  auto app = ws / "target/debug" / kApp, rlib = ws / "target/debug/libe2e_base.rlib";
  for (const auto& p : {app, rlib}) ASSERT_FALSE(same_inode(p, root / "target/debug" / p.filename())) << p;
  Result s = run({"strip", app.string()}, ws);
  Result o = run({"objcopy", "--strip-debug", rlib.string()}, ws);
  EXPECT_EQ(s.rc, 0) << s.out;
  EXPECT_EQ(o.rc, 0) << o.out;
  EXPECT_LT(stdfs::file_size(app), stdfs::file_size(root / "target/debug" / kApp)) << "strip did nothing";
  Result v = seedfs({"verify", root.string(), ws.string()});
  EXPECT_EQ(v.rc, 0) << v.out;

  // --no-hardlinks: the files in deps/ too.
  auto ws2 = tmp / "envs/no-hardlinks";
  Result w = run({"git", "worktree", "add", "-q", "--detach", ws2.string()}, root);
  ASSERT_EQ(w.rc, 0) << w.out;
  Result seed2 = seedfs({"seed", root.string(), ws2.string(), "--no-hardlinks"});
  ASSERT_EQ(seed2.rc, 0) << seed2.out;
  auto deps = ws2 / "target/debug/deps";
  stdfs::path exe = find_in(deps, "seedfs_e2e_app-"), dep_rlib = find_in(deps, "libe2e_base-", ".rlib");
  ASSERT_FALSE(exe.empty() || dep_rlib.empty());
  EXPECT_EQ(run({"strip", exe.string()}, ws2).rc, 0);
  EXPECT_EQ(run({"objcopy", "--strip-debug", dep_rlib.string()}, ws2).rc, 0);
  Result v2 = seedfs({"verify", root.string(), ws2.string(), "--json"});
  EXPECT_EQ(test::json_value(v2.out, "artifacts.0.shared"), "0") << v2.out;
  run({"git", "worktree", "remove", "--force", ws2.string()}, root);
}

// The limit the README states: the libraries in deps/ stay shared, and
// binutils on one of them (here strip on a proc-macro, as on an uplifted
// cdylib) writes through the shared inode into the root. (On a private root.)
TEST_F(CargoE2E, StripOnASharedLibraryReachesTheRoot) {
  use_private_root();
  make_worktree();
  root_before.clear();  // this test changes its root on purpose
  Result seed = seedfs({"seed", root.string(), ws.string()});
  ASSERT_EQ(seed.rc, 0) << seed.out;
  stdfs::path so = find_in(ws / "target/debug/deps", "libe2e_macros-", ".so");
  ASSERT_TRUE(same_inode(so, root / "target/debug/deps" / so.filename()));
  auto size = stdfs::file_size(root / "target/debug/deps" / so.filename());
  EXPECT_EQ(run({"strip", "--strip-debug", so.string()}, ws).rc, 0);
  EXPECT_LT(stdfs::file_size(root / "target/debug/deps" / so.filename()), size)
      << "binutils no longer writes in place through other links: README and the link rules can say so";
}

// The fixture's profile `stripped` (strip = true, split-debuginfo =
// "packed"), as the root built it: an edited member and its dependent are
// compiled, linked, stripped and packed again in the workspace, over outputs
// that are hardlinks of the root's (the member's .rlib and .rmeta: same names,
// same profile). rustc, the linker and the packer replace each output, so the
// root keeps its bytes.
TEST_F(CargoE2E, StrippedProfileRebuildLeavesTheRootAlone) {
  make_worktree();
  Result seed = seedfs({"seed", root.string(), ws.string()});
  ASSERT_EQ(seed.rc, 0) << seed.out;
  auto deps = ws / "target/stripped/deps";
  stdfs::path codec = find_in(deps, "libe2e_codec-", ".rlib"), meta = find_in(deps, "libe2e_codec-", ".rmeta");
  ASSERT_FALSE(codec.empty() || meta.empty());
  for (const auto& p : {codec, meta})
    ASSERT_TRUE(same_inode(p, root / "target/stripped/deps" / p.filename())) << p << " is not shared: nothing to prove";
  edit(ws, "crates/codec/src/lib.rs", "stripped profile");
  expect_compiled(cargo({"build", "--profile", "stripped", "-v"}, ws), {"e2e-codec", kApp});
  for (const auto& p : {codec, meta}) {
    EXPECT_TRUE(stdfs::exists(p)) << p << ": the rebuild used another name, so it proves nothing";
    EXPECT_FALSE(same_inode(p, root / "target/stripped/deps" / p.filename())) << p;
  }
  Result v = seedfs({"verify", root.string(), ws.string()});
  EXPECT_EQ(v.rc, 0) << v.out;
}

}  // namespace
}  // namespace seedfs

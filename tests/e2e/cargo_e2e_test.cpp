// Real cargo builds through a real seedfs mount (issue 4, part 1).
//
// The fixture (make-fixture.sh, run once by ctest as a fixture setup) is a
// Rust project of ~65 units built from Debian's crates, a git repo with
// target/ built for debug, release and tests. Each test makes a `git worktree`
// of it, mounts seedfs over the worktree's target/ with the materializer
// throttled (so that cargo runs while it works), and checks cargo's own
// verdicts: every registry dependency `Fresh`, only the workspace's crate
// compiled. Every test also checks that the root's target/ kept every name,
// byte, mode and mtime.
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

#include "fs/mount.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs {
namespace {

using test::Snapshot;
using test::TempDir;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kApp = "seedfs-e2e-app";

using test::Result;

// Runs `argv` (looked up on PATH) in `cwd`, stdout and stderr together.
Result run(const std::vector<std::string>& argv, const stdfs::path& cwd) {
  return test::run_process(argv, cwd, /*merge_err=*/true);
}

// What `cargo build -v` said about each package.
struct Build {
  Result result;
  std::set<std::string> fresh, compiled;
  double seconds = 0;
};

Build parse_cargo(Result r, double seconds) {
  Build b{std::move(r), {}, {}, seconds};
  static const std::regex line(R"(^\s*(Fresh|Compiling) ([A-Za-z0-9_-]+) v)");
  std::istringstream in(b.result.out);
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, line)) (m[1] == "Fresh" ? b.fresh : b.compiled).insert(m[2]);
  }
  return b;
}

class CargoE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    SEEDFS_REQUIRE_FUSE_OR_SKIP();
    const char* f = std::getenv("SEEDFS_E2E_FIXTURE");
    ASSERT_TRUE(f && stdfs::exists(stdfs::path(f) / "stamp"))
        << "SEEDFS_E2E_FIXTURE must name a fixture made by tests/e2e/make-fixture.sh";
    ::setenv("XDG_RUNTIME_DIR", (tmp / "run").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (tmp / "state").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp / "config").c_str(), 1);
    ::setenv("CARGO_TERM_COLOR", "never", 1);
    ::unsetenv("CARGO_TARGET_DIR");
    ::unsetenv("CARGO_BUILD_TARGET_DIR");
    stdfs::create_directories(tmp / "run");
    use_root(stdfs::path(f) / "main");
  }

  void TearDown() override {
    if (!ws.empty()) {
      if (fs::mount_at((ws / "target").string())) {
        seedfs({"unmount", ws.string()});
        if (fs::mount_at((ws / "target").string())) ::umount2((ws / "target").c_str(), MNT_DETACH);
      }
      run({"git", "worktree", "remove", "--force", ws.string()}, root);
      run({"git", "worktree", "prune"}, root);
    }
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
    }
  }

  // The root project of this test, and a fresh worktree of it as the workspace.
  void use_root(const stdfs::path& r) {
    root = r;
    ws = tmp / "envs/feature-1";
    stdfs::create_directories(ws.parent_path());
    Result w = run({"git", "worktree", "add", "-q", "--detach", ws.string()}, root);
    ASSERT_EQ(w.rc, 0) << w.out;
    root_before = test::snapshot(root / "target");
  }

  Result seedfs(const std::vector<std::string>& args) {
    std::vector<std::string> argv{SEEDFS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, tmp.path());
  }

  // Mounts with the materializer slowed to `throttle_us` per file, so that it
  // is still running when the builds below start. (50 ms: ~45 s for the
  // fixture's 1,746 files on 2 workers, longer than any build here even on a
  // loaded CI machine.)
  void mount(int throttle_us) {
    Result r = seedfs({"mount", root.string(), ws.string(), "--throttle-us", std::to_string(throttle_us)});
    ASSERT_EQ(r.rc, 0) << r.out;
    ASSERT_TRUE(fs::mount_at((ws / "target").string())) << "no mount after `seedfs mount`";
  }

  std::string phase() {
    Result r = seedfs({"status", ws.string(), "--json"});
    auto at = r.out.find("\"phase\" : \"");
    if (r.rc != 0 || at == std::string::npos) return "(none: " + r.out + ")";
    return r.out.substr(at + 11, r.out.find('"', at + 11) - at - 11);
  }

  void wait_done() {
    Result r = seedfs({"wait", ws.string()});
    ASSERT_EQ(r.rc, 0) << r.out;
    ASSERT_FALSE(fs::mount_at((ws / "target").string())) << "the mount outlived completion";
  }

  Build cargo(std::vector<std::string> args, const stdfs::path& dir) {
    args.insert(args.begin(), "cargo");
    auto t0 = Clock::now();
    Result r = run(args, dir);
    return parse_cargo(std::move(r), std::chrono::duration<double>(Clock::now() - t0).count());
  }

  // Every package but the workspace's own was Fresh, and only it was compiled.
  void expect_only_app_compiled(const Build& b) {
    EXPECT_EQ(b.result.rc, 0) << b.result.out;
    EXPECT_EQ(b.compiled, std::set<std::string>{kApp}) << b.result.out;
    EXPECT_GE(b.fresh.size(), 50u) << "expected the registry's crates to be Fresh:\n" << b.result.out;
    EXPECT_EQ(b.fresh.count(kApp), 0u);
  }

  void expect_all_fresh(const Build& b) {
    EXPECT_EQ(b.result.rc, 0) << b.result.out;
    EXPECT_EQ(b.compiled, std::set<std::string>{}) << b.result.out;
    EXPECT_EQ(b.fresh.count(kApp), 1u) << b.result.out;
  }

  // Appends `marker` as a static that the compiler must keep, so that the
  // built binary shows whether it was built from the edited source.
  void edit_source(const stdfs::path& project, const std::string& marker) {
    std::ofstream(project / "src/main.rs", std::ios::app)
        << "\n#[used]\nstatic MARKER: [u8; " << marker.size() << "] = *b\"" << marker << "\";\n";
  }

  TempDir tmp{"seedfs-e2e"};
  stdfs::path root, ws;
  Snapshot root_before;
};

// a. The point of seedfs: mount, then build at once, while materialization runs.
TEST_F(CargoE2E, BuildRightAfterMountWhileMaterializing) {
  auto t0 = Clock::now();
  mount(50000);
  double mount_s = std::chrono::duration<double>(Clock::now() - t0).count();
  Build b = cargo({"build", "-v"}, ws);
  expect_only_app_compiled(b);
  EXPECT_EQ(phase(), "materializing") << "the build should have run during materialization";
  Result app = run({(ws / "target/debug" / kApp).string(), "--count", "2"}, ws);
  EXPECT_EQ(app.rc, 0) << app.out;
  EXPECT_NE(app.out.find("2 records"), std::string::npos) << app.out;
  std::printf("[e2e] mount %.3f s, first cargo build in the new workspace %.2f s (%zu Fresh, 1 compiled)\n",
              mount_s, b.seconds, b.fresh.size());
  RecordProperty("first_build_seconds", std::to_string(b.seconds));
}

// b. Release builds and `cargo test` reuse the root's release and test artifacts.
TEST_F(CargoE2E, ReleaseBuildAndTestWhileMaterializing) {
  mount(50000);
  expect_only_app_compiled(cargo({"build", "--release", "-v"}, ws));
  Build t = cargo({"test", "-v"}, ws);
  EXPECT_EQ(t.result.rc, 0) << t.result.out;
  EXPECT_EQ(t.compiled, std::set<std::string>{kApp}) << t.result.out;
  EXPECT_NE(t.result.out.find("test result: ok. 3 passed"), std::string::npos) << t.result.out;
  EXPECT_EQ(phase(), "materializing");
}

// c. An edit in the workspace is compiled; nothing else is.
TEST_F(CargoE2E, EditedSourceBuildsDuringMaterialization) {
  mount(50000);
  edit_source(ws, "edited in the workspace");
  expect_only_app_compiled(cargo({"build", "-v"}, ws));
  Result strings = run({"grep", "-c", "edited in the workspace", (ws / "target/debug" / kApp).string()}, ws);
  EXPECT_EQ(strings.rc, 0) << "the new binary lacks the edit";
  EXPECT_EQ(phase(), "materializing");
}

// d. After completion the mount is gone, target/ is a plain directory and a
// build is a no-op.
TEST_F(CargoE2E, AfterCompletionBuildIsANoOp) {
  mount(2000);
  expect_only_app_compiled(cargo({"build", "-v"}, ws));
  wait_done();
  Result fstype = run({"stat", "-f", "-c", "%T", (ws / "target").string()}, ws);
  EXPECT_EQ(fstype.out.find("fuse"), std::string::npos) << fstype.out;
  expect_all_fresh(cargo({"build", "-v"}, ws));
}

// e. `cargo clean -p` of a dependency through the view: it rebuilds, its
// dependents rebuild, nothing else does; the root keeps its copy, and the
// materializer does not bring back what the clean deleted.
TEST_F(CargoE2E, CleanOneDependencyRebuildsOnlyIt) {
  mount(20000);
  for (auto profile : {"--profile=dev", "--release"}) {
    Result clean = run({"cargo", "clean", "-p", "itertools", profile}, ws);
    ASSERT_EQ(clean.rc, 0) << clean.out;
  }
  Build b = cargo({"build", "-v"}, ws);
  EXPECT_EQ(b.result.rc, 0) << b.result.out;
  EXPECT_EQ(b.compiled, (std::set<std::string>{"itertools", kApp})) << b.result.out;
  EXPECT_GE(b.fresh.size(), 50u);
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
TEST_F(CargoE2E, TwoBuildsAtOnceAreSerializedByCargosLock) {
  mount(20000);
  edit_source(ws, "two builds");
  auto one = std::async(std::launch::async, [&] { return cargo({"build", "-v"}, ws); });
  auto two = std::async(std::launch::async, [&] { return cargo({"build", "-v"}, ws); });
  Build a = one.get(), b = two.get();
  EXPECT_EQ(a.result.rc, 0) << a.result.out;
  EXPECT_EQ(b.result.rc, 0) << b.result.out;
  EXPECT_EQ(a.compiled.count(kApp) + b.compiled.count(kApp), 1u)
      << "first:\n" << a.result.out << "second:\n" << b.result.out;
  EXPECT_EQ(a.compiled.size() + b.compiled.size(), 1u);
}

// g. After completion, builds that rerun a build script and rebuild the local
// crate write fingerprints, build-script outputs and rlibs in the workspace.
// With plain hardlinks they would be written through the root's inodes; here
// the root keeps every byte and mtime, its own next build is all Fresh, and
// an edit of its own source still rebuilds it. This test edits its root, so it
// works on a private copy of the fixture.
TEST_F(CargoE2E, WorkspaceRebuildsLeaveTheRootsBuildValid) {
  auto fixture_root = root;
  run({"git", "worktree", "remove", "--force", ws.string()}, fixture_root);
  root_before.clear();
  auto copy = tmp / "main";
  Result cp = run({"cp", "-a", fixture_root.string(), copy.string()}, tmp.path());
  ASSERT_EQ(cp.rc, 0) << cp.out;
  use_root(copy);
  // The copy is a valid build. (Cargo rewrites target/debug/<bin>.d here, with
  // the copy's path in it: the root's snapshot is taken after this.)
  expect_all_fresh(cargo({"build", "-v"}, root));
  root_before = test::snapshot(root / "target");

  mount(0);
  wait_done();
  // Forget the build-script crate `anyhow` (its build script probes rustc and
  // writes output/root-output/stderr) and edit the source: both rebuild.
  for (auto& e : stdfs::directory_iterator(ws / "target/debug/.fingerprint"))
    if (e.path().filename().string().rfind("anyhow-", 0) == 0) stdfs::remove_all(e.path());
  edit_source(ws, "workspace edit");
  Build b = cargo({"build", "-v"}, ws);
  EXPECT_EQ(b.result.rc, 0) << b.result.out;
  EXPECT_EQ(b.compiled, (std::set<std::string>{"anyhow", kApp})) << b.result.out;
  EXPECT_NE(b.result.out.find("build-script-build"), std::string::npos) << "the build script did not run";
  expect_only_app_compiled(cargo({"build", "--release", "-v"}, ws));

  EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
  expect_all_fresh(cargo({"build", "-v"}, root));
  edit_source(root, "root edit");
  Build r = cargo({"build", "-v"}, root);
  EXPECT_EQ(r.result.rc, 0) << r.result.out;
  EXPECT_EQ(r.compiled, std::set<std::string>{kApp}) << "the root ignored its own edit:\n" << r.result.out;
  root_before.clear();  // the root built itself: its target/ changed on purpose
}

}  // namespace
}  // namespace seedfs

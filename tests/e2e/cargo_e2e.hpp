// The fixture of the real-cargo end-to-end tests (cargo_e2e_test.cpp,
// root_changes_test.cpp): a worktree of the fixture's root project (or of a
// private copy of it), a seedfs mount over its target/, cargo run in both, and
// cargo's own verdicts (`Fresh` / `Compiling` in `cargo build -v`).
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fs/mount.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs::e2e {

using test::Snapshot;
using test::TempDir;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Names = std::set<std::string>;

// The workspace's packages (make-fixture.sh has the graph).
inline constexpr const char* kApp = "seedfs-e2e-app";
inline const Names kMembers{"e2e-base", "e2e-macros", "e2e-buildinfo", "e2e-model",
                     "e2e-codec", "e2e-digest", kApp, "e2e-tools"};

using test::Result;

// Runs `argv` (looked up on PATH) in `cwd`, stdout and stderr together.
inline Result run(const std::vector<std::string>& argv, const stdfs::path& cwd) {
  return test::run_process(argv, cwd, /*merge_err=*/true);
}

// What `cargo build -v` said about each package (`cargo check -v` says
// `Checking` where build says `Compiling`: counted as compiled too).
struct Build {
  Result result;
  Names fresh, compiled;
  double seconds = 0;
  // Whether the build script of `package` ran (cargo runs a fresh one's never).
  bool ran_build_script(const std::string& package) const {
    std::regex running("Running `[^`]*/build/" + package + "-[0-9a-f]+/build-script-build`");
    return std::regex_search(result.out, running);
  }
};

inline Build parse_cargo(Result r, double seconds) {
  Build b{std::move(r), {}, {}, seconds};
  static const std::regex line(R"(^\s*(Fresh|Compiling|Checking) ([A-Za-z0-9_-]+) v)");
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
    fixture = stdfs::path(f) / "main";
    root = fixture;
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
    expect_root_unchanged();
  }

  void expect_root_unchanged() {
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
    }
  }

  // A private copy of the fixture as this test's root, for a test that
  // changes its root on purpose. With `only_debug`, its target/ holds the debug profile alone: half the
  // bytes to copy, hash and delete, for a test that builds nothing else. The
  // copy goes to `at` (default <tmp>/main).
  void use_private_root(bool only_debug = false, const stdfs::path& at = {}) {
    root = at.empty() ? tmp / "main" : at;
    stdfs::create_directories(root.parent_path());
    if (!only_debug) {
      Result cp = run({"cp", "-a", fixture.string(), root.string()}, tmp.path());
      ASSERT_EQ(cp.rc, 0) << cp.out;
    } else {
      // The checkout without target/, then target/ without the other profiles.
      auto copy_into = [&](const stdfs::path& from, const stdfs::path& to, std::set<std::string> leave_out) {
        std::vector<std::string> argv{"cp", "-a"};
        for (auto& e : stdfs::directory_iterator(from))
          if (!leave_out.count(e.path().filename().string())) argv.push_back(e.path().string());
        argv.push_back(to.string());
        Result cp = run(argv, tmp.path());
        ASSERT_EQ(cp.rc, 0) << cp.out;
      };
      stdfs::create_directories(root / "target");
      copy_into(fixture, root, {"target"});
      copy_into(fixture / "target", root / "target", {"release", "stripped"});
    }
    // The copy is a valid build; its no-op build rewrites target/debug/*.d
    // (uplifted dep-info, now naming the copy's path), so it runs before the
    // snapshot.
    expect_all_fresh(cargo({"build", "-v"}, root));
  }

  // A new worktree of the root at `commit` as the workspace; the root's
  // snapshot is taken here.
  void make_worktree(const std::string& commit = "HEAD") {
    ws = tmp / "envs/feature-1";
    stdfs::create_directories(ws.parent_path());
    Result w = run({"git", "worktree", "add", "-q", "--detach", ws.string(), commit}, root);
    ASSERT_EQ(w.rc, 0) << w.out;
    root_before = test::snapshot(root / "target");
  }

  Result seedfs(const std::vector<std::string>& args, const stdfs::path& cwd = {}) {
    std::vector<std::string> argv{SEEDFS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, cwd.empty() ? tmp.path() : cwd);
  }

  // Mounts with the materializer slowed to `throttle_us` per file, so that it
  // is still running when the builds below start. (50 ms: ~60 s for the
  // fixture's ~2,300 files on 2 workers, longer than any build here even on a
  // loaded CI machine.)
  void mount(int throttle_us, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"mount", root.string(), ws.string(), "--throttle-us", std::to_string(throttle_us)};
    args.insert(args.end(), extra.begin(), extra.end());
    if (keep) args.push_back("--keep-mounted");
    Result r = seedfs(args);
    ASSERT_EQ(r.rc, 0) << r.out;
    ASSERT_TRUE(fs::mount_at((ws / "target").string())) << "no mount after `seedfs mount`";
  }

  // One value of `seedfs status --json`: "phase" of the first artifact, or a
  // key of "sources".
  std::string status_value(const std::string& key) {
    Result r = seedfs({"status", ws.string(), "--json"});
    auto at = r.out.find("\"" + key + "\" : ");
    if (r.rc != 0 || at == std::string::npos) return "(none: " + r.out + ")";
    at += key.size() + 5;
    size_t end = r.out.find_first_of(",\n}", at);
    std::string v = r.out.substr(at, end - at);
    if (!v.empty() && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  std::string phase() { return status_value("phase"); }
  // Scanning or materializing: not done yet (or kept mounted).
  void expect_still_running() {
    std::string p = phase();
    if (keep) {
      EXPECT_EQ(p, "kept");
      return;
    }
    EXPECT_TRUE(p == "scanning" || p == "materializing") << "the build should have run during materialization: " << p;
  }

  // Materialized, the mount gone. A kept view is unmounted first, and `mount
  // --no-keep-mounted` then materializes what it did not hold.
  void wait_done() {
    if (keep) {
      expect_still_running();
      Result u = seedfs({"unmount", ws.string()});
      ASSERT_EQ(u.rc, 0) << u.out;
      ASSERT_FALSE(fs::mount_at((ws / "target").string())) << "the kept view outlived `seedfs unmount`";
      Result m = seedfs({"mount", root.string(), ws.string(), "--no-keep-mounted"});
      ASSERT_EQ(m.rc, 0) << m.out;
    }
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

  // Exactly `compiled` compiled, and every other package was Fresh (at least
  // the registry's ~55 and the members not named).
  void expect_compiled(const Build& b, const Names& compiled) {
    EXPECT_EQ(b.result.rc, 0) << b.result.out;
    EXPECT_EQ(b.compiled, compiled) << b.result.out;
    EXPECT_GE(b.fresh.size() + b.compiled.size(), 60u) << b.result.out;
    for (const auto& m : kMembers) {
      if (!compiled.count(m)) {
        EXPECT_EQ(b.fresh.count(m), 1u) << m << " is not Fresh:\n" << b.result.out;
      }
    }
  }
  void expect_all_fresh(const Build& b) { expect_compiled(b, {}); }

  // Appends a static that names `marker` to a member's source file (crate
  // path relative to the project), so that its build shows the edit.
  void edit(const stdfs::path& project, const std::string& file, const std::string& marker) {
    static int n = 0;
    std::ofstream(project / file, std::ios::app)
        << "\n#[used]\nstatic MARKER_" << ++n << ": [u8; " << marker.size() << "] = *b\"" << marker << "\";\n";
  }

  // Whether a file matching `prefix*` in `dir` holds `text`.
  bool built_with(const stdfs::path& dir, const std::string& prefix, const std::string& text) {
    for (auto& e : stdfs::directory_iterator(dir))
      if (e.path().filename().string().rfind(prefix, 0) == 0 &&
          test::read_file(e.path()).find(text) != std::string::npos)
        return true;
    return false;
  }

  TempDir tmp{"seedfs-e2e"};
  stdfs::path fixture, root, ws;
  Snapshot root_before;
  bool keep = false;  // mount --keep-mounted
};

}  // namespace seedfs::e2e

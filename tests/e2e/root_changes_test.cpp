// A root rebuilt while a worktree seeds must never leak into the workspace
// (issue 17; DESIGN.md invariant 7). seedfs takes an instant T0 when `seedfs
// mount` begins; a root entry created, rewritten, replaced or deleted after T0
// is neither shown by the view nor materialized, so that cargo in the worktree
// rebuilds that unit from the worktree's own sources.
//
// Each test makes a private copy of the fixture as its root (the root is
// rebuilt on purpose), a worktree of it and a seedfs mount, then changes the
// root the way a developer does (an edit of a member and `cargo build`, `cargo
// clean -p`, rust-analyzer's `cargo check` loop) while the view is kept mounted
// or the materializer runs (throttled so that it is still running), and checks
// with cargo's own verdicts (`Fresh` / `Compiling`) that the worktree compiles
// exactly the units the root changed, that its binary prints the worktree's
// value and not the root's, that `seedfs status` / `wait` count and report
// what they left out, and that seedfs changed nothing in the root: the root's
// snapshot is taken right after its own rebuild and compared at the end,
// after the unmount; then the root's next `cargo build` is all Fresh and its
// binary prints the root's edit.
//
// The edit (the issue's): the member `e2e-model` says its VERSION with a
// suffix. Only the app depends on e2e-model (make-fixture.sh), so exactly
// e2e-model and seedfs-e2e-app compile, in the root and then in the worktree
// (e2e-tools, which OtherCommitCompilesWhatDiffers names, compiles there
// because the branch `other` also changes tools' own sources; this edit does
// not touch it).
#include <signal.h>
#include <unistd.h>

#include <future>

#include "tests/e2e/cargo_e2e.hpp"

namespace seedfs {
namespace {

using namespace e2e;

constexpr const char* kModel = "e2e-model";
constexpr const char* kRootSuffix = "-root-edit";
constexpr const char* kChangedLine = "root changed after seeding began";
// The materializer's pause per file (µs) where a test acts while it runs:
// 1 s on 2 workers is ~380 s for the debug profile's ~760 files, longer than
// the root's rebuild and the worktree's three builds even in a TSan build on
// a machine loaded by other suites (200 ms was not: 311 s there). It costs
// nothing: a stop or an unmount cuts it short.
constexpr int kSlow = 1000000;

class RootChanges : public CargoE2E {
 protected:
  void SetUp() override {
    CargoE2E::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    use_private_root(/*only_debug=*/true);
  }

  // A new worktree of the root at HEAD as the workspace. (No snapshot of the
  // root here: the test changes it on purpose; root_edits_and_rebuilds takes it.)
  void make_worktree() {
    ws = tmp / "envs/feature-1";
    stdfs::create_directories(ws.parent_path());
    Result w = run({"git", "worktree", "add", "-q", "--detach", ws.string()}, root);
    ASSERT_EQ(w.rc, 0) << w.out;
  }

  // The issue's edit in `project`: VERSION gets the suffix "-root-edit".
  void edit_version(const stdfs::path& project) {
    auto file = project / "crates/model/src/lib.rs";
    std::string src = test::read_file(file);
    const std::string from = R"(pub const VERSION: &str = include_str!("../../../shared/version.txt");)";
    const std::string to = std::string(R"(pub const VERSION: &str = concat!(include_str!("../../../shared/version.txt"), ")") +
                           kRootSuffix + R"(");)";
    auto at = src.find(from);
    ASSERT_NE(at, std::string::npos) << file << " no longer has the line this test edits";
    src.replace(at, from.size(), to);
    std::ofstream(file, std::ios::trunc) << src;
  }

  // The developer goes back to the root, edits e2e-model and builds: the
  // member and the app compile there. The root's snapshot is taken when its
  // own build is done: from then on nothing may change it.
  void root_edits_and_rebuilds() {
    ASSERT_NO_FATAL_FAILURE(edit_version(root));
    root_rebuilds();
  }
  void root_rebuilds() {
    Build b = cargo({"build", "-v"}, root);
    expect_compiled(b, {kModel, kApp});
    root_before = test::snapshot(root / "target");
    // Where the materializer was (the worktree compiles e2e-model only if
    // it had not materialized e2e-model's outputs before the rebuild: the
    // throttles below leave it far from them on a loaded machine; should it
    // ever get there first, this line says so).
    if (!keep && fs::mount_at((ws / "target").string())) {
      Result st = seedfs({"status", ws.string(), "--json"});
      std::printf("[e2e] the root rebuilt in %.1f s; the materializer had done %s of %s files, phase %s\n", b.seconds,
                  test::json_value(st.out, "artifacts.0.files_done").c_str(),
                  test::json_value(st.out, "artifacts.0.files_total").c_str(),
                  test::json_value(st.out, "artifacts.0.phase").c_str());
    }
  }

  // What a binary of the app says ("... version <VERSION>").
  Result app_says(const stdfs::path& project) {
    return run({(project / "target/debug" / kApp).string(), "--count", "1"}, project);
  }

  // The worktree's binary runs the worktree's code: version 1.0, not the root's edit.
  void expect_worktree_value() {
    Result app = app_says(ws);
    EXPECT_EQ(app.rc, 0) << app.out;
    EXPECT_NE(app.out.find("version 1.0"), std::string::npos) << app.out;
    EXPECT_EQ(app.out.find(kRootSuffix), std::string::npos) << "the workspace runs the root's new code:\n" << app.out;
  }

  // seedfs changed nothing in the root since its own rebuild, up to and
  // including the unmount (done here, as the TearDown would: a completed
  // workspace is unmounted already); the root's next build is all Fresh and
  // its binary says the root's edit. (That no-op build rewrites the root's
  // uplifted target/debug/*.d, so it comes after the comparison.)
  void expect_root_kept_its_build() {
    if (fs::mount_at((ws / "target").string())) {
      Result u = seedfs({"unmount", ws.string()});
      EXPECT_EQ(u.rc, 0) << u.out;
    }
    expect_root_unchanged();
    root_before.clear();
    expect_all_fresh(cargo({"build", "-v"}, root));
    Result app = app_says(root);
    EXPECT_EQ(app.rc, 0) << app.out;
    EXPECT_NE(app.out.find(std::string("version 1.0\n") + kRootSuffix), std::string::npos) << app.out;
  }

  // A number of a JSON document by its dotted path, or -1.
  static int64_t json_int(const std::string& json, const std::string& path) {
    std::string v = test::json_value(json, path);
    try {
      return std::stoll(v);
    } catch (...) {
      ADD_FAILURE() << path << " is not a number: " << v << " in:\n" << json;
      return -1;
    }
  }

  // `seedfs status --json` of `w` (the test's workspace by default).
  std::string status_json(const stdfs::path& w = {}) {
    Result r = seedfs({"status", (w.empty() ? ws : w).string(), "--json"});
    EXPECT_EQ(r.rc, 0) << r.out;
    return r.out;
  }

  // The view or the materializer found root entries that the root changed
  // after T0 and left them out: `status --json` counts them, and the human
  // status says so.
  void expect_changes_reported() {
    std::string st = status_json();
    EXPECT_GT(json_int(st, "artifacts.0.changed_after_t0"), 0) << st;
    Result human = seedfs({"status", ws.string()});
    EXPECT_EQ(human.rc, 0) << human.out;
    EXPECT_NE(human.out.find(kChangedLine), std::string::npos) << human.out;
  }

  // Whether process `pid` is gone (or a zombie nobody reaps).
  static bool gone(pid_t pid) {
    std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  }
};

// Kept mounted and materializing.
class RootChangesModes : public RootChanges, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    keep = GetParam();
    RootChanges::SetUp();
  }
};

// 1a (kept) and 1b (materializing): mount, the root edits e2e-model and
// rebuilds while the view is live (and, materializing, while the materializer
// runs), then the first build in the worktree compiles exactly e2e-model and
// the app, and runs the worktree's code.
TEST_P(RootChangesModes, RootRebuiltDuringSeedingIsNotShown) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  ASSERT_NO_FATAL_FAILURE(root_edits_and_rebuilds());
  expect_still_running();
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_still_running();
  expect_changes_reported();
  if (keep) {
    // `wait` answers at once for a kept view, with the same status.
    Result w = seedfs({"wait", ws.string()});
    EXPECT_EQ(w.rc, 0) << w.out;
    EXPECT_NE(w.out.find(kChangedLine), std::string::npos) << w.out;
  }
  expect_all_fresh(cargo({"build", "-v"}, ws));
  expect_root_kept_its_build();
}

// The variant with the kernel's caches of the view: the worktree builds once
// before the root's rebuild (all Fresh: the kernel now holds the names,
// attributes and data of e2e-model's outputs as they were at T0), the root
// rebuilds, and the worktree's next build still compiles e2e-model and the
// app and runs the worktree's code.
TEST_P(RootChangesModes, WorktreeBuiltBeforeTheRootsRebuild) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  Build first = cargo({"build", "-v"}, ws);
  expect_all_fresh(first);
  expect_worktree_value();
  ASSERT_NO_FATAL_FAILURE(root_edits_and_rebuilds());
  expect_still_running();
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_still_running();
  expect_changes_reported();
  expect_all_fresh(cargo({"build", "-v"}, ws));
  expect_root_kept_its_build();
}

INSTANTIATE_TEST_SUITE_P(Mode, RootChangesModes, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Kept" : "Materializing"; });

// 1c. The root rebuilds while the materializer runs; the materialization
// then completes (`seedfs wait`, exit 0), the mount is gone, and the plain
// directory lacks what the root changed after T0: the worktree's build
// compiles exactly e2e-model and the app, and runs the worktree's code. (The
// materializer runs slowly until the root has rebuilt, so that it cannot have
// reached e2e-model's outputs before, whatever the order of the walk; then
// the mount is resumed at full speed, with the same T0.)
TEST_F(RootChanges, RootRebuiltWhileMaterializingThenWait) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  ASSERT_NO_FATAL_FAILURE(root_edits_and_rebuilds());
  expect_still_running();  // the root rebuilt while the materializer ran
  Result un = seedfs({"unmount", ws.string()});
  ASSERT_EQ(un.rc, 0) << un.out;
  Result again = seedfs({"mount", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << again.out;
  Result w = seedfs({"wait", ws.string()});
  ASSERT_EQ(w.rc, 0) << w.out;
  EXPECT_NE(w.out.find(kChangedLine), std::string::npos) << w.out;
  ASSERT_FALSE(fs::mount_at((ws / "target").string())) << "the mount outlived completion";
  Result last = seedfs({"wait", ws.string(), "--json"});  // the daemon's last status
  EXPECT_EQ(last.rc, 0) << last.out;
  EXPECT_EQ(test::json_value(last.out, "artifacts.0.phase"), "done") << last.out;
  EXPECT_GT(json_int(last.out, "artifacts.0.changed_after_t0"), 0) << last.out;
  Result fstype = run({"stat", "-f", "-c", "%T", (ws / "target").string()}, ws);
  EXPECT_EQ(fstype.out.find("fuse"), std::string::npos) << fstype.out;
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_all_fresh(cargo({"build", "-v"}, ws));
  expect_root_kept_its_build();
}

// 2a. `cargo clean -p e2e-model` in the root while the materializer runs,
// then the root's edit and rebuild: what the clean deleted and the rebuild
// made after T0 is neither shown nor materialized.
TEST_F(RootChanges, CleanInTheRootDuringSeeding) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  Result clean = run({"cargo", "clean", "-p", kModel}, root);
  ASSERT_EQ(clean.rc, 0) << clean.out;
  expect_still_running();
  ASSERT_NO_FATAL_FAILURE(root_edits_and_rebuilds());
  expect_still_running();
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_still_running();
  expect_changes_reported();
  expect_root_kept_its_build();
}

// 2b. rust-analyzer's `cargo check` loop in the root during seeding, with
// the issue's edit before the first check and another edit before the
// third, while the worktree builds at the same time. seedfs never blocks the
// root's cargo (it holds the root's lock files only for the instant T0 is
// taken): no check waits for a lock on the build directory. Checks write
// units of their own (other fingerprints, other .rmeta), so the worktree's
// build during the loop is all Fresh; afterwards the worktree's `cargo check`
// checks exactly what the root's checks rewrote (e2e-model and the app), and
// after the root's own rebuild the worktree's build compiles exactly those.
TEST_F(RootChanges, CargoCheckLoopInTheRootDuringSeeding) {
  // The root as rust-analyzer leaves it: checked (before T0).
  Build checked = cargo({"check", "-v"}, root);
  ASSERT_EQ(checked.result.rc, 0) << checked.result.out;
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  // The root's rebuild below comes ~20 s after the mount (the check loop runs
  // first), long before the materializer reaches e2e-model's outputs.
  ASSERT_NO_FATAL_FAILURE(mount(3 * kSlow / 2));
  auto loop = std::async(std::launch::async, [&] {
    std::vector<Build> checks;
    for (int i = 0; i < 5; ++i) {
      if (i == 0) edit_version(root);
      if (i == 2) edit(root, "crates/model/src/lib.rs", "root edit before check 3");
      checks.push_back(cargo({"check", "-v"}, root));
    }
    return checks;
  });
  Build during = cargo({"build", "-v"}, ws);
  std::vector<Build> checks = loop.get();
  expect_all_fresh(during);
  expect_worktree_value();
  for (size_t i = 0; i < checks.size(); ++i) {
    const Build& c = checks[i];
    EXPECT_EQ(c.result.rc, 0) << "check " << i + 1 << ":\n" << c.result.out;
    // (cargo's shared lock on the package cache is another cargo's business.)
    std::istringstream lines(c.result.out);
    for (std::string l; std::getline(lines, l);)
      if (l.find("Blocking waiting for file lock") != std::string::npos && l.find("package cache") == std::string::npos)
        ADD_FAILURE() << "check " << i + 1 << " of the root waited for a lock:\n" << c.result.out;
  }
  // Checks 1 and 3 followed an edit: e2e-model and the app were checked again.
  for (size_t i : {0, 2}) EXPECT_EQ(checks[i].compiled, (Names{kModel, kApp})) << checks[i].result.out;
  for (size_t i : {1, 3, 4}) expect_all_fresh(checks[i]);
  expect_still_running();

  Build ws_check = cargo({"check", "-v"}, ws);
  expect_compiled(ws_check, {kModel, kApp});
  root_rebuilds();  // (the loop made the edits)
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_still_running();
  expect_changes_reported();
  expect_root_kept_its_build();
}

// 3. Two and eight worktrees of one root that nobody rebuilds, created and
// mounted at the same time (each `git worktree add` + `seedfs mount` on a
// thread of its own; the materializers run at full speed and hardlink the
// same root inodes, which moves their ctime): every first build is all Fresh,
// no workspace counts an entry as changed after its T0, and the root is
// unchanged.
class RootChangesParallel : public RootChanges, public ::testing::WithParamInterface<int> {
 protected:
  void TearDown() override {
    for (const auto& w : worktrees) {
      if (fs::mount_at((w / "target").string())) {
        seedfs({"unmount", w.string()});
        if (fs::mount_at((w / "target").string())) ::umount2((w / "target").c_str(), MNT_DETACH);
      }
      run({"git", "worktree", "remove", "--force", w.string()}, root);
    }
    RootChanges::TearDown();
  }
  std::vector<stdfs::path> worktrees;
};

TEST_P(RootChangesParallel, WorktreesSeededTogetherAreAllFresh) {
  const int n = GetParam();
  root_before = test::snapshot(root / "target");
  for (int i = 0; i < n; ++i) worktrees.push_back(tmp / ("envs/parallel-" + std::to_string(i)));
  stdfs::create_directories(tmp / "envs");
  std::vector<std::future<std::pair<Result, Result>>> made;
  for (const auto& w : worktrees)
    made.push_back(std::async(std::launch::async, [&, w] {
      // git 2.39's concurrent `worktree add`s race: one can read another's
      // half-written admin dir ("failed to read .git/worktrees/x/commondir")
      // and give up before creating anything. What a tool that makes many
      // worktrees at once must do then, this does: try again.
      Result add;
      for (int attempt = 0; attempt < 5; ++attempt) {
        add = run({"git", "worktree", "add", "-q", "--detach", w.string()}, root);
        if (add.rc == 0 || add.out.find("failed to read .git/worktrees/") == std::string::npos) break;
      }
      if (add.rc != 0) return std::pair{add, Result{}};
      return std::pair{add, seedfs({"mount", root.string(), w.string()})};
    }));
  for (size_t i = 0; i < made.size(); ++i) {
    auto [add, mnt] = made[i].get();
    EXPECT_EQ(add.rc, 0) << worktrees[i] << ": " << add.out;
    EXPECT_EQ(mnt.rc, 0) << worktrees[i] << ": " << mnt.out;
  }
  ASSERT_FALSE(HasFailure());
  // The first build in each, at the same time (through the view, or in the
  // plain dir where the materializer was done first).
  std::vector<std::future<Build>> builds;
  for (const auto& w : worktrees)
    builds.push_back(std::async(std::launch::async, [&, w] { return cargo({"build", "-v"}, w); }));
  for (size_t i = 0; i < builds.size(); ++i) {
    SCOPED_TRACE(worktrees[i].string());
    expect_all_fresh(builds[i].get());
  }
  for (const auto& w : worktrees) {
    SCOPED_TRACE(w.string());
    Result human = seedfs({"wait", w.string()});
    EXPECT_EQ(human.rc, 0) << human.out;
    EXPECT_EQ(human.out.find(kChangedLine), std::string::npos) << human.out;
    Result done = seedfs({"wait", w.string(), "--json"});
    EXPECT_EQ(done.rc, 0) << done.out;
    EXPECT_EQ(test::json_value(done.out, "artifacts.0.phase"), "done") << done.out;
    if (json_int(done.out, "artifacts.0.changed_after_t0") != 0) {
      std::string log = test::read_file(test::json_value(done.out, "log")), changed;
      std::istringstream lines(log);
      for (std::string l; std::getline(lines, l);)
        if (l.find("after T0") != std::string::npos) changed += l + "\n";
      ADD_FAILURE() << "nobody changed the root, yet " << w << " left out:\n" << changed;
    }
    EXPECT_FALSE(fs::mount_at((w / "target").string()));
  }
  expect_root_unchanged();
}

INSTANTIATE_TEST_SUITE_P(Count, RootChangesParallel, ::testing::Values(2, 8),
                         [](const ::testing::TestParamInfo<int>& i) { return std::to_string(i.param) + "Worktrees"; });

// 4. kill -9 of the daemon after the root changed and rebuilt during a slow
// materialization, then `seedfs mount` again: it resumes with the recorded
// T0 (and says so), `seedfs wait` exits 0, and the worktree compiles exactly
// e2e-model and the app and runs its own code.
TEST_F(RootChanges, KillDuringSeedingResumesWithTheSameT0) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  ASSERT_NO_FATAL_FAILURE(root_edits_and_rebuilds());
  expect_still_running();
  std::string st = status_json();
  int64_t t0_ns = json_int(st, "artifacts.0.t0_ns");
  std::string t0 = test::json_value(st, "artifacts.0.t0");
  pid_t pid = static_cast<pid_t>(json_int(st, "pid"));
  ASSERT_GT(pid, 1) << st;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 3000 && !gone(pid); ++i) ::usleep(10000);
  ASSERT_TRUE(gone(pid)) << "the daemon " << pid << " outlived kill -9";

  // (At full speed now: the mount may be done before `status` could ask.)
  Result again = seedfs({"mount", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("as it was at " + t0 + " (T0 of this workspace's first seeding)"), std::string::npos)
      << "T0 was " << t0 << ":\n" << again.out;
  Result w = seedfs({"wait", ws.string()});
  ASSERT_EQ(w.rc, 0) << w.out;
  EXPECT_NE(w.out.find(kChangedLine), std::string::npos) << w.out;
  Result last = seedfs({"wait", ws.string(), "--json"});  // the resumed daemon's last status
  EXPECT_EQ(last.rc, 0) << last.out;
  EXPECT_EQ(json_int(last.out, "artifacts.0.t0_ns"), t0_ns) << last.out;
  EXPECT_GT(json_int(last.out, "artifacts.0.changed_after_t0"), 0) << last.out;
  ASSERT_FALSE(fs::mount_at((ws / "target").string())) << "the mount outlived completion";
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_worktree_value();
  expect_root_kept_its_build();
}

}  // namespace
}  // namespace seedfs

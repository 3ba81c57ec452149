// The donor (cli/donor.hpp): with no <root>, a new linked worktree is seeded
// from the worktree whose tracked files differ least from it, not always from
// the main worktree; and when the main worktree is being built, from another
// instead of refusing. Real worktrees at two commits, real cargo: the chosen
// donor must leave cargo less to compile than the main worktree would.
#include <sys/file.h>

#include "seeding/sys.hpp"
#include "tests/e2e/cargo_e2e.hpp"

namespace seedfs::e2e {
namespace {

constexpr const char* kModel = "e2e-model";
constexpr const char* kTools = "e2e-tools";

class Donor : public CargoE2E {
 protected:
  void SetUp() override {
    CargoE2E::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    use_private_root(/*only_debug=*/true);
    // A second worktree at branch `other` (model and tools differ), built:
    // seeded from the main worktree, then cargo compiles the three.
    other = add("other-built", "other");
    Result s = seedfs({"seed", root.string(), other.string()});
    ASSERT_EQ(s.rc, 0) << s.out;
    expect_compiled(cargo({"build", "-v"}, other), {kModel, kApp, kTools});
    root_before = test::snapshot(root / "target");
  }

  void TearDown() override {
    for (const auto& w : made) {
      if (fs::mount_at((w / "target").string())) {
        seedfs({"unmount", w.string()});
        if (fs::mount_at((w / "target").string())) ::umount2((w / "target").c_str(), MNT_DETACH);
      }
      run({"git", "worktree", "remove", "--force", w.string()}, root);
    }
    CargoE2E::TearDown();
  }

  stdfs::path add(const std::string& name, const std::string& commit) {
    stdfs::path w = tmp / "envs" / name;
    stdfs::create_directories(w.parent_path());
    Result r = run({"git", "worktree", "add", "-q", "--detach", w.string(), commit}, root);
    EXPECT_EQ(r.rc, 0) << r.out;
    made.push_back(w);
    return w;
  }

  // `seedfs mount` with no arguments in `w` (materializer slowed: the build
  // runs through the view).
  Result mount_here(const stdfs::path& w) {
    Result r = seedfs({"mount", "--throttle-us", "20000"}, w);
    EXPECT_EQ(r.rc, 0) << r.out;
    return r;
  }

  stdfs::path other;
  std::vector<stdfs::path> made;
};

TEST_F(Donor, TheWorktreeAtTheSameCommitGivesAndNothingCompiles) {
  stdfs::path by_donor = add("feature-a", "other"), by_main = add("feature-b", "other");

  Result m = mount_here(by_donor);
  EXPECT_NE(m.out.find("donor: " + other.string() + " (0 tracked files differ; main: "), std::string::npos) << m.out;
  Result st = seedfs({"status", by_donor.string(), "--json"});
  EXPECT_EQ(test::json_value(st.out, "donor.root"), other.string()) << st.out;
  EXPECT_EQ(test::json_value(st.out, "donor.differ"), "0") << st.out;
  Build b = cargo({"build", "-v"}, by_donor);
  expect_all_fresh(b);

  // The main worktree as the root, given: what the donor saved.
  Result m2 = seedfs({"mount", root.string(), by_main.string(), "--throttle-us", "20000"});
  ASSERT_EQ(m2.rc, 0) << m2.out;
  EXPECT_EQ(m2.out.find("donor:"), std::string::npos) << "an explicit <root> keeps it:\n" << m2.out;
  expect_compiled(cargo({"build", "-v"}, by_main), {kModel, kApp, kTools});

  Result r = run({by_donor / "target/debug" / kApp}, by_donor);
  EXPECT_EQ(r.rc, 0) << r.out;
}

TEST_F(Donor, TheMainWorktreeBeingBuiltGivesWayToAnother) {
  // cargo's lock in the main worktree, held as a build holds it.
  sys::UniqueFd lock(::open((root / "target/debug/.cargo-lock").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(lock) << "the fixture's debug profile has a .cargo-lock";
  ASSERT_EQ(::flock(lock.get(), LOCK_EX | LOCK_NB), 0);
  stdfs::path w = add("feature-c", "HEAD");

  Result m = mount_here(w);
  EXPECT_NE(m.out.find("donor: " + other.string()), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("main: being built"), std::string::npos) << m.out;
  // The donor is at `other`: what differs from this worktree compiles, nothing else.
  expect_compiled(cargo({"build", "-v"}, w), {kModel, kApp, kTools});

  // With every worktree busy: exit 4, and why.
  sys::UniqueFd lock2(::open((other / "target/debug/.cargo-lock").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(lock2);
  ASSERT_EQ(::flock(lock2.get(), LOCK_EX | LOCK_NB), 0);
  stdfs::path w2 = add("feature-d", "HEAD");
  Result busy = seedfs({"mount"}, w2);
  EXPECT_EQ(busy.rc, 4) << busy.out;
  EXPECT_NE(busy.out.find("no worktree can give its build now"), std::string::npos) << busy.out;
}

}  // namespace
}  // namespace seedfs::e2e

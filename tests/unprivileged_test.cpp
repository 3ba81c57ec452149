// seedfs as a user who is not root runs it: the daemon mounts through
// fusermount3 (no allow_other, no passthrough, no CAP_DAC_OVERRIDE), and
// status, wait, unmount, kill -9 and resume work as for root. The suite makes
// a system user `seedfs-test` for this, and opens /dev/fuse to everyone
// (0666, Debian's default) only for each test's run, putting its mode back
// after. The root tree belongs to that user, as a user's own checkout does;
// every test checks that it kept every name, byte, mode and mtime.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
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

using test::kTestUser;
constexpr const char* kUser = kTestUser;
constexpr int64_t kOld = 1600000000;

class Unprivileged : public ::testing::Test {
 protected:
  void SetUp() override {
    SEEDFS_REQUIRE_FUSE_OR_SKIP();
    if (std::string why = test::ensure_test_user(uid, gid); !why.empty()) GTEST_SKIP() << why;
    open_fuse.emplace();

    // Everything the user works with lives below a dir of its own: the copy
    // of the binary (the build dir may sit where it cannot go), its state
    // dirs, its root checkout and its workspace.
    ::chmod(tmp.path().c_str(), 0755);
    bin = tmp / "seedfs";
    stdfs::copy_file(SEEDFS_BIN, bin);
    ::chmod(bin.c_str(), 0755);
    root = tmp / "home/main";
    ws = tmp / "home/feature";
    make_root();
    stdfs::create_directories(ws);
    stdfs::create_directories(tmp / "home/run");
    Result own = test::run_process({"chown", "-R", std::to_string(uid) + ":" + std::to_string(gid),
                                    (tmp / "home").string()}, {}, true);
    ASSERT_EQ(own.rc, 0) << show(own);
    ::chmod((tmp / "home/run").c_str(), 0700);
    root_before = test::snapshot(root / "target");
  }

  void TearDown() override {
    if (!ws.empty() && fs::mount_at((ws / "target").string())) ::umount2((ws / "target").c_str(), MNT_DETACH);
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
    }
  }

  void make_root() {
    auto t = root / "target";
    for (int i = 0; i < 40; ++i) {
      std::string c = "c" + std::to_string(i);
      write_file(t / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, kOld + i);
      write_file(t / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, kOld + i);
    }
  }

  // `seedfs args...` as the test user, with its own HOME and XDG dirs.
  Result as_user(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_as(kUser,
                        {"PATH=/usr/bin:/bin", "HOME=" + (tmp / "home").string(),
                         "XDG_RUNTIME_DIR=" + (tmp / "home/run").string(),
                         "XDG_STATE_HOME=" + (tmp / "home/state").string(),
                         "XDG_CONFIG_HOME=" + (tmp / "home/config").string()},
                        argv, tmp / "home");
  }

  // A shell command as the test user (to act through the view as it).
  Result sh_as_user(const std::string& cmd) {
    return test::run_process({"runuser", "-u", kUser, "--", "sh", "-c", cmd}, tmp / "home", true);
  }

  // 80 files at 60 ms on 2 workers: 2.4 s to act in, also for a sanitizer
  // build, whose every command takes 0.3 s to start.
  pid_t mount_slowly() {
    Result r = as_user({"mount", root.string(), ws.string(), "--throttle-us", "60000", "--json"});
    EXPECT_EQ(r.rc, 0) << show(r);
    std::string pid = test::json_value(r.out, "pid");
    return pid.empty() || pid[0] == '(' ? 0 : static_cast<pid_t>(std::stol(pid));
  }

  // The mount at the workspace: the user's, through fusermount3.
  void expect_users_mount() {
    auto m = fs::mount_at((ws / "target").string());
    ASSERT_TRUE(m) << "no mount";
    EXPECT_EQ(m->fstype, "fuse.seedfs");
    std::ifstream info("/proc/self/mountinfo");
    std::string line, mine;
    while (std::getline(info, line))
      if (line.find(" " + (ws / "target").string() + " ") != std::string::npos) mine = line;
    EXPECT_NE(mine.find("user_id=" + std::to_string(uid)), std::string::npos) << mine;
    EXPECT_EQ(mine.find("allow_other"), std::string::npos) << mine;
  }

  TempDir tmp{"seedfs-unprivileged"};
  stdfs::path bin, root, ws;
  uid_t uid = 0;
  gid_t gid = 0;
  std::optional<test::DevFuseOpenToAll> open_fuse;  // for the test's run only
  test::Snapshot root_before;
};

TEST_F(Unprivileged, MountStatusWriteWaitAsAUser) {
  ASSERT_GT(mount_slowly(), 0);
  expect_users_mount();
  Result status = as_user({"status", ws.string(), "--json"});
  EXPECT_EQ(status.rc, 0) << show(status);
  std::string phase = test::json_value(status.out, "artifacts.0.phase");
  EXPECT_TRUE(phase == "scanning" || phase == "materializing") << status.out;
  EXPECT_EQ(test::json_value(status.out, "artifacts.0.passthrough"), "false") << "passthrough needs CAP_SYS_ADMIN";
  // Through the view, as the user: a root file reads back, a new file and a
  // rewrite of a fingerprint land in the workspace.
  Result rw = sh_as_user("cd " + ws.string() + "/target/debug && cat deps/libc7-1.rlib && echo mine > mine && "
                         "echo rewritten > .fingerprint/c3-1/lib-c3");
  EXPECT_EQ(rw.rc, 0) << show(rw);
  EXPECT_EQ(rw.out, "rlib c7");
  Result wait = as_user({"wait", ws.string()});
  EXPECT_EQ(wait.rc, 0) << show(wait);
  for (int i = 0; i < 100 && fs::mount_at((ws / "target").string()); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  EXPECT_EQ(test::read_file(ws / "target/debug/mine"), "mine\n");
  EXPECT_EQ(test::read_file(ws / "target/debug/.fingerprint/c3-1/lib-c3"), "rewritten\n");
  EXPECT_EQ(test::read_file(ws / "target/debug/deps/libc39-1.rlib"), "rlib c39");
  struct stat w {}, r {};
  ASSERT_EQ(::lstat((ws / "target/debug/deps/libc39-1.rlib").c_str(), &w), 0);
  ASSERT_EQ(::lstat((root / "target/debug/deps/libc39-1.rlib").c_str(), &r), 0);
  EXPECT_EQ(w.st_ino, r.st_ino) << "the user's own files are hardlinked as for root";
  EXPECT_EQ(w.st_uid, uid);
}

TEST_F(Unprivileged, UnmountThenKillNineThenResumeAsAUser) {
  ASSERT_GT(mount_slowly(), 0);
  Result un = as_user({"unmount", ws.string()});
  EXPECT_EQ(un.rc, 0) << show(un);
  EXPECT_FALSE(fs::mount_at((ws / "target").string())) << "fusermount3 -u did not take it";
  pid_t pid = mount_slowly();
  ASSERT_GT(pid, 0);
  sh_as_user("echo kept > " + (ws / "target/debug/mine").string());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 250 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  Result again = as_user({"mount", root.string(), ws.string()});
  EXPECT_EQ(again.rc, 0) << show(again);
  EXPECT_NE(again.err.find("cleared a dead mount"), std::string::npos) << show(again);
  Result wait = as_user({"wait", ws.string()});
  EXPECT_EQ(wait.rc, 0) << show(wait);
  for (int i = 0; i < 100 && fs::mount_at((ws / "target").string()); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(test::read_file(ws / "target/debug/mine"), "kept\n");
  EXPECT_EQ(test::read_file(ws / "target/debug/deps/libc20-1.rlib"), "rlib c20");
}

// /dev/fuse as Debian's udev may not leave it (0600, root's): the exact
// message the README quotes, exit 5, nothing created.
TEST_F(Unprivileged, NoAccessToDevFuseSaysHowToFixIt) {
  ASSERT_EQ(::chmod("/dev/fuse", 0600), 0);
  Result r = as_user({"mount", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 5) << show(r);
  EXPECT_NE(r.err.find("cannot mount: /dev/fuse: Permission denied"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(ws / "target"));
}

}  // namespace
}  // namespace seedfs

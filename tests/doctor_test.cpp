// `seedfs doctor` as users run it: each FAIL it can produce on this machine
// (/dev/fuse closed to a user, a hook naming a binary that is gone, one
// CARGO_TARGET_DIR for two checkouts, a dead mount), with its exit code and
// JSON; and a healthy setup that gives exit 0 and leaves the root as it was.
//
// The mounts check sees every seedfs mount of this user on the machine, also
// those of other suites running beside this one (a killed daemon's dead
// mount, for a moment): a FAIL of it is held against doctor only when it
// names a mount of the test's own.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
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

// What `seedfs doctor --json` said, read by Python's json module (not by
// seedfs's own writer).
struct Report {
  bool valid = false;
  bool ok = false;
  int fails = -1, warns = -1;
  struct Line {
    std::string status, message, fix;
  };
  std::multimap<std::string, Line> checks;

  // The worst status of the checks named `name` ("" if none).
  std::string status(const std::string& name) const {
    std::string worst;
    auto rank = [](const std::string& s) { return s == "FAIL" ? 4 : s == "WARN" ? 3 : s == "OK" ? 2 : 1; };
    auto [b, e] = checks.equal_range(name);
    for (auto it = b; it != e; ++it)
      if (worst.empty() || rank(it->second.status) > rank(worst)) worst = it->second.status;
    return worst;
  }
  const Line& line(const std::string& name) const {
    static const Line none;
    auto it = checks.find(name);
    return it == checks.end() ? none : it->second;
  }
  // A FAIL that is not a foreign mount's (see the top of the file).
  int own_fails(const stdfs::path& tmp) const {
    int n = 0;
    for (const auto& [name, l] : checks)
      if (l.status == "FAIL" && (name != "mounts" || l.message.find(tmp.string()) != std::string::npos)) ++n;
    return n;
  }
};

Report parse(const std::string& json) {
  TempDir io("seedfs-doctor-json");
  write_file(io / "j", json);
  const char* script =
      "import json,sys\n"
      "d=json.load(open(sys.argv[1]))\n"
      "print(int(d['ok']), d['fails'], d['warns'])\n"
      "for c in d['checks']:\n"
      "  assert set(c) == {'name','status','message','fix'}, c\n"
      "  print('\\t'.join(c[k].replace('\\t',' ').replace('\\n',' ') for k in ('name','status','message','fix')))\n";
  Result r = test::run_process({"python3", "-c", script, (io / "j").string()});
  Report rep;
  if (r.rc != 0) return rep;
  std::istringstream in(r.out);
  int ok = 0;
  in >> ok >> rep.fails >> rep.warns;
  rep.ok = ok;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');) f.push_back(x);
    f.resize(4);
    rep.checks.emplace(f[0], Report::Line{f[1], f[2], f[3]});
  }
  rep.valid = true;
  return rep;
}

std::string dump(const Result& r) { return show(r); }

class Doctor : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_RUNTIME_DIR", (tmp / "run").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (tmp / "state").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp / "config").c_str(), 1);
    stdfs::create_directories(tmp / "run");
    root = tmp / "main";
    ws = tmp / "ws";
  }
  void TearDown() override {
    if (fs::mount_at((ws / "target").string())) ::umount2((ws / "target").c_str(), MNT_DETACH);
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
    }
  }

  void make_root(int crates) {
    auto t = root / "target";
    for (int i = 0; i < crates; ++i) {
      std::string c = "c" + std::to_string(i);
      write_file(t / "debug/deps" / ("lib" + c + "-1.rlib"), test::blob("rlib " + c, 70000), 0644, 1600000000 + i);
      write_file(t / "debug/deps" / (c + "-1.d"), "d", 0644, 1600000000);
      write_file(t / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, 1600000000 + i);
    }
    write_file(t / "debug/.cargo-lock", "", 0644);
    stdfs::create_directories(ws);
    root_before = test::snapshot(t);
  }

  Result run(const std::vector<std::string>& args) {
    std::vector<std::string> argv{SEEDFS_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv);
  }

  Result git(const stdfs::path& dir, std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-c", "user.name=t", "-c", "user.email=t@t"});
    Result r = test::run_process(args, dir, true);
    EXPECT_EQ(r.rc, 0) << show(r);
    return r;
  }

  TempDir tmp{"seedfs-doctor"};
  stdfs::path root, ws;
  test::Snapshot root_before;
};

TEST_F(Doctor, AHealthySetupIsExitZeroAndLeavesRootAndWorkspaceAsTheyWere) {
  make_root(20);
  auto ws_before = test::snapshot(ws);
  Result r = run({"doctor", root.string(), ws.string(), "--json"});
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.own_fails(tmp.path()), 0) << r.out;
  if (rep.status("mounts") != "FAIL") {  // else another suite's dead mount (see the top)
    EXPECT_EQ(r.rc, 0) << dump(r);
    EXPECT_TRUE(rep.ok);
    EXPECT_EQ(rep.fails, 0);
  }
  for (const char* name : {"fuse_device", "passthrough", "projects", "config", "artifacts", "filesystem", "reflink",
                           "protected_hardlinks", "build_lock", "free_space"})
    EXPECT_EQ(rep.status(name), "OK") << name << ": " << r.out;
  EXPECT_EQ(rep.status("hook"), "SKIP") << "not a git checkout: " << r.out;
  // 20 libraries and 20 fingerprints (the .d files are skipped); only the fingerprints are copied.
  EXPECT_NE(rep.line("free_space").message.find("40 files"), std::string::npos) << rep.line("free_space").message;
  EXPECT_EQ(test::diff(ws_before, test::snapshot(ws)), "") << "the workspace changed: the probe left something";
  EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";

  // For people: one line per check, and the same exit code.
  Result human = run({"doctor", root.string(), ws.string()});
  EXPECT_EQ(human.rc, r.rc) << dump(human);
  EXPECT_NE(human.out.find("OK    fuse_device"), std::string::npos) << human.out;
}

TEST_F(Doctor, OutsideAGitCheckoutOnlyTheMachineIsChecked) {
  stdfs::create_directories(tmp / "plain");
  Result r = test::run_process({SEEDFS_BIN, "doctor", "--json"}, tmp / "plain");
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("projects"), "SKIP") << r.out;
  for (const char* name : {"cargo_target_dir", "artifacts", "free_space", "hook"})
    EXPECT_EQ(rep.status(name), "SKIP") << name << ": " << r.out;
  EXPECT_EQ(rep.status("fuse_device"), "OK") << r.out;
  EXPECT_EQ(r.rc, rep.own_fails(tmp.path()) || rep.status("mounts") == "FAIL" ? 1 : 0) << dump(r);

  Result usage = run({"doctor", "--no-such-flag"});
  EXPECT_EQ(usage.rc, 2) << dump(usage);
  Result bad = run({"doctor", (tmp / "missing").string(), ws.string(), "--json"});
  EXPECT_EQ(bad.rc, 1) << dump(bad);
  EXPECT_EQ(parse(bad.out).status("projects"), "FAIL") << bad.out;
}

TEST_F(Doctor, ABuildInTheRootIsAWarning) {
  make_root(2);
  int fd = ::open((root / "target/debug/.cargo-lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  Result r = run({"doctor", root.string(), ws.string(), "--json"});
  ::close(fd);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("build_lock"), "WARN") << r.out;
  EXPECT_NE(rep.line("build_lock").fix.find("--force"), std::string::npos) << r.out;
  EXPECT_GE(rep.warns, 1);
  EXPECT_EQ(rep.own_fails(tmp.path()), 0) << r.out;
}

// A workspace on a 1 MiB tmpfs for a root of 3 MB: another filesystem (WARN:
// everything is copied) with too little space for the copies (FAIL).
TEST_F(Doctor, TooLittleSpaceForTheCopiesFails) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  make_root(1);
  write_file(root / "target/debug/deps/libbig-1.rlib", test::blob("big", 3 << 20), 0644, 1600000000);
  root_before = test::snapshot(root / "target");
  ASSERT_EQ(::mount("tmpfs", ws.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  Result r = run({"doctor", root.string(), ws.string(), "--json"});
  ::umount2(ws.c_str(), MNT_DETACH);
  EXPECT_EQ(r.rc, 1) << dump(r);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("filesystem"), "WARN") << r.out;
  EXPECT_NE(rep.line("filesystem").message.find("tmpfs"), std::string::npos) << r.out;
  EXPECT_EQ(rep.status("free_space"), "FAIL") << r.out;
  EXPECT_NE(rep.line("free_space").fix.find(ws.string()), std::string::npos) << r.out;
}

// /dev/fuse is 0600 on these machines: a user cannot open it.
TEST_F(Doctor, DevFuseClosedToAUserFails) {
  struct stat st {};
  if (::stat("/dev/fuse", &st) != 0) GTEST_SKIP() << "no /dev/fuse";
  if ((st.st_mode & 006) == 006) GTEST_SKIP() << "/dev/fuse is open to everyone here";
  uid_t uid;
  gid_t gid;
  if (std::string why = test::ensure_test_user(uid, gid); !why.empty()) GTEST_SKIP() << why;
  ::chmod(tmp.path().c_str(), 0755);
  stdfs::path bin = tmp / "seedfs";
  stdfs::copy_file(SEEDFS_BIN, bin);
  ::chmod(bin.c_str(), 0755);
  stdfs::create_directories(tmp / "home/run");
  Result own = test::run_process({"chown", "-R", std::to_string(uid) + ":" + std::to_string(gid),
                                  (tmp / "home").string()}, {}, true);
  ASSERT_EQ(own.rc, 0) << show(own);
  ::chmod((tmp / "home/run").c_str(), 0700);
  Result r = test::run_as(test::kTestUser,
                          {"PATH=/usr/bin:/bin", "HOME=" + (tmp / "home").string(),
                           "XDG_RUNTIME_DIR=" + (tmp / "home/run").string(),
                           "XDG_STATE_HOME=" + (tmp / "home/state").string()},
                          {bin.string(), "doctor", "--json"}, tmp / "home");
  EXPECT_EQ(r.rc, 1) << dump(r);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_FALSE(rep.ok);
  EXPECT_EQ(rep.status("fuse_device"), "FAIL") << r.out;
  EXPECT_NE(rep.line("fuse_device").fix.find("chmod 0666 /dev/fuse"), std::string::npos) << r.out;
  EXPECT_NE(rep.line("fuse_device").message.find("0600"), std::string::npos) << r.out;
  // A user's daemon has no CAP_SYS_ADMIN: said, but nothing to fix.
  EXPECT_EQ(rep.status("passthrough"), "OK") << r.out;
  EXPECT_EQ(rep.status("projects"), "SKIP") << r.out;
}

// `seedfs hook install` with a binary that is later deleted: every `git
// worktree add` would fail to run it.
TEST_F(Doctor, AHookNamingAMissingBinaryFails) {
  stdfs::create_directories(root);
  git(tmp.path(), {"init", "-q", "-b", "main", root.string()});
  write_file(root / ".gitignore", "/target\n");
  write_file(root / "src/lib.rs", "\n");
  git(root, {"add", "-A"});
  git(root, {"commit", "-q", "-m", "first"});
  git(root, {"worktree", "add", "-q", "--detach", ws.string()});
  make_root(3);
  stdfs::path copy = tmp / "gone/seedfs";
  stdfs::create_directories(copy.parent_path());
  stdfs::copy_file(SEEDFS_BIN, copy);
  Result inst = test::run_process({copy.string(), "hook", "install", root.string()});
  ASSERT_EQ(inst.rc, 0) << dump(inst);
  stdfs::remove(copy);

  // The defaults, as in a linked worktree: the main worktree is the root.
  Result r = test::run_process({SEEDFS_BIN, "doctor", "--json"}, ws);
  EXPECT_EQ(r.rc, 1) << dump(r);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("hook"), "FAIL") << r.out;
  EXPECT_NE(rep.line("hook").message.find(copy.string()), std::string::npos) << r.out;
  EXPECT_NE(rep.line("hook").fix.find("seedfs hook install"), std::string::npos) << r.out;
  EXPECT_EQ(rep.status("projects"), "OK") << r.out;

  // The fix: installed again with a binary that is there.
  Result again = run({"hook", "install", root.string()});
  ASSERT_EQ(again.rc, 0) << dump(again);
  r = test::run_process({SEEDFS_BIN, "doctor", "--json"}, ws);
  rep = parse(r.out);
  EXPECT_EQ(rep.status("hook"), "OK") << r.out;
  EXPECT_EQ(rep.own_fails(tmp.path()), 0) << r.out;
}

// Two cargo projects with one CARGO_TARGET_DIR build into one dir: mount
// refuses, and doctor says so with the fix.
TEST_F(Doctor, OneCargoTargetDirForTwoCheckoutsFails) {
  if (test::run_process({"cargo", "--version"}).rc != 0) GTEST_SKIP() << "cargo is not on PATH";
  for (const auto& p : {root, ws}) {
    write_file(p / "Cargo.toml", "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write_file(p / "src/lib.rs", "\n");
  }
  stdfs::path shared = tmp / "shared";
  write_file(shared / "debug/deps/libp-1.rlib", "rlib");
  ::setenv("CARGO_TARGET_DIR", shared.c_str(), 1);
  Result r = run({"doctor", root.string(), ws.string(), "--json"});
  ::unsetenv("CARGO_TARGET_DIR");
  EXPECT_EQ(r.rc, 1) << dump(r);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("cargo"), "OK") << r.out;
  EXPECT_EQ(rep.status("cargo_target_dir"), "FAIL") << r.out;
  EXPECT_NE(rep.line("cargo_target_dir").message.find(shared.string()), std::string::npos) << r.out;
  EXPECT_NE(rep.line("cargo_target_dir").fix.find("unset CARGO_TARGET_DIR"), std::string::npos) << r.out;

  // Without it, each builds in its own target/: no FAIL of that.
  write_file(root / "target/debug/deps/libp-1.rlib", "rlib");
  r = run({"doctor", root.string(), ws.string(), "--json"});
  rep = parse(r.out);
  EXPECT_EQ(rep.status("cargo_target_dir"), "OK") << r.out;
  EXPECT_EQ(rep.own_fails(tmp.path()), 0) << r.out;
}

// kill -9 of the daemon leaves a dead mount: FAIL, with `seedfs unmount` as
// the fix, which clears it.
TEST_F(Doctor, ADeadMountFailsUntilUnmounted) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(40);
  Result m = run({"mount", root.string(), ws.string(), "--throttle-us", "100000", "--json"});
  ASSERT_EQ(m.rc, 0) << dump(m);
  std::string pid_text = test::json_value(m.out, "pid");
  ASSERT_FALSE(pid_text.empty() || pid_text[0] == '(') << m.out;
  pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  for (int i = 0; i < 250 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::is_dead_mount((ws / "target").string()));

  Result r = run({"doctor", root.string(), ws.string(), "--json"});
  EXPECT_EQ(r.rc, 1) << dump(r);
  Report rep = parse(r.out);
  ASSERT_TRUE(rep.valid) << dump(r);
  EXPECT_EQ(rep.status("mounts"), "FAIL") << r.out;
  auto [b, e] = rep.checks.equal_range("mounts");
  bool named = false;
  for (auto it = b; it != e; ++it)
    named |= it->second.message.find((ws / "target").string()) != std::string::npos &&
             it->second.fix.find("seedfs unmount " + ws.string()) != std::string::npos;
  EXPECT_TRUE(named) << r.out;

  Result u = run({"unmount", ws.string()});
  EXPECT_EQ(u.rc, 0) << dump(u);
  r = run({"doctor", root.string(), ws.string(), "--json"});
  rep = parse(r.out);
  EXPECT_EQ(rep.own_fails(tmp.path()), 0) << r.out;
}

}  // namespace
}  // namespace seedfs

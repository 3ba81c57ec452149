// The seedfs binary as users run it: exit codes and messages for bad input
// (nothing changed, nothing mounted), --json, and the daemon's life: mount,
// status moving forward, wait, unmount and resume, and kill -9 at several
// points followed by a new `seedfs mount` that converges.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "fs/mount.hpp"
#include "seeding/seeder.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs {
namespace {

using test::Snapshot;
using test::TempDir;
using test::write_file;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

using test::Result;
using test::show;

// Runs the seedfs binary with `args`, capturing its output.
Result run(const std::vector<std::string>& args) {
  std::vector<std::string> argv{SEEDFS_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv);
}

bool valid_json(const std::string& text) {
  TempDir io("seedfs-json");
  write_file(io / "j", text);
  std::string cmd = "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' " + (io / "j").string();
  return std::system(cmd.c_str()) == 0;
}

// A root project with a cargo-like target/ of `n` crates, and an empty workspace.
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("XDG_RUNTIME_DIR", (tmp / "run").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (tmp / "state").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp / "config").c_str(), 1);
    stdfs::create_directories(tmp / "run");
    root = tmp / "main";
    ws = tmp / "ws";
    stdfs::create_directories(ws);
  }
  void TearDown() override {
    // Never leave a mount behind, whatever failed.
    for (auto p : {ws / "target", tmp / "ws2/target"})
      if (fs::mount_at(p.string())) ::umount2(p.c_str(), MNT_DETACH);
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root / "target")), "") << "the root changed";
    }
  }

  void make_root(int crates) {
    auto t = root / "target";
    for (int i = 0; i < crates; ++i) {
      std::string c = "c" + std::to_string(i);
      write_file(t / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, 1600000000 + i);
      write_file(t / "debug/deps" / ("lib" + c + "-1.rmeta"), "rmeta " + c, 0644, 1600000000 + i);
      write_file(t / "debug/deps" / (c + "-1.d"), "d", 0644, 1600000000);
      write_file(t / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, 1600000000 + i);
    }
    write_file(t / "debug/.cargo-lock", "", 0644);
    root_before = test::snapshot(t);
  }

  // The target/ a plain seed of the root gives: what the view must converge to.
  Snapshot seeded_reference() {
    auto ref = tmp / "reference";
    stdfs::create_directories(ref / "p");
    Result r = run({"seed", root.string(), (ref / "p").string()});
    EXPECT_EQ(r.rc, 0) << show(r);
    return test::snapshot(ref / "p/target");
  }

  // `seedfs mount` with the materializer slowed down (100 ms per file on 2
  // workers: seconds to act in, even for a sanitizer build on a loaded
  // machine; an unmount or kill ends it at once); `pid` is the daemon's.
  void mount_slowly(pid_t& pid) {
    Result r = run({"mount", root.string(), ws.string(), "--throttle-us", "100000", "--json"});
    ASSERT_EQ(r.rc, 0) << show(r);
    pid = static_cast<pid_t>(parse_json_subset(r.out)["pid"].value_or(int64_t{0}));
    ASSERT_GT(pid, 0) << r.out;
  }

  // Sends `sig` to the daemon; true once it is gone (within 5 s).
  static bool signal_and_reap(pid_t pid, int sig) {
    if (::kill(pid, sig) != 0) return false;
    for (int i = 0; i < 250 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
    return ::kill(pid, 0) != 0;
  }

  // `seedfs wait` succeeds, the mount goes, and the workspace is `expected`.
  void wait_and_compare(const Snapshot& expected) {
    Result r = run({"wait", ws.string()});
    EXPECT_EQ(r.rc, 0) << show(r);
    for (int i = 0; i < 100 && fs::mount_at((ws / "target").string()); ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(test::diff(expected, test::snapshot(ws / "target")), "");
  }

  toml::table status_of(const stdfs::path& w) {
    Result r = run({"status", w.string(), "--json"});
    EXPECT_EQ(r.rc, 0) << show(r);
    EXPECT_TRUE(valid_json(r.out)) << r.out;
    return parse_json_subset(r.out);
  }

  // The few fields the tests read, from seedfs's own JSON (flat numbers and strings).
  static toml::table parse_json_subset(const std::string& json) {
    toml::table t;
    for (const char* key : {"files_done", "files_total", "pid", "copy_ups", "deletions"}) {
      auto at = json.find(std::string("\"") + key + "\" : ");
      if (at != std::string::npos) t.insert(key, std::stoll(json.substr(at + std::strlen(key) + 5)));
    }
    auto at = json.find("\"phase\" : \"");
    if (at != std::string::npos) {
      auto start = at + 11;
      t.insert("phase", json.substr(start, json.find('"', start) - start));
    }
    return t;
  }

  TempDir tmp{"seedfs-cli"};
  stdfs::path root, ws;
  Snapshot root_before;
};

// ---- bad input: one message naming the path, an exit code, nothing changed ----

TEST_F(Cli, SeedRefusesMissingDirs) {
  make_root(2);
  Result r = run({"seed", (tmp / "nope").string(), ws.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find((tmp / "nope").string()), std::string::npos) << r.err;
  r = run({"seed", root.string(), (tmp / "nope").string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  write_file(tmp / "file", "x");
  r = run({"seed", root.string(), (tmp / "file").string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find("not a directory"), std::string::npos) << r.err;
  EXPECT_TRUE(stdfs::is_empty(ws));
}

TEST_F(Cli, SeedRefusesSameOrNested) {
  make_root(2);
  Result r = run({"seed", root.string(), root.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find("same"), std::string::npos) << r.err;
  // A workspace inside the root's target/: its target/ would be inside the root's.
  stdfs::create_directories(root / "target/inner");
  r = run({"seed", root.string(), (root / "target/inner").string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find("inside"), std::string::npos) << r.err;
  stdfs::remove(root / "target/inner");
}

TEST_F(Cli, SeedRefusesARootWithoutArtifacts) {
  stdfs::create_directories(root);
  Result r = run({"seed", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  EXPECT_NE(r.err.find("nothing to seed"), std::string::npos) << r.err;
  r = run({"seed", root.string(), ws.string(), "--artifact", "gradle"});
  EXPECT_EQ(r.rc, 2) << show(r);
}

TEST_F(Cli, InvalidConfigIsExitTwoWithFileLineAndKey) {
  make_root(2);
  write_file(ws / ".seedfs.toml", "workers = 2\n[artifacts.cargo]\nskip = [\"**x\"]\n");
  Result r = run({"seed", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 2) << show(r);
  EXPECT_NE(r.err.find(".seedfs.toml:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("artifacts.cargo.skip[0]"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(ws / "target"));
  r = run({"config", "--root", root.string(), "--ws", ws.string()});
  EXPECT_EQ(r.rc, 2) << show(r);
}

TEST_F(Cli, ConfigShowsWhereEachKeyCameFrom) {
  make_root(1);
  write_file(root / ".seedfs.toml", "workers = 3\n");
  Result r = run({"config", "--root", root.string(), "--ws", ws.string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("workers = 3  # " + (root / ".seedfs.toml").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("progress_interval = 5.0  # built-in default"), std::string::npos) << r.out;
  r = run({"config", "--root", root.string(), "--ws", ws.string(), "--json"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_TRUE(valid_json(r.out)) << r.out;
}

TEST_F(Cli, SeedRefusesWhileTheRootIsBeingBuilt) {
  make_root(2);
  int fd = ::open((root / "target/debug/.cargo-lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  Result r = run({"seed", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 4) << show(r);
  EXPECT_NE(r.err.find(".cargo-lock"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(ws / "target"));
  r = run({"seed", root.string(), ws.string(), "--force"});
  EXPECT_EQ(r.rc, 0) << show(r);
  ::close(fd);
}

TEST_F(Cli, SeedJsonAndDryRun) {
  make_root(3);
  Result r = run({"seed", root.string(), ws.string(), "--dry-run", "--json"});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_TRUE(valid_json(r.out)) << r.out;
  EXPECT_FALSE(stdfs::exists(ws / "target"));
  r = run({"seed", root.string(), ws.string(), "--json"});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_TRUE(valid_json(r.out)) << r.out;
  EXPECT_NE(r.out.find("\"linked\" : 6"), std::string::npos) << r.out;
}

// ---- verify, --no-hardlinks ----

// After `seedfs seed`, verify counts the shared files (all by the link rules:
// exit 0); after `cp -al`, it names the fingerprints as unsafe (exit 1); with
// --no-hardlinks nothing is shared. A live view is refused.
TEST_F(Cli, VerifyFindsSharedInodesAndTheUnsafeOnes) {
  make_root(3);
  Result seed = run({"seed", root.string(), ws.string()});
  ASSERT_EQ(seed.rc, 0) << show(seed);
  Result v = run({"verify", root.string(), ws.string(), "--json", "--list"});
  EXPECT_EQ(v.rc, 0) << show(v);
  EXPECT_EQ(test::json_value(v.out, "artifacts.0.shared"), "6") << v.out;
  EXPECT_EQ(test::json_value(v.out, "artifacts.0.unsafe"), "[]");
  EXPECT_NE(test::json_value(v.out, "artifacts.0.shared_files"), "(missing)");

  auto ws2 = tmp / "ws2";
  stdfs::create_directories(ws2);
  Result cp = test::run_process({"cp", "-al", (root / "target").string(), (ws2 / "target").string()});
  ASSERT_EQ(cp.rc, 0) << show(cp);
  Result unsafe = run({"verify", root.string(), ws2.string()});
  EXPECT_EQ(unsafe.rc, 1) << show(unsafe);
  EXPECT_NE(unsafe.out.find("unsafe: debug/.fingerprint/c0-1/lib-c0"), std::string::npos) << unsafe.out;

  auto ws3 = tmp / "ws3";
  stdfs::create_directories(ws3);
  Result none = run({"seed", root.string(), ws3.string(), "--no-hardlinks", "--json"});
  ASSERT_EQ(none.rc, 0) << show(none);
  EXPECT_EQ(test::json_value(none.out, "artifacts.0.linked"), "0") << none.out;
  Result v3 = run({"verify", root.string(), ws3.string(), "--json"});
  EXPECT_EQ(v3.rc, 0) << show(v3);
  EXPECT_EQ(test::json_value(v3.out, "artifacts.0.shared"), "0") << v3.out;
  EXPECT_EQ(test::diff(seeded_reference(), test::snapshot(ws3 / "target")), "");
}

// A workspace poisoned as an older seedfs left it: the root rebuilt a unit
// after the seeding began, and its new rlib (a hardlink) and fingerprint (a
// copy, its mtime kept) went into the workspace. verify finds them from the
// recorded T0, or without a record from the workspace dir's birth, and
// --repair removes them, so that cargo rebuilds that unit there.
TEST_F(Cli, VerifyFindsFilesTheRootWroteAfterT0AndRepairs) {
  make_root(3);
  Result seed = run({"seed", root.string(), ws.string(), "--json"});
  ASSERT_EQ(seed.rc, 0) << show(seed);
  EXPECT_EQ(test::json_value(seed.out, "artifacts.0.t0_resumed"), "false") << seed.out;
  Result clean = run({"verify", root.string(), ws.string()});
  EXPECT_EQ(clean.rc, 0) << show(clean);
  EXPECT_NE(clean.out.find("no file seeded from the root was written there after T0"), std::string::npos) << clean.out;

  // The root's cargo rebuilds c1 after T0; an older seedfs brings it over.
  auto t = root / "target/debug";
  write_file(t / "deps/libc1-1.rlib.new", "new rlib c1");
  stdfs::rename(t / "deps/libc1-1.rlib.new", t / "deps/libc1-1.rlib");
  write_file(t / ".fingerprint/c1-1/lib-c1", "new fp c1");
  root_before = test::snapshot(root / "target");
  auto w = ws / "target/debug";
  stdfs::remove(w / "deps/libc1-1.rlib");
  ASSERT_EQ(::link((t / "deps/libc1-1.rlib").c_str(), (w / "deps/libc1-1.rlib").c_str()), 0);
  stdfs::remove(w / ".fingerprint/c1-1/lib-c1");
  Result cp = test::run_process({"cp", "-p", (t / ".fingerprint/c1-1/lib-c1").string(), (w / ".fingerprint/c1-1/lib-c1").string()});
  ASSERT_EQ(cp.rc, 0) << show(cp);

  for (bool with_record : {true, false}) {
    if (!with_record) {
      // Seeded by a seedfs that kept no T0: the workspace dir's birth stands in.
      for (auto& e : stdfs::recursive_directory_iterator(tmp / "state"))
        if (e.path().extension() == ".t0") stdfs::remove(e.path());
    }
    Result v = run({"verify", root.string(), ws.string(), "--json"});
    EXPECT_EQ(v.rc, 1) << show(v);
    EXPECT_EQ(test::json_value(v.out, "artifacts.0.t0_from"), with_record ? "record" : "workspace dir birth time") << v.out;
    std::string newer = test::json_value(v.out, "artifacts.0.newer_than_t0");
    EXPECT_NE(newer.find("debug/deps/libc1-1.rlib"), std::string::npos) << v.out;
    EXPECT_NE(newer.find("debug/.fingerprint/c1-1/lib-c1"), std::string::npos) << v.out;
    EXPECT_EQ(newer.find("c0"), std::string::npos) << v.out;
  }
  Result human = run({"verify", root.string(), ws.string()});
  EXPECT_EQ(human.rc, 1);
  EXPECT_NE(human.out.find("`seedfs verify --repair` removes them"), std::string::npos) << human.out;
  Result repair = run({"verify", root.string(), ws.string(), "--repair"});
  EXPECT_EQ(repair.rc, 0) << show(repair);
  EXPECT_FALSE(stdfs::exists(w / "deps/libc1-1.rlib"));
  EXPECT_FALSE(stdfs::exists(w / ".fingerprint/c1-1/lib-c1"));
  EXPECT_TRUE(stdfs::exists(w / "deps/libc0-1.rlib"));
  EXPECT_EQ(run({"verify", root.string(), ws.string()}).rc, 0);
}

// A rerun of seed on the same workspace dir keeps its first T0: what the root
// changed in between stays out (a new T0 would mix two instants' units).
TEST_F(Cli, SeedAgainKeepsTheWorkspacesT0) {
  make_root(3);
  Result first = run({"seed", root.string(), ws.string(), "--json"});
  ASSERT_EQ(first.rc, 0) << show(first);
  std::string t0 = test::json_value(first.out, "artifacts.0.t0_ns");
  auto t = root / "target/debug";
  write_file(t / ".fingerprint/c2-1/lib-c2", "rewritten after T0");
  write_file(t / ".fingerprint/c3-1/lib-c3", "a unit built after T0");
  root_before = test::snapshot(root / "target");
  stdfs::remove(ws / "target/debug/.fingerprint/c2-1/lib-c2");  // as if the first run was cut short
  Result again = run({"seed", root.string(), ws.string(), "--json"});
  ASSERT_EQ(again.rc, 0) << show(again);
  EXPECT_EQ(test::json_value(again.out, "artifacts.0.t0_ns"), t0) << again.out;
  EXPECT_EQ(test::json_value(again.out, "artifacts.0.t0_resumed"), "true") << again.out;
  EXPECT_EQ(test::json_value(again.out, "artifacts.0.changed_after_t0"), "2") << again.out;
  EXPECT_FALSE(stdfs::exists(ws / "target/debug/.fingerprint/c2-1/lib-c2"));
  EXPECT_FALSE(stdfs::exists(ws / "target/debug/.fingerprint/c3-1"));
  Result human = run({"seed", root.string(), ws.string()});
  EXPECT_NE(human.out.find("root changed after seeding began (T0): 2 entries"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("changed: debug/.fingerprint/c3-1"), std::string::npos) << human.out;
}

// A tree deeper than PATH_MAX (the kernel walks any depth, and ext4 keeps it):
// seeded whole, and verify walks it whole.
TEST_F(Cli, SeedAndVerifyATreeDeeperThanPathMax) {
  make_root(2);
  auto top = root / "target/debug/build/deep-1/out";
  stdfs::create_directories(top);
  sys::UniqueFd dir(::open(top.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string name(240, 'p');
  for (int i = 0; i < 30; ++i) {  // 7 KB below out/
    ASSERT_EQ(::mkdirat(dir.get(), name.c_str(), 0755), 0);
    dir.reset(::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  ASSERT_EQ(::mknodat(dir.get(), "deepest.rlib", S_IFREG | 0644, 0), 0);
  root_before = test::snapshot(root / "target");
  std::string deepest = "debug/build/deep-1/out";
  for (int i = 0; i < 30; ++i) deepest += "/" + name;
  deepest += "/deepest.rlib";
  ASSERT_EQ(root_before.count(deepest), 1u);

  Result seed = run({"seed", root.string(), ws.string(), "--json"});
  ASSERT_EQ(seed.rc, 0) << show(seed);
  Snapshot got = test::snapshot(ws / "target");
  EXPECT_EQ(got.count(deepest), 1u);
  size_t files = 0;
  for (const auto& [rel, e] : got) files += e.type == 'f';
  EXPECT_GE(files, 5u);
  Result v = run({"verify", root.string(), ws.string(), "--json"});
  EXPECT_EQ(v.rc, 0) << show(v);
  EXPECT_EQ(test::json_value(v.out, "artifacts.0.files"), std::to_string(files)) << v.out;
}

TEST_F(Cli, VerifyRefusesALiveView) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(40);
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(mount_slowly(pid));
  Result v = run({"verify", root.string(), ws.string()});
  EXPECT_EQ(v.rc, 3) << show(v);
  EXPECT_NE(v.err.find("is a live seedfs view"), std::string::npos) << v.err;
  run({"unmount", ws.string()});
}

// hardlinks = false in the config does what --no-hardlinks does, for the view too.
TEST_F(Cli, MountWithoutHardlinksSharesNothing) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(20);
  write_file(ws / ".seedfs.toml", "hardlinks = false\n");
  Result r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  Result w = run({"wait", ws.string(), "--json"});
  EXPECT_EQ(w.rc, 0) << show(w);
  EXPECT_EQ(test::json_value(w.out, "artifacts.0.linked"), "0") << w.out;
  Result v = run({"verify", root.string(), ws.string(), "--json"});
  EXPECT_EQ(test::json_value(v.out, "artifacts.0.shared"), "0") << v.out;
}

// ---- mount ----

TEST_F(Cli, MountRefusesBadInputAndMountsNothing) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(2);
  Result r = run({"mount", (tmp / "nope").string(), ws.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  r = run({"mount", root.string(), root.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  int fd = ::open((root / "target/debug/.cargo-lock").c_str(), O_RDWR);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  r = run({"mount", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 4) << show(r);
  ::close(fd);
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  EXPECT_FALSE(stdfs::exists(ws / "target"));
}

TEST_F(Cli, MountWithoutDevFuseSaysHowToFixIt) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  if (::geteuid() != 0) GTEST_SKIP() << "needs a private mount namespace (root)";
  make_root(1);
  // In a mount namespace of its own, /dev is an empty tmpfs: no /dev/fuse.
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("none", "/dev", "tmpfs", 0, nullptr) != 0)
      ::_exit(100);
    Result r = run({"mount", root.string(), ws.string()});
    std::ofstream(tmp / "nofuse.txt") << r.err;
    ::_exit(r.rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_NE(WEXITSTATUS(status), 100) << "could not make a private /dev";
  EXPECT_EQ(WEXITSTATUS(status), 5);
  EXPECT_NE(test::read_file(tmp / "nofuse.txt").find("/dev/fuse"), std::string::npos);
}

TEST_F(Cli, MountStatusWaitAndAlreadyMounted) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(60);
  Snapshot expected = seeded_reference();
  // 180 files at 100 ms on 2 workers: 9 s, for a sanitizer build on a loaded
  // machine (at 50 ms it was once done before the last check).
  Result r = run({"mount", root.string(), ws.string(), "--throttle-us", "100000", "--json"});
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_TRUE(valid_json(r.out)) << r.out;
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  r = run({"status"});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find(ws.string()), std::string::npos) << r.out;
  // status moves forward.
  auto s1 = status_of(ws);
  std::this_thread::sleep_for(300ms);
  auto s2 = status_of(ws);
  EXPECT_GT(s2["files_done"].value_or(0), s1["files_done"].value_or(0));
  // Mounting again from the same root: fine, and says how to follow it.
  r = run({"mount", root.string(), ws.string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("already mounted"), std::string::npos) << r.out;
  // From another root: refused.
  auto other = tmp / "other";
  write_file(other / "target/debug/x.rlib", "x");
  r = run({"mount", other.string(), ws.string()});
  EXPECT_EQ(r.rc, 3) << show(r);
  ASSERT_EQ(status_of(ws)["phase"].value_or(std::string()), "materializing") << "checks must run while mounted";
  r = run({"wait", ws.string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  for (int i = 0; i < 100 && fs::mount_at((ws / "target").string()); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  EXPECT_EQ(test::diff(expected, test::snapshot(ws / "target")), "");
  // After the daemon is gone: wait still answers from its last status; status says not mounted.
  r = run({"wait", ws.string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  r = run({"status", ws.string()});
  EXPECT_EQ(r.rc, 6) << show(r);
}

// The nice values of a process's threads, from /proc.
std::multiset<int> thread_nices(pid_t pid) {
  std::multiset<int> out;
  for (auto& t : stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::string stat = test::read_file(t.path() / "stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
    std::string f;
    for (int i = 3; i <= 19 && fields >> f; ++i) {
    }
    out.insert(std::stoi(f));  // field 19: nice
  }
  return out;
}

// Limits and priority from the command line and the config reach the
// materializer, `status` shows them, and the result is the same.
TEST_F(Cli, MountPaceLimitsAndPriority) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(30);
  Snapshot expected = seeded_reference();
  write_file(ws / ".seedfs.toml", "bytes_rate = \"64M\"\npriority = \"normal\"\n");
  // 90 files at 15 per second: 6 s to look, also for a sanitizer build.
  Result r = run({"mount", root.string(), ws.string(), "--rate", "15", "--priority", "idle",
                  "--workers", "2", "--json"});
  ASSERT_EQ(r.rc, 0) << show(r);
  pid_t pid = static_cast<pid_t>(parse_json_subset(r.out)["pid"].value_or(int64_t{0}));
  // Two worker threads at nice 19; the daemon's own and the view's threads keep
  // theirs. Each worker sets its own priority as it starts, which on a loaded
  // machine may come a moment after `mount` returns.
  std::multiset<int> nices = thread_nices(pid);
  for (int i = 0; i < 100 && nices.count(19) < 2; ++i) {
    std::this_thread::sleep_for(50ms);
    nices = thread_nices(pid);
  }
  EXPECT_EQ(nices.count(19), 2u) << ::testing::PrintToString(nices);
  EXPECT_GE(nices.count(0), 2u) << ::testing::PrintToString(nices);
  Result st = run({"status", ws.string(), "--json"});
  EXPECT_EQ(test::json_value(st.out, "artifacts.0.pace.priority"), "idle") << st.out;
  EXPECT_EQ(test::json_value(st.out, "artifacts.0.pace.files_per_second_limit"), "15.0") << st.out;
  EXPECT_EQ(test::json_value(st.out, "artifacts.0.pace.bytes_per_second_limit"), "67108864.0") << st.out;
  Result human = run({"status", ws.string()});
  EXPECT_NE(human.out.find("pace: idle priority, at most 15 files/s and 64.0 MiB/s"), std::string::npos)
      << human.out;
  // A reader using the view for a second: below normal priority the workers
  // yield to it (the second is how long the load lasts, not a limit).
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
       std::chrono::steady_clock::now() < until;) {
    EXPECT_EQ(test::read_file(ws / "target/debug/deps/libc0-1.rlib"), "rlib c0");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  wait_and_compare(expected);
  // The workers waited for the limit, and yielded to the reader.
  Result w = run({"wait", ws.string(), "--json"});
  EXPECT_NE(test::json_value(w.out, "artifacts.0.pace.waited_seconds"), "0.0") << w.out;
  EXPECT_NE(test::json_value(w.out, "artifacts.0.pace.yielded_seconds"), "0.0") << w.out;

  Result bad = run({"mount", root.string(), ws.string(), "--bytes-rate", "lots"});
  EXPECT_EQ(bad.rc, 2) << show(bad);
  EXPECT_NE(bad.err.find("not a byte rate"), std::string::npos) << show(bad);
  bad = run({"seed", root.string(), ws.string(), "--priority", "urgent"});
  EXPECT_EQ(bad.rc, 2) << show(bad);
}

// --keep-mounted: the view stays (wait returns at once), nothing is
// materialized ahead, a written file is copied (never linked); after
// `unmount` the workspace dir holds only that; the next mount keeps the view
// again, and --no-keep-mounted materializes the rest.
TEST_F(Cli, KeepMountedStaysUntilUnmountAndRemembersIt) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(20);
  Snapshot expected = seeded_reference();
  Result r = run({"mount", root.string(), ws.string(), "--keep-mounted"});
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("kept mounted until `seedfs unmount`"), std::string::npos) << r.out;
  r = run({"wait", ws.string(), "--json"});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.phase"), "kept") << r.out;
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.keep_mounted"), "true") << r.out;
  EXPECT_EQ(test::json_value(r.out, "artifacts.0.files_done"), "0") << r.out;
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(fs::mount_at((ws / "target").string())) << "a kept view stays";
  EXPECT_EQ(test::read_file(ws / "target/debug/deps/libc3-1.rlib"), "rlib c3");
  write_file(ws / "target/debug/.fingerprint/c4-1/lib-c4", "rebuilt");
  std::ofstream(ws / "target/debug/deps/libc5-1.rlib", std::ios::app) << " appended";
  stdfs::remove(ws / "target/debug/deps/libc6-1.rmeta");
  Result human = run({"status", ws.string()});
  EXPECT_NE(human.out.find("kept mounted until `seedfs unmount`"), std::string::npos) << human.out;

  r = run({"unmount", ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("holds only what was written"), std::string::npos) << r.out;
  ASSERT_FALSE(fs::mount_at((ws / "target").string()));
  // Only what was written, as copies.
  std::set<std::string> files;
  for (auto& e : stdfs::recursive_directory_iterator(ws / "target"))
    if (e.is_regular_file()) files.insert(stdfs::relative(e.path(), ws / "target").string());
  EXPECT_EQ(files, (std::set<std::string>{"debug/.fingerprint/c4-1/lib-c4", "debug/deps/libc5-1.rlib"}));
  struct stat w {}, rt {};
  ASSERT_EQ(::stat((ws / "target/debug/deps/libc5-1.rlib").c_str(), &w), 0);
  ASSERT_EQ(::stat((root / "target/debug/deps/libc5-1.rlib").c_str(), &rt), 0);
  EXPECT_NE(w.st_ino, rt.st_ino);
  EXPECT_EQ(w.st_nlink, 1u);

  // Remembered: the next mount keeps the view again (also what a crash's resume does).
  r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.out.find("as the previous mount of this workspace did"), std::string::npos) << r.out;
  EXPECT_EQ(status_of(ws)["phase"].value_or(std::string()), "kept");
  EXPECT_EQ(test::read_file(ws / "target/debug/deps/libc5-1.rlib"), "rlib c5 appended");
  EXPECT_FALSE(stdfs::exists(ws / "target/debug/deps/libc6-1.rmeta")) << "a deletion came back";
  ASSERT_EQ(run({"unmount", ws.string()}).rc, 0);
  r = run({"mount", root.string(), ws.string(), "--no-keep-mounted"});
  ASSERT_EQ(r.rc, 0) << show(r);
  expected["debug/.fingerprint/c4-1/lib-c4"] = test::snapshot(ws / "target/debug/.fingerprint/c4-1")["lib-c4"];
  expected["debug/deps/libc5-1.rlib"] = test::snapshot(ws / "target/debug/deps")["libc5-1.rlib"];
  expected.erase("debug/deps/libc6-1.rmeta");
  wait_and_compare(expected);
  r = run({"mount", root.string(), ws.string(), "--keep-mounted", "--no-keep-mounted"});
  EXPECT_EQ(r.rc, 2) << show(r);
}

TEST_F(Cli, UnmountEarlyThenMountResumes) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(60);
  Snapshot expected = seeded_reference();
  Result r = run({"mount", root.string(), ws.string(), "--throttle-us", "20000"});
  ASSERT_EQ(r.rc, 0) << show(r);
  stdfs::remove(ws / "target/debug/deps/libc7-1.rlib");
  expected.erase("debug/deps/libc7-1.rlib");
  write_file(ws / "target/debug/mine", "mine");
  expected["debug/mine"] = test::snapshot(ws / "target")["debug/mine"];
  r = run({"unmount", ws.string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_FALSE(fs::mount_at((ws / "target").string()));
  r = run({"unmount", ws.string()});
  EXPECT_EQ(r.rc, 6) << show(r);
  r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  wait_and_compare(expected);
}

// `seedfs wait` exits 0 only for a workspace that is done: a stopped one is
// not, and after a daemon was killed, the last word of an earlier daemon of the
// same workspace must not answer for it.
TEST_F(Cli, WaitTellsStoppedFromDoneAndIgnoresAnEarlierDaemonsStatus) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(60);
  Snapshot expected = seeded_reference();
  Result r = run({"mount", root.string(), ws.string(), "--throttle-us", "20000"});
  ASSERT_EQ(r.rc, 0) << show(r);
  r = run({"unmount", ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  r = run({"wait", ws.string()});
  EXPECT_EQ(r.rc, 1) << show(r);
  EXPECT_NE(r.err.find("stopped before it was done"), std::string::npos) << show(r);

  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(mount_slowly(pid));
  ASSERT_TRUE(signal_and_reap(pid, SIGKILL));
  r = run({"wait", ws.string()});
  EXPECT_EQ(r.rc, 6) << show(r);
  EXPECT_NE(r.err.find("dead seedfs mount"), std::string::npos) << show(r);

  r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  wait_and_compare(expected);
}

// SIGTERM (as from `kill`, or a shutdown) stops the daemon the way `seedfs
// unmount` does: the mount goes, nothing is lost, and the next mount resumes.
TEST_F(Cli, SigtermUnmountsAndTheNextMountResumes) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(60);
  Snapshot expected = seeded_reference();
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(mount_slowly(pid));
  write_file(ws / "target/debug/mine", "mine");
  expected["debug/mine"] = test::snapshot(ws / "target")["debug/mine"];
  for (int i = 0; i < 200 && status_of(ws)["files_done"].value_or(0) < 10; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(status_of(ws)["phase"].value_or(std::string()), "materializing");
  EXPECT_TRUE(signal_and_reap(pid, SIGTERM)) << "the daemon must exit on SIGTERM";
  EXPECT_FALSE(fs::mount_at((ws / "target").string())) << "and take its mount with it";
  Result r = run({"status", ws.string()});
  EXPECT_EQ(r.rc, 6) << show(r);
  r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  wait_and_compare(expected);
}

// kill -9 of the daemon at several points; the next `seedfs mount` clears the
// dead mount and converges to the tree an uninterrupted run gives.
class CliKill : public Cli, public ::testing::WithParamInterface<int> {};

TEST_P(CliKill, KilledDaemonIsClearedAndResumed) {
  SEEDFS_REQUIRE_FUSE_OR_SKIP();
  make_root(80);
  Snapshot expected = seeded_reference();
  pid_t pid = 0;
  ASSERT_NO_FATAL_FAILURE(mount_slowly(pid));  // 240 files: many seconds to act in
  int point = GetParam();
  if (point >= 1) {  // during the links
    for (int i = 0; i < 200 && status_of(ws)["files_done"].value_or(0) < 40; ++i) std::this_thread::sleep_for(20ms);
  }
  if (point == 2) {  // after changes through the view: a copy-up, deletions, new files
    write_file(ws / "target/debug/.fingerprint/c3-1/lib-c3", "rebuilt");
    expected["debug/.fingerprint/c3-1/lib-c3"] = test::snapshot(ws / "target")["debug/.fingerprint/c3-1/lib-c3"];
    {
      std::ofstream out(ws / "target/debug/deps/libc1-1.rlib", std::ios::app);
      out << "+";
    }
    expected["debug/deps/libc1-1.rlib"] = test::snapshot(ws / "target")["debug/deps/libc1-1.rlib"];
    stdfs::remove(ws / "target/debug/deps/libc70-1.rmeta");
    expected.erase("debug/deps/libc70-1.rmeta");
    stdfs::remove_all(ws / "target/debug/.fingerprint/c71-1");
    for (auto it = expected.begin(); it != expected.end();)
      it = it->first.rfind("debug/.fingerprint/c71-1", 0) == 0 ? expected.erase(it) : std::next(it);
  }
  std::string phase = status_of(ws)["phase"].value_or(std::string());
  ASSERT_TRUE(phase == "materializing" || (point == 0 && phase == "scanning"))
      << "the kill must come while materializing, not in phase " << phase;
  ASSERT_TRUE(signal_and_reap(pid, SIGKILL));
  EXPECT_TRUE(fs::is_dead_mount((ws / "target").string())) << "a killed daemon leaves a dead mount";
  Result r = run({"status", ws.string()});
  EXPECT_EQ(r.rc, 6) << show(r);
  r = run({"mount", root.string(), ws.string()});
  ASSERT_EQ(r.rc, 0) << show(r);
  EXPECT_NE(r.err.find("dead mount"), std::string::npos) << r.err;
  wait_and_compare(expected);
}

std::string kill_point_name(const ::testing::TestParamInfo<int>& info) {
  const char* names[] = {"RightAfterMount", "DuringLinks", "AfterCopyUpsAndDeletions"};
  return names[info.param];
}
INSTANTIATE_TEST_SUITE_P(AtSeveralPoints, CliKill, ::testing::Values(0, 1, 2), kill_point_name);

}  // namespace
}  // namespace seedfs

// Faults during a real cargo build through the view (issue 19, part 3): the
// workspace's filesystem fills up, the daemon is killed, a root directory
// becomes unreadable to the daemon. Each test edits the member e2e-model (its
// VERSION gets a suffix, which the app prints; only the app depends on it, so
// exactly e2e-model and seedfs-e2e-app compile), meets the fault while cargo
// or the materializer is at work, and checks that cargo fails with the
// fault's error instead of hanging or building something wrong, that `seedfs
// status` / `wait` say what happened, that nothing already in the workspace
// was lost or torn (every file that still has the root's mtime has the
// root's bytes), that once the cause is gone `seedfs mount` resumes and
// completes, that the next build compiles exactly the edited crate and its
// dependent and the binary prints the edit, and (TearDown) that the root's
// target/ kept every name, byte, mode and mtime.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>

#include "config/config.hpp"
#include "seeding/sys.hpp"
#include "tests/e2e/cargo_e2e.hpp"

namespace seedfs {
namespace {

using namespace e2e;
using namespace std::chrono_literals;

constexpr const char* kModel = "e2e-model";
// The materializer's pause per file (µs) while a fault is set up: 20 ms on 2
// workers is ~40 s for the fixture's ~3,800 files, longer than any step
// below; after a resume it runs at full speed.
constexpr int kSlow = 20000;

class BuildFaults : public CargoE2E {
 protected:
  void TearDown() override {
    if (child > 0) wait_exit(child, 0s);  // a test that stopped early leaves no cargo behind
    if (restore_mode) {  // before the root's snapshot is compared
      ::chmod(restore_mode->first.c_str(), restore_mode->second);
      restore_mode.reset();
    }
    CargoE2E::TearDown();
    if (!small_fs.empty() && ::umount2(small_fs.c_str(), 0) != 0) ::umount2(small_fs.c_str(), MNT_DETACH);
  }

  // The member's VERSION gets `suffix`, which the app prints.
  void edit_version(const stdfs::path& project, const std::string& suffix) {
    auto file = project / "crates/model/src/lib.rs";
    std::string src = test::read_file(file);
    const std::string from = R"(pub const VERSION: &str = include_str!("../../../shared/version.txt");)";
    const std::string to =
        R"(pub const VERSION: &str = concat!(include_str!("../../../shared/version.txt"), ")" + suffix + R"(");)";
    auto at = src.find(from);
    ASSERT_NE(at, std::string::npos) << file << " no longer has the line this test edits";
    src.replace(at, from.size(), to);
    std::ofstream(file, std::ios::trunc) << src;
  }

  // The workspace's app runs the edit: "... version 1.0\n<suffix>".
  void expect_app_prints(const std::string& suffix) {
    Result app = run({(ws / "target/debug" / kApp).string(), "--count", "2"}, ws);
    EXPECT_EQ(app.rc, 0) << app.out;
    EXPECT_NE(app.out.find("2 records (Record: name,sha256,ring_sha256,when)"), std::string::npos) << app.out;
    EXPECT_NE(app.out.find("version 1.0\n" + suffix), std::string::npos) << "the edit is not in the binary:\n"
                                                                         << app.out;
  }

  std::string status_json() {
    Result r = seedfs({"status", ws.string(), "--json"});
    EXPECT_EQ(r.rc, 0) << r.out;
    return r.out;
  }

  int64_t files_done() {
    try {
      return std::stoll(test::json_value(status_json(), "artifacts.0.files_done"));
    } catch (...) {
      return -1;
    }
  }

  // Until the materializer has done `n` files (it is throttled: a few seconds).
  void wait_files_done(int64_t n) {
    auto give_up = Clock::now() + 120s;
    while (files_done() < n && Clock::now() < give_up) std::this_thread::sleep_for(100ms);
    ASSERT_GE(files_done(), n) << "the materializer did not get going:\n" << status_json();
  }

  pid_t daemon_pid() {
    std::string st = status_json();
    try {
      return static_cast<pid_t>(std::stol(test::json_value(st, "pid")));
    } catch (...) {
      ADD_FAILURE() << "no pid in:\n" << st;
      return -1;
    }
  }

  // Whether process `pid` is gone (or a zombie nobody reaps).
  static bool gone(pid_t pid) {
    std::string stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  }

  // Nothing in `target` is wrong: every root file the materializer brings
  // (as of the root's snapshot; not what the cargo rules skip: *.d, *.o,
  // incremental/, the lock files) is there, every one that still has the
  // root's mtime (materialized, and not rewritten by cargo since) has the
  // root's bytes and mode, every directory has the root's mode, and no
  // temporary file is left.
  void expect_root_files_intact(const stdfs::path& target) {
    const config::Config builtin = config::builtin();
    const config::GlobSet& skip = builtin.find("cargo")->skip_rules;
    auto skipped = [&](const std::string& rel, bool is_dir) {
      for (size_t at = rel.find('/'); at != std::string::npos; at = rel.find('/', at + 1))
        if (skip.prunes_dir(rel.substr(0, at))) return true;
      return is_dir ? skip.prunes_dir(rel) : skip.matches(rel, false);
    };
    Snapshot got = test::snapshot(target);
    std::string wrong, missing;
    size_t same = 0, files = 0;
    for (const auto& [rel, e] : root_before) {
      if (skipped(rel, e.type == 'd')) continue;
      files += e.type == 'f';
      auto it = got.find(rel);
      if (it == got.end()) {
        missing += "  " + rel + "\n";
        continue;
      }
      const test::Entry& g = it->second;
      if (e.type == 'd') {
        if (g.type != 'd' || g.mode != e.mode) wrong += "  " + rel + " (a directory of another mode or type)\n";
      } else if (e.type == 'f' && g.type == 'f' && g.mtime_ns == e.mtime_ns) {
        if (g.size != e.size || g.hash != e.hash || g.mode != e.mode)
          wrong += "  " + rel + " (size " + std::to_string(e.size) + " -> " + std::to_string(g.size) + ")\n";
        else
          ++same;
      }
    }
    EXPECT_EQ(missing, "") << "root files missing from " << target;
    EXPECT_EQ(wrong, "") << "files in " << target << " that have the root's mtime but not its bytes";
    for (const auto& [rel, e] : got)
      EXPECT_EQ(rel.find(".seedfs-tmp"), std::string::npos) << "a temporary file was left in " << target << ": "
                                                            << rel;
    // (Cargo rewrites a few dozen: the edited units' outputs and fingerprints, the uplifted files.)
    EXPECT_GE(same + 50, files) << "of the root's " << files << " files, only " << same << " kept the root's mtime";
  }

  // A process of its own (its own process group), stdout and stderr to `log`.
  static pid_t spawn(const std::vector<std::string>& argv, const stdfs::path& cwd, const stdfs::path& log) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (out < 0 || in < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    return pid;
  }

  // The exit code of `pid` (128 + signal), or nullopt if it did not exit
  // within `limit`: then its process group is killed (a hang is a failure,
  // never a hung test).
  static std::optional<int> wait_exit(pid_t pid, std::chrono::seconds limit) {
    auto give_up = Clock::now() + limit;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (r < 0) return -1;
      if (Clock::now() >= give_up) break;
      std::this_thread::sleep_for(100ms);
    }
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return std::nullopt;
  }

  stdfs::path small_fs;
  pid_t child = -1;  // a cargo started by spawn() and not waited for yet
  std::optional<std::pair<stdfs::path, mode_t>> restore_mode;  // a root dir's mode to put back
};

// Fills the filesystem of `file` (writing it until ENOSPC); the errno of the last write.
int fill_fs(const stdfs::path& file) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  struct statvfs v {};
  if (::fstatvfs(fd, &v) == 0) {
    off_t bulk = static_cast<off_t>(v.f_bavail) * static_cast<off_t>(v.f_frsize) - (8 << 20);
    if (bulk > 0) ::posix_fallocate(fd, 0, bulk);  // most of it at once; the writes below do the rest
  }
  ::lseek(fd, 0, SEEK_END);
  int err = 0;
  for (size_t chunk : {size_t{1} << 20, size_t{4096}}) {
    std::string bytes(chunk, 'b');
    for (err = 0; !err;)
      if (::write(fd, bytes.data(), bytes.size()) < 0) err = errno;
  }
  ::close(fd);
  return err;
}

// 1. The workspace (the worktree) lives on a 1.2 GB tmpfs, the root on the
// disk: the view works across filesystems and the materializer copies. While
// it copies (throttled), a file is written through the view, e2e-model is
// edited, and a ballast file fills the tmpfs. The build fails with "No space
// left on device", and so does the materializer: `status` says `failed` with
// the error, `wait` exits 1 and says so, the view stays and still serves.
// Then the ballast goes, `seedfs mount` resumes (the failed daemon is
// replaced), the build compiles exactly what the failed one did not finish
// (e2e-model and the app, or the app alone when e2e-model was done before
// the disk was full), the binary prints the edit, and `seedfs wait`
// completes. What was written through the
// view before the fill kept its bytes, and every file with the root's mtime
// has the root's bytes.
TEST_F(BuildFaults, WorkspaceFilesystemFillsUpMidBuild) {
  small_fs = tmp / "envs";  // where make_worktree puts the worktree
  stdfs::create_directories(small_fs);
  ASSERT_EQ(::mount("tmpfs", small_fs.c_str(), "tmpfs", 0, "size=1200m"), 0)
      << "mount -t tmpfs: " << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  const std::string before_fill = "written through the view before the disk filled\n";
  auto written = ws / "target/debug/before-the-fill.txt";
  std::ofstream(written) << before_fill;
  ASSERT_NO_FATAL_FAILURE(wait_files_done(100));
  ASSERT_NO_FATAL_FAILURE(edit_version(ws, "-after-enospc"));
  EXPECT_EQ(fill_fs(small_fs / "ballast"), ENOSPC);

  Build full = cargo({"build", "-v"}, ws);
  EXPECT_NE(full.result.rc, 0) << full.result.out;
  EXPECT_TRUE(full.result.out.find("No space left on device") != std::string::npos ||
              full.result.out.find("os error 28") != std::string::npos)
      << full.result.out;
  // It fails at e2e-model, or, where the materializer's failed copy gave a
  // few MB back, at the app (whose start says that e2e-model was done).
  EXPECT_TRUE(full.compiled == Names{kModel} || full.compiled == (Names{kModel, kApp})) << full.result.out;
  const Names left = full.compiled.count(kApp) ? Names{kApp} : Names{kModel, kApp};

  // The materializer met the full disk too (the next file it copied).
  Result w = seedfs({"wait", ws.string()});
  EXPECT_EQ(w.rc, 1) << w.out;
  EXPECT_NE(w.out.find("failed"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("No space left on device"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("`seedfs mount` resumes it"), std::string::npos) << "wait says how to go on:\n" << w.out;
  std::string st = status_json();
  EXPECT_EQ(test::json_value(st, "artifacts.0.phase"), "failed") << st;
  std::string error = test::json_value(st, "artifacts.0.error");
  EXPECT_NE(error.find("No space left on device"), std::string::npos) << st;
  EXPECT_NE(error.find((root / "target").string()), std::string::npos) << "the error names the path: " << st;
  {
    const std::string& out = full.result.out;
    size_t at = out.find("No space left on device");
    size_t from = at == std::string::npos ? 0 : out.rfind('\n', at);
    std::printf("[e2e] the build on the full disk: ...%s\n[e2e] the materializer failed after %s files: %s\n",
                out.substr(from == std::string::npos ? 0 : from, 300).c_str(),
                test::json_value(st, "artifacts.0.files_done").c_str(), error.c_str());
  }
  // The view stays, and serves what it has.
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  EXPECT_EQ(test::read_file(written), before_fill);
  Result app = run({(ws / "target/debug" / kApp).string(), "--count", "1"}, ws);
  EXPECT_EQ(app.rc, 0) << app.out;
  EXPECT_NE(app.out.find("version 1.0\n"), std::string::npos) << "the root's binary, as before the edit:\n" << app.out;
  EXPECT_EQ(app.out.find("-after-enospc"), std::string::npos) << app.out;

  // Space again; `seedfs mount` resumes, the build completes the edit.
  stdfs::remove(small_fs / "ballast");
  Result again = seedfs({"mount", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("had failed (" + error + "); stopping that mount to resume it"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("(T0 of this workspace's first seeding)"), std::string::npos) << again.out;
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, left);  // exactly what the failed build did not finish
  expect_app_prints("-after-enospc");
  wait_done();
  EXPECT_EQ(test::read_file(written), before_fill);
  expect_root_files_intact(ws / "target");
  expect_all_fresh(cargo({"build", "-v"}, ws));
}

// 2. kill -9 of the daemon while cargo builds through the view (after the
// edit, cargo is compiling e2e-model: it holds target/debug/.cargo-lock and
// rustc reads the dependencies' metadata through the view). cargo exits with
// an error (the view's files answer ENOTCONN) and never hangs; `status` points
// at the dead mount; `seedfs mount` clears it and resumes; the build then
// compiles exactly e2e-model and the app, and the binary prints the edit.
TEST_F(BuildFaults, DaemonKilledWhileCargoBuilds) {
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  ASSERT_NO_FATAL_FAILURE(mount(kSlow));
  ASSERT_NO_FATAL_FAILURE(edit_version(ws, "-after-the-kill"));
  pid_t daemon = daemon_pid();
  ASSERT_GT(daemon, 1);
  auto log = tmp / "cargo-during-the-kill.log";
  pid_t cargo_pid = child = spawn({"cargo", "build", "-v"}, ws, log);
  ASSERT_GT(cargo_pid, 0);
  // Until rustc works on e2e-model, reading through the view.
  auto give_up = Clock::now() + 120s;
  bool compiling = false;
  int early = 0;
  while (!(compiling = test::read_file(log).find("--crate-name e2e_model") != std::string::npos) &&
         Clock::now() < give_up && ::waitpid(cargo_pid, &early, WNOHANG) == 0)
    std::this_thread::sleep_for(20ms);
  if (!compiling) {
    std::optional<int> rc = wait_exit(std::exchange(child, -1), 1s);
    FAIL() << "cargo never compiled e2e-model (exit " << (rc ? *rc : -1) << "):\n" << test::read_file(log);
  }
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  for (int i = 0; i < 3000 && !gone(daemon); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(gone(daemon)) << "the daemon " << daemon << " outlived kill -9";

  std::optional<int> rc = wait_exit(std::exchange(child, -1), 300s);
  std::string out = test::read_file(log);
  ASSERT_TRUE(rc) << "cargo hung after the daemon was killed (killed after 300 s):\n" << out;
  EXPECT_NE(*rc, 0) << "cargo succeeded although its target dir went away mid-build:\n" << out;
  EXPECT_EQ(out.find("Finished"), std::string::npos) << out;
  // (What it says depends on where rustc was: `Transport endpoint is not
  // connected (os error 107)` at a write, `found invalid metadata files` at
  // the open of a dependency's .rmeta; printed here.)
  size_t first_error = std::min(out.find("\nerror"), out.size());
  std::printf("[e2e] cargo exited %d after the kill:\n%s\n", *rc, out.substr(first_error, 1500).c_str());

  EXPECT_TRUE(fs::is_dead_mount((ws / "target").string())) << "a killed daemon leaves a dead mount";
  Result st = seedfs({"status", ws.string()});
  EXPECT_NE(st.rc, 0) << st.out;
  EXPECT_NE(st.out.find("dead seedfs mount"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("seedfs mount"), std::string::npos) << "status says how to resume:\n" << st.out;

  Result again = seedfs({"mount", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("cleared a dead mount"), std::string::npos) << again.out;
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  EXPECT_FALSE(fs::is_dead_mount((ws / "target").string()));
  Build b = cargo({"build", "-v"}, ws);
  expect_compiled(b, {kModel, kApp});
  expect_app_prints("-after-the-kill");
  wait_done();
  expect_root_files_intact(ws / "target");
  expect_all_fresh(cargo({"build", "-v"}, ws));
  expect_app_prints("-after-the-kill");
}

// 3. A directory of the root's target/ made unreadable (mode 0) while the
// materializer works, for a daemon without CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH (setpriv drops them from its bounding set: root is then
// held to the mode bits like any user, as tests/faults_test.cpp's Unreadable
// does; /dev/fuse stays as it is). The directory is target/release/deps or
// target/stripped/deps (on a private copy of the fixture, all profiles),
// whichever the materializer has brought in least of once it has begun:
// ~137 files each, one worker at a time at 20 ms a file, so that it is mid-way
// there or not yet begun; a debug build never reads them. `seedfs wait` exits 1, `status` says
// `failed` with the path and "Permission denied", and the view keeps serving
// what it can: a debug build through it is all Fresh and its app runs, a file
// of that directory already in the workspace is served, one that is not is
// EACCES (never an empty or partial file). Once the mode is back, `seedfs
// mount` (again without those capabilities) resumes and completes, the
// workspace holds every root file with its bytes and every directory with
// its mode, debug and release builds are all Fresh, and an edit then
// compiles exactly e2e-model and the app.
TEST_F(BuildFaults, RootDirUnreadableMidMaterialization) {
  ASSERT_NO_FATAL_FAILURE(use_private_root());
  ASSERT_NO_FATAL_FAILURE(make_worktree());
  const std::vector<std::string> no_dac = {"setpriv", "--inh-caps=-dac_override,-dac_read_search",
                                           "--bounding-set=-dac_override,-dac_read_search", "--"};
  auto without_dac = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = no_dac;
    argv.push_back(SEEDFS_BIN);
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, tmp.path());
  };
  // The workspace's own target/, reached beneath the view once it is mounted.
  stdfs::create_directories(ws / "target");
  sys::UniqueFd upper(::open((ws / "target").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(upper);

  Result m = without_dac({"mount", root.string(), ws.string(), "--throttle-us", std::to_string(kSlow)});
  ASSERT_EQ(m.rc, 0) << m.out;
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  // Mid-materialization: once it has begun, of release/deps and
  // stripped/deps the one the materializer has brought in least of (it does
  // one directory on one worker at a time, at 20 ms a file).
  {
    auto give_up = Clock::now() + 120s;
    while (status_value("files_done") == "0" && Clock::now() < give_up) std::this_thread::sleep_for(20ms);
  }
  std::string bad_rel;
  size_t in_ws = SIZE_MAX, in_root = 0;
  for (const char* rel : {"release/deps", "stripped/deps"}) {
    size_t n = 0;
    for (const auto& e : stdfs::directory_iterator("/proc/self/fd/" + std::to_string(upper.get()) + "/" + rel))
      n += e.path().extension() != ".d";
    if (n < in_ws) std::tie(in_ws, bad_rel) = std::pair(n, std::string(rel));
  }
  const stdfs::path bad = root / "target" / bad_rel;
  for (const auto& e : stdfs::directory_iterator(bad)) in_root += e.path().extension() != ".d";
  ASSERT_LT(2 * in_ws, in_root) << bad_rel << ": the materializer got too far for this test";
  std::printf("[e2e] %s made unreadable with %zu of its %zu files in the workspace (%s in all)\n", bad_rel.c_str(),
              in_ws, in_root, status_value("files_done").c_str());
  struct stat st {};
  ASSERT_EQ(::stat(bad.c_str(), &st), 0);
  // Two files of it in the workspace first: one written through the view,
  // one of the root's opened for writing (the view brings it in and copies
  // it up).
  const std::string written_rel = bad_rel + "/written-through-the-view.txt";
  std::ofstream(ws / "target" / written_rel) << "written before the chmod\n";
  std::string opened_rel;
  for (const auto& e : stdfs::directory_iterator(bad))
    if (e.path().extension() == ".rlib") opened_rel = bad_rel + "/" + e.path().filename().string();
  ASSERT_FALSE(opened_rel.empty());
  {
    int fd = ::open((ws / "target" / opened_rel).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0) << opened_rel << ": " << std::strerror(errno);
    ::close(fd);
  }
  restore_mode.emplace(bad, st.st_mode & 07777);
  ASSERT_EQ(::chmod(bad.c_str(), 0), 0);
  {  // The premise: without those capabilities, root cannot enter it.
    std::vector<std::string> probe = no_dac;
    probe.insert(probe.end(), {"test", "-x", bad.string()});
    Result p = run(probe, tmp.path());
    ASSERT_EQ(p.rc, 1) << "setpriv could not drop the capabilities: " << p.out;
  }

  Result w = seedfs({"wait", ws.string()});
  EXPECT_EQ(w.rc, 1) << "wait must report the failure:\n" << w.out;
  EXPECT_NE(w.out.find("failed"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("Permission denied"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find(bad.string()), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("`seedfs mount` resumes it"), std::string::npos) << "wait says how to go on:\n" << w.out;
  std::string status = status_json();
  EXPECT_EQ(test::json_value(status, "artifacts.0.phase"), "failed") << status;
  std::string error = test::json_value(status, "artifacts.0.error");
  EXPECT_NE(error.find(bad.string()), std::string::npos) << "the error must name the path: " << error;
  EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
  std::printf("[e2e] the materializer failed after %s files: %s\n",
              test::json_value(status, "artifacts.0.files_done").c_str(), error.c_str());
  Result human = seedfs({"status", ws.string()});
  EXPECT_EQ(human.rc, 0) << human.out;
  EXPECT_NE(human.out.find("failed"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(bad.string()), std::string::npos) << human.out;

  // The view keeps serving what it can read.
  ASSERT_TRUE(fs::mount_at((ws / "target").string()));
  expect_all_fresh(cargo({"build", "-v"}, ws));
  Result app = run({(ws / "target/debug" / kApp).string(), "--count", "2"}, ws);
  EXPECT_EQ(app.rc, 0) << app.out;
  EXPECT_NE(app.out.find("2 records (Record: name,sha256,ring_sha256,when), "), std::string::npos) << app.out;
  // In the unreadable directory: what the workspace holds is served, the rest
  // is EACCES (but for what the cargo rules leave out, *.d: never shown).
  size_t served = 0, denied = 0;
  for (const auto& e : stdfs::directory_iterator(bad)) {  // (the test keeps its capabilities)
    const std::string rel = bad_rel + "/" + e.path().filename().string();
    if (e.path().extension() == ".d") continue;
    struct stat up {};
    bool held = ::fstatat(upper.get(), rel.c_str(), &up, AT_SYMLINK_NOFOLLOW) == 0;
    int fd = ::open((ws / "target" / rel).c_str(), O_RDONLY | O_CLOEXEC);
    int err = errno;
    if (held) {
      EXPECT_GE(fd, 0) << rel << " is in the workspace, yet not served: " << std::strerror(err);
      EXPECT_TRUE(test::read_file(ws / "target" / rel) == test::read_file(e.path())) << rel;
      ++served;
    } else {
      EXPECT_LT(fd, 0) << rel << " is served, though the daemon cannot read it";
      if (fd < 0) {
        EXPECT_EQ(err, EACCES) << rel << ": " << std::strerror(err);
      }
      ++denied;
    }
    if (fd >= 0) ::close(fd);
  }
  EXPECT_GT(denied, 0u) << "the materializer had done the directory before its mode changed";
  EXPECT_GE(served, 1u) << opened_rel << " was not served";
  EXPECT_EQ(test::read_file(ws / "target" / written_rel), "written before the chmod\n");
  std::printf("[e2e] %s through the failed view: %zu files served, %zu denied\n", bad_rel.c_str(), served, denied);

  // The mode back: `seedfs mount` resumes and completes.
  ASSERT_EQ(::chmod(bad.c_str(), restore_mode->second), 0);
  restore_mode.reset();
  Result again = without_dac({"mount", root.string(), ws.string()});
  ASSERT_EQ(again.rc, 0) << again.out;
  EXPECT_NE(again.out.find("had failed (" + error + "); stopping that mount to resume it"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("(T0 of this workspace's first seeding)"), std::string::npos) << again.out;
  Result done = seedfs({"wait", ws.string()});
  ASSERT_EQ(done.rc, 0) << done.out;
  ASSERT_FALSE(fs::mount_at((ws / "target").string())) << "the mount outlived completion";
  expect_root_files_intact(ws / "target");
  expect_all_fresh(cargo({"build", "-v"}, ws));
  expect_all_fresh(cargo({"build", "--release", "-v"}, ws));
  ASSERT_NO_FATAL_FAILURE(edit_version(ws, "-after-the-chmod"));
  expect_compiled(cargo({"build", "-v"}, ws), {kModel, kApp});
  expect_app_prints("-after-the-chmod");
  EXPECT_EQ(test::read_file(ws / "target" / written_rel), "written before the chmod\n");
}

}  // namespace
}  // namespace seedfs

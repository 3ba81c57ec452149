// Faults and stress (DESIGN.md "What bad input gets", invariants 1, 4 and 6):
// no space left during a copy-up, an unreadable root entry, many readers and
// writers while the materializer runs, and kill -9 of the daemon in the middle
// of a copy-up. Every test ends by checking that the root is unchanged.
//
//   SEEDFS_SEED=<n>   the seed of the random choices (printed on failure)
//   SEEDFS_LONG=1     the stress runs 60 s instead of 10, more kill rounds
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fs/artifact_mount.hpp"
#include "seeding/seeder.hpp"
#include "tests/fuse_util.hpp"
#include "tests/test_util.hpp"

namespace seedfs::fs {
namespace {

using test::Snapshot;
using test::TempDir;
using test::blob;
using test::changes_since;
using test::compare_trees;
using test::long_mode;
using test::make_reference;
using test::write_file;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kOld = 1600000000;

uint64_t test_seed() {
  const char* v = std::getenv("SEEDFS_SEED");
  if (v && *v) return std::strtoull(v, nullptr, 10);
  return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

// The errno of writing `data` to `p` opened with `flags` (open, write, fsync or close).
int write_errno(const stdfs::path& p, int flags, const std::string& data) {
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = 0;
  for (size_t done = 0; done < data.size() && !err;) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) err = errno;
    else done += static_cast<size_t>(n);
  }
  if (!err && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  return err;
}

// ---- the seedfs binary (as cli_test runs it) ----

using test::Result;
using test::show;

// Runs `prefix` (e.g. setpriv with its options) + the seedfs binary + `args`.
Result run(const std::vector<std::string>& args, const std::vector<std::string>& prefix = {}) {
  std::vector<std::string> argv = prefix;
  argv.push_back(SEEDFS_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv);
}

// A string or number field of seedfs's JSON ("key" : value), first occurrence.
std::string json_field(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\" : ");
  if (at == std::string::npos) return "";
  at += key.size() + 5;
  if (json[at] == '"') {
    std::string out;
    for (size_t i = at + 1; i < json.size() && json[i] != '"'; ++i) {
      if (json[i] == '\\' && i + 1 < json.size()) ++i;
      out += json[i];
    }
    return out;
  }
  return json.substr(at, json.find_first_of(",\n}", at) - at);
}

class FaultsBase : public ::testing::Test {
 protected:
  void SetUp() override {
    SEEDFS_REQUIRE_FUSE_OR_SKIP();
    ::setenv("XDG_RUNTIME_DIR", (tmp / "run").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (tmp / "state").c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (tmp / "config").c_str(), 1);
    stdfs::create_directories(tmp / "run");
    seed = test_seed();
  }

  void TearDown() override {
    view_fd.reset();
    mount_.reset();
    // Never leave a mount behind, whatever failed.
    if (!ws.empty() && fs::mount_at(ws.string())) {
      run({"unmount", ws.parent_path().string()});
      if (fs::mount_at(ws.string())) ::umount2(ws.c_str(), MNT_DETACH);
    }
    if (!root_before.empty()) {
      EXPECT_EQ(test::diff(root_before, test::snapshot(root)), "") << "the root changed; seed=" << seed;
    }
    if (!small_fs.empty() && ::umount2(small_fs.c_str(), 0) != 0) ::umount2(small_fs.c_str(), MNT_DETACH);
  }

  // A tmpfs of `size` at tmp/small.
  void mount_small_fs(const char* size) {
    small_fs = tmp / "small";
    stdfs::create_directories(small_fs);
    std::string opts = std::string("size=") + size;
    ASSERT_EQ(::mount("tmpfs", small_fs.c_str(), "tmpfs", 0, opts.c_str()), 0)
        << "mount -t tmpfs: " << std::strerror(errno);
  }

  // The view in this process, with the settings of a test.
  void mount(std::chrono::microseconds throttle, unsigned workers, bool start = true) {
    MountSettings s;
    s.artifact = *config::builtin().find("cargo");
    s.root_dir = root;
    s.ws_dir = ws;
    s.journal_file = tmp / "state/cargo.journal";
    s.workers = workers;
    s.throttle = throttle;
    s.keep_mounted = keep;
    stdfs::create_directories(ws);
    upper_fd = sys::UniqueFd(::open(ws.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    mount_ = std::make_unique<ArtifactMount>(s);
    std::string why;
    auto ec = mount_->mount(why);
    ASSERT_FALSE(ec) << why << ": " << ec.message();
    if (start) mount_->start();
  }

  bool live() { return fs::mount_at(ws.string()).has_value(); }

  // Materialization done and the mount gone. A kept view is unmounted first
  // and then materialized by a new mount with the same journal, as `seedfs
  // mount --no-keep-mounted` does: nothing done while it was kept may be lost.
  void wait_done() {
    if (keep) {
      auto st = mount_->status();
      EXPECT_EQ(st.phase, Phase::kept) << st.error;
      EXPECT_EQ(st.stats.files_done, 0u) << "a kept view materializes nothing ahead";
      view_fd.reset();
      mount_->stop();
      ASSERT_TRUE(mount_->wait_for(120s)) << "the kept view did not unmount; seed=" << seed;
      EXPECT_EQ(mount_->status().phase, Phase::stopped);
      EXPECT_FALSE(live());
      mount_.reset();
      keep = false;
      mount(0us, 2);
    }
    ASSERT_TRUE(mount_->wait_for(120s)) << "materialization did not finish; seed=" << seed;
    EXPECT_EQ(mount_->status().phase, Phase::done) << mount_->status().error << "; seed=" << seed;
  }

  std::string status_json() {
    Result r = run({"status", ws.parent_path().string(), "--json"});
    EXPECT_EQ(r.rc, 0) << show(r);
    return r.out;
  }

  TempDir tmp{"seedfs-faults"};
  uint64_t seed = 0;
  stdfs::path root, ws, small_fs;
  Snapshot root_before;
  std::unique_ptr<ArtifactMount> mount_;
  sys::UniqueFd upper_fd, view_fd;
  bool keep = false;  // the view kept mounted (--keep-mounted) instead of materializing
};

// The faults a kept view meets as well: each test runs materializing and kept mounted.
class Faults : public FaultsBase, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    keep = GetParam();
    FaultsBase::SetUp();
  }
};

// ---- no space left during a copy-up ----

// Root and workspace share a 2 MB tmpfs. The root's 1.2 MB .rlib is linked into
// the workspace (no space needed), but a private copy of it does not fit.
TEST_P(Faults, NoSpaceForACopyUpFailsTheWriterAndKeepsTheFile) {
  mount_small_fs("2m");
  root = small_fs / "main/target";
  ws = small_fs / "ws/target";
  const std::string big_rel = "debug/deps/libbig-1.rlib";
  const std::string big = blob("big", 1200 * 1024);
  write_file(root / big_rel, big, 0644, kOld);
  for (int i = 0; i < 20; ++i) {
    std::string c = "c" + std::to_string(i);
    write_file(root / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, kOld + i);
    write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, kOld + i);
  }
  root_before = test::snapshot(root);
  // As a materializer (or an interrupted mount) leaves it: linked to the root's file.
  stdfs::create_directories(ws / "debug/deps");
  stdfs::create_hard_link(root / big_rel, ws / big_rel);
  auto ref = tmp / "refp/target";  // on the big disk
  make_reference(root, ref);
  // The materializer starts after the failed writes: the free space measured
  // around them must not move with its copies.
  mount(20ms, 1, /*start=*/false);
  const int64_t since = changes_since();
  struct statvfs before {};
  ASSERT_EQ(::fstatvfs(upper_fd.get(), &before), 0);

  // Every change of the shared file needs its private copy first: none fits.
  EXPECT_EQ(write_errno(ws / big_rel, O_WRONLY | O_APPEND, "+tail"), ENOSPC);
  EXPECT_EQ(write_errno(ws / big_rel, O_RDWR, "head"), ENOSPC);
  EXPECT_NE(::truncate((ws / big_rel).c_str(), 10), 0);
  EXPECT_EQ(errno, ENOSPC);
  EXPECT_NE(::chmod((ws / big_rel).c_str(), 0600), 0);
  EXPECT_EQ(errno, ENOSPC);

  // The file is as it was, still the root's (not half copied, not emptied).
  EXPECT_TRUE(test::read_file(ws / big_rel) == big) << "the view must show the previous content";
  struct stat up {}, low {};
  ASSERT_EQ(::fstatat(upper_fd.get(), big_rel.c_str(), &up, 0), 0);
  ASSERT_EQ(::stat((root / big_rel).c_str(), &low), 0);
  EXPECT_EQ(up.st_ino, low.st_ino) << "still the root's hardlink";
  EXPECT_EQ(up.st_mode & 07777, 0644u);
  // The failed copies left nothing behind: no temporaries, no space taken.
  for (auto& e : stdfs::recursive_directory_iterator("/proc/self/fd/" + std::to_string(upper_fd.get())))
    EXPECT_EQ(e.path().filename().string().find(".seedfs-tmp"), std::string::npos) << e.path();
  struct statvfs after {};
  ASSERT_EQ(::fstatvfs(upper_fd.get(), &after), 0);
  EXPECT_EQ(before.f_bfree, after.f_bfree) << "blocks taken by the failed copies";

  // The view still answers everything else.
  ASSERT_TRUE(live()) << "the mount must stay";
  EXPECT_EQ(test::read_file(ws / "debug/deps/libc3-1.rlib"), "rlib c3");
  EXPECT_EQ(test::read_file(ws / "debug/.fingerprint/c4-1/lib-c4"), "fp c4");
  EXPECT_TRUE(stdfs::exists(ws / "debug/.fingerprint/c19-1"));
  write_file(ws / "debug/.fingerprint/c5-1/lib-c5", "rewritten");  // small: fits
  write_file(ref / "debug/.fingerprint/c5-1/lib-c5", "rewritten");
  EXPECT_EQ(test::read_file(ws / "debug/.fingerprint/c5-1/lib-c5"), "rewritten");

  // A file of the workspace's own that grows past the free space: ENOSPC from
  // write (or fsync, or close); what was written before stays readable.
  {
    auto grow = ws / "debug/grow.bin";
    int fd = ::open(grow.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::string chunk = blob("grow", 64 * 1024), written;
    int err = 0;
    for (int i = 0; i < 64 && !err; ++i) {
      ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n < 0) err = errno;
      else written += chunk.substr(0, static_cast<size_t>(n));
    }
    if (!err && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && !err) err = errno;
    EXPECT_EQ(err, ENOSPC) << "4 MB into a 2 MB tmpfs";
    std::string back = test::read_file(grow);
    EXPECT_GE(back.size(), written.size() > 4096 ? written.size() - 4096 : 0);
    EXPECT_TRUE(back.compare(0, back.size(), written, 0, back.size()) == 0) << "the bytes written must be intact";
    stdfs::remove(grow);
  }
  // Not before: a copy the materializer made while the disk was full would
  // fail the materialization, which is another test (Unreadable, below).
  mount_->start();
  EXPECT_TRUE(test::read_file(ws / big_rel) == big);
  // A truncating open needs no copy of the data: it works even now.
  EXPECT_EQ(write_errno(ws / big_rel, O_WRONLY | O_TRUNC, "small now"), 0);
  write_file(ref / big_rel, "small now");
  EXPECT_EQ(test::read_file(ws / big_rel), "small now");
  EXPECT_TRUE(test::read_file(root / big_rel) == big);
  ASSERT_TRUE(live());

  wait_done();
  EXPECT_EQ(compare_trees(ws, ref, since), "") << "seed=" << seed;
  // TearDown: the root is unchanged.
}

// The workspace on a 2 MB tmpfs, the root elsewhere: everything is copied
// (EXDEV). The first write to a root file makes its private copy straight
// from the root; with the space taken, that copy fails and nothing changes.
TEST_P(Faults, NoSpaceForTheFirstPrivateCopyLeavesTheRootVersion) {
  mount_small_fs("2m");
  root = tmp / "main/target";
  ws = small_fs / "ws/target";
  const std::string big_rel = "debug/.fingerprint/big-1/output-big";
  const std::string big = blob("fp", 1400 * 1024);
  write_file(root / big_rel, big, 0644, kOld);
  for (int i = 0; i < 20; ++i) {
    std::string c = "c" + std::to_string(i);
    write_file(root / "debug/deps" / ("lib" + c + "-1.rlib"), blob("rlib " + c, 3000), 0644, kOld + i);
    write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, kOld + i);
  }
  root_before = test::snapshot(root);
  auto ref = tmp / "refp/target";
  make_reference(root, ref);
  // The view is live; the materializer does not run yet (it would copy the
  // big file itself, and fail, while the filler is there).
  mount(0us, 2, /*start=*/false);
  const int64_t since = changes_since();
  auto filler = ws / "debug/filler";
  EXPECT_EQ(write_errno(filler, O_WRONLY | O_CREAT | O_EXCL, blob("fill", 800 * 1024)), 0);

  EXPECT_EQ(write_errno(ws / big_rel, O_WRONLY | O_APPEND, "+"), ENOSPC);
  EXPECT_EQ(write_errno(ws / big_rel, O_RDWR, "x"), ENOSPC);
  EXPECT_TRUE(test::read_file(ws / big_rel) == big) << "the view must show the root's content";
  struct stat st {};
  EXPECT_NE(::fstatat(upper_fd.get(), big_rel.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0)
      << "nothing half-copied in the workspace dir";
  ASSERT_TRUE(live());
  EXPECT_EQ(test::read_file(ws / "debug/deps/libc2-1.rlib"), blob("rlib c2", 3000));

  stdfs::remove(filler);
  mount_->start();
  wait_done();
  EXPECT_EQ(compare_trees(ws, ref, since), "") << "seed=" << seed;
}

// ---- an unreadable root entry ----

// The daemon runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv
// drops them from the bounding and inheritable sets, so that exec does not
// give them back to uid 0): a root entry of mode 0000 is then unreadable to
// it, as a file of another user is to a normal user. (Running it as `nobody`
// would need /dev/fuse open to others, which this machine does not allow.)
class Unreadable : public FaultsBase, public ::testing::WithParamInterface<bool> {};

TEST_P(Unreadable, FailsWithThePathAndKeepsServing) {
  const bool dir = GetParam();
  root = tmp / "main/target";
  ws = tmp / "ws/target";
  for (int i = 0; i < 30; ++i) {
    std::string c = "c" + std::to_string(i);
    write_file(root / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, kOld + i);
    write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, kOld + i);
  }
  const std::string bad = dir ? "debug/.fingerprint/c7-1" : "debug/.fingerprint/c6-1/lib-c6";
  ASSERT_EQ(::chmod((root / bad).c_str(), 0), 0);
  root_before = test::snapshot(root);
  std::vector<std::string> no_dac = {"setpriv", "--inh-caps=-dac_override,-dac_read_search",
                                     "--bounding-set=-dac_override,-dac_read_search", "--"};
  // The premise: without those capabilities, root cannot read it.
  Result probe = [&] {
    std::vector<std::string> p = no_dac;
    p.insert(p.end(), {"test", "-r", (root / bad).string()});
    pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : p) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Result{WIFEXITED(status) ? WEXITSTATUS(status) : -1, "", ""};
  }();
  ASSERT_EQ(probe.rc, 1) << "setpriv could not drop the capabilities (rc " << probe.rc << ")";

  stdfs::create_directories(ws.parent_path());
  Result r = run({"mount", root.parent_path().string(), ws.parent_path().string(), "--json"}, no_dac);
  ASSERT_EQ(r.rc, 0) << show(r);
  const std::string log = json_field(r.out, "log");
  r = run({"wait", ws.parent_path().string()});
  EXPECT_EQ(r.rc, 1) << "wait must report the failure\n" << show(r);
  EXPECT_NE((r.out + r.err).find(bad), std::string::npos) << show(r);

  std::string st = status_json();
  EXPECT_EQ(json_field(st, "phase"), "failed") << st;
  std::string error = json_field(st, "error");
  EXPECT_NE(error.find((root / bad).string()), std::string::npos) << "the error must name the path: " << error;
  EXPECT_NE(error.find("Permission denied"), std::string::npos) << error;
  EXPECT_NE(test::read_file(log).find((root / bad).string()), std::string::npos)
      << "the log must name the path:\n" << test::read_file(log);

  // The view stays usable until unmounted: other files, listings, writes.
  ASSERT_TRUE(live());
  EXPECT_EQ(test::read_file(ws / "debug/deps/libc21-1.rlib"), "rlib c21");
  EXPECT_EQ(test::read_file(ws / "debug/.fingerprint/c29-1/lib-c29"), "fp c29");
  EXPECT_TRUE(stdfs::exists(ws / "debug/.fingerprint/c28-1"));
  write_file(ws / "debug/.fingerprint/c1-1/lib-c1", "rebuilt");
  EXPECT_EQ(test::read_file(ws / "debug/.fingerprint/c1-1/lib-c1"), "rebuilt");
  // What the daemon cannot read, it does not serve (the caller is root).
  int fd = ::open((ws / (dir ? bad + "/lib-c7" : bad)).c_str(), O_RDONLY);
  EXPECT_LT(fd, 0) << "the unreadable entry must not be served";
  EXPECT_EQ(errno, EACCES);
  if (fd >= 0) ::close(fd);
  r = run({"unmount", ws.parent_path().string()});
  EXPECT_EQ(r.rc, 0) << show(r);
  EXPECT_FALSE(live());
  // TearDown: the root is unchanged, including the unreadable entry's mode.
}

INSTANTIATE_TEST_SUITE_P(RootEntry, Unreadable, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Dir" : "File"; });

// ---- stress ----

// 8 writers and 8 readers while the materializer runs (throttled, so that it
// spans the whole run). Each writer rewrites its own share of the root's files
// (in place, or by writing a new file and renaming it over), deletes a few, and
// works in a subtree of its own; readers read root files and check that each
// shows the original or a version a writer wrote (a read that overlaps an
// in-place write may mix two versions, as on any filesystem: each byte must
// then come from one of them). Afterwards the view, and the workspace dir
// after the unmount, must equal the reference made from what the writers did.
TEST_P(Faults, ReadersAndWritersWhileMaterializing) {
  const bool lng = long_mode();
  const auto duration = lng ? 60s : 10s;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  root = tmp / "main/target";
  ws = tmp / "ws/target";
  std::mt19937_64 rng(seed);
  std::vector<std::string> files;  // root files the view shows
  std::map<std::string, std::string> original;
  for (int i = 0; i < 150; ++i) {
    std::string c = "c" + std::to_string(i);
    int64_t mt = kOld + i;
    auto add = [&](const std::string& rel, std::string content) {
      write_file(root / rel, content, 0644, mt);
      files.push_back(rel);
      original[rel] = std::move(content);
    };
    add("debug/deps/lib" + c + "-1.rlib", blob("rlib " + c, 1000 + rng() % 9000));
    add("debug/deps/lib" + c + "-1.rmeta", blob("rmeta " + c, 200 + rng() % 3000));
    add("debug/.fingerprint/" + c + "-1/lib-" + c, blob("fp " + c, 16 + rng() % 100));
    add("debug/.fingerprint/" + c + "-1/lib-" + c + ".json", blob("json " + c, 100 + rng() % 2000));
    write_file(root / "debug/deps" / (c + "-1.d"), "d", 0644, mt);
  }
  root_before = test::snapshot(root);
  auto ref = tmp / "refp/target";
  make_reference(root, ref);
  // The .rlib files linked already, as an interrupted mount leaves them: a
  // write to one copies it up, racing the readers of the same file.
  for (auto& rel : files)
    if (stdfs::path(rel).extension() == ".rlib") {
      stdfs::create_directories((ws / rel).parent_path());
      stdfs::create_hard_link(root / rel, ws / rel);
    }
  // One worker; a pause per file so that materializing lasts about as long as the run.
  auto throttle = std::chrono::duration_cast<std::chrono::microseconds>(duration) / files.size();
  mount(throttle, 1);
  // Through this fd every operation reaches the view, also once the
  // materializer is done and the busy mount was detached (by a path they
  // would reach the plain dir, where the links are the root's files).
  view_fd = sys::UniqueFd(::open(ws.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(view_fd);
  const stdfs::path view = "/proc/self/fd/" + std::to_string(view_fd.get());
  const int64_t since = changes_since();

  constexpr int kWriters = 8, kReaders = 8;
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> versions;  // the original, then every version written
  std::set<std::string> deleted;
  std::vector<std::string> errors;
  std::vector<std::map<std::string, std::string>> own(kWriters);  // each writer's subtree: name -> content
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, mixed{0}, writes{0}, copy_writes{0};
  for (auto& [rel, content] : original) versions[rel] = {content};
  auto error = [&](std::string what) {
    std::lock_guard lock(mu);
    errors.push_back(std::move(what));
    stop = true;
  };
  auto sys_error = [&](const std::string& op, const std::string& rel) {
    error(op + " " + rel + ": " + std::strerror(errno));
  };

  auto writer = [&](int w) {
    std::mt19937_64 r(seed + 1000 + w);
    std::vector<std::string> mine;  // every 4th root file of the first 400, per writer
    for (size_t i = static_cast<size_t>(w); i < 400 && i < files.size(); i += kWriters * 2) mine.push_back(files[i]);
    std::string dir = "debug/w" + std::to_string(w);
    if (::mkdir((view / dir).c_str(), 0755) != 0) return sys_error("mkdir", dir);
    int deletions = 0;
    for (uint64_t k = 0; !stop; ++k) {
      uint64_t pick = r() % 100;
      if (pick < 45 && !mine.empty()) {
        size_t i = r() % mine.size();
        const std::string& rel = mine[i];
        {
          std::lock_guard lock(mu);
          if (deleted.count(rel)) continue;
        }
        std::string v = blob("w" + std::to_string(w) + "v" + std::to_string(k), original[rel].size());
        {
          std::lock_guard lock(mu);
          versions[rel].push_back(v);  // before it can be read
        }
        if (i % 2 == 0) {  // in place, no truncation: readers never see it shorter
          int fd = ::open((view / rel).c_str(), O_WRONLY | O_CLOEXEC);
          if (fd < 0) return sys_error("open for writing", rel);
          ssize_t n = ::pwrite(fd, v.data(), v.size(), 0);
          int err = errno;
          ::close(fd);
          errno = err;
          if (n != static_cast<ssize_t>(v.size())) return sys_error("pwrite", rel);
          ++copy_writes;
        } else {  // as rustc replaces its outputs: a new file renamed over
          std::string tmp_rel = rel + ".w" + std::to_string(w) + ".tmp";
          int fd = ::open((view / tmp_rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
          if (fd < 0) return sys_error("create", tmp_rel);
          ssize_t n = ::write(fd, v.data(), v.size());
          ::close(fd);
          if (n != static_cast<ssize_t>(v.size())) return sys_error("write", tmp_rel);
          if (::rename((view / tmp_rel).c_str(), (view / rel).c_str()) != 0) return sys_error("rename", tmp_rel);
        }
        ++writes;
      } else if (pick < 47 && deletions < 3 && !mine.empty()) {
        const std::string& rel = mine[r() % mine.size()];
        {
          std::lock_guard lock(mu);
          if (!deleted.insert(rel).second) continue;
        }
        if (::unlink((view / rel).c_str()) != 0) return sys_error("unlink", rel);
        ++deletions;
      } else {  // the writer's own files
        auto& state = own[static_cast<size_t>(w)];
        std::string name = "f" + std::to_string(r() % 24), rel = dir + "/" + name;
        uint64_t act = r() % 10;
        if (act < 4) {  // create or rewrite (O_TRUNC)
          std::string content = blob(rel + "#" + std::to_string(k), r() % 20000);
          int fd = ::open((view / rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (fd < 0) return sys_error("create", rel);
          ssize_t n = ::write(fd, content.data(), content.size());
          ::close(fd);
          if (n != static_cast<ssize_t>(content.size())) return sys_error("write", rel);
          state[name] = content;
        } else if (act < 6 && state.count(name)) {  // append
          std::string more = blob("+" + std::to_string(k), 1 + r() % 3000);
          int fd = ::open((view / rel).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
          if (fd < 0) return sys_error("open for append", rel);
          ssize_t n = ::write(fd, more.data(), more.size());
          ::close(fd);
          if (n != static_cast<ssize_t>(more.size())) return sys_error("append", rel);
          state[name] += more;
        } else if (act < 8 && state.count(name)) {  // read back
          std::string got = test::read_file(view / rel);
          if (got != state[name])
            return error("read back " + rel + ": " + std::to_string(got.size()) + " bytes, wrote " +
                         std::to_string(state[name].size()));
        } else if (act < 9 && state.count(name)) {
          if (::unlink((view / rel).c_str()) != 0) return sys_error("unlink", rel);
          state.erase(name);
        } else if (state.count(name)) {
          std::string to = "f" + std::to_string(r() % 24);
          if (::rename((view / rel).c_str(), (view / (dir + "/" + to)).c_str()) != 0) return sys_error("rename", rel);
          if (to != name) {
            state[to] = state[name];
            state.erase(name);
          }
        }
        ++writes;
      }
    }
  };

  auto reader = [&](int rd) {
    std::mt19937_64 r(seed + 2000 + rd);
    for (uint64_t k = 0; !stop; ++k) {
      const std::string& rel = files[r() % files.size()];
      std::string got;
      int fd = ::open((view / rel).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        std::lock_guard lock(mu);
        if (err == ENOENT && deleted.count(rel)) continue;
        errors.push_back("open " + rel + ": " + std::strerror(err));
        stop = true;
        return;
      }
      char buf[16384];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0) {
          int err = errno;
          ::close(fd);
          return error("read " + rel + ": " + std::strerror(err));
        }
        got.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
      ++reads;
      if (k % 64 == 0) {  // a listing, now and then
        std::error_code ec;
        for (auto it = stdfs::directory_iterator(view / "debug/deps", ec); !ec && it != stdfs::end(it); it.increment(ec)) {
        }
        if (ec) return error("list debug/deps: " + ec.message());
      }
      std::vector<std::string> valid;
      {
        std::lock_guard lock(mu);
        valid = versions[rel];
      }
      bool exact = false;
      for (auto& v : valid) exact |= v == got;
      if (exact) continue;
      bool each_byte = got.size() == valid.front().size();
      for (size_t i = 0; each_byte && i < got.size(); ++i) {
        bool any = false;
        for (auto& v : valid) any |= v[i] == got[i];
        each_byte = any;
      }
      if (each_byte && valid.size() > 1) {
        ++mixed;
        continue;
      }
      return error("read " + rel + ": " + std::to_string(got.size()) + " bytes that are none of its " +
                   std::to_string(valid.size()) + " versions; starts with '" + got.substr(0, 40) + "'");
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (int rd = 0; rd < kReaders; ++rd) threads.emplace_back(reader, rd);
  auto until = std::chrono::steady_clock::now() + duration;
  while (!stop && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
  auto st = mount_->status();
  stop = true;
  for (auto& t : threads) t.join();
  std::cout << "stress: seed=" << seed << ": " << reads << " reads (" << mixed << " overlapping an in-place write), "
            << writes << " writes (" << copy_writes << " in place into root files), " << st.copy_ups
            << " copy-ups, materialized " << st.stats.files_done << "/" << st.stats.files_found << " when the run ended"
            << std::endl;
  for (auto& e : errors) ADD_FAILURE() << e << "; seed=" << seed;
  ASSERT_TRUE(errors.empty());
  EXPECT_GT(st.copy_ups, 0u) << "the writers must have copied up linked files";

  // The reference: filtered(root) and what the writers did.
  for (auto& [rel, vs] : versions) {
    if (deleted.count(rel)) stdfs::remove(ref / rel);
    else if (vs.size() > 1) write_file(ref / rel, vs.back(), 0644);
  }
  for (int w = 0; w < kWriters; ++w) {
    stdfs::create_directories(ref / ("debug/w" + std::to_string(w)));
    for (auto& [name, content] : own[static_cast<size_t>(w)])
      write_file(ref / ("debug/w" + std::to_string(w)) / name, content, 0644);
  }
  EXPECT_EQ(compare_trees(view, ref, since), "") << "the view; seed=" << seed;
  view_fd.reset();
  wait_done();
  EXPECT_FALSE(live());
  EXPECT_EQ(compare_trees(ws, ref, since), "") << "the workspace dir after the unmount; seed=" << seed;
  // TearDown: the root is unchanged.
}

// ---- kill -9 during a copy-up ----

// Whether daemon `pid` is writing a copy right now: it has an O_TMPFILE open
// in the workspace's debug/deps (the copy, linked into place when complete).
bool copying(pid_t pid, const stdfs::path& dir) {
  std::error_code ec;
  for (auto it = stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != stdfs::end(it);
       it.increment(ec)) {
    std::string target = stdfs::read_symlink(it->path(), ec).string();
    if (target.rfind(dir.string() + "/#", 0) == 0 && target.find("(deleted)") != std::string::npos) return true;
  }
  return false;
}

// `seedfs mount`, changes through the view (kept, deleted), then a big write
// to a root-backed file that is linked to the root (so it is copied up
// first: 128 MB, long enough to be killed in the middle) and kill -9 of the
// daemon: in round 0 while the copy-up is being written (seen in the daemon's
// open fds), in the others after a delay drawn from the seed. A new `seedfs
// mount` and `seedfs wait` must converge to filtered(root) with the completed
// changes, the deletions not undone, and the big file either the root's
// content or that content followed by a prefix of what the writer wrote —
// never a partial copy.
TEST_P(Faults, KillDuringACopyUpThenResume) {
  std::mt19937_64 rng(seed);
  const int rounds = long_mode() ? 12 : 3;
  root = tmp / "main/target";
  const std::string big_rel = "debug/deps/libbig-1.rlib";
  for (int i = 0; i < 60; ++i) {
    std::string c = "c" + std::to_string(i);
    write_file(root / "debug/deps" / ("lib" + c + "-1.rlib"), "rlib " + c, 0644, kOld + i);
    write_file(root / "debug/deps" / ("lib" + c + "-1.rmeta"), "rmeta " + c, 0644, kOld + i);
    write_file(root / "debug/.fingerprint" / (c + "-1") / ("lib-" + c), "fp " + c, 0644, kOld + i);
  }
  {
    std::string big = blob("big", 128 << 20);
    write_file(root / big_rel, big, 0644, kOld);
  }
  const std::string big_hash = std::to_string(test::hash_bytes(test::read_file(root / big_rel)));
  const uint64_t big_size = stdfs::file_size(root / big_rel);
  root_before = test::snapshot(root);
  auto ref = tmp / "refp/target";
  make_reference(root, ref);
  const Snapshot reference = test::snapshot(ref);

  for (int round = 0; round < rounds && !HasFailure(); ++round) {
    const bool in_copy_up = round % 2 == 0;
    const auto kill_after = std::chrono::microseconds(rng() % 600000);  // before, during or after the copy-up
    std::ostringstream id;
    id << "seed=" << seed << " round=" << round << " kill "
       << (in_copy_up ? std::string("during the copy-up") : "after " + std::to_string(kill_after.count()) + " us");
    SCOPED_TRACE(id.str());
    auto project = tmp / ("ws" + std::to_string(round));
    ws = project / "target";
    // As an interrupted mount leaves it: the big file linked to the root's.
    stdfs::create_directories(ws / "debug/deps");
    stdfs::create_hard_link(root / big_rel, ws / big_rel);
    Snapshot expected = reference;

    // 181 files at 50 ms on 2 workers: seconds to act in, even on a loaded machine.
    std::vector<std::string> mount_args = {"mount", root.parent_path().string(), project.string(),
                                           "--throttle-us", "50000", "--json"};
    if (keep) mount_args.push_back("--keep-mounted");
    Result r = run(mount_args);
    ASSERT_EQ(r.rc, 0) << show(r);
    const std::string log = json_field(r.out, "log");
    auto pid = static_cast<pid_t>(std::stoll("0" + json_field(r.out, "pid")));
    ASSERT_GT(pid, 0) << r.out;
    // Completed changes before the kill: a rewrite, a new file, deletions.
    write_file(ws / "debug/.fingerprint/c3-1/lib-c3", "rebuilt");
    write_file(ws / "debug/new/libnew-2.rlib", "new");
    stdfs::remove(ws / "debug/deps/libc7-1.rlib");
    stdfs::remove_all(ws / "debug/.fingerprint/c8-1");
    expected["debug/.fingerprint/c3-1/lib-c3"] = test::snapshot(ws / "debug/.fingerprint/c3-1")["lib-c3"];
    {  // as test::snapshot has a dir (without reading the big file beside it)
      struct stat st {};
      ASSERT_EQ(::lstat((ws / "debug/new").c_str(), &st), 0);
      test::Entry e{};
      e.type = 'd';
      e.mode = st.st_mode & 07777;
      e.uid = st.st_uid;
      e.gid = st.st_gid;
      expected["debug/new"] = e;
    }
    expected["debug/new/libnew-2.rlib"] = test::snapshot(ws / "debug/new")["libnew-2.rlib"];
    expected.erase("debug/deps/libc7-1.rlib");
    for (auto it = expected.begin(); it != expected.end();)
      it = it->first.rfind("debug/.fingerprint/c8-1", 0) == 0 ? expected.erase(it) : std::next(it);
    std::string phase = json_field(status_json(), "phase");
    if (keep)
      ASSERT_EQ(phase, "kept");
    else
      ASSERT_TRUE(phase == "scanning" || phase == "materializing") << "the kill must come while materializing, not "
                                                                    << phase;

    // The writer: appends 1 MB chunks to the big file until the daemon dies.
    const std::string chunk = blob("tail", 1 << 20);
    pid_t child = ::fork();
    if (child == 0) {
      int fd = ::open((ws / big_rel).c_str(), O_WRONLY | O_APPEND);
      if (fd < 0) ::_exit(10);
      for (int i = 0; i < 64; ++i)
        if (::write(fd, chunk.data(), chunk.size()) < 0) ::_exit(11);
      ::_exit(0);
    }
    bool seen_copying = false;
    if (in_copy_up) {
      auto give_up = std::chrono::steady_clock::now() + 5s;
      while (!(seen_copying = copying(pid, ws / "debug/deps")) && std::chrono::steady_clock::now() < give_up) {
      }
    } else {
      std::this_thread::sleep_for(kill_after);
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(fs::is_dead_mount(ws.string())) << "a killed daemon leaves a dead mount";

    r = run({"mount", root.parent_path().string(), project.string()});
    ASSERT_EQ(r.rc, 0) << show(r);
    if (keep) {
      // A kept view comes back kept (the crash must not start materializing
      // what was meant to stay a view); its end is `seedfs unmount`, and a
      // mount with --no-keep-mounted then materializes it.
      EXPECT_EQ(json_field(status_json(), "phase"), "kept");
      r = run({"unmount", project.string()});
      ASSERT_EQ(r.rc, 0) << show(r);
      ASSERT_FALSE(live());
      r = run({"mount", root.parent_path().string(), project.string(), "--no-keep-mounted"});
      ASSERT_EQ(r.rc, 0) << show(r);
    }
    r = run({"wait", project.string()});
    ASSERT_EQ(r.rc, 0) << show(r);
    for (int i = 0; i < 100 && fs::mount_at(ws.string()); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_FALSE(fs::mount_at(ws.string()));

    // The big file: the root's bytes, then whole or partial chunks of the writer's.
    Snapshot got = test::snapshot(ws);
    std::string content = test::read_file(ws / big_rel);
    ASSERT_GE(content.size(), big_size) << "the copy-up lost data";
    EXPECT_EQ(std::to_string(test::hash_bytes(content.substr(0, big_size))), big_hash) << "the root's bytes changed";
    bool tail_ok = true;
    for (size_t at = big_size; at < content.size() && tail_ok; at += chunk.size())
      tail_ok = content.compare(at, std::min(chunk.size(), content.size() - at), chunk, 0,
                                std::min(chunk.size(), content.size() - at)) == 0;
    EXPECT_TRUE(tail_ok) << "the appended bytes are not what the writer wrote";
    std::cout << "kill: " << id.str() << ": writer exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
              << ", big file +" << (content.size() - big_size) << " bytes" << std::endl;
    if (in_copy_up) {
      EXPECT_TRUE(seen_copying) << "the copy-up was never seen in progress";
      // Killed before the copy was linked in: nothing of it may show, and the
      // writer (whose open waited for the copy-up) wrote nothing.
      EXPECT_EQ(content.size(), big_size);
      EXPECT_EQ(test::read_file(log).find("copy-up " + big_rel), std::string::npos)
          << "the copy-up completed before the kill";
    }
    got.erase(big_rel);
    expected.erase(big_rel);
    EXPECT_EQ(test::diff(expected, got), "");
    EXPECT_EQ(test::diff(root_before, test::snapshot(root)), "") << "the root changed";
  }
}

INSTANTIATE_TEST_SUITE_P(Mode, Faults, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Kept" : "Materializing"; });

}  // namespace
}  // namespace seedfs::fs

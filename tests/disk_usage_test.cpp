// seeding/disk_usage: what each dir takes, what deleting it frees, and the
// total against what `du` says of the same dirs.
#include "seeding/disk_usage.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>

#include "tests/test_util.hpp"

namespace seedfs {
namespace {

namespace fs = std::filesystem;
using test::LoopFs;
using test::TempDir;
using test::write_file;

uint64_t allocated(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// What `du -s -B1 dirs...` prints, added up (du counts an inode once across
// its arguments, under the first that reaches it).
uint64_t du_sum(const std::vector<fs::path>& dirs) {
  std::vector<std::string> argv{"du", "-s", "-B1"};
  for (const auto& d : dirs) argv.push_back(d.string());
  test::Result r = test::run_process(argv);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  std::istringstream in(r.out);
  uint64_t sum = 0, n = 0;
  std::string path;
  while (in >> n >> path) sum += n;
  return sum;
}

uint64_t dir_blocks(const fs::path& top) {
  uint64_t sum = allocated(top);
  for (auto& e : fs::recursive_directory_iterator(top))
    if (e.is_directory() && !e.is_symlink()) sum += allocated(e.path());
  return sum;
}

// Two worktrees' build dirs, hardlinked the way seedfs seeds them, and one
// name of a file outside both (the root's).
TEST(DiskUsage, HardlinksAreSharedAndCountedOnceLikeDu) {
  TempDir tmp;
  fs::path a = tmp / "a/target", b = tmp / "b/target", root = tmp / "root";
  write_file(a / "deps/libx.rlib", std::string(100000, 'x'));
  write_file(a / "deps/liby.rlib", std::string(50000, 'y'));
  write_file(a / "debug/app", std::string(20000, 'z'));
  fs::create_directories(b / "deps");
  fs::create_directories(root);
  fs::create_hard_link(a / "deps/libx.rlib", b / "deps/libx.rlib");  // a and b share it
  fs::create_hard_link(a / "deps/liby.rlib", root / "liby.rlib");    // a and the root share it
  fs::create_hard_link(a / "debug/app", a / "deps/app-1");           // two names, both in a
  write_file(b / "deps/own.rlib", std::string(30000, 'o'));
  fs::create_symlink("deps/own.rlib", b / "link");

  usage::Usage u = usage::measure({a, b}, 2);
  ASSERT_EQ(u.dirs.size(), 2u);
  const auto &ua = u.dirs[0], &ub = u.dirs[1];
  EXPECT_EQ(ua.error, "");
  EXPECT_EQ(ub.error, "");
  EXPECT_EQ(ua.files, 4u);
  EXPECT_EQ(ub.files, 3u);
  EXPECT_EQ(ua.dirs, 3u);
  EXPECT_EQ(ua.apparent, 100000u + 50000 + 20000 + 20000);
  EXPECT_EQ(ub.apparent, 100000u + 30000 + fs::read_symlink(b / "link").string().size());

  uint64_t x = allocated(a / "deps/libx.rlib"), y = allocated(a / "deps/liby.rlib"),
           app = allocated(a / "debug/app"), own = allocated(b / "deps/own.rlib"), link = allocated(b / "link");
  EXPECT_EQ(ua.on_disk, dir_blocks(a) + x + y + app);
  EXPECT_EQ(ua.shared_links, x + y) << "libx has a name in b, liby one in the root";
  EXPECT_EQ(ua.own(), dir_blocks(a) + app) << "both names of app are in a";
  EXPECT_EQ(ub.shared_links, x);
  EXPECT_EQ(ub.own(), dir_blocks(b) + own + link);
  EXPECT_EQ(ua.shared_extents + ub.shared_extents, 0u);

  EXPECT_EQ(u.du_total, du_sum({a, b}));
  EXPECT_EQ(u.total_on_disk, u.du_total) << "no reflinks here: every inode once, as du counts";
  EXPECT_FALSE(u.extents_asked) << "FIEMAP only where extents can be shared";

  // Alone, b shares libx with a dir that is not measured: still not its own.
  usage::Usage only_b = usage::measure({b}, 1);
  EXPECT_EQ(only_b.dirs[0].shared_links, x);
  EXPECT_EQ(only_b.du_total, du_sum({b}));
}

// On XFS and btrfs a reflinked copy is a new inode over the same extents:
// `du` counts it twice, seedfs once, and neither copy is its dir's own.
class DiskUsageReflinks : public ::testing::TestWithParam<const char*> {};

TEST_P(DiskUsageReflinks, ReflinkedCopiesAreSharedExtentsCountedOnce) {
  TempDir tmp;
  LoopFs loop(tmp / "fs.img", tmp / "mnt", GetParam());
  if (!loop.why_not().empty()) GTEST_SKIP() << loop.why_not();
  fs::path a = tmp / "mnt/a", b = tmp / "mnt/b";
  write_file(a / "deps/big.rlib", std::string(4 << 20, 'r'));
  write_file(a / "deps/small", "not shared");
  fs::create_directories(b / "deps");
  test::Result cp = test::run_process({"cp", "--reflink=always", (a / "deps/big.rlib").string(), (b / "deps/big.rlib").string()}, {}, true);
  ASSERT_EQ(cp.rc, 0) << cp.out;
  ::sync();

  usage::Usage u = usage::measure({a, b}, 2);
  EXPECT_TRUE(u.extents_asked);
  uint64_t big = allocated(a / "deps/big.rlib");
  ASSERT_GE(big, uint64_t(4) << 20);
  EXPECT_EQ(u.dirs[0].shared_extents, big);
  EXPECT_EQ(u.dirs[1].shared_extents, big);
  EXPECT_EQ(u.dirs[1].own(), dir_blocks(b)) << "b holds nothing of its own but its dirs";
  EXPECT_EQ(u.dirs[0].own(), dir_blocks(a) + allocated(a / "deps/small"));
  EXPECT_EQ(u.du_total, du_sum({a, b})) << "du counts the reflinked bytes twice";
  EXPECT_EQ(u.total_on_disk, u.du_total - big) << "seedfs counts them once";
}

INSTANTIATE_TEST_SUITE_P(Fs, DiskUsageReflinks, ::testing::Values("xfs", "btrfs"));

}  // namespace
}  // namespace seedfs

// Skip and link rule matching: gitignore-like globs anchored at the artifact root.
#include <gtest/gtest.h>

#include "config/glob.hpp"

using seedfs::config::Glob;
using seedfs::config::GlobSet;

namespace {

struct Case {
  const char* pattern;
  const char* path;
  bool is_dir;
  bool matches;
};

const Case kCases[] = {
    // A name without a slash matches at any depth.
    {"*.o", "a.o", false, true},
    {"*.o", "debug/deps/a-123.o", false, true},
    {"*.o", "debug/deps/a.rlib", false, false},
    {"*.o", "debug/deps/a.o.tmp", false, false},
    {".cargo-lock", "debug/.cargo-lock", false, true},
    // ** crosses directories; * and ? do not.
    {"**/*.d", "debug/deps/x.d", false, true},
    {"**/*.d", "x.d", false, true},
    {"debug/*.d", "debug/x.d", false, true},
    {"debug/*.d", "debug/deps/x.d", false, false},
    {"debug/**/*.d", "debug/deps/x.d", false, true},
    {"debug/**/*.d", "debug/x.d", false, true},
    {"lib?.a", "lib1.a", false, true},
    {"lib?.a", "lib12.a", false, false},
    {"lib?.a", "lib/.a", false, false},
    // x/** is everything below x, not x itself.
    {"**/incremental/**", "debug/incremental/foo/s-1/a.bin", false, true},
    {"**/incremental/**", "debug/incremental/foo", true, true},
    {"**/incremental/**", "debug/incremental", true, false},
    {"**/incremental/**", "incremental/x", false, true},
    {".bin/**", ".bin/tsc", false, true},
    {".bin/**", "pkg/.bin/tsc", false, false},
    // A slash inside anchors at the artifact root; a leading slash does too.
    {"debug/build", "debug/build", true, true},
    {"debug/build", "x/debug/build", true, false},
    {"/CACHEDIR.TAG", "CACHEDIR.TAG", false, true},
    {"/CACHEDIR.TAG", "debug/CACHEDIR.TAG", false, false},
    // A trailing slash matches directories only.
    {"out/", "build/x/out", true, true},
    {"out/", "build/x/out", false, false},
    // Character classes, prefixes and general patterns.
    {"*.[ao]", "x.a", false, true},
    {"*.[ao]", "x.so", false, false},
    {"*.[!a]", "x.b", false, true},
    {"build-script-*", "debug/build/x/build-script-build", false, true},
    {"lib*.so", "debug/deps/libfoo.so", false, true},
    {"lib*.so", "debug/deps/foo.so", false, false},
    {"**", "anything/at/all", false, true},
};

TEST(Glob, MatchesTable) {
  for (const auto& c : kCases) {
    std::string error;
    auto g = Glob::compile(c.pattern, &error);
    ASSERT_TRUE(g) << c.pattern << ": " << error;
    EXPECT_EQ(g->matches(c.path, c.is_dir), c.matches)
        << "pattern '" << c.pattern << "' path '" << c.path << "' dir=" << c.is_dir;
  }
}

TEST(Glob, CoversBelowMeansPrune) {
  auto g = Glob::compile("**/incremental/**", nullptr);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->covers_below("debug/incremental"));
  EXPECT_TRUE(g->covers_below("release/incremental"));
  EXPECT_FALSE(g->covers_below("debug"));
  EXPECT_FALSE(g->covers_below("debug/incremental-x"));
  auto star = Glob::compile("*.o", nullptr);
  EXPECT_FALSE(star->covers_below("debug"));
}

TEST(GlobSet, PrunesDirsMatchedWholeOrCoveredBelow) {
  size_t bad = 0;
  std::string error;
  auto set = GlobSet::compile({"**/incremental/**", "tmp/", "*.o"}, &bad, &error);
  ASSERT_TRUE(set) << error;
  EXPECT_TRUE(set->prunes_dir("debug/incremental"));
  EXPECT_TRUE(set->prunes_dir("tmp"));
  EXPECT_TRUE(set->prunes_dir("debug/tmp"));
  EXPECT_FALSE(set->prunes_dir("debug"));
  EXPECT_FALSE(set->prunes_dir("debug/deps"));
  EXPECT_TRUE(set->matches("debug/deps/x.o", false));
  EXPECT_FALSE(set->matches("debug/deps/x.rlib", false));
}

TEST(Glob, RejectsInvalidPatternsWithAReason) {
  const char* bad[] = {"", "!*.o", "**foo", "a/**b/c", "x[ab", "../x", "a/./b", "abc\\", "/"};
  for (const char* p : bad) {
    std::string error;
    EXPECT_FALSE(Glob::compile(p, &error)) << "'" << p << "' should be invalid";
    EXPECT_FALSE(error.empty()) << p;
  }
}

TEST(GlobSet, ReportsTheIndexOfTheBadPattern) {
  size_t bad = 99;
  std::string error;
  EXPECT_FALSE(GlobSet::compile({"*.o", "*.d", "[x"}, &bad, &error));
  EXPECT_EQ(bad, 2u);
  EXPECT_NE(error.find("["), std::string::npos);
}

TEST(GlobSet, EmptySetMatchesNothing) {
  GlobSet set;
  EXPECT_FALSE(set.matches("a", false));
  EXPECT_FALSE(set.prunes_dir("a"));
}

}  // namespace

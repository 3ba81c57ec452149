// cargo/: reading `cargo metadata`'s JSON (only its top-level strings).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cargo/metadata.hpp"
#include "tests/test_util.hpp"

namespace seedfs {
namespace {

using cargo::top_level_strings;

TEST(CargoMetadata, TopLevelStringsOnly) {
  // The keys also appear nested (a package's [package.metadata] may hold
  // anything): only the top level counts.
  auto m = top_level_strings(R"({"packages":[{"name":"a","target_directory":"/wrong",
      "metadata":{"build_directory":"/wrong"},"n":[1,2.5e3,-0.1,true,false,null,[],{}]}],
      "target_directory":"/p/target","build_directory":"/p/build","version":1,
      "metadata":{"target_directory":"/wrong"}})");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["target_directory"], "/p/target");
  EXPECT_EQ((*m)["build_directory"], "/p/build");
  EXPECT_EQ(m->count("version"), 0u);
  EXPECT_EQ(m->count("packages"), 0u);
}

TEST(CargoMetadata, EscapesAreDecoded) {
  auto m = top_level_strings(R"( { "a" : "x\"y\\z\/\n\t" , "b":"caf\u00e9 \ud83d\ude00 \u4e2d" } )");
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)["a"], "x\"y\\z/\n\t");
  EXPECT_EQ((*m)["b"], "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad");
}

TEST(CargoMetadata, MalformedIsRefused) {
  for (const char* bad : {"", "[]", "{", R"({"a":})", R"({"a":"b",})", R"({"a":"b"} x)", R"({"a":"\q"})",
                          R"({"a":"\ud83d"})", "{\"a\":\"line\nbreak\"}", R"({"a" "b"})"})
    EXPECT_FALSE(top_level_strings(bad)) << bad;
  EXPECT_TRUE(top_level_strings("{}"));
}

// A dir without Cargo.toml is no cargo project: cargo is not even started
// (with no cargo on PATH, the lookup would say so if it tried).
TEST(CargoLocate, NoManifestAsksNoCargo) {
  test::TempDir tmp;
  const char* old = std::getenv("PATH");
  std::string saved = old ? old : "";
  ::setenv("PATH", tmp.path().c_str(), 1);
  cargo::Lookup l = cargo::locate(tmp.path());
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_FALSE(l.dirs);
  EXPECT_FALSE(l.no_cargo);
  EXPECT_NE(l.why.find("no Cargo.toml"), std::string::npos) << l.why;
}

}  // namespace
}  // namespace seedfs

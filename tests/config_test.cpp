// The config: built-in defaults, the lookup order, and every kind of error.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/config.hpp"
#include "tests/test_util.hpp"

namespace seedfs::config {
namespace {

using test::TempDir;
using test::write_file;

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

Error load_error(const std::string& text) {
  TempDir dir;
  write_file(dir / "c.toml", text);
  Error err;
  EXPECT_FALSE(load_file(dir / "c.toml", err)) << "should be rejected:\n" << text;
  return err;
}

TEST(Config, BuiltinDefaultsForCargo) {
  Config cfg = builtin();
  const Artifact* cargo = cfg.find("cargo");
  ASSERT_TRUE(cargo);
  EXPECT_EQ(cargo->path, "target");
  EXPECT_TRUE(cargo->skip_rules.matches("debug/deps/foo-1.o", false));
  EXPECT_TRUE(cargo->skip_rules.matches("debug/deps/foo-1.d", false));
  EXPECT_TRUE(cargo->skip_rules.prunes_dir("debug/incremental"));
  EXPECT_TRUE(cargo->skip_rules.matches("debug/.cargo-lock", false));
  EXPECT_TRUE(cargo->skip_rules.matches("release/.cargo-build-lock", false));
  EXPECT_FALSE(cargo->skip_rules.matches("debug/deps/libfoo-1.rlib", false));
  EXPECT_EQ(cargo->method_for("debug/deps/libfoo-1.rlib", std::nullopt), Method::link);
  EXPECT_EQ(cargo->method_for("debug/deps/libfoo-1.rmeta", std::nullopt), Method::link);
  EXPECT_EQ(cargo->method_for("debug/deps/libfoo-1.so", std::nullopt), Method::link);
  // Fingerprints and build-script output: copied (the globs decide every file,
  // the mode never needs to be asked).
  EXPECT_EQ(cargo->method_for("debug/.fingerprint/foo-1/lib-foo", std::nullopt), Method::copy);
  EXPECT_EQ(cargo->method_for("debug/build/foo-1/output", 0644), Method::copy);
  // Executables are copied (mold writes into an existing one, strip into one
  // with other links), and so is a build script's OUT_DIR.
  EXPECT_EQ(cargo->method_for("debug/build/foo-1/build-script-build", 0755), Method::copy);
  EXPECT_EQ(cargo->method_for("debug/build/foo-1/build_script_build-0123456789abcdef", 0755), Method::copy);
  EXPECT_EQ(cargo->method_for("debug/build/foo-1/out/gen.sh", 0755), Method::copy);
  EXPECT_EQ(cargo->method_for("debug/build/foo-1/out/libfoo.a", 0644), Method::copy);
  for (const char* exe : {"debug/deps/app-1", "debug/app", "x86_64-unknown-linux-gnu/release/app",
                          "debug/examples/demo-1"})
    EXPECT_EQ(cargo->method_for(exe, 0755), Method::copy) << exe;
  EXPECT_EQ(cargo->method_for("debug/libfoo.rlib", 0644), Method::copy);  // uplifted for users
  EXPECT_EQ(cargo->method_for("x86_64-unknown-linux-gnu/release/deps/libfoo-1.rlib", 0644), Method::link);
  const Artifact* npm = cfg.find("npm");
  ASSERT_TRUE(npm);
  EXPECT_EQ(npm->path, "node_modules");
  EXPECT_TRUE(npm->skip_rules.prunes_dir(".bin"));
  EXPECT_EQ(npm->method_for("x/index.js", std::nullopt), Method::copy);
}

TEST(Config, FileOverridesOnlyTheKeysItNames) {
  TempDir dir;
  write_file(dir / "c.toml",
             "workers = 3\n"
             "[artifacts.cargo]\n"
             "skip = [\"**/*.o\"]\n"
             "[artifacts.gradle]\n"
             "path = \"build\"\n"
             "link = [\"**/*.jar\"]\n");
  Error err;
  auto cfg = load_file(dir / "c.toml", err);
  ASSERT_TRUE(cfg) << err.to_string();
  EXPECT_EQ(cfg->workers, 3u);
  EXPECT_EQ(cfg->origin["workers"], (dir / "c.toml").string());
  EXPECT_EQ(cfg->origin["progress_interval"], kBuiltin);
  EXPECT_EQ(cfg->progress_interval, 5.0);
  const Artifact* cargo = cfg->find("cargo");
  EXPECT_EQ(cargo->skip, std::vector<std::string>{"**/*.o"});
  EXPECT_FALSE(cargo->skip_rules.matches("debug/x.d", false));
  EXPECT_EQ(cargo->origin.at("skip"), (dir / "c.toml").string());
  EXPECT_EQ(cargo->origin.at("link"), kBuiltin);
  EXPECT_FALSE(cargo->link.empty());
  const Artifact* gradle = cfg->find("gradle");
  ASSERT_TRUE(gradle);
  EXPECT_EQ(gradle->path, "build");
  EXPECT_EQ(gradle->method_for("libs/a.jar", std::nullopt), Method::link);
  EXPECT_EQ(gradle->method_for("bin/run", 0755), Method::copy);  // new artifacts copy executables
}

TEST(Config, LookupOrderFirstFoundWins) {
  TempDir dir;
  auto ws = dir / "ws", root = dir / "root", xdg = dir / "xdg";
  ScopedEnv env("XDG_CONFIG_HOME", xdg.string());
  std::filesystem::create_directories(ws);
  std::filesystem::create_directories(root);

  auto resolved = [&](std::optional<std::filesystem::path> explicit_file) {
    Error err;
    auto cfg = resolve(lookup_order(explicit_file, ws, root), err);
    EXPECT_TRUE(cfg) << err.to_string();
    return cfg ? cfg->workers : 999u;
  };
  EXPECT_EQ(resolved(std::nullopt), 0u);  // built-in
  write_file(xdg / "seedfs" / "config.toml", "workers = 4\n");
  EXPECT_EQ(resolved(std::nullopt), 4u);
  write_file(root / ".seedfs.toml", "workers = 5\n");
  EXPECT_EQ(resolved(std::nullopt), 5u);
  write_file(ws / ".seedfs.toml", "workers = 6\n");
  EXPECT_EQ(resolved(std::nullopt), 6u);
  write_file(dir / "explicit.toml", "workers = 7\n");
  EXPECT_EQ(resolved(dir / "explicit.toml"), 7u);

  auto order = lookup_order(dir / "explicit.toml", ws, root);
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0].why, "--config");
  EXPECT_EQ(order[1].path, ws / ".seedfs.toml");
  EXPECT_EQ(order[2].path, root / ".seedfs.toml");
  EXPECT_EQ(order[3].path, xdg / "seedfs" / "config.toml");
}

TEST(Config, MissingExplicitFileIsAnError) {
  TempDir dir;
  Error err;
  EXPECT_FALSE(resolve(lookup_order(dir / "nope.toml", std::nullopt, std::nullopt), err));
  EXPECT_NE(err.to_string().find("nope.toml"), std::string::npos);
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  Error e = load_error("workers = 2\nprogress_interval = \n");
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.to_string().find("c.toml:2:"), std::string::npos) << e.to_string();
}

TEST(Config, UnknownTopLevelKey) {
  Error e = load_error("workers = 2\nwrokers = 3\n");
  EXPECT_EQ(e.key, "wrokers");
  EXPECT_EQ(e.line, 2);
  EXPECT_NE(e.message.find("unknown key"), std::string::npos);
}

TEST(Config, UnknownArtifactKey) {
  Error e = load_error("[artifacts.cargo]\npath = \"target\"\nskp = [\"*.o\"]\n");
  EXPECT_EQ(e.key, "artifacts.cargo.skp");
  EXPECT_EQ(e.line, 3);
}

TEST(Config, WrongTypes) {
  EXPECT_EQ(load_error("workers = \"two\"\n").key, "workers");
  EXPECT_EQ(load_error("workers = -1\n").key, "workers");
  EXPECT_EQ(load_error("progress_interval = 0\n").key, "progress_interval");
  EXPECT_EQ(load_error("artifacts = 3\n").key, "artifacts");
  EXPECT_EQ(load_error("[artifacts.cargo]\nskip = \"*.o\"\n").key, "artifacts.cargo.skip");
  EXPECT_EQ(load_error("[artifacts.cargo]\nlink = [1, 2]\n").key, "artifacts.cargo.link");
  EXPECT_EQ(load_error("[artifacts.cargo]\nenabled = \"yes\"\n").key, "artifacts.cargo.enabled");
  EXPECT_EQ(load_error("[artifacts.cargo]\npath = \"/abs\"\n").key, "artifacts.cargo.path");
  EXPECT_EQ(load_error("[artifacts.cargo]\npath = \"../x\"\n").key, "artifacts.cargo.path");
}

TEST(Config, PaceAndKeepMounted) {
  Config def = builtin();
  EXPECT_EQ(def.pace.priority, Priority::low) << "mount's materializer is gentle by default";
  EXPECT_FALSE(def.pace.limited());
  EXPECT_FALSE(def.keep_mounted);
  TempDir dir;
  write_file(dir / "c.toml",
             "priority = \"idle\"\nrate = 2000\nbytes_rate = \"50M\"\nkeep_mounted = true\n");
  Error err;
  auto cfg = load_file(dir / "c.toml", err);
  ASSERT_TRUE(cfg) << err.to_string();
  EXPECT_EQ(cfg->pace.priority, Priority::idle);
  EXPECT_EQ(cfg->pace.files_per_s, 2000);
  EXPECT_EQ(cfg->pace.bytes_per_s, 50.0 * 1024 * 1024);
  EXPECT_TRUE(cfg->keep_mounted);
  EXPECT_EQ(cfg->origin["bytes_rate"], (dir / "c.toml").string());
  write_file(dir / "n.toml", "bytes_rate = 1048576\n");
  auto num = load_file(dir / "n.toml", err);
  ASSERT_TRUE(num) << err.to_string();
  EXPECT_EQ(num->pace.bytes_per_s, 1048576);

  Error e = load_error("rate = 1\npriority = \"lowest\"\n");
  EXPECT_EQ(e.key, "priority");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(load_error("rate = -5\n").key, "rate");
  EXPECT_EQ(load_error("rate = \"fast\"\n").key, "rate");
  EXPECT_EQ(load_error("bytes_rate = \"50 parsecs\"\n").key, "bytes_rate");
  EXPECT_EQ(load_error("keep_mounted = 1\n").key, "keep_mounted");
}

TEST(Config, ByteRatesAsPeopleWriteThem) {
  EXPECT_EQ(parse_bytes("0"), 0.0);
  EXPECT_EQ(parse_bytes("4096"), 4096.0);
  EXPECT_EQ(parse_bytes("512k"), 512.0 * 1024);
  EXPECT_EQ(parse_bytes("512K"), 512.0 * 1024);
  EXPECT_EQ(parse_bytes("50M"), 50.0 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("50MB"), 50.0 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("50MiB/s"), 50.0 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("1.5G"), 1.5 * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("2T"), 2.0 * 1024 * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_bytes("100B/s"), 100.0);
  for (const char* bad : {"", "M", "-1M", "50X", "50 M", "nan", "inf", "50Mb", "1e999"})
    EXPECT_FALSE(parse_bytes(bad)) << bad;
}

TEST(Config, InvalidGlobPointsAtItsLine) {
  Error e = load_error("[artifacts.cargo]\nskip = [\n  \"*.o\",\n  \"**foo\",\n]\n");
  EXPECT_EQ(e.key, "artifacts.cargo.skip[1]");
  EXPECT_EQ(e.line, 4);
  EXPECT_NE(e.message.find("**foo"), std::string::npos);
}

TEST(Config, NewArtifactNeedsAPath) {
  Error e = load_error("[artifacts.gradle]\nlink = [\"*.jar\"]\n");
  EXPECT_EQ(e.key, "artifacts.gradle.path");
}

TEST(Config, ToTomlRoundTrips) {
  Config cfg = builtin();
  TempDir dir;
  std::ostringstream text;
  text << to_toml(cfg);
  write_file(dir / "c.toml", text.str());
  Error err;
  auto back = load_file(dir / "c.toml", err);
  ASSERT_TRUE(back) << err.to_string() << "\n" << text.str();
  EXPECT_EQ(back->find("cargo")->skip, cfg.find("cargo")->skip);
  EXPECT_EQ(back->find("npm")->link_executables, false);
}

}  // namespace
}  // namespace seedfs::config

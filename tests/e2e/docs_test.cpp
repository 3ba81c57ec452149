// The README's quick start, run as written: its first `sh` block after
// "## Quick start", in bash, with HOME a temp dir whose ~/src/myproject is a
// private copy of the fixture (a real cargo workspace, built) and `seedfs` on
// PATH. What the block's comments promise is asserted: the worktree's first
// `cargo build` compiles nothing, `wait` ends with a plain directory, `verify`
// finds nothing unsafe (the block runs under `set -e`), and the root keeps
// every byte. tests/docs_check.py checks every other command in the docs
// against the CLI.
#include "tests/e2e/cargo_e2e.hpp"

namespace seedfs::e2e {
namespace {

// The lines of the first ```sh block after `heading` in `markdown`.
std::string first_sh_block_after(const std::string& markdown, const std::string& heading) {
  size_t at = markdown.find("\n" + heading + "\n");
  if (at == std::string::npos) return {};
  size_t open = markdown.find("\n```sh\n", at);
  if (open == std::string::npos) return {};
  open += 7;
  size_t close = markdown.find("\n```", open);
  return close == std::string::npos ? std::string() : markdown.substr(open, close - open + 1);
}

// Where rustup's cargo keeps its toolchains, for a HOME that is not the user's.
std::vector<std::string> toolchain_env() {
  std::vector<std::string> env;
  const char* home = std::getenv("HOME");
  for (auto [var, dir] : {std::pair{"CARGO_HOME", ".cargo"}, std::pair{"RUSTUP_HOME", ".rustup"}}) {
    if (const char* v = std::getenv(var)) {
      env.push_back(std::string(var) + "=" + v);
    } else if (home && stdfs::exists(stdfs::path(home) / dir)) {
      env.push_back(std::string(var) + "=" + (stdfs::path(home) / dir).string());
    }
  }
  return env;
}

class Docs : public CargoE2E {};

TEST_F(Docs, TheReadmesQuickStartRunsAsWritten) {
  std::string block = first_sh_block_after(test::read_file(stdfs::path(SEEDFS_SOURCE_DIR) / "README.md"),
                                           "## Quick start");
  ASSERT_NE(block, "") << "README.md has no ```sh block under '## Quick start'";
  ASSERT_NE(block.find("cargo build"), std::string::npos) << block;

  stdfs::path home = tmp / "home";
  use_private_root(/*only_debug=*/true, home / "src/myproject");
  ws = home / "src/myproject-feature";  // made by the block; TearDown unmounts and removes it
  root_before = test::snapshot(root / "target");

  std::vector<std::string> argv{"env", "HOME=" + home.string(),
                                "PATH=" + stdfs::path(SEEDFS_BIN).parent_path().string() + ":" +
                                    std::getenv("PATH")};
  for (auto& e : toolchain_env()) argv.push_back(e);
  for (std::string a : {"bash", "-euo", "pipefail", "-c"}) argv.push_back(a);
  argv.push_back(block);
  Result r = run(argv, home);
  ASSERT_EQ(r.rc, 0) << "the quick start failed:\n" << block << "\n---\n" << r.out;

  EXPECT_NE(r.out.find("mounted cargo: "), std::string::npos) << "the hook did not mount:\n" << r.out;
  EXPECT_NE(r.out.find("Finished `dev` profile"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Compiling "), std::string::npos) << "the worktree's first build compiled:\n" << r.out;
  EXPECT_FALSE(fs::mount_at((ws / "target").string())) << "`seedfs wait` returned with the mount still there";
  EXPECT_TRUE(stdfs::is_regular_file(ws / "target/debug" / kApp)) << r.out;
}

}  // namespace
}  // namespace seedfs::e2e

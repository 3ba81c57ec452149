// seedfs: make a root checkout's build artifacts usable in a new workspace at once.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"

namespace {

using namespace seedfs::cli;

constexpr const char* kAbout =
    "seedfs makes the build artifacts of a root checkout (e.g. main/target) usable in a new\n"
    "workspace of the same project (a git worktree, a CI checkout) without rebuilding them.\n"
    "<root> and <ws> are project dirs; the artifact dirs (target/ for cargo) come from the config.";

constexpr const char* kFooter =
    "\nExamples:\n"
    "  seedfs seed ~/p/main ~/p/envs/feature-1      # hardlink/copy main/target into feature-1/target\n"
    "  seedfs seed --dry-run ~/p/main ~/p/ws        # what would be linked, copied and skipped\n"
    "  seedfs config --root ~/p/main --ws ~/p/ws    # the effective config and where it came from\n"
    "\nExit codes: 0 ok, 1 failed (with the path), 2 usage or config error, 3 bad root/workspace,\n"
    "4 root being built (see --force), 5 FUSE unavailable, 6 not mounted.\n";

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--config", c.config_file,
                  "Config file to use instead of the lookup order (see `seedfs config`)");
  cmd->add_flag("--json", c.json, "Print the result as one JSON object, for scripts");
}

}  // namespace

int main(int argc, char** argv) {
  auto console = spdlog::stderr_color_mt("seedfs");
  console->set_pattern("%^%v%$");
  spdlog::set_default_logger(console);

  CLI::App app{kAbout, "seedfs"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", "seedfs 0.1.0");

  SeedArgs seed;
  auto* seed_cmd = app.add_subcommand(
      "seed",
      "Materialize <root>'s artifacts into <ws> in the foreground: directories are created, files "
      "that tools only replace (.rlib, .rmeta, executables, ...) are hardlinked, all others copied "
      "(a reflink where the filesystem can); skip rules leave out what is not worth seeding. Files "
      "already in <ws> are kept. The root is never modified.");
  seed_cmd->add_option("root", seed.root, "Project dir of the checkout that was built (holds target/)")
      ->required();
  seed_cmd->add_option("ws", seed.ws, "Project dir of the new workspace (its target/ is created)")
      ->required();
  seed_cmd->add_option("--artifact", seed.artifact, "Seed only this artifact (e.g. cargo)");
  seed_cmd->add_option("--workers", seed.workers, "Worker threads (default: config, one per CPU)")
      ->check(CLI::Range(1u, 1024u));
  seed_cmd->add_flag("--no-skip", seed.no_skip, "Ignore the skip rules: seed every file");
  seed_cmd->add_flag("--dry-run", seed.dry_run, "Walk and report what would be done; create nothing");
  seed_cmd->add_flag("--force", seed.force, "Seed even while a build holds the root's cargo lock");
  seed_cmd->add_option("--throttle-us", seed.throttle_us, "Pause per file (testing)")->group("");
  seed_cmd->add_option("--batch-size", seed.batch_size, "Files per queued batch (benchmarks)")->group("");
  add_common(seed_cmd, seed.common);

  ConfigArgs cfg;
  auto* cfg_cmd = app.add_subcommand(
      "config",
      "Print the effective config (TOML, or --json) with the source of every key. Lookup order: "
      "--config FILE, <ws>/.seedfs.toml, <root>/.seedfs.toml, $XDG_CONFIG_HOME/seedfs/config.toml, "
      "built-in defaults; the first file found wins and keys it leaves out keep their default.");
  cfg_cmd->add_option("--root", cfg.root, "Root project dir (to find <root>/.seedfs.toml)");
  cfg_cmd->add_option("--ws", cfg.ws, "Workspace project dir (to find <ws>/.seedfs.toml)");
  add_common(cfg_cmd, cfg.common);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (seed_cmd->parsed()) return cmd_seed(seed);
  if (cfg_cmd->parsed()) return cmd_config(cfg);
  return kUsage;
}

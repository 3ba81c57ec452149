// The command line of seedfs (see cli_def.hpp). A new subcommand: its args in
// CliArgs, its definition in make_cli() with the others, and a line in
// "What each subcommand runs" below.
#include "cli/cli_def.hpp"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/cli_docs.hpp"
#include "cli/exit_codes.hpp"

namespace seedfs::cli {
namespace {

constexpr const char* kAbout =
    "seedfs makes the build artifacts of a root checkout (e.g. main/target) usable in a new\n"
    "workspace of the same project (a git worktree, a CI checkout) without rebuilding them.\n"
    "<root> and <ws> are project dirs; the artifact dirs (target/ for cargo) come from the config.";

constexpr const char* kFooter =
    "\nExamples:\n"
    "  seedfs mount ~/p/main ~/p/envs/feature-1     # feature-1/target shows main/target at once\n"
    "  cd ~/p/feature-2 && seedfs mount             # in a linked worktree: from the best-matching one\n"
    "  seedfs hook install                          # the same for every new `git worktree add`\n"
    "  cd ~/p/envs/feature-1 && cargo build         # works at once, while files are linked\n"
    "  seedfs status                                # every live mount, with progress\n"
    "  seedfs wait ~/p/envs/feature-1               # until target/ is a plain directory\n"
    "  seedfs seed ~/p/main ~/p/envs/feature-1      # the same materialization, in the foreground\n"
    "  seedfs config --root ~/p/main --ws ~/p/ws    # the effective config and where it came from\n"
    "  seedfs doctor                                # what seedfs will do here, and what to fix\n"
    "  seedfs du                                    # what every worktree's target/ takes, and frees\n"
    "\nExit codes: 0 ok, 1 failed (with the path), 2 usage or config error, 3 bad root/workspace,\n"
    "4 root being built (see --force), 5 FUSE unavailable, 6 not mounted.\n";

constexpr const char* kRootHelp =
    "Project dir of the checkout that was built (holds target/). Default: in a worktree made by "
    "`git worktree add`, the donor: of the repository's worktrees with a build that is not a live view "
    "and not being built, the one whose tracked files differ least (ties: the main worktree)";
constexpr const char* kWsHelp =
    "Project dir of the new workspace (its target/ is made). Default: the git checkout of the "
    "current dir";

constexpr const char* kNoSyncHelp =
    "Leave the workspace's sources alone. By default, in a new git checkout, files identical to the "
    "root's (same blob, clean on both sides) get the root's mtimes, so that cargo finds the "
    "workspace's own crates fresh too (config: sync_mtimes)";

constexpr const char* kNoHardlinksHelp =
    "Share no inode with the root: reflink every file where the filesystem can (btrfs, XFS), "
    "else copy it, so that nothing done in <ws> later (strip, objcopy, a tool that writes in "
    "place) can reach the root. Costs the bytes of a copy where reflinks are impossible "
    "(config: hardlinks = false)";

// --rate, --bytes-rate, --priority for `seed` and `mount`.
void add_pace(CLI::App* cmd, PaceArgs& p, const char* priority_default) {
  cmd->add_option("--rate", p.rate,
                  "At most this many files per second (config: rate; default no limit). The view's own "
                  "requests are never limited")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bytes-rate", p.bytes_rate,
                  "At most this many bytes copied per second, e.g. 50M or 1.5G (powers of 1024; "
                  "config: bytes_rate; default no limit). Links and reflinks move no data and pass freely")
      ->check(CLI::Validator(
          [](std::string& s) {
            return seedfs::config::parse_bytes(s) ? std::string() : "not a byte rate: " + s + " (e.g. 50M)";
          },
          "SIZE"));
  cmd->add_option("--priority", p.priority,
                  std::string("CPU and I/O priority of the materializer's threads: normal, low (nice 10, "
                              "best-effort I/O level 7) or idle (nice 19, idle I/O class); default ") +
                      priority_default)
      ->check(CLI::IsMember({"normal", "low", "idle"}));
}

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--config", c.config_file,
                  "Config file to use instead of the lookup order (see `seedfs config`)");
  cmd->add_flag("--json", c.json, "Print the result as one JSON object, for scripts");
}

// Writes a generated document to --output (replacing it only when complete)
// or to stdout.
int write_doc(const std::string& text, const std::optional<std::filesystem::path>& out) {
  if (!out) {
    std::cout << text << std::flush;
    return std::cout ? kOk : kFailed;
  }
  auto tmp = *out;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f.flush()) {
      std::cerr << "seedfs: cannot write " << tmp.string() << "\n";
      return kFailed;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, *out, ec);
  if (ec) {
    std::cerr << "seedfs: cannot write " << out->string() << ": " << ec.message() << "\n";
    return kFailed;
  }
  return kOk;
}

}  // namespace

std::string version_line() {
  BuildVersion v = build_version();
  std::string line = std::string("seedfs ") + v.version;
  if (*v.commit)
    line += std::string(" (git ") + v.commit + (*v.date ? std::string(", ") + v.date : std::string()) + ")";
  else
    line += " (unknown commit)";
  return line;
}

std::unique_ptr<CLI::App> make_cli(CliArgs& a) {
  auto app = std::make_unique<CLI::App>(kAbout, "seedfs");
  app->footer(kFooter);
  app->require_subcommand(1);
  app->set_version_flag("--version", version_line());

  auto* seed_cmd = app->add_subcommand("seed", "Materialize <root>'s artifacts into <ws>, in the foreground");
  seed_cmd->footer(
      "\nDirectories are created with the root's modes; files that tools only ever replace (.rlib, "
      ".rmeta, .so, .a, executables) are hardlinked, all others copied (a reflink where the "
      "filesystem can) so that a build in <ws> can never change the root through a shared inode. "
      "Skip rules leave out what is not worth seeding (.o, .d, incremental/). Files already in "
      "<ws> are kept; an interrupted run leaves no half-written file and a rerun completes it.\n\n"
      "The workspace gets the root as it was when the seeding began (T0, recorded in the state dir "
      "and kept for that workspace dir): a file the root's build writes after T0 is left out, so "
      "cargo rebuilds that unit in <ws> from <ws>'s own sources. The summary counts and names them.");
  seed_cmd->add_option("root", a.seed.root, kRootHelp);
  seed_cmd->add_option("ws", a.seed.ws, kWsHelp);
  seed_cmd->add_option("--artifact", a.seed.artifact, "Seed only this artifact (e.g. cargo)");
  seed_cmd->add_option("--workers", a.seed.workers, "Worker threads (default: config, one per CPU)")
      ->check(CLI::Range(1u, 1024u));
  seed_cmd->add_flag("--no-skip", a.seed.no_skip, "Ignore the skip rules: seed every file");
  seed_cmd->add_flag("--dry-run", a.seed.dry_run, "Walk and report what would be done; create nothing");
  seed_cmd->add_flag("--force", a.seed.force,
                     "Seed even while a build holds the root's cargo lock (T0 falls in that build)");
  seed_cmd->add_flag("--no-sync-mtimes", a.seed.no_sync_mtimes, kNoSyncHelp);
  seed_cmd->add_flag("--no-hardlinks", a.seed.no_hardlinks, kNoHardlinksHelp);
  add_pace(seed_cmd, a.seed.pace, "normal");
  seed_cmd->add_option("--throttle-us", a.seed.throttle_us, "Pause per file (testing)")->group("");
  seed_cmd->add_option("--batch-size", a.seed.batch_size, "Files per queued batch (benchmarks)")->group("");
  add_common(seed_cmd, a.seed.common);

  auto* cfg_cmd = app->add_subcommand("config", "Print the effective config and where each key came from");
  cfg_cmd->footer(
      "\nLookup order: --config FILE, <ws>/.seedfs.toml, <root>/.seedfs.toml, "
      "$XDG_CONFIG_HOME/seedfs/config.toml, built-in defaults. The first file found wins; keys it "
      "leaves out keep their built-in value.");
  cfg_cmd->add_option("--root", a.config.root, "Root project dir (to find <root>/.seedfs.toml)");
  cfg_cmd->add_option("--ws", a.config.ws, "Workspace project dir (to find <ws>/.seedfs.toml)");
  add_common(cfg_cmd, a.config.common);

  auto* mount_cmd = app->add_subcommand("mount", "Show <root>'s artifacts in <ws> at once, materialize them in the background");
  mount_cmd->footer(
      "\nMounts a FUSE view over <ws>/target (per artifact; for cargo, the build dir `cargo metadata` "
      "names) that shows <root>/target filtered by the skip rules, and returns once it is live, in "
      "milliseconds. In a new git worktree, its files identical to the root's get the root's mtimes "
      "first, so that nothing in it needs to compile. Builds work through it at once; "
      "anything written lands in <ws>/target, and a file shared with the root is copied first, so "
      "the root never changes. A daemon links the files into <ws>/target meanwhile; when it is "
      "done the mount goes away and <ws>/target is a plain directory. `seedfs unmount` stops early; "
      "a later `seedfs mount` resumes (also after a crash, and after a failure such as no space left, "
      "once its cause is fixed).\n\n"
      "Build in the root at any time: the view shows the root as it was when the mount began (T0, "
      "kept for this workspace dir), never a file the root writes after it, so cargo rebuilds "
      "those units in <ws> from <ws>'s own sources (`seedfs status` counts them).");
  mount_cmd->add_option("root", a.mount.root, kRootHelp);
  mount_cmd->add_option("ws", a.mount.ws, kWsHelp);
  mount_cmd->add_option("--artifact", a.mount.artifact, "Mount only this artifact (e.g. cargo)");
  mount_cmd->add_option("--workers", a.mount.workers, "Materializer threads (default: config)")
      ->check(CLI::Range(1u, 1024u));
  mount_cmd->add_flag("--force", a.mount.force,
                      "Mount even while a build holds the root's cargo lock (T0 falls in that build)");
  mount_cmd->add_flag("--no-sync-mtimes", a.mount.no_sync_mtimes, kNoSyncHelp);
  mount_cmd->add_flag("--no-hardlinks", a.mount.no_hardlinks, kNoHardlinksHelp);
  add_pace(mount_cmd, a.mount.pace, "low (config: priority)");
  // Two flags, not "--keep-mounted,!--no-keep-mounted": CLI11 2.1 sets an
  // optional<bool> to false when neither is given, and "not given" matters here.
  auto* keep_opt = mount_cmd->add_flag(
      "--keep-mounted", a.keep_mounted,
      "Keep the view until `seedfs unmount`: nothing is linked or copied ahead, a file is copied into "
      "<ws> only when written (never hardlinked), and reads come from the root. For a root on a slow "
      "or network filesystem, or where nothing may share an inode with it and no reflink is possible. "
      "A later mount of the same workspace keeps it so (also after a crash) until --no-keep-mounted "
      "(config: keep_mounted)");
  mount_cmd->add_flag("--no-keep-mounted", a.no_keep_mounted, "Materialize (the default), also after a --keep-mounted mount")
      ->excludes(keep_opt);
  mount_cmd->add_flag("--foreground", a.mount.foreground, "Run the daemon in this process, logging to stderr");
  mount_cmd->add_option("--throttle-us", a.mount.throttle_us, "Pause per file (testing)")->group("");
  mount_cmd->add_flag("--no-passthrough", a.mount.no_passthrough, "No FUSE passthrough (testing)")->group("");
  mount_cmd->add_flag("--from-hook", a.mount.from_hook, "Run by the post-checkout hook")->group("");
  add_common(mount_cmd, a.mount.common);

  auto* status_cmd = app->add_subcommand("status", "Progress of every live mount, or of one workspace");
  status_cmd->add_option("ws", a.status.ws, "Workspace project dir (default: every live mount of this user)");
  status_cmd->add_flag("--watch", a.status.watch, "Redraw until done (a progress bar on a terminal)");
  add_common(status_cmd, a.status.common);

  auto* wait_cmd = app->add_subcommand("wait", "Block until <ws> is fully materialized and unmounted");
  wait_cmd->footer("\nExit 0 when done; 1 with the error when materialization failed; 6 when not mounted.");
  wait_cmd->add_option("ws", a.wait.ws, "Workspace project dir (default: the git checkout of the current dir)");
  add_common(wait_cmd, a.wait.common);
  auto* unmount_cmd = app->add_subcommand("unmount", "Stop early: unmount <ws>; a later `seedfs mount` resumes");
  unmount_cmd->footer("\nAlso clears a dead mount left by a crashed daemon.");
  unmount_cmd->add_option("ws", a.unmount.ws, "Workspace project dir (default: the git checkout of the current dir)");
  add_common(unmount_cmd, a.unmount.common);

  auto* verify_cmd = app->add_subcommand(
      "verify", "Whether <ws> shares an inode it should not with <root>, and holds nothing the root wrote after T0");
  verify_cmd->footer(
      "\nA hardlinked file is one file with two names: a write to it in the workspace is a write "
      "to the root's file. The link rules share only what rustc, cargo and the linkers replace "
      "rather than rewrite; verify counts those (and cargo's second names for them in "
      "target/<profile>/), and lists as unsafe any other shared file (a fingerprint, a "
      "build-script output, a binary: what `cp -al` leaves).\n\nIt also checks that no file "
      "seeded from the root (a hardlink of the root's file, or a copy with its size and mtime) was "
      "written in the root after T0, the instant the workspace's seeding began (recorded in the "
      "state dir; for a workspace seeded before seedfs recorded it, the workspace dir's birth "
      "time): such a file is the root's newer build, which cargo in the workspace would take as "
      "Fresh for the workspace's own sources. --repair removes them, and cargo rebuilds those units "
      "in the workspace.\n\nExit 0 when nothing is unsafe or newer than T0, 1 when something is.");
  verify_cmd->add_option("root", a.verify.root, kRootHelp);
  verify_cmd->add_option("ws", a.verify.ws, kWsHelp);
  verify_cmd->add_option("--artifact", a.verify.artifact, "Only this artifact (e.g. cargo)");
  verify_cmd->add_flag("--list", a.verify.list, "List every shared file");
  verify_cmd->add_flag("--repair", a.verify.repair,
                       "Remove the files seeded from the root after T0 (cargo rebuilds their units)");
  add_common(verify_cmd, a.verify.common);

  auto* hook_cmd = app->add_subcommand("hook", "Start seedfs for every `git worktree add` of a repository");
  hook_cmd->require_subcommand(1);
  hook_cmd->footer(
      "\nInstalls a post-checkout hook (in the repository's hooks dir, core.hooksPath if set) that "
      "runs `seedfs mount` in each new linked worktree, with the main worktree as the root: "
      "`git worktree add ../feature && cd ../feature && cargo build` then reuses the main "
      "worktree's build at once. The hook never fails or holds up the checkout beyond the mount "
      "itself (milliseconds); a hook that was there before is kept and run first. "
      "SEEDFS_NO_HOOK=1 git worktree add ... skips it once.");
  auto* hook_install = hook_cmd->add_subcommand("install", "Install the hook (again: update it)");
  auto* hook_uninstall = hook_cmd->add_subcommand("uninstall", "Remove the hook; put back the one it chained");
  for (auto* c : {hook_install, hook_uninstall}) {
    c->add_option("repo", a.hook.repo, "Any dir of the repository (default: the current dir)");
    c->add_flag("--json", a.hook.common.json, "Print the result as one JSON object, for scripts");
  }

  auto* doctor_cmd =
      app->add_subcommand("doctor", "Check what seedfs will do on this machine, before relying on it");
  doctor_cmd->footer(
      "\nOne line per check: OK, WARN, FAIL or SKIP, with the finding and, for WARN and FAIL, the fix. "
      "Machine: /dev/fuse read-write, fusermount3 setuid root (users), FUSE passthrough (kernel 6.9+ "
      "and CAP_SYS_ADMIN), this user's seedfs mounts (a dead one: its daemon was killed), cargo. "
      "Project (<root> <ws>, defaults as for mount; outside a git checkout they are skipped): "
      "one CARGO_TARGET_DIR for both, CARGO_HOME, the config, the artifact dirs, their filesystems "
      "(hardlinks need one; reflinks probed with a nameless temp file in the workspace), "
      "fs.protected_hardlinks, a build running in the root, free space for the copies (a dry run "
      "of the rules: metadata only), and the post-checkout hook. Nothing in the root is written.\n\n"
      "Exit 0 when nothing FAILs (WARNs are allowed), 1 when something does, 2 for bad arguments. "
      "--json: {\"ok\", \"checks\": [{\"name\", \"status\", \"message\", \"fix\"}], \"fails\", \"warns\"}. "
      "See docs/doctor.md.");
  doctor_cmd->add_option("root", a.doctor.root, kRootHelp);
  doctor_cmd->add_option("ws", a.doctor.ws, kWsHelp);
  add_common(doctor_cmd, a.doctor.common);

  auto* du_cmd = app->add_subcommand(
      "du", "What the build dirs of this repository's worktrees take on disk, and what deleting each frees");
  du_cmd->footer(
      "\nWith no <dir>, every worktree of the repository of the current dir, each artifact dir "
      "(for cargo, its build dir as `cargo metadata` says); else the dirs given. Per dir: its apparent "
      "size, what it takes on disk, what is its own (what deleting it alone would free) and what it "
      "shares with files elsewhere, through hardlinks (one inode) or reflinks (shared extents on "
      "btrfs and XFS, asked with FIEMAP there only). Then the total really on disk, each inode and "
      "each shared extent once: `du -s` counts a hardlink once across its arguments but a reflinked "
      "copy in full. A live seedfs view is listed, not measured.\n\n"
      "Exit 0; 1 when some entry could not be read (named, the rest counted); 3 for a <dir> that is "
      "not a directory.");
  du_cmd->add_option("dir", a.du.dirs, "Dirs to measure (default: every worktree's build dirs)");
  du_cmd->add_option("--threads", a.du.threads, "Walker threads (default: one per CPU, at least 2)")
      ->check(CLI::Range(1u, 256u));
  add_common(du_cmd, a.du.common);

  auto* gc_cmd = app->add_subcommand("gc", "Remove seedfs's state of workspaces that are gone; --targets: idle worktrees' build dirs");
  gc_cmd->footer(
      "\nseedfs keeps per workspace a state dir (journals, the T0 record, the log, the last status) in "
      "$XDG_STATE_HOME/seedfs. gc removes those of workspaces that no longer exist or whose build dirs "
      "were removed, and the files of one build dir that was removed; never a running daemon's.\n\n"
      "--targets also removes the build dirs (target/ for cargo) of this repository's linked worktrees "
      "not built for --older-than (default 14d): never the main worktree's, never one under a live "
      "view or whose cargo lock is held, nothing outside the repository's worktrees. It prints what "
      "each frees (as `seedfs du` counts it: what the dir does not share with the others). A new "
      "`seedfs mount` there is back in milliseconds.\n\n"
      "Exit 0; 1 when something could not be removed (named); 2 for a bad --older-than.");
  gc_cmd->add_flag("--dry-run", a.gc.dry_run, "Say what would be removed and freed; remove nothing");
  gc_cmd->add_flag("--targets", a.gc.targets, "Also remove idle linked worktrees' build dirs (see --older-than)");
  gc_cmd->add_option("--older-than", a.gc.older_than,
                     "With --targets: not built for this long, e.g. 14d, 12h, 2w (default 14d)");
  add_common(gc_cmd, a.gc.common);

  // The hidden generators (group "": not in --help, nor in the completions
  // and the man page they write). The build runs them (CMakeLists.txt).
  auto* comp_cmd = app->add_subcommand("completions", "Print the shell completion script for seedfs");
  comp_cmd->group("");
  comp_cmd->add_option("shell", a.shell, "The shell")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  comp_cmd->add_option("--output", a.doc_output, "Write to this file instead of stdout");
  auto* man_cmd = app->add_subcommand("manpage", "Print the man page seedfs(1), in roff");
  man_cmd->group("");
  man_cmd->add_option("--output", a.doc_output, "Write to this file instead of stdout");

  // What each subcommand runs (only one is given: require_subcommand(1)).
  auto runs = [&a](CLI::App* cmd, std::function<int()> fn) {
    cmd->callback([&a, fn = std::move(fn)] { a.run = fn; });
  };
  runs(seed_cmd, [&a] { return cmd_seed(a.seed); });
  runs(cfg_cmd, [&a] { return cmd_config(a.config); });
  runs(mount_cmd, [&a] {
    if (a.keep_mounted || a.no_keep_mounted) a.mount.keep_mounted = a.keep_mounted;
    return cmd_mount(a.mount);
  });
  runs(status_cmd, [&a] { return cmd_status(a.status); });
  runs(wait_cmd, [&a] { return cmd_wait(a.wait); });
  runs(unmount_cmd, [&a] { return cmd_unmount(a.unmount); });
  runs(verify_cmd, [&a] { return cmd_verify(a.verify); });
  runs(du_cmd, [&a] { return cmd_du(a.du); });
  runs(doctor_cmd, [&a] { return cmd_doctor(a.doctor); });
  runs(gc_cmd, [&a] { return cmd_gc(a.gc); });
  runs(hook_cmd, [&a, hook_install] {
    a.hook.install = hook_install->parsed();
    return cmd_hook(a.hook);
  });
  CLI::App* root = app.get();
  runs(comp_cmd, [&a, root] { return write_doc(completion_script(*root, a.shell), a.doc_output); });
  runs(man_cmd, [&a, root] { return write_doc(man_page(*root), a.doc_output); });
  return app;
}

}  // namespace seedfs::cli

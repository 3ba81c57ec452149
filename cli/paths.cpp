#include "cli/paths.hpp"

#include <sys/stat.h>

#include <cstring>
#include <future>

#include "cargo/metadata.hpp"
#include "cli/commands.hpp"

#include "git/checkout.hpp"
#include "seeding/build_lock.hpp"
#include "seeding/sys.hpp"

namespace seedfs::cli {
namespace {

bool inside(const stdfs::path& child, const stdfs::path& parent) {
  auto c = child.lexically_normal().string(), p = parent.lexically_normal().string();
  if (!p.empty() && p.back() != '/') p += '/';
  return c.size() > p.size() && c.compare(0, p.size(), p) == 0;
}

std::optional<CliError> check_dir(const stdfs::path& p, const char* role, const char* hint) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return CliError{kBadInput, std::string(role) + " " + p.string() + " does not exist (" + hint + ")"};
    return CliError{kBadInput, std::string(role) + " " + p.string() + ": " + std::strerror(err)};
  }
  if (!S_ISDIR(st.st_mode))
    return CliError{kBadInput, std::string(role) + " " + p.string() + " is not a directory (" + hint + ")"};
  return std::nullopt;
}

stdfs::path normal(const stdfs::path& p) {
  std::error_code ec;
  auto c = stdfs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : c;
}

// The cargo artifact's dirs as cargo sees them: the root's build dir, and the
// workspace's (where the workspace is no cargo project yet, the same place
// relative to it). Left as configured where cargo cannot say.
std::optional<CliError> ask_cargo(const Projects& p, ArtifactDirs& d) {
  auto ws_lookup = std::async(std::launch::async, [&] { return cargo::locate(p.ws); });
  cargo::Lookup root = cargo::locate(p.root);
  cargo::Lookup ws = ws_lookup.get();
  if (!root.dirs) return std::nullopt;
  stdfs::path root_dir = normal(root.dirs->build_dir), ws_dir;
  if (ws.dirs) {
    ws_dir = normal(ws.dirs->build_dir);
  } else {
    stdfs::path rel = root_dir.lexically_relative(p.root);
    if (rel.empty() || *rel.begin() == "..") return std::nullopt;
    ws_dir = p.ws / rel;
  }
  if (root_dir == ws_dir)
    return CliError{kBadInput, "the root and the workspace build into the same directory " +
                                   root_dir.string() +
                                   " (CARGO_TARGET_DIR, build.target-dir or build.build-dir names one "
                                   "dir for both): their builds share it already, there is nothing to "
                                   "seed. Unset it for the workspace, or give it a dir of its own"};
  d.root_dir = root_dir;
  d.ws_dir = ws_dir;
  d.found_by = "cargo metadata";
  return std::nullopt;
}

}  // namespace

stdfs::path absolute_path(const stdfs::path& p) {
  std::error_code ec;
  auto abs = stdfs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal();
}

std::optional<CliError> check_projects(const stdfs::path& root, const stdfs::path& ws, Projects& out) {
  if (auto e = check_dir(root, "root", "give the project dir of the checkout that was built, the one holding target/"))
    return e;
  if (auto e = check_dir(ws, "workspace", "give the project dir of the new checkout, e.g. a git worktree"))
    return e;
  out.root = stdfs::canonical(root);
  out.ws = stdfs::canonical(ws);
  if (out.root == out.ws)
    return CliError{kBadInput, "root and workspace are the same directory (" + out.root.string() +
                                   "): give the new checkout as <ws>"};
  return std::nullopt;
}

std::optional<CliError> find_projects(const std::optional<stdfs::path>& root,
                                      const std::optional<stdfs::path>& ws, Projects& out) {
  if (root && ws) return check_projects(*root, *ws, out);
  std::error_code ec;
  stdfs::path cwd = stdfs::current_path(ec);
  if (ec) return CliError{kUsage, "no <ws> given, and the current dir is gone: give <root> <ws>"};
  std::string why, main_why;
  // Both questions at once: they cost a git process each.
  auto main = std::async(std::launch::async, [&]() -> std::optional<stdfs::path> {
    if (root) return std::nullopt;
    return git::main_worktree(git::Checkout{cwd, {}, {}, {}}, main_why);
  });
  auto here = git::checkout_of(cwd, why);
  auto main_top = main.get();
  if (!here) {
    if (root)
      return CliError{kUsage, "no <ws> given, and " + cwd.string() + " is not in a git checkout: give <ws>"};
    return CliError{kUsage, "no <root> given, and " + cwd.string() +
                                " is not in a git checkout: give <root> <ws>, or run this in a "
                                "worktree made by `git worktree add` (" + why + ")"};
  }
  git::Checkout ws_checkout = *here;
  ws_checkout.prefix.clear();  // the project is the worktree's top
  if (root) {
    if (auto e = check_projects(*root, here->top, out)) return e;
    out.ws_checkout = ws_checkout;
    return std::nullopt;
  }
  if (!here->linked())
    return CliError{kUsage, "no <root> given, and " + here->top.string() +
                                " is the main worktree of its repository: run this in a worktree "
                                "made by `git worktree add` (the main worktree is then the root), or "
                                "give <root> <ws>"};
  if (!main_top) return CliError{kUsage, "no <root> given: " + main_why};
  if (auto e = check_projects(*main_top, here->top, out)) return e;
  out.ws_checkout = ws_checkout;
  out.root_checkout = git::Checkout{*main_top, {}, here->common_dir, here->common_dir};
  return std::nullopt;
}

stdfs::path workspace_or_current(const std::optional<stdfs::path>& ws) {
  if (ws) return *ws;
  std::error_code ec;
  stdfs::path cwd = stdfs::current_path(ec);
  std::string why;
  if (auto here = git::checkout_of(cwd, why)) return here->top;
  return cwd;
}

std::optional<CliError> select_artifacts(const config::Config& cfg, const Projects& p,
                                         const std::optional<std::string>& only,
                                         std::vector<ArtifactDirs>& out) {
  out.clear();
  if (only && !cfg.find(*only)) {
    std::string known;
    for (const auto& a : cfg.artifacts) known += (known.empty() ? "" : ", ") + a.name;
    return CliError{kUsage, "no artifact named '" + *only + "' in the config (known: " + known + ")"};
  }
  std::vector<std::string> tried;
  for (const auto& a : cfg.artifacts) {
    if (only ? a.name != *only : !a.enabled) continue;
    ArtifactDirs d{&a, p.root / a.path, p.ws / a.path};
    if (auto o = a.origin.find("path"); a.name == "cargo" && o != a.origin.end() && o->second == config::kBuiltin)
      if (auto e = ask_cargo(p, d)) return e;
    struct stat st {};
    if (::stat(d.root_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      if (only)
        if (auto e = check_dir(d.root_dir, "root artifact dir", "build the root first, or pick another --artifact"))
          return e;
      tried.push_back(d.root_dir.string());
      continue;
    }
    d.root_dir = stdfs::canonical(d.root_dir);
    // The workspace dir may be a symlink to elsewhere; judge where it really is.
    std::error_code ec;
    if (stdfs::exists(d.ws_dir, ec)) {
      if (auto e = check_dir(d.ws_dir, "workspace artifact dir", "move the file away")) return e;
      d.ws_dir = stdfs::canonical(d.ws_dir);
    }
    if (d.root_dir == d.ws_dir || inside(d.ws_dir, d.root_dir) || inside(d.root_dir, d.ws_dir))
      return CliError{kBadInput, "the artifact dirs " + d.root_dir.string() + " and " +
                                     d.ws_dir.string() +
                                     " are the same or one is inside the other: give two separate checkouts"};
    out.push_back(d);
  }
  if (out.empty()) {
    std::string list;
    for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
    return CliError{kBadInput, "nothing to seed: none of the artifact dirs exists in the root (" +
                                   list + "); build the root first"};
  }
  return std::nullopt;
}

std::optional<CliError> load_config(const std::optional<stdfs::path>& file,
                                    const std::optional<stdfs::path>& ws,
                                    const std::optional<stdfs::path>& root, config::Config& out) {
  config::Error err;
  auto cfg = config::resolve(config::lookup_order(file, ws, root), err);
  if (!cfg) return CliError{kUsage, "invalid config: " + err.to_string()};
  out = std::move(*cfg);
  return std::nullopt;
}

config::Pace PaceArgs::resolve(const config::Config& cfg, bool background) const {
  config::Pace p = cfg.pace;
  if (!background) p.priority = config::Priority::normal;
  if (rate) p.files_per_s = *rate;
  if (bytes_rate) p.bytes_per_s = config::parse_bytes(*bytes_rate).value_or(0);  // the parser checked it
  if (priority) p.priority = config::parse_priority(*priority).value_or(p.priority);
  return p;
}

std::vector<ProjectDir> artifact_dirs_of(const config::Config& cfg, const stdfs::path& project) {
  std::vector<ProjectDir> out;
  for (const auto& a : cfg.artifacts) {
    if (!a.enabled) continue;
    stdfs::path dir = project / a.path;
    if (auto o = a.origin.find("path"); a.name == "cargo" && o != a.origin.end() && o->second == config::kBuiltin) {
      cargo::Lookup l = cargo::locate(project);
      if (l.dirs) dir = l.dirs->build_dir;
    }
    std::error_code ec;
    if (stdfs::is_directory(dir, ec)) out.push_back({dir, project, a.name});
  }
  return out;
}

std::optional<CliError> repository_artifact_dirs(const std::optional<stdfs::path>& config_file,
                                                 const std::string& what, std::vector<stdfs::path>& worktrees,
                                                 std::vector<ProjectDir>& out) {
  std::string why;
  auto here = git::checkout_of(stdfs::current_path(), why);
  if (!here) return CliError{kUsage, why + ": " + what};
  auto trees = git::worktrees(*here, why);
  if (!trees) return CliError{kFailed, why};
  worktrees = *trees;
  config::Config cfg;
  if (auto e = load_config(config_file, here->top, std::nullopt, cfg)) return e;
  std::vector<std::future<std::vector<ProjectDir>>> asks;
  for (const auto& t : worktrees)
    asks.push_back(std::async(std::launch::async, [&cfg, t] { return artifact_dirs_of(cfg, t); }));
  for (auto& a : asks)
    for (auto& d : a.get()) out.push_back(std::move(d));
  if (out.empty()) return CliError{kBadInput, "no worktree of " + here->common_dir.string() + " has a build dir"};
  return std::nullopt;
}

}  // namespace seedfs::cli

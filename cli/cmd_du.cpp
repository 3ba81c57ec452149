// `seedfs du`: what the build dirs of a repository's worktrees take on disk,
// and what deleting each would free (seeding/disk_usage.hpp).
#include <spdlog/spdlog.h>

#include <future>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "fs/mount.hpp"
#include "git/checkout.hpp"
#include "seeding/disk_usage.hpp"

namespace seedfs::cli {
namespace {

using Target = ProjectDir;

std::optional<CliError> find_targets(const DuArgs& args, std::vector<Target>& out) {
  if (!args.dirs.empty()) {
    for (const auto& d : args.dirs) {
      std::error_code ec;
      stdfs::path p = stdfs::canonical(d, ec);
      if (ec || !stdfs::is_directory(p, ec))
        return CliError{kBadInput, d.string() + " is not a directory"};
      out.push_back({p, {}, ""});
    }
    return std::nullopt;
  }
  std::vector<stdfs::path> trees;
  return repository_artifact_dirs(args.common.config_file,
                                  "give the dirs to measure, or run this in a worktree of the repository", trees, out);
}

std::string cell(uint64_t n) {
  std::ostringstream s;
  s << std::setw(10) << bytes(n);
  return s.str();
}

}  // namespace

int cmd_du(const DuArgs& args) {
  std::vector<Target> targets;
  if (auto e = find_targets(args, targets)) return spdlog::error("{}", e->message), e->code;

  // A live view shows the root's files under the workspace's name: measuring
  // through it would count the root's bytes again. It is listed, not measured.
  std::vector<stdfs::path> dirs;
  std::vector<Target> measured, live;
  for (auto& t : targets) {
    if (fs::mount_at(t.dir.string())) {
      live.push_back(t);
    } else {
      dirs.push_back(t.dir);
      measured.push_back(t);
    }
  }
  unsigned threads = args.threads ? args.threads : std::max(2u, std::thread::hardware_concurrency());
  usage::Usage u = usage::measure(dirs, threads);
  bool failed = false;
  for (const auto& d : u.dirs) failed |= !d.error.empty();

  if (args.common.json) {
    toml::array rows;
    for (size_t i = 0; i < u.dirs.size(); ++i) {
      const auto& d = u.dirs[i];
      toml::table row{{"dir", d.dir.string()},
                      {"files", int64_t(d.files)},
                      {"dirs", int64_t(d.dirs)},
                      {"apparent", int64_t(d.apparent)},
                      {"on_disk", int64_t(d.on_disk)},
                      {"own", int64_t(d.own())},
                      {"shared_links", int64_t(d.shared_links)},
                      {"shared_extents", int64_t(d.shared_extents)}};
      if (!measured[i].project.empty()) row.insert("worktree", measured[i].project.string());
      if (!measured[i].artifact.empty()) row.insert("artifact", measured[i].artifact);
      if (!d.error.empty()) row.insert("error", d.error);
      rows.push_back(std::move(row));
    }
    toml::array views;
    for (const auto& t : live) views.push_back(t.dir.string());
    std::cout << to_json(toml::table{{"dirs", std::move(rows)},
                                     {"live_views", std::move(views)},
                                     {"total_on_disk", int64_t(u.total_on_disk)},
                                     {"du_total", int64_t(u.du_total)},
                                     {"extents_asked", u.extents_asked}})
              << "\n";
    return failed ? kFailed : kOk;
  }

  std::cout << "  apparent    on disk        own     shared  dir\n";
  for (const auto& d : u.dirs) {
    std::cout << cell(d.apparent) << " " << cell(d.on_disk) << " " << cell(d.own()) << " "
              << cell(d.shared_links + d.shared_extents) << "  " << d.dir.string() << "\n";
    if (!d.error.empty()) std::cout << "    error: " << d.error << "\n";
  }
  for (const auto& t : live)
    std::cout << "  (a live seedfs view, not measured until it is a plain dir: " << t.dir.string() << ")\n";
  std::cout << "total on disk: " << bytes(u.total_on_disk) << " for " << u.dirs.size() << (u.dirs.size() == 1 ? " dir" : " dirs");
  if (u.du_total != u.total_on_disk)
    std::cout << " (du -s adds up to " << bytes(u.du_total) << ": it counts reflinked bytes once per file)";
  std::cout << "\nown: what deleting that dir alone frees; shared: hardlinked with or reflinked from files "
               "elsewhere (another worktree, the root)\n";
  return failed ? kFailed : kOk;
}

}  // namespace seedfs::cli

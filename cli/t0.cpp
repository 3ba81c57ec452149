#include "cli/t0.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "seeding/build_lock.hpp"

namespace seedfs::cli {
namespace {

// The workspace dir, opened if it is there (or made, with `create`).
sys::UniqueFd open_ws_dir(const ArtifactDirs& d, bool create, std::error_code& ec) {
  if (create) {
    struct stat st {};
    mode_t mode = ::stat(d.root_dir.c_str(), &st) == 0 ? st.st_mode & 07777 : 0755;
    stdfs::create_directories(d.ws_dir.parent_path(), ec);
    if (!ec && ::mkdir(d.ws_dir.c_str(), mode) != 0 && errno != EEXIST) ec = sys::last_error();
    if (ec) return {};
  }
  return sys::open_dir(AT_FDCWD, d.ws_dir.c_str(), ec);
}

// T0 = now, inside shared locks on every root's cargo lock files. A build
// that creates a lock file of its own between the look and T0 (a profile
// never built before) makes it look again.
std::optional<CliError> take_new(const std::vector<const ArtifactDirs*>& roots, bool force, seeding::Instant& t0) {
  std::vector<sys::UniqueFd> fds;
  for (const auto* d : roots) {
    std::error_code ec;
    fds.push_back(sys::open_dir(AT_FDCWD, d->root_dir.c_str(), ec));
    if (!fds.back()) return CliError{kBadInput, sys::describe(d->root_dir.string(), ec)};
  }
  for (int attempt = 0;; ++attempt) {
    std::vector<seeding::BuildLocks> locks(roots.size());
    for (size_t i = 0; i < roots.size(); ++i) {
      auto held = locks[i].acquire(fds[i].get());
      if (held && !force)
        return CliError{kBusy, "the root is being built right now: " + (roots[i]->root_dir / *held).string() +
                                   " is locked by a running build. Wait for it to finish, or pass --force to "
                                   "seed from a tree that is changing"};
      if (held) spdlog::warn("--force: seeding while a build holds {}", (roots[i]->root_dir / *held).string());
    }
    t0 = seeding::Instant::now(fds[0].get());
    bool same = true;
    for (size_t i = 0; i < roots.size(); ++i) same &= seeding::BuildLocks::count(fds[i].get()) == locks[i].held();
    if (same || force || attempt == 5) return std::nullopt;
  }
}

}  // namespace

std::optional<CliError> establish_t0(const std::vector<ArtifactDirs>& dirs, const StatePaths& state,
                                     const stdfs::path& ws_project, bool force,
                                     bool record, std::vector<ArtifactT0>& out) {
  out.assign(dirs.size(), {});
  std::vector<const ArtifactDirs*> fresh;
  for (size_t i = 0; i < dirs.size(); ++i) {
    std::error_code ec;
    if (sys::UniqueFd ws = open_ws_dir(dirs[i], false, ec))
      if (auto t0 = seeding::load_instant(state.t0_file(dirs[i].artifact->name), ws.get())) {
        out[i] = {*t0, true};
        continue;
      }
    fresh.push_back(&dirs[i]);
  }
  // Which workspace the state dir belongs to, once T0 is settled.
  auto write_workspace_record = [&]() -> std::optional<CliError> {
    if (!record) return std::nullopt;
    WorkspaceRecord r{ws_project, {}};
    for (const auto& d : dirs) r.dirs[d.artifact->name] = d.ws_dir;
    if (auto ec = write_record(state, r))
      return CliError{kFailed, "cannot write " + sys::describe(state.record.string(), ec)};
    return std::nullopt;
  };
  if (fresh.empty()) return write_workspace_record();
  seeding::Instant t0;
  if (auto e = take_new(fresh, force, t0)) return e;
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (out[i].resumed) continue;
    out[i].t0 = t0;
    if (!record) continue;
    std::error_code ec;
    sys::UniqueFd ws = open_ws_dir(dirs[i], true, ec);
    if (!ws) return CliError{kFailed, "cannot create " + sys::describe(dirs[i].ws_dir.string(), ec)};
    auto file = state.t0_file(dirs[i].artifact->name);
    if ((ec = seeding::save_instant(file, ws.get(), t0)))
      return CliError{kFailed, "cannot record T0 in " + sys::describe(file.string(), ec)};
  }
  return write_workspace_record();
}

}  // namespace seedfs::cli

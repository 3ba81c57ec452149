#include "cli/state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace seedfs::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// Stable across runs and machines (std::hash is not guaranteed to be).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::filesystem::path runtime_dir(std::error_code& ec) {
  std::string base = env("XDG_RUNTIME_DIR");
  std::filesystem::path dir = base.empty()
                                  ? std::filesystem::path("/tmp/seedfs-" + std::to_string(::getuid()))
                                  : std::filesystem::path(base) / "seedfs";
  std::filesystem::create_directories(dir, ec);
  if (ec) return dir;
  ::chmod(dir.c_str(), 0700);
  struct stat st {};
  // In /tmp, a dir someone else made could be a trap for our sockets.
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid())
    ec = std::make_error_code(std::errc::permission_denied);
  return dir;
}

StatePaths state_paths(const std::filesystem::path& ws_project, std::error_code& ec) {
  StatePaths p;
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(ws_project.string())));
  std::string name = ws_project.filename().string();
  if (name.empty()) name = "root";
  p.id = name + "-" + std::string(hash, 12);
  auto run = runtime_dir(ec);
  p.socket = run / (p.id + ".sock");
  p.pid_file = run / (p.id + ".pid");
  p.state_dir = state_base() / p.id;
  p.log = p.state_dir / "daemon.log";
  p.last_status = p.state_dir / "last-status.toml";
  p.kept_marker = p.state_dir / "keep-mounted";
  p.record = p.state_dir / "workspace.toml";
  return p;
}

std::filesystem::path state_base() {
  std::string state = env("XDG_STATE_HOME");
  std::filesystem::path base = !state.empty() ? std::filesystem::path(state)
                               : !env("HOME").empty() ? std::filesystem::path(env("HOME")) / ".local/state"
                                                      : std::filesystem::path("/tmp/seedfs-state-" + std::to_string(::getuid()));
  return base / "seedfs";
}

std::error_code write_record(const StatePaths& state, const WorkspaceRecord& r) {
  toml::table dirs;
  for (const auto& [name, dir] : r.dirs) dirs.insert(name, dir.string());
  std::ostringstream text;
  text << "# The workspace of this state dir (seedfs gc removes the state of workspaces that are gone)\n"
       << toml::table{{"project", r.project.string()}, {"dirs", std::move(dirs)}} << "\n";
  std::string tmp = state.record.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text.str();
    if (!out.flush()) return std::make_error_code(std::errc::io_error);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, state.record, ec);
  return ec;
}

std::optional<WorkspaceRecord> read_record(const std::filesystem::path& state_dir) {
  toml::table t;
  try {
    t = toml::parse_file((state_dir / "workspace.toml").string());
  } catch (const toml::parse_error&) {
    return std::nullopt;  // none (a state dir of a seedfs before 0.2), or unreadable
  }
  WorkspaceRecord r;
  r.project = t["project"].value_or(std::string());
  if (r.project.empty()) return std::nullopt;
  if (const toml::table* dirs = t["dirs"].as_table())
    for (const auto& [name, dir] : *dirs)
      if (auto d = dir.value<std::string>()) r.dirs[std::string(name.str())] = *d;
  return r;
}

std::filesystem::path StatePaths::journal(const std::string& artifact) const {
  return state_dir / (artifact + ".journal");
}

std::filesystem::path StatePaths::t0_file(const std::string& artifact) const {
  return state_dir / (artifact + ".t0");
}

}  // namespace seedfs::cli

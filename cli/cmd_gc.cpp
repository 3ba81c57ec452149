// `seedfs gc`: removes seedfs's own state (journals, T0 records, logs, last
// status) of workspaces that are gone, and with --targets the build dirs of
// worktrees not built for a while.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <future>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/control.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "cli/state.hpp"
#include "fs/mount.hpp"
#include "git/checkout.hpp"
#include "seeding/build_lock.hpp"
#include "seeding/disk_usage.hpp"
#include "seeding/sys.hpp"

namespace seedfs::cli {
namespace {

using Clock = std::chrono::system_clock;

struct Action {
  std::string what;  // a state dir, a file in one, or a build dir
  std::string why;
  bool chosen = false;   // to be removed (in a dry run: would be)
  bool removed = false;  // and it was
  uint64_t bytes = 0;    // what removing it frees
  std::string error;
};

uint64_t tree_bytes(const stdfs::path& p) {
  uint64_t sum = 0;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(p, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0) sum += st.st_blocks * 512;
  }
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) sum += st.st_blocks * 512;
  return sum;
}

void remove(Action& a, const stdfs::path& p, bool dry_run) {
  a.chosen = true;
  a.bytes = tree_bytes(p);
  if (dry_run) return;
  std::error_code ec;
  stdfs::remove_all(p, ec);  // never follows a symlink out of `p`
  if (ec) a.error = sys::describe(p.string(), ec);
  a.removed = !ec;
}

bool daemon_answers(const stdfs::path& socket) {
  std::error_code ec;
  return control_request(socket.string(), "status", ec).has_value();
}

bool present(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::exists(stdfs::symlink_status(p, ec));
}

// The state of every workspace seedfs recorded: gone workspaces' state dirs,
// the files of artifact dirs that were removed, and a dead daemon's pid file
// and socket. A live daemon's state and a state dir with no record (made by a
// seedfs before 0.2) are kept.
std::vector<Action> collect_state(bool dry_run) {
  std::vector<Action> out;
  std::error_code ec;
  stdfs::path base = state_base(), run = runtime_dir(ec);
  for (auto it = stdfs::directory_iterator(base, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    if (!it->is_directory()) continue;
    std::string id = it->path().filename().string();
    Action a{it->path().string(), "", false, false, 0, ""};
    stdfs::path socket = run / (id + ".sock"), pid = run / (id + ".pid");
    if (daemon_answers(socket)) {
      a.why = "its daemon is running";
      out.push_back(a);
      continue;
    }
    for (const auto& f : {socket, pid})
      if (present(f) && !dry_run) stdfs::remove(f, ec);
    auto rec = read_record(it->path());
    if (!rec) {
      a.why = "no record of its workspace (made by a seedfs before 0.2): kept; remove it by hand if unused";
      out.push_back(a);
      continue;
    }
    std::vector<std::string> gone;
    for (const auto& [artifact, dir] : rec->dirs)
      if (!present(dir)) gone.push_back(artifact);
    if (!present(rec->project) || gone.size() == rec->dirs.size()) {
      a.why = !present(rec->project) ? "the workspace " + rec->project.string() + " is gone"
                                    : "every build dir of " + rec->project.string() + " was removed";
      remove(a, it->path(), dry_run);
      out.push_back(a);
      continue;
    }
    for (const auto& artifact : gone) {
      for (const char* ext : {".journal", ".t0"}) {
        stdfs::path f = it->path() / (artifact + ext);
        if (!present(f)) continue;
        Action fa{f.string(), "the build dir " + rec->dirs[artifact].string() + " was removed", false, false, 0, ""};
        remove(fa, f, dry_run);
        out.push_back(fa);
      }
    }
  }
  return out;
}

// When a build dir was last built: the newest mtime of the dir, its profile
// dirs, the files directly in them (a build rewrites the uplifted outputs
// and their .d files) and their deps/, build/ and .fingerprint/ dirs (a build
// adds and removes entries there).
Clock::time_point last_built(const stdfs::path& dir) {
  Clock::time_point newest{};
  auto note = [&](const stdfs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return;
    auto t = Clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
    if (t > newest) newest = t;
  };
  note(dir);
  std::error_code ec;
  for (auto it = stdfs::directory_iterator(dir, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
    note(it->path());
    if (!it->is_directory() || it->is_symlink()) continue;
    std::error_code ec2;
    for (auto jt = stdfs::directory_iterator(it->path(), ec2); !ec2 && jt != stdfs::directory_iterator();
         jt.increment(ec2))
      if (!jt->is_directory() || jt->path().filename() == "deps" || jt->path().filename() == "build" ||
          jt->path().filename() == ".fingerprint")
        note(jt->path());
  }
  return newest;
}

std::string age_text(Clock::duration d) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(d).count();
  return h >= 48 ? std::to_string(h / 24) + " days" : std::to_string(h) + " hours";
}

struct TargetAction : Action {
  std::string worktree;
  int64_t age_s = 0;
};

// The build dirs of the repository's linked worktrees not built for `older`:
// never the main worktree's, never one under a live view or whose build lock
// is held.
std::optional<CliError> collect_targets(const GcArgs& args, std::chrono::seconds older,
                                        std::vector<TargetAction>& out) {
  std::vector<stdfs::path> trees;
  std::vector<ProjectDir> all;
  if (auto e = repository_artifact_dirs(args.common.config_file,
                                        "--targets works on the worktrees of the current dir's repository", trees, all))
    return e;

  // What each would free: measured beside every other worktree's build dir,
  // so that what it shares with them does not count.
  std::vector<stdfs::path> plain;
  for (const auto& d : all)
    if (!fs::mount_at(d.dir.string())) plain.push_back(d.dir);
  usage::Usage u = usage::measure(plain, std::max(2u, std::thread::hardware_concurrency()));
  auto own_of = [&](const stdfs::path& dir) -> uint64_t {
    for (const auto& d : u.dirs)
      if (d.dir == dir) return d.own();
    return 0;
  };

  auto now = Clock::now();
  for (const auto& d : all) {
    TargetAction a;
    a.what = d.dir.string();
    a.worktree = d.project.string();
    a.age_s = std::chrono::duration_cast<std::chrono::seconds>(now - last_built(d.dir)).count();
    if (d.project == trees.front()) {
      a.why = "the main worktree's: never removed";
    } else if (fs::mount_at(d.dir.string())) {
      a.why = "a live seedfs view";
    } else if (std::chrono::seconds(a.age_s) < older) {
      a.why = "built " + age_text(std::chrono::seconds(a.age_s)) + " ago";
    } else {
      std::error_code ec;
      sys::UniqueFd fd = sys::open_dir(AT_FDCWD, d.dir.c_str(), ec);
      if (auto lock = fd ? seeding::held_build_lock(fd.get()) : std::nullopt) {
        a.why = "being built (" + *lock + " is held)";
      } else {
        a.why = "not built for " + age_text(std::chrono::seconds(a.age_s));
        a.chosen = true;
        a.bytes = own_of(d.dir);
        if (!args.dry_run) {
          stdfs::remove_all(d.dir, ec);
          if (ec) a.error = sys::describe(d.dir.string(), ec);
          a.removed = !ec;
        }
      }
    }
    out.push_back(std::move(a));
  }
  return std::nullopt;
}

std::optional<std::chrono::seconds> parse_age(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t used = 0;
  double n = 0;
  try {
    n = std::stod(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = s.substr(used);
  double mult = unit == "w" ? 604800 : unit == "d" ? 86400 : unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : -1;
  if (mult < 0 || n < 0) return std::nullopt;
  return std::chrono::seconds(static_cast<int64_t>(n * mult));
}

}  // namespace

int cmd_gc(const GcArgs& args) {
  auto older = parse_age(args.older_than);
  if (!older) return spdlog::error("--older-than {}: not an age (e.g. 14d, 12h, 2w)", args.older_than), kUsage;
  std::vector<TargetAction> targets;
  if (args.targets)
    if (auto e = collect_targets(args, *older, targets)) return spdlog::error("{}", e->message), e->code;
  // After the targets, so that the state of a build dir just removed goes too.
  std::vector<Action> state = collect_state(args.dry_run);

  uint64_t freed = 0;
  bool failed = false;
  auto count = [&](const Action& a) {
    if (a.removed || (a.chosen && args.dry_run)) freed += a.bytes;
    failed |= !a.error.empty();
  };
  for (const auto& a : state) count(a);
  for (const auto& a : targets) count(a);

  if (args.common.json) {
    toml::array st, tg;
    for (const auto& a : state) {
      toml::table t{{"path", a.what}, {"why", a.why}, {"removed", a.removed}, {"chosen", a.chosen},
                    {"bytes", int64_t(a.bytes)}};
      if (!a.error.empty()) t.insert("error", a.error);
      st.push_back(std::move(t));
    }
    for (const auto& a : targets) {
      toml::table t{{"dir", a.what},          {"worktree", a.worktree},   {"why", a.why},
                    {"removed", a.removed},   {"chosen", a.chosen},       {"own", int64_t(a.bytes)},
                    {"last_built_s_ago", a.age_s}};
      if (!a.error.empty()) t.insert("error", a.error);
      tg.push_back(std::move(t));
    }
    toml::table out{{"dry_run", args.dry_run}, {"state", std::move(st)}, {"freed", int64_t(freed)}};
    if (args.targets) out.insert("targets", std::move(tg));
    std::cout << to_json(out) << "\n";
    return failed ? kFailed : kOk;
  }

  const char* verb = args.dry_run ? "would remove" : "removed";
  size_t n_state = 0;
  for (const auto& a : state) {
    if (!a.error.empty()) std::cout << "error: " << a.error << "\n";
    if (!a.chosen || !a.error.empty()) continue;
    ++n_state;
    std::cout << verb << " " << a.what << " (" << a.why << "): " << bytes(a.bytes) << "\n";
  }
  for (const auto& a : targets) {
    if (a.chosen && a.error.empty()) {
      std::cout << verb << " " << a.what << " (" << a.why << "): frees " << bytes(a.bytes) << "\n";
    } else if (!a.error.empty()) {
      std::cout << "error: " << a.error << "\n";
    } else {
      std::cout << "kept " << a.what << " (" << a.why << ")\n";
    }
  }
  size_t unknown = 0;
  for (const auto& a : state) unknown += !a.chosen && a.why.find("no record") != std::string::npos;
  if (unknown)
    std::cout << "kept " << unknown << " state dirs in " << state_base().string()
              << " with no record of their workspace (made by a seedfs before 0.2)\n";
  std::cout << (args.dry_run ? "would free " : "freed ") << bytes(freed)
            << (n_state == 0 && targets.empty() ? " (nothing to remove)" : "") << "\n";
  return failed ? kFailed : kOk;
}

}  // namespace seedfs::cli

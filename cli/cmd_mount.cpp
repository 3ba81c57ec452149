// `seedfs mount <root> <ws>`: check everything, start the daemon, return once
// the view is live.
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "cli/commands.hpp"
#include "cli/control.hpp"
#include "cli/daemon.hpp"
#include "cli/donor.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "cli/sources.hpp"
#include "cli/state.hpp"
#include "cli/t0.hpp"
#include "fs/mount.hpp"

namespace seedfs::cli {
namespace {

// The error of an artifact whose materialization failed, in a daemon's status;
// empty when none did.
std::string failed_error(const toml::table& status) {
  if (const toml::array* arts = status["artifacts"].as_array())
    for (const auto& node : *arts)
      if (const toml::table* a = node.as_table(); a && (*a)["phase"].value_or(std::string()) == "failed")
        return (*a)["error"].value_or(std::string("(no error recorded)"));
  return {};
}

// Whether process `pid` runs (a zombie that no one reaps yet does not).
bool running(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

// A live mount whose materialization failed (no space left, an unreadable root
// entry): its daemon only serves the view until `seedfs unmount`, so a
// `seedfs mount` once the cause is fixed must not answer "already mounted".
// It stops that daemon as `seedfs unmount` does and waits for it to exit
// (its socket, pid file and last status must not outlive the new daemon's
// start), so that this mount resumes where it failed.
std::optional<CliError> stop_failed(const ArtifactDirs& a, const StatePaths& state, const toml::table& status,
                                    const std::string& error) {
  std::cout << "materializing " << a.ws_dir.string() << " had failed (" << error
            << "); stopping that mount to resume it" << std::endl;
  std::error_code ec;
  if (!control_request(state.socket.string(), "unmount", ec))
    return CliError{kFailed, "cannot stop the failed mount at " + a.ws_dir.string() + ": " + ec.message()};
  auto pid = static_cast<pid_t>(status["pid"].value_or(int64_t{0}));
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (running(pid) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (running(pid))
    return CliError{kFailed, "the failed mount's daemon (" + std::to_string(pid) +
                                 ") still serves files open through it (unmounted lazily): close them, then "
                                 "run `seedfs mount` again"};
  return std::nullopt;
}

// What is at the artifact's mount point already: nothing (nullopt), our live
// mount (same root: fine; one whose materialization failed is stopped, to
// resume), a dead one (cleared here), or something else.
std::optional<CliError> check_mount_point(const ArtifactDirs& a, const Projects& p,
                                          const StatePaths& state, bool& already) {
  auto m = fs::mount_at(a.ws_dir.string());
  if (!m) return std::nullopt;
  if (m->fstype != "fuse.seedfs")
    return CliError{kBadInput, a.ws_dir.string() + " is already a mount point (" + m->fstype +
                                   "): unmount it first"};
  std::error_code ec;
  if (auto reply = control_request(state.socket.string(), "status", ec)) {
    toml::table t;
    try {
      t = toml::parse(*reply);
    } catch (const toml::parse_error&) {
    }
    std::string root = t["root"].value_or(std::string());
    if (root == p.root.string()) {
      std::string error = failed_error(t);
      if (error.empty()) {
        already = true;
        return std::nullopt;
      }
      return stop_failed(a, state, t, error);
    }
    return CliError{kBadInput, a.ws_dir.string() + " is mounted by seedfs from another root (" +
                                   root + "): `seedfs unmount " + p.ws.string() + "` first"};
  }
  // A seedfs mount with no daemon answering: left by a crash.
  if (auto ec2 = fs::detach_mount(a.ws_dir.string()))
    return CliError{kFailed, "cannot clear the dead mount at " + a.ws_dir.string() + ": " + ec2.message()};
  spdlog::warn("cleared a dead mount at {} (its daemon was gone); resuming where it stopped",
               a.ws_dir.string());
  return std::nullopt;
}

void print_mounted(const MountArgs& args, const DaemonPlan& plan, pid_t pid) {
  if (args.common.json) {
    toml::array mounts;
    for (size_t i = 0; i < plan.artifacts.size(); ++i) {
      const auto& a = plan.artifacts[i];
      mounts.push_back(toml::table{{"artifact", a.artifact->name},
                                   {"mountpoint", a.ws_dir.string()},
                                   {"root", a.root_dir.string()},
                                   {"dirs_from", a.found_by},
                                   {"t0", plan.t0[i].t0.to_string()},
                                   {"t0_ns", plan.t0[i].t0.ns()},
                                   {"t0_resumed", plan.t0[i].resumed}});
    }
    std::cout << to_json(toml::table{{"ok", true},
                                     {"workspace", plan.projects.ws.string()},
                                     {"pid", static_cast<int64_t>(pid)},
                                     {"log", plan.state.log.string()},
                                     {"socket", plan.state.socket.string()},
                                     {"sources", sources_table(plan.sources)},
                                     {"donor", plan.donor ? *plan.donor : toml::table{}},
                                     {"keep_mounted", plan.keep_mounted},
                                     {"mounts", std::move(mounts)}})
              << std::endl;
    return;
  }
  if (plan.donor) std::cout << donor_line(*plan.donor) << "\n";
  std::cout << sources_line(plan.sources) << "\n";
  for (size_t i = 0; i < plan.artifacts.size(); ++i) {
    const auto& a = plan.artifacts[i];
    std::cout << "mounted " << a.artifact->name << ": " << a.ws_dir.string() << " shows "
              << a.root_dir.string() << " as it was at " << plan.t0[i].t0.to_string()
              << (plan.t0[i].resumed ? " (T0 of this workspace's first seeding)" : "")
              << (plan.keep_mounted ? "; kept mounted until `seedfs unmount` (nothing is materialized ahead)\n"
                                    : "; materializing in the background\n");
  }
  std::cout << "  follow:  seedfs status " << plan.projects.ws.string() << " --watch\n"
            << "  block:   seedfs wait " << plan.projects.ws.string() << "\n"
            << "  log:     " << plan.state.log.string() << std::endl;
}

// Forks the daemon and waits for its word through a pipe.
int start_background(const MountArgs& args, const DaemonPlan& plan) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return spdlog::error("pipe: {}", std::strerror(errno)), kFailed;
  std::cout.flush();
  pid_t pid = ::fork();
  if (pid < 0) return spdlog::error("fork: {}", std::strerror(errno)), kFailed;
  if (pid == 0) {
    ::close(pipefd[0]);
    ::setsid();
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = ::open(plan.state.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (null >= 0) ::dup2(null, 0);
    if (log >= 0) {
      ::dup2(log, 1);
      ::dup2(log, 2);
    }
    int ready_fd = pipefd[1];
    int rc = run_daemon(plan, [&](int code, const std::string& msg) {
      std::string line = code == kOk ? "ok\n" : "error " + std::to_string(code) + " " + msg + "\n";
      [[maybe_unused]] auto n = ::write(ready_fd, line.data(), line.size());
      ::close(ready_fd);
      ready_fd = -1;
    });
    if (ready_fd >= 0) ::close(ready_fd);
    spdlog::shutdown();
    ::_exit(rc);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  if (msg.rfind("ok", 0) == 0) {
    print_mounted(args, plan, pid);
    return kOk;
  }
  if (msg.rfind("error ", 0) == 0) {
    int code = std::atoi(msg.c_str() + 6);
    size_t sp = msg.find(' ', 6);
    std::string why = sp == std::string::npos ? msg : msg.substr(sp + 1);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    ::waitpid(pid, nullptr, 0);
    spdlog::error("{} (log: {})", why, plan.state.log.string());
    return code ? code : kFailed;
  }
  ::waitpid(pid, nullptr, 0);
  spdlog::error("the daemon exited before the view was live; see {}", plan.state.log.string());
  return kFailed;
}

// --keep-mounted, else as the workspace's last mount (a resume after a crash
// must not start materializing what was meant to stay a view), else the config.
// Remembered for the next mount.
bool keep_mounted(const MountArgs& args, const config::Config& cfg, const StatePaths& state) {
  std::error_code ec;
  bool before = std::filesystem::exists(state.kept_marker, ec);
  bool keep = args.keep_mounted.value_or(before || cfg.keep_mounted);
  if (keep && !args.keep_mounted && before && !cfg.keep_mounted && !args.common.json)
    std::cout << "keeping the view mounted, as the previous mount of this workspace did "
                 "(--no-keep-mounted materializes it)\n";
  if (keep && !before)
    std::ofstream(state.kept_marker) << "the last `seedfs mount` of this workspace was --keep-mounted\n";
  if (!keep && before) std::filesystem::remove(state.kept_marker, ec);
  return keep;
}

}  // namespace

int cmd_mount(const MountArgs& args) {
  Projects projects;
  if (auto e = find_projects(args.root, args.ws, projects)) {
    if (args.from_hook) return kOk;  // e.g. `git clone`: not a new linked worktree, nothing to do
    return spdlog::error("{}", e->message), e->code;
  }
  config::Config cfg;
  if (auto e = load_config(args.common.config_file, projects.ws, projects.root, cfg))
    return spdlog::error("{}", e->message), e->code;
  if (args.no_hardlinks || !cfg.hardlinks) cfg.drop_hardlinks();
  std::optional<DonorChoice> donor;
  if (!args.root)
    if (auto e = choose_donor(cfg, projects, donor)) return spdlog::error("{}", e->message), e->code;
  auto index = read_sources(projects, cfg.sync_mtimes && !args.no_sync_mtimes, false);
  std::vector<ArtifactDirs> dirs;
  if (auto e = select_artifacts(cfg, projects, args.artifact, dirs)) return spdlog::error("{}", e->message), e->code;
  if (auto why = fs::fuse_unavailable()) return spdlog::error("cannot mount: {}", *why), kNoFuse;
  std::error_code ec;
  StatePaths state = state_paths(projects.ws, ec);
  if (ec) return spdlog::error("state dir: {}", ec.message()), kFailed;

  bool already = false;
  for (const auto& d : dirs)
    if (auto e = check_mount_point(d, projects, state, already)) return spdlog::error("{}", e->message), e->code;
  if (already) {
    std::cout << projects.ws.string() << " is already mounted by seedfs from " << projects.root.string()
              << "; follow it with: seedfs status " << projects.ws.string() << std::endl;
    return kOk;
  }
  std::filesystem::create_directories(state.state_dir, ec);
  if (ec) return spdlog::error("cannot create {}: {}", state.state_dir.string(), ec.message()), kFailed;
  // T0 before the sources are touched (cli/t0.hpp).
  std::vector<ArtifactT0> t0;
  if (auto e = establish_t0(dirs, state, projects.ws, args.force, true, t0)) return spdlog::error("{}", e->message), e->code;

  // Before the view is live: a build started the moment `mount` returns must
  // already see the synced mtimes.
  git::MtimeSync sources = prepare_sources(std::move(index), dirs, false);
  DaemonPlan plan{projects, cfg, dirs, t0, state, sources, donor ? std::optional(donor->table()) : std::nullopt};
  plan.keep_mounted = keep_mounted(args, cfg, state);
  plan.workers = args.workers ? *args.workers : cfg.effective_workers();
  plan.throttle = std::chrono::microseconds(args.throttle_us);
  plan.pace = args.pace.resolve(cfg, true);
  plan.passthrough = !args.no_passthrough;
  plan.foreground = args.foreground;
  if (!args.foreground) return start_background(args, plan);
  return run_daemon(plan, [&](int code, const std::string& msg) {
    if (code == kOk) print_mounted(args, plan, ::getpid());
    else spdlog::error("{}", msg);
  });
}

}  // namespace seedfs::cli

#include "cli/daemon.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "cli/control.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"
#include "cli/sources.hpp"
#include "fs/artifact_mount.hpp"

namespace seedfs::cli {
namespace {

using fs::ArtifactMount;
using fs::Phase;

// The daemon runs with umask 0 (see run_daemon): its own files get explicit modes.
// Written whole or not at all (a temp file renamed over it): clients read it at any time.
void write_private(const std::filesystem::path& p, const std::string& text) {
  std::error_code ec;
  std::filesystem::path tmp = p.string() + ".tmp";
  sys::UniqueFd fd = sys::open_at(AT_FDCWD, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600, ec);
  if (!fd) return spdlog::warn("cannot write {}: {}", p.string(), ec.message());
  bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0) {
    spdlog::warn("cannot write {}: {}", p.string(), std::strerror(errno));
    ::unlink(tmp.c_str());
  }
}

// Settled: nothing more will happen without the user (done, failed, or
// detached lazily and only serving files still open).
bool settled(const fs::MountStatus& s) {
  return s.phase == Phase::done || s.phase == Phase::failed || s.phase == Phase::stopped ||
         s.phase == Phase::kept || (s.phase == Phase::draining && s.lazy);
}

toml::table artifact_table(const fs::MountStatus& s) {
  toml::table t = stats_table(s.stats);
  double rate = s.stats.elapsed > 0 ? s.stats.files_done / s.stats.elapsed : 0;
  uint64_t left = s.stats.files_found > s.stats.files_done ? s.stats.files_found - s.stats.files_done : 0;
  t.insert("name", s.artifact);
  t.insert("mountpoint", s.mountpoint);
  t.insert("root", s.root);
  t.insert("phase", fs::to_string(s.phase));
  t.insert("files_total", static_cast<int64_t>(s.stats.files_found));
  t.insert("eta_seconds", s.stats.scan_done && rate > 0 ? left / rate : -1.0);
  t.insert_or_assign("changed_after_t0", static_cast<int64_t>(s.changed_after_t0));  // the view's too
  t.insert("t0", s.t0.to_string());
  t.insert("t0_ns", s.t0.ns());
  t.insert("copy_ups", static_cast<int64_t>(s.copy_ups));
  t.insert("deletions", static_cast<int64_t>(s.deletions));
  t.insert("materialized_ahead", static_cast<int64_t>(s.materialized_ahead));
  t.insert("open_handles", static_cast<int64_t>(s.open_handles));
  t.insert("passthrough", s.passthrough);
  t.insert("daemon_reads", static_cast<int64_t>(s.daemon_reads));
  t.insert("lazy_unmount", s.lazy);
  t.insert("keep_mounted", s.keep_mounted);
  t.insert("pace", pace_table(s.pace, s.stats));
  t.insert("errors", static_cast<int64_t>(s.error.empty() ? 0 : 1));
  t.insert("error", s.error);
  return t;
}

class Daemon {
 public:
  explicit Daemon(const DaemonPlan& plan) : plan_(plan), started_(std::time(nullptr)) {}

  int run(const ReadyFn& ready) {
    // A previous daemon's last word must not answer for this one (after a
    // kill -9 of this one, `seedfs wait` should find the dead mount instead).
    ::unlink(plan_.state.last_status.c_str());
    for (size_t i = 0; i < plan_.artifacts.size(); ++i) {
      const auto& a = plan_.artifacts[i];
      fs::MountSettings s;
      s.t0 = plan_.t0.at(i).t0;
      s.artifact = *a.artifact;
      s.root_dir = a.root_dir;
      s.ws_dir = a.ws_dir;
      s.journal_file = plan_.state.journal(a.artifact->name);
      s.workers = plan_.workers;
      s.throttle = plan_.throttle;
      s.pace = plan_.pace;
      s.passthrough = plan_.passthrough;
      s.keep_mounted = plan_.keep_mounted;
      s.on_change = [this] { changed(); };
      auto m = std::make_unique<ArtifactMount>(s);
      std::string why;
      if (auto ec = m->mount(why)) {
        spdlog::error("{}: {}", why, ec.message());
        ready(kFailed, why + ": " + ec.message());
        return kFailed;  // the mounts made so far unmount as they are destroyed
      }
      spdlog::info("mounted {}: {} shows {} as it was at T0 = {}{}", a.artifact->name, a.ws_dir.string(),
                   a.root_dir.string(), s.t0.to_string(),
                   plan_.t0[i].resumed ? " (the T0 of this workspace's first seeding)" : "");
      mounts_.push_back(std::move(m));
    }
    if (auto ec = control_.listen(plan_.state.socket.string())) {
      std::string why = "control socket " + plan_.state.socket.string() + ": " + ec.message();
      spdlog::error("{}", why);
      ready(kFailed, why);
      return kFailed;
    }
    control_.start([this](const std::string& r) { return handle(r); });
    write_pid_file();
    ready(kOk, "");
    for (auto& m : mounts_) m->start();

    int rc = supervise();
    {
      std::lock_guard lock(mu_);
      shutting_down_ = true;
    }
    // The last word, for `seedfs wait` and `status` asked after the daemon is
    // gone: written before the socket closes, so that a client that finds no
    // daemon finds it.
    {
      std::ostringstream out;
      out << toml::toml_formatter{status()} << "\n";
      write_private(plan_.state.last_status, out.str());
    }
    cv_.notify_all();
    control_.stop();
    ::unlink(plan_.state.pid_file.c_str());
    spdlog::info("daemon exits ({})", rc == kOk ? "all done" : "not complete");
    return rc;
  }

 private:
  // Logs progress, handles signals, and returns once every mount is gone.
  // Sleeps until a signal, a change in a mount, or the next progress line.
  int supervise() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
    sys::UniqueFd signals(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) spdlog::warn("signalfd: {}: SIGTERM will not unmount", std::strerror(errno));
    using Clock = std::chrono::steady_clock;
    auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(plan_.config.progress_interval));
    auto next_progress = Clock::now() + interval;
    for (;;) {
      bool all_finished = true;
      for (auto& m : mounts_) all_finished &= m->finished();
      if (all_finished) break;
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_progress - Clock::now());
      pollfd fds[2] = {{signals.get(), POLLIN, 0}, {changed_.get(), POLLIN, 0}};
      ::poll(fds, 2, static_cast<int>(std::max<int64_t>(wait.count(), 0)));
      signalfd_siginfo info{};
      if (::read(signals.get(), &info, sizeof info) == sizeof info) {
        spdlog::info("signal {}: unmounting; a later `seedfs mount` resumes", info.ssi_signo);
        for (auto& m : mounts_) m->stop();
      }
      uint64_t count = 0;
      [[maybe_unused]] auto n = ::read(changed_.get(), &count, sizeof count);
      if (auto now = Clock::now(); now >= next_progress) {
        next_progress = std::max(next_progress + interval, now);
        for (auto& m : mounts_) {
          auto s = m->status();
          if (s.phase == Phase::scanning || s.phase == Phase::materializing)
            spdlog::info("{}", progress_line(s.artifact, s.stats));
        }
      }
    }
    bool ok = true;
    for (auto& m : mounts_) {
      auto s = m->status();  // a kept view ends with `seedfs unmount`: that is its success
      ok &= s.phase == Phase::done || (s.keep_mounted && s.phase == Phase::stopped);
    }
    return ok ? kOk : kFailed;
  }

  // A mount changed phase (from its own thread): `wait` requests look again,
  // and the supervisor checks whether everything has finished.
  void changed() {
    { std::lock_guard lock(mu_); }  // a `wait` between its check and its sleep is not missed
    cv_.notify_all();
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(changed_.get(), &one, sizeof one);
  }

  std::string handle(const std::string& request) {
    if (request == "wait") {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return shutting_down_ || all(settled); });
    } else if (request == "unmount") {
      spdlog::info("unmount requested");
      for (auto& m : mounts_) m->stop();
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return shutting_down_ || all([](const fs::MountStatus& s) {
                 return s.phase == Phase::done || s.phase == Phase::stopped || s.lazy;
               });
      });
    } else if (request != "status") {
      return "error = \"unknown request '" + request + "'\"\n";
    }
    std::ostringstream out;
    out << toml::toml_formatter{status()} << "\n";
    return out.str();
  }

  template <class Pred>
  bool all(Pred&& pred) {
    for (auto& m : mounts_)
      if (!pred(m->status())) return false;
    return true;
  }

  toml::table status() {
    toml::array arts;
    for (auto& m : mounts_) arts.push_back(artifact_table(m->status()));
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    toml::table t{{"workspace", plan_.projects.ws.string()},
                  {"root", plan_.projects.root.string()},
                  {"pid", static_cast<int64_t>(::getpid())},
                  {"peak_rss_kb", static_cast<int64_t>(ru.ru_maxrss)},
                  {"log", plan_.state.log.string()},
                  {"started", static_cast<int64_t>(started_)},
                  {"sources", sources_table(plan_.sources)},
                  {"artifacts", std::move(arts)}};
    if (plan_.donor) t.insert("donor", *plan_.donor);
    return t;
  }

  void write_pid_file() {
    write_private(plan_.state.pid_file, std::to_string(::getpid()) + "\n" + plan_.projects.ws.string() +
                                           "\n" + plan_.projects.root.string() + "\n");
  }

  const DaemonPlan& plan_;
  std::time_t started_;
  // Before the mounts: their threads call changed() until they are destroyed.
  std::mutex mu_;
  std::condition_variable cv_;
  bool shutting_down_ = false;
  sys::UniqueFd changed_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::vector<std::unique_ptr<ArtifactMount>> mounts_;
  ControlServer control_;
};

}  // namespace

int run_daemon(const DaemonPlan& plan, const ReadyFn& ready) {
  // Modes given to the view arrive masked already; the daemon must not mask them again.
  ::umask(0);
  // Signals are taken by the supervising thread only (a signalfd): block them
  // before any thread starts, so that every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  sys::raise_fd_limit();
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  spdlog::info("seedfs daemon {} for {} (root {})", ::getpid(), plan.projects.ws.string(),
               plan.projects.root.string());
  spdlog::info("{}", sources_line(plan.sources));
  Daemon d(plan);
  return d.run(ready);
}

}  // namespace seedfs::cli

// `seedfs status [ws]`, `seedfs wait ws`, `seedfs unmount ws`: talk to the
// daemon of a workspace through its control socket.
#include <dirent.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/control.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "cli/donor.hpp"
#include "cli/sources.hpp"
#include "cli/state.hpp"
#include "fs/mount.hpp"

namespace seedfs::cli {
namespace {

std::optional<toml::table> parse(const std::string& reply) {
  try {
    return toml::parse(reply);
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

// The socket of the workspace `ws` (a project dir; its artifact dir is accepted too).
std::optional<std::filesystem::path> socket_of(const std::filesystem::path& ws) {
  std::error_code ec;
  for (auto p : {ws, ws.parent_path()}) {
    auto canon = std::filesystem::weakly_canonical(absolute_path(p), ec);
    StatePaths st = state_paths(canon, ec);
    if (!ec && std::filesystem::exists(st.socket)) return st.socket;
  }
  return std::nullopt;
}

// Asks the daemon of `ws`; nullopt (with a message printed) when there is none.
std::optional<toml::table> ask(const std::filesystem::path& ws, const std::string& request) {
  auto sock = socket_of(ws);
  std::error_code ec;
  if (sock)
    if (auto reply = control_request(sock->string(), request, ec))
      if (auto t = parse(*reply)) return t;
  return std::nullopt;
}

// What the last daemon of `ws` said as it exited, if it did.
std::optional<toml::table> last_status(const std::filesystem::path& ws) {
  std::error_code ec;
  for (auto p : {ws, ws.parent_path()}) {
    StatePaths st = state_paths(std::filesystem::weakly_canonical(absolute_path(p), ec), ec);
    if (ec || !std::filesystem::exists(st.last_status)) continue;
    try {
      return toml::parse_file(st.last_status.string());
    } catch (const toml::parse_error&) {
    }
  }
  return std::nullopt;
}

// Explains why `ws` has no live daemon, clearing a dead mount when `clear`.
int not_mounted(const std::filesystem::path& ws, bool clear) {
  // Without a daemon we do not know the artifact paths: look for dead seedfs mounts below ws.
  auto canon = absolute_path(ws);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(canon, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    auto m = fs::mount_at(it->path().string());
    if (!m || m->fstype != "fuse.seedfs") continue;
    if (clear && !fs::detach_mount(it->path().string())) {
      std::cout << "cleared a dead seedfs mount at " << it->path().string()
                << " (its daemon was gone); `seedfs mount` resumes the materialization\n";
      return kOk;
    }
    spdlog::error("{} is a dead seedfs mount (its daemon was gone): run `seedfs mount <root> {}` "
                  "to clear it and resume, or `seedfs unmount {}`",
                  it->path().string(), canon.string(), canon.string());
    return kNotMounted;
  }
  spdlog::error("no seedfs mount for {} (`seedfs status` lists the live ones)", canon.string());
  return kNotMounted;
}

std::string bar(double fraction, int width) {
  int full = static_cast<int>(fraction * width + 0.5);
  return "[" + std::string(full, '#') + std::string(width - full, '.') + "]";
}

// T0, and what the root changed after it (left for cargo to rebuild here).
void print_t0(const toml::table& a) {
  std::cout << "    the root as it was at " << a["t0"].value_or(std::string("?")) << " (T0)";
  if (uint64_t changed = static_cast<uint64_t>(a["changed_after_t0"].value_or(int64_t{0})))
    std::cout << "; " << changed_line(changed) << " (names in the log)";
  std::cout << "\n";
}

void print_human(const toml::table& t, bool with_bar) {
  std::cout << t["workspace"].value_or(std::string("?")) << "  (daemon " << t["pid"].value_or(int64_t{0})
            << ", log " << t["log"].value_or(std::string("?")) << ")\n";
  if (const toml::table* d = t["donor"].as_table()) std::cout << "  " << donor_line(*d) << "\n";
  if (const toml::table* src = t["sources"].as_table()) std::cout << "  " << sources_line(sources_from(*src)) << "\n";
  if (const toml::array* arts = t["artifacts"].as_array()) {
    for (const auto& node : *arts) {
      const toml::table& a = *node.as_table();
      auto i = [&](const char* k) { return static_cast<uint64_t>(a[k].value_or(int64_t{0})); };
      std::string phase = a["phase"].value_or(std::string("?"));
      uint64_t done = i("files_done"), total = i("files_total");
      bool scan_done = a["scan_done"].value_or(false);
      double rate = a["files_per_second"].value_or(0.0), eta = a["eta_seconds"].value_or(-1.0);
      if (a["keep_mounted"].value_or(false) && phase != "done") {
        std::cout << "  " << a["name"].value_or(std::string("?")) << "  " << a["mountpoint"].value_or(std::string())
                  << " <- " << a["root"].value_or(std::string()) << "\n    " << phase
                  << (phase == "kept" ? ": kept mounted until `seedfs unmount`, nothing materialized ahead" : "")
                  << "\n    " << i("materialized_ahead") << " paths copied in to be changed, " << i("copy_ups")
                  << " copy-ups, " << i("deletions") << " deletions recorded\n";
        print_t0(a);
        continue;
      }
      std::cout << "  " << a["name"].value_or(std::string("?")) << "  " << a["mountpoint"].value_or(std::string())
                << " <- " << a["root"].value_or(std::string()) << "\n    " << phase << ": " << count(done)
                << "/" << count(total) << (scan_done ? "" : "+") << " files";
      if (total && scan_done) std::cout << " (" << (100 * done / total) << "%)";
      if (rate > 0 && phase != "done") std::cout << ", " << cli::rate(rate) << " files/s";
      if (eta >= 0 && phase != "done") std::cout << ", ETA " << seconds(eta);
      if (with_bar && total) std::cout << "  " << bar(static_cast<double>(done) / total, 30);
      std::cout << "\n    linked " << count(i("linked")) << ", reflinked " << count(i("reflinked")) << ", copied "
                << count(i("copied")) << " (" << bytes(i("bytes")) << "), " << i("copy_ups") << " copy-ups, "
                << i("deletions") << " deletions recorded, " << i("materialized_ahead")
                << " materialized ahead by the view, " << i("errors") << " errors";
      if (const toml::table* pt = a["pace"].as_table()) {
        config::Pace pace;
        pace.priority = config::parse_priority((*pt)["priority"].value_or(std::string())).value_or(pace.priority);
        pace.files_per_s = (*pt)["files_per_second_limit"].value_or(0.0);
        pace.bytes_per_s = (*pt)["bytes_per_second_limit"].value_or(0.0);
        double waited = (*pt)["waited_seconds"].value_or(0.0);
        double yielded = (*pt)["yielded_seconds"].value_or(0.0);
        if (std::string line = pace_line(pace); !line.empty()) {
          std::cout << "\n    pace: " << line;
          if (pace.limited()) std::cout << "; waited " << seconds(waited) << " (thread time) for the limits";
          if (yielded > 0) std::cout << "; yielded " << seconds(yielded) << " (thread time) to the view";
        }
      }
      if (a["lazy_unmount"].value_or(false))
        std::cout << "\n    unmounted lazily: serving " << i("open_handles") << " open files until released";
      std::string err = a["error"].value_or(std::string());
      if (!err.empty()) std::cout << "\n    error: " << err;
      std::cout << "\n";
      print_t0(a);
    }
  }
}

std::vector<toml::table> all_mounts() {
  std::vector<toml::table> out;
  std::error_code ec;
  auto dir = runtime_dir(ec);
  if (ec) return out;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->path().extension() != ".sock") continue;
    std::error_code rec;
    auto reply = control_request(it->path().string(), "status", rec);
    if (!reply) {
      if (rec.value() == ECONNREFUSED) std::filesystem::remove(it->path(), rec);  // stale
      continue;
    }
    if (auto t = parse(*reply)) out.push_back(std::move(*t));
  }
  return out;
}

bool all_settled(const toml::table& t) {
  if (const toml::array* arts = t["artifacts"].as_array())
    for (const auto& node : *arts) {
      std::string phase = (*node.as_table())["phase"].value_or(std::string());
      if (phase == "scanning" || phase == "materializing") return false;
    }
  return true;
}

// `seedfs wait`: 0 only when every artifact is done (or detached lazily with
// everything materialized); a failed or stopped one is not done.
int exit_code_of(const toml::table& t) {
  if (const toml::array* arts = t["artifacts"].as_array())
    for (const auto& node : *arts) {
      const toml::table& a = *node.as_table();
      std::string phase = a["phase"].value_or(std::string());
      if (phase == "failed") {
        spdlog::error("materializing {} failed; the view stays, serving what it can, until `seedfs unmount`. "
                      "Once the cause is fixed, `seedfs mount` resumes it",
                      a["mountpoint"].value_or(std::string()));
        return kFailed;
      }
      if (phase == "kept") {
        spdlog::info("{} is kept mounted (--keep-mounted): the view is complete, and stays until "
                     "`seedfs unmount`", a["mountpoint"].value_or(std::string()));
        continue;
      }
      if (phase == "stopped" && a["keep_mounted"].value_or(false)) continue;  // its normal end
      if (phase == "stopped") {
        spdlog::error("{} was stopped before it was done (`seedfs unmount` or a signal): "
                      "`seedfs mount` resumes it", a["mountpoint"].value_or(std::string()));
        return kFailed;
      }
    }
  return kOk;
}

}  // namespace

int cmd_status(const StatusArgs& args) {
  bool tty = ::isatty(STDOUT_FILENO);
  for (bool first = true;; first = false) {
    std::vector<toml::table> mounts;
    if (args.ws) {
      auto t = ask(*args.ws, "status");
      if (!t) {
        if (!first) return kOk;  // it finished while we watched
        return not_mounted(*args.ws, false);
      }
      mounts.push_back(std::move(*t));
    } else {
      mounts = all_mounts();
    }
    if (args.common.json) {
      if (args.ws) std::cout << to_json(mounts.front()) << std::endl;
      else {
        toml::array arr;
        for (auto& m : mounts) arr.push_back(std::move(m));
        std::cout << to_json(toml::table{{"mounts", std::move(arr)}}) << std::endl;
      }
    } else {
      if (args.watch && tty && !first) std::cout << "\033[H\033[J";  // redraw in place
      if (mounts.empty()) std::cout << "no live seedfs mounts\n";
      for (const auto& m : mounts) print_human(m, args.watch && tty);
      std::cout.flush();
    }
    bool settled = true;
    for (const auto& m : mounts) settled &= all_settled(m);
    if (!args.watch || settled || mounts.empty()) return kOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 500 : 2000));
  }
}

int cmd_wait(const WorkspaceArgs& args) {
  std::filesystem::path ws = workspace_or_current(args.ws);
  auto t = ask(ws, "wait");
  if (!t) {
    // Finished before we asked? Then the mount is gone and the dir is plain.
    auto last = last_status(ws);
    if (!last || fs::mount_at(absolute_path(ws).string())) return not_mounted(ws, false);
    t = std::move(last);
    if (!args.common.json) std::cout << "(the daemon has exited; its last status:)\n";
  }
  if (args.common.json)
    std::cout << to_json(*t) << std::endl;
  else
    print_human(*t, false);
  return exit_code_of(*t);
}

int cmd_unmount(const WorkspaceArgs& args) {
  std::filesystem::path ws = workspace_or_current(args.ws);
  auto t = ask(ws, "unmount");
  if (!t) return not_mounted(ws, true);
  if (args.common.json)
    std::cout << to_json(*t) << std::endl;
  else {
    print_human(*t, false);
    bool kept = false;
    if (const toml::array* arts = (*t)["artifacts"].as_array())
      for (const auto& node : *arts) kept |= (*node.as_table())["keep_mounted"].value_or(false);
    if (kept)
      std::cout << "unmounted; the workspace dir holds only what was written through the view: "
                   "`seedfs mount` shows the root again (kept mounted), "
                   "`seedfs mount --no-keep-mounted` materializes the rest\n";
    else
      std::cout << "unmounted; `seedfs mount` resumes where this stopped\n";
  }
  return kOk;
}

}  // namespace seedfs::cli

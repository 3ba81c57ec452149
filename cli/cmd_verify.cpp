// `seedfs verify [<root>] [<ws>]`: which workspace files still share an inode
// with the root, and whether any of them is one that tools may rewrite in
// place (a fingerprint, a build-script output, a binary users strip): nothing
// the link rules name, nor another name of such a file. And whether a file
// seeded from the root was written there after T0 (seeding/instant.hpp): the
// root's newer build in a workspace whose sources are older (what an older
// seedfs did when the root was rebuilt while a worktree seeded).
#include <spdlog/spdlog.h>
#include <dirent.h>
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <set>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "cli/state.hpp"
#include "fs/mount.hpp"
#include "seeding/instant.hpp"

namespace seedfs::cli {
namespace {

struct Sharing {
  uint64_t files = 0;         // regular files in the workspace dir
  uint64_t shared = 0;        // of those, the root's inode at the same path
  uint64_t shared_bytes = 0;
  std::vector<std::string> unsafe;  // shared, but nothing tells that tools only replace them
  std::vector<std::string> all;     // every shared file (for --list)
  // Seeded from the root (its inode, or a copy with its size and mtime) and
  // written there after T0.
  std::vector<std::string> newer;
  std::string error;
};

// T0 of the workspace dir, and where it comes from.
struct T0Source {
  seeding::Instant t0;
  std::string from;  // "record", "workspace dir birth time", or "unknown"
};

T0Source t0_of(const ArtifactDirs& d, const StatePaths& state) {
  std::error_code ec;
  sys::UniqueFd ws = sys::open_dir(AT_FDCWD, d.ws_dir.c_str(), ec);
  if (!ws) return {{}, "unknown"};
  if (auto t0 = seeding::load_instant(state.t0_file(d.artifact->name), ws.get())) return {*t0, "record"};
  // Seeded before seedfs kept T0: the workspace dir was made when seeding began.
  struct statx sx {};
  if (!sys::statx_at(ws.get(), "", sx) && (sx.stx_mask & STATX_BTIME))
    return {seeding::Instant::at_ns(sx.stx_btime.tv_sec * 1000000000ll + sx.stx_btime.tv_nsec),
            "workspace dir birth time"};
  return {{}, "unknown"};
}

int64_t ns_of(const struct statx_timestamp& t) { return t.tv_sec * 1000000000ll + t.tv_nsec; }

struct WsFile {
  std::string rel;
  struct stat st;
};

// Every regular file below the open dir `dir`, walked by fds (a tree deeper
// than PATH_MAX is walked whole). Dirs this user may not read are passed over.
std::error_code regular_files(int dir, const std::string& prefix, std::vector<WsFile>& out, std::string& where) {
  std::error_code ec;
  sys::UniqueFd fd = sys::open_dir(dir, ".", ec);
  DIR* d = fd ? ::fdopendir(fd.get()) : nullptr;
  if (!d) return ec.value() == EACCES ? std::error_code{} : (where = prefix, ec ? ec : sys::last_error());
  fd.release();  // the DIR owns it now
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    WsFile f{prefix.empty() ? std::string(name) : prefix + "/" + std::string(name), {}};
    if (sys::lstat_at(::dirfd(d), e->d_name, f.st)) continue;  // gone meanwhile
    if (S_ISREG(f.st.st_mode)) {
      out.push_back(std::move(f));
    } else if (S_ISDIR(f.st.st_mode)) {
      sys::UniqueFd sub = sys::open_at(::dirfd(d), e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, ec);
      if (sub)
        if ((ec = regular_files(sub.get(), f.rel, out, where))) return ec;
    }
  }
  return {};
}

// A shared file is safe when the link rules name it, or when it is another
// name of a file they name: cargo makes target/<profile>/libfoo.rlib a
// hardlink of deps/libfoo-<hash>.rlib, and replaces both alike.
Sharing inspect(const ArtifactDirs& d, const seeding::Instant& t0) {
  Sharing s;
  std::vector<WsFile> files;
  std::error_code ec;
  sys::UniqueFd ws = sys::open_at(AT_FDCWD, d.ws_dir.c_str(), O_PATH | O_DIRECTORY, 0, ec);
  std::string where;
  if (!ws) return s.error = sys::describe(d.ws_dir.string(), ec), s;
  if ((ec = regular_files(ws.get(), "", files, where)))
    return s.error = sys::describe((d.ws_dir / where).string(), ec), s;
  std::set<std::pair<dev_t, ino_t>> by_the_rules;
  for (const auto& f : files)
    if (d.artifact->method_for(f.rel, f.st.st_mode) == config::Method::link)
      by_the_rules.insert({f.st.st_dev, f.st.st_ino});
  for (const auto& f : files) {
    ++s.files;
    struct statx rx {};
    if (sys::statx_at(AT_FDCWD, (d.root_dir / f.rel).c_str(), rx) || !S_ISREG(rx.stx_mode)) continue;
    struct stat r = sys::to_stat(rx);
    bool shared = r.st_dev == f.st.st_dev && r.st_ino == f.st.st_ino;
    bool copied = !shared && r.st_size == f.st.st_size && r.st_mtim.tv_sec == f.st.st_mtim.tv_sec &&
                  r.st_mtim.tv_nsec == f.st.st_mtim.tv_nsec;
    if (t0.set() && (shared || copied) &&
        (ns_of(rx.stx_mtime) >= t0.ns() || (shared && (rx.stx_mask & STATX_BTIME) && ns_of(rx.stx_btime) >= t0.ns())))
      s.newer.push_back(f.rel);
    if (!shared) continue;
    ++s.shared;
    s.shared_bytes += static_cast<uint64_t>(f.st.st_size);
    s.all.push_back(f.rel);
    if (!by_the_rules.count({f.st.st_dev, f.st.st_ino})) s.unsafe.push_back(f.rel);
  }
  return s;
}

}  // namespace

int cmd_verify(const VerifyArgs& args) {
  Projects projects;
  if (auto e = find_projects(args.root, args.ws, projects)) return spdlog::error("{}", e->message), e->code;
  config::Config cfg;
  if (auto e = load_config(args.common.config_file, projects.ws, projects.root, cfg))
    return spdlog::error("{}", e->message), e->code;
  std::vector<ArtifactDirs> dirs;
  if (auto e = select_artifacts(cfg, projects, args.artifact, dirs)) return spdlog::error("{}", e->message), e->code;
  for (const auto& d : dirs)
    if (auto m = fs::mount_at(d.ws_dir.string()); m && m->fstype == "fuse.seedfs")
      return spdlog::error("{} is a live seedfs view (while mounted, every write to a shared file is "
                           "copied up first): verify it after `seedfs wait {}`",
                           d.ws_dir.string(), projects.ws.string()),
             kBadInput;

  std::error_code state_ec;
  StatePaths state = state_paths(projects.ws, state_ec);
  int rc = kOk;
  toml::array results;
  for (const auto& d : dirs) {
    if (!stdfs::exists(d.ws_dir)) continue;
    T0Source t0 = t0_of(d, state);
    Sharing s = inspect(d, t0.t0);
    if (!s.error.empty()) {
      spdlog::error("verify {}: {}", d.artifact->name, s.error);
      return kFailed;
    }
    if (!s.unsafe.empty()) rc = kFailed;
    // --repair: a file removed is a unit cargo rebuilds here, from these sources.
    uint64_t repaired = 0;
    std::vector<std::string> not_removed;
    if (args.repair)
      for (const auto& p : s.newer) {
        if (sys::beneath(AT_FDCWD, (d.ws_dir / p).c_str(), [](int dir, const char* n) { return ::unlinkat(dir, n, 0); }) == 0 ||
            errno == ENOENT)
          ++repaired;
        else
          not_removed.push_back(sys::describe((d.ws_dir / p).string(), sys::last_error()));
      }
    if ((!s.newer.empty() && !args.repair) || !not_removed.empty()) rc = kFailed;
    if (args.common.json) {
      toml::array unsafe, all;
      for (const auto& p : s.unsafe) unsafe.push_back(p);
      if (args.list)
        for (const auto& p : s.all) all.push_back(p);
      toml::array newer;
      for (const auto& p : s.newer) newer.push_back(p);
      toml::table t{{"artifact", d.artifact->name}, {"root", d.root_dir.string()},
                    {"workspace", d.ws_dir.string()}, {"files", static_cast<int64_t>(s.files)},
                    {"shared", static_cast<int64_t>(s.shared)},
                    {"shared_bytes", static_cast<int64_t>(s.shared_bytes)}, {"unsafe", std::move(unsafe)},
                    {"t0", t0.t0.to_string()}, {"t0_from", t0.from}, {"newer_than_t0", std::move(newer)},
                    {"repaired", static_cast<int64_t>(repaired)}};
      if (args.list) t.insert("shared_files", std::move(all));
      results.push_back(std::move(t));
      continue;
    }
    std::cout << d.artifact->name << ": " << d.ws_dir.string() << "\n  " << count(s.shared) << " of "
              << count(s.files) << " files share their inode with " << d.root_dir.string() << " ("
              << bytes(s.shared_bytes) << ")\n";
    if (args.list)
      for (const auto& p : s.all) std::cout << "    shared: " << p << "\n";
    if (s.unsafe.empty()) {
      std::cout << "  all of them by the link rules: files that rustc, cargo and the linkers only ever "
                   "replace. Do not strip or objcopy them in place (binutils writes into a file that "
                   "has other links); `seedfs seed --no-hardlinks` shares none\n";
    } else {
      std::cout << "  " << count(s.unsafe.size())
                << " of them the link rules would copy: a write to one in the workspace changes the root's "
                   "file too (made by `cp -al` or an older seedfs?). Replace each by a copy, e.g. `cp "
                   "--remove-destination <root file> <ws file>`:\n";
      for (const auto& p : s.unsafe) std::cout << "    unsafe: " << p << "\n";
    }
    if (!t0.t0.set()) {
      std::cout << "  T0 unknown (no record, and the filesystem keeps no birth time): files the root wrote "
                   "after seeding began cannot be told apart\n";
    } else if (s.newer.empty()) {
      std::cout << "  no file seeded from the root was written there after T0 (" << t0.t0.to_string()
                << (t0.from == "record" ? "" : ", from the " + t0.from) << ")\n";
    } else {
      std::cout << "  " << count(s.newer.size()) << " files seeded from the root were written there after T0 ("
                << t0.t0.to_string() << (t0.from == "record" ? "" : ", from the " + t0.from)
                << "): the root's newer build, which cargo here takes as Fresh for this workspace's own "
                   "sources (seeded by a seedfs older than T0 records?).";
      if (args.repair)
        std::cout << " Removed " << count(repaired) << "; cargo rebuilds their units here:\n";
      else
        std::cout << " `seedfs verify --repair` removes them, and cargo rebuilds their units here:\n";
      for (const auto& p : s.newer) std::cout << "    newer: " << p << "\n";
      for (const auto& e : not_removed) std::cout << "    not removed: " << e << "\n";
    }
  }
  if (args.common.json)
    std::cout << to_json(toml::table{{"ok", rc == kOk}, {"artifacts", std::move(results)}}) << "\n";
  return rc;
}

}  // namespace seedfs::cli

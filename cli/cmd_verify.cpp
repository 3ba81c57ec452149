// `seedfs verify [<root>] [<ws>]`: which workspace files still share an inode
// with the root, and whether any of them is one that tools may rewrite in
// place (a fingerprint, a build-script output, a binary users strip): nothing
// the link rules name, nor another name of such a file.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <iostream>
#include <set>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "fs/mount.hpp"

namespace seedfs::cli {
namespace {

struct Sharing {
  uint64_t files = 0;         // regular files in the workspace dir
  uint64_t shared = 0;        // of those, the root's inode at the same path
  uint64_t shared_bytes = 0;
  std::vector<std::string> unsafe;  // shared, but nothing tells that tools only replace them
  std::vector<std::string> all;     // every shared file (for --list)
  std::string error;
};

struct WsFile {
  std::string rel;
  struct stat st;
};

// A shared file is safe when the link rules name it, or when it is another
// name of a file they name: cargo makes target/<profile>/libfoo.rlib a
// hardlink of deps/libfoo-<hash>.rlib, and replaces both alike.
Sharing inspect(const ArtifactDirs& d) {
  Sharing s;
  std::vector<WsFile> files;
  std::error_code ec;
  auto it = stdfs::recursive_directory_iterator(d.ws_dir, stdfs::directory_options::skip_permission_denied, ec);
  if (ec) return s.error = sys::describe(d.ws_dir.string(), ec), s;
  for (; it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return s.error = sys::describe(it->path().string(), ec), s;
    WsFile f{it->path().lexically_relative(d.ws_dir).string(), {}};
    if (::lstat(it->path().c_str(), &f.st) == 0 && S_ISREG(f.st.st_mode)) files.push_back(std::move(f));
  }
  std::set<std::pair<dev_t, ino_t>> by_the_rules;
  for (const auto& f : files)
    if (d.artifact->method_for(f.rel, f.st.st_mode) == config::Method::link)
      by_the_rules.insert({f.st.st_dev, f.st.st_ino});
  for (const auto& f : files) {
    ++s.files;
    struct stat r {};
    if (::lstat((d.root_dir / f.rel).c_str(), &r) != 0 || r.st_dev != f.st.st_dev || r.st_ino != f.st.st_ino) continue;
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

  int rc = kOk;
  toml::array results;
  for (const auto& d : dirs) {
    if (!stdfs::exists(d.ws_dir)) continue;
    Sharing s = inspect(d);
    if (!s.error.empty()) {
      spdlog::error("verify {}: {}", d.artifact->name, s.error);
      return kFailed;
    }
    if (!s.unsafe.empty()) rc = kFailed;
    if (args.common.json) {
      toml::array unsafe, all;
      for (const auto& p : s.unsafe) unsafe.push_back(p);
      if (args.list)
        for (const auto& p : s.all) all.push_back(p);
      toml::table t{{"artifact", d.artifact->name}, {"root", d.root_dir.string()},
                    {"workspace", d.ws_dir.string()}, {"files", static_cast<int64_t>(s.files)},
                    {"shared", static_cast<int64_t>(s.shared)},
                    {"shared_bytes", static_cast<int64_t>(s.shared_bytes)}, {"unsafe", std::move(unsafe)}};
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
  }
  if (args.common.json)
    std::cout << to_json(toml::table{{"ok", rc == kOk}, {"artifacts", std::move(results)}}) << "\n";
  return rc;
}

}  // namespace seedfs::cli

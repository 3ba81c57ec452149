#include "git/mtimes.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <future>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "git/checkout.hpp"
#include "git/command.hpp"
#include "seeding/sys.hpp"

namespace seedfs::git {
namespace {

struct IndexEntry {
  std::string_view mode, oid;
};

// What one side's index and working tree say: every regular file tracked
// under the project dir (paths from the top of the working tree), and those
// whose working file differs from the index.
struct Side {
  Output ls_files, status;
  std::unordered_map<std::string_view, IndexEntry> files;
  std::unordered_set<std::string_view> uncommitted;
};

// `git ls-files -s -z` records: "<mode> <oid> <stage>\t<path>". Conflicted
// paths (stage > 0) and anything but a regular file (symlinks, submodules)
// are left out.
void parse_ls_files(Side& s) {
  for (std::string_view rec : split_z(s.ls_files.out)) {
    size_t tab = rec.find('\t');
    if (tab == std::string_view::npos) continue;
    std::string_view meta = rec.substr(0, tab), path = rec.substr(tab + 1);
    size_t sp1 = meta.find(' '), sp2 = meta.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2) continue;
    std::string_view mode = meta.substr(0, sp1), stage = meta.substr(sp2 + 1);
    if (stage != "0" || (mode != "100644" && mode != "100755")) continue;
    s.files.emplace(path, IndexEntry{mode, meta.substr(sp1 + 1, sp2 - sp1 - 1)});
  }
}

// `git status --porcelain=v1 -z --no-renames` records: "XY <path>"; Y (the
// working tree against the index) is what matters: the blob ids compared
// below are the index's.
void parse_status(Side& s) {
  for (std::string_view rec : split_z(s.status.out)) {
    if (rec.size() < 4) continue;
    if (rec[1] != ' ' || rec[0] == 'U') s.uncommitted.insert(rec.substr(3));
  }
}

Side ask(const Checkout& c) {
  std::filesystem::path project = c.top / c.prefix;
  auto ls = std::async(std::launch::async, [&] {
    return run(project, {"ls-files", "--full-name", "-s", "-z", "--", "."});
  });
  Side s;
  s.status = run(project, {"status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=no",
                           "--ignore-submodules=all", "--", "."});
  s.ls_files = ls.get();
  return s;
}

bool same_mtime(const struct stat& a, const struct stat& b) {
  return a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

MtimeSync sync_mtimes(const std::filesystem::path& root_project, const std::filesystem::path& ws_project,
                      bool dry_run) {
  auto t0 = std::chrono::steady_clock::now();
  MtimeSync r;
  auto finish = [&] {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  std::string why;
  auto root = checkout_of(root_project, why);
  if (!root) return r.skipped = "the root is not a git checkout (" + why + ")", finish();
  auto ws = checkout_of(ws_project, why);
  if (!ws) return r.skipped = "the workspace is not a git checkout (" + why + ")", finish();
  if (root->prefix != ws->prefix)
    return r.skipped = "the project is at " + root->prefix.string() + " in the root's repository but at " +
                       ws->prefix.string() + " in the workspace's",
           finish();

  auto root_side = std::async(std::launch::async, [&] { return ask(*root); });
  Side w = ask(*ws);
  Side rt = root_side.get();
  for (Side* s : {&rt, &w}) {
    for (const Output* o : {&s->ls_files, &s->status})
      if (!o->ok()) return r.skipped = "git failed in " + (s == &rt ? root : ws)->top.string() + ": " + o->why(), finish();
    parse_ls_files(*s);
    parse_status(*s);
  }

  std::error_code ec;
  sys::UniqueFd root_fd = sys::open_dir(AT_FDCWD, root->top.c_str(), ec);
  sys::UniqueFd ws_fd = sys::open_dir(AT_FDCWD, ws->top.c_str(), ec);
  if (!root_fd || !ws_fd) return r.skipped = "cannot open the checkouts: " + ec.message(), finish();
  for (const auto& [path, entry] : w.files) {
    ++r.tracked;
    if (w.uncommitted.count(path)) {
      ++r.uncommitted;
      continue;
    }
    auto it = rt.files.find(path);
    if (it == rt.files.end() || it->second.oid != entry.oid || it->second.mode != entry.mode) {
      ++r.differ;
      continue;
    }
    if (rt.uncommitted.count(path)) {
      ++r.uncommitted;
      continue;
    }
    std::string p(path);
    struct stat rs {}, ws_st {};
    if (sys::lstat_at(root_fd.get(), p.c_str(), rs) || !S_ISREG(rs.st_mode) ||
        sys::lstat_at(ws_fd.get(), p.c_str(), ws_st) || !S_ISREG(ws_st.st_mode)) {
      ++r.differ;  // vanished or replaced since git looked: not known to be the same
      continue;
    }
    ++r.identical;
    if (same_mtime(rs, ws_st)) continue;
    const struct timespec times[2] = {{0, UTIME_OMIT}, rs.st_mtim};
    if (!dry_run && ::utimensat(ws_fd.get(), p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      if (r.warning.empty()) r.warning = sys::describe((ws->top / p).string(), sys::last_error());
      continue;
    }
    ++r.changed;
  }
  // The stat data in the workspace's index no longer matches: refresh it now,
  // or every `git status` there re-reads the files until one rewrites it.
  if (r.changed && !dry_run) {
    Output refresh = run(ws->top, {"update-index", "-q", "--refresh"}, /*read_only=*/false);
    if (refresh.ec || (refresh.status != 0 && !refresh.err.empty()))
      r.warning = "git update-index --refresh in " + ws->top.string() + ": " + refresh.why();
  }
  return finish();
}

}  // namespace seedfs::git

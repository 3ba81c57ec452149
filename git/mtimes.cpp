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

// The root is asked for its index and for what differs from it; the
// workspace only for its index (what differs there is found after the
// refresh below, which reads each file once anyway).
Side ask(const Checkout& c, bool with_status) {
  std::filesystem::path project = c.top / c.prefix;
  auto ls = std::async(std::launch::async, [&] {
    return run(project, {"ls-files", "--full-name", "-s", "-z", "--", "."});
  });
  Side s;
  if (with_status)
    s.status = run(project, {"status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=no",
                             "--ignore-submodules=all", "--", "."});
  else
    s.status.status = 0;
  s.ls_files = ls.get();
  return s;
}

bool same_mtime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

std::error_code set_mtime(int dirfd, const std::string& path, const struct timespec& mtime) {
  const struct timespec times[2] = {{0, UTIME_OMIT}, mtime};
  if (::utimensat(dirfd, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return sys::last_error();
  return {};
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

  auto root_side = std::async(std::launch::async, [&] { return ask(*root, true); });
  Side w = ask(*ws, /*with_status=*/dry_run);  // a dry run changes nothing, so cannot learn it later
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
  std::unordered_map<std::string_view, struct timespec> backdated;  // path -> the workspace file's own mtime
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
    if (same_mtime(rs.st_mtim, ws_st.st_mtim)) continue;
    if (!dry_run) {
      if (auto e = set_mtime(ws_fd.get(), p, rs.st_mtim)) {
        if (r.warning.empty()) r.warning = sys::describe((ws->top / p).string(), e);
        continue;
      }
      backdated.emplace(path, ws_st.st_mtim);
    }
    ++r.changed;
  }
  if (backdated.empty()) return finish();

  // The stat data in the workspace's index no longer matches: refresh it, or
  // every `git status` there re-reads the files until one rewrites the index.
  // The refresh reads each changed file once; after it, a file that still
  // differs from the index was edited in the workspace and gets its own mtime
  // back. (No workspace artifact exists yet, so no build can have seen the
  // backdated mtime meanwhile: this is why only a new workspace is synced.)
  Output refresh = run(ws->top, {"update-index", "-q", "--refresh"}, /*read_only=*/false);
  if (!refresh.ok()) r.warning = "git update-index --refresh in " + ws->top.string() + ": " + refresh.why();
  Output edited = run(ws->top, {"diff-files", "--name-only", "-z"});
  if (!edited.ok()) {
    // Not known which are clean: every backdated file gets its own mtime back.
    r.warning = "git diff-files in " + ws->top.string() + ": " + edited.why();
    for (const auto& [path, own] : backdated) set_mtime(ws_fd.get(), std::string(path), own);
    r.identical -= backdated.size();
    r.changed = 0;
    return finish();
  }
  bool restored = false;
  for (std::string_view path : split_z(edited.out)) {
    auto it = backdated.find(path);
    if (it == backdated.end()) continue;
    if (auto e = set_mtime(ws_fd.get(), std::string(path), it->second)) {
      r.warning = "cannot put back the mtime of " + sys::describe((ws->top / std::string(path)).string(), e);
    }
    restored = true;
    --r.identical;
    --r.changed;
    ++r.uncommitted;
  }
  if (restored) run(ws->top, {"update-index", "-q", "--refresh"}, /*read_only=*/false);
  return finish();
}

}  // namespace seedfs::git

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
  std::unordered_map<std::string_view, IndexEntry> files;
  std::unordered_set<std::string_view> uncommitted;
};

// `git ls-files -s -z` records: "<mode> <oid> <stage>\t<path>". Conflicted
// paths (stage > 0) and anything but a regular file (symlinks, submodules)
// are left out.
void parse_ls_files(const Output& out, Side& s) {
  for (std::string_view rec : split_z(out.out)) {
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
void parse_status(const Output& out, Side& s) {
  for (std::string_view rec : split_z(out.out)) {
    if (rec.size() < 4) continue;
    if (rec[1] != ' ' || rec[0] == 'U') s.uncommitted.insert(rec.substr(3));
  }
}

Side parse(const Output& files, const Output& status) {
  Side s;
  parse_ls_files(files, s);
  parse_status(status, s);
  return s;
}

Output ls_files(const Checkout& c) {
  return run(c.top / c.prefix, {"ls-files", "--full-name", "-s", "-z", "--", "."});
}

Output status(const Checkout& c) {
  return run(c.top / c.prefix, {"status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=no",
                                "--ignore-submodules=all", "--", "."});
}

bool same_mtime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

std::error_code set_mtime(int dirfd, const std::string& path, const struct timespec& mtime) {
  const struct timespec times[2] = {{0, UTIME_OMIT}, mtime};
  if (::utimensat(dirfd, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return sys::last_error();
  return {};
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

SourceIndex SourceIndex::read(const std::filesystem::path& root_project, const std::filesystem::path& ws_project,
                              bool dry_run, std::optional<Checkout> root, std::optional<Checkout> ws) {
  auto t0 = std::chrono::steady_clock::now();
  SourceIndex x;
  std::string why;
  auto root_checkout = std::async(std::launch::async, [&] { return root ? root : checkout_of(root_project, why); });
  std::string ws_why;
  x.ws_ = ws ? ws : checkout_of(ws_project, ws_why);
  x.root_ = root_checkout.get();
  // "the root /p/main is not a git checkout", or what git said.
  auto not_a_checkout = [](const char* role, const std::filesystem::path& dir, const std::string& why) {
    if (why.find("not in a git checkout") != std::string::npos)
      return std::string(role) + " " + dir.string() + " is not a git checkout";
    return std::string(role) + ": " + why;
  };
  if (!x.root_) x.skipped_ = not_a_checkout("the root", root_project, why);
  else if (!x.ws_) x.skipped_ = not_a_checkout("the workspace", ws_project, ws_why);
  else if (x.root_->prefix != x.ws_->prefix)
    x.skipped_ = "the project is at " + x.root_->prefix.string() + " in the root's repository but at " +
                 x.ws_->prefix.string() + " in the workspace's";
  if (!x.skipped_.empty()) return x.seconds_ = since(t0), x;

  // The root: its index and what differs from it. The workspace: its index
  // (what differs there is found by the refresh in apply(), which reads each
  // file once anyway), and in a dry run, what differs.
  auto root_files = std::async(std::launch::async, [&] { return ls_files(*x.root_); });
  auto root_status = std::async(std::launch::async, [&] { return status(*x.root_); });
  x.ws_files_ = ls_files(*x.ws_);
  x.ws_status_.status = 0;
  if (dry_run) x.ws_status_ = status(*x.ws_);
  x.root_files_ = root_files.get();
  x.root_status_ = root_status.get();
  for (const Output* o : {&x.root_files_, &x.root_status_, &x.ws_files_, &x.ws_status_})
    if (!o->ok()) {
      x.skipped_ = "git failed in " + (o == &x.ws_files_ || o == &x.ws_status_ ? x.ws_ : x.root_)->top.string() +
                   ": " + o->why();
      break;
    }
  x.seconds_ = since(t0);
  return x;
}

MtimeSync SourceIndex::apply(bool dry_run) const {
  auto t0 = std::chrono::steady_clock::now();
  MtimeSync r;
  auto finish = [&] {
    r.seconds = seconds_ + since(t0);
    return r;
  };
  if (!skipped_.empty()) return r.skipped = skipped_, finish();
  Side rt = parse(root_files_, root_status_), w = parse(ws_files_, ws_status_);

  std::error_code ec;
  sys::UniqueFd root_fd = sys::open_dir(AT_FDCWD, root_->top.c_str(), ec);
  sys::UniqueFd ws_fd = sys::open_dir(AT_FDCWD, ws_->top.c_str(), ec);
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
        if (r.warning.empty()) r.warning = sys::describe((ws_->top / p).string(), e);
        continue;
      }
      backdated.emplace(path, ws_st.st_mtim);
    }
    ++r.changed;
  }
  if (backdated.empty()) return finish();

  // The stat data in the workspace's index no longer matches: refresh it, or
  // every `git status` there re-reads the files until one rewrites the index.
  // After it, a file that still differs from the index was edited in the
  // workspace and gets its own mtime back. (No workspace artifact exists yet,
  // so no build can have seen the backdated mtime meanwhile: this is why only
  // a new workspace is synced.)
  Output refresh = run(ws_->top, {"update-index", "-q", "--refresh"}, /*read_only=*/false);
  if (!refresh.ok()) r.warning = "git update-index --refresh in " + ws_->top.string() + ": " + refresh.why();
  Output edited = run(ws_->top, {"diff-files", "--name-only", "-z"});
  if (!edited.ok()) {
    // Not known which are clean: every backdated file gets its own mtime back.
    r.warning = "git diff-files in " + ws_->top.string() + ": " + edited.why();
    for (const auto& [path, own] : backdated) set_mtime(ws_fd.get(), std::string(path), own);
    r.identical -= backdated.size();
    r.changed = 0;
    return finish();
  }
  bool restored = false;
  for (std::string_view path : split_z(edited.out)) {
    auto it = backdated.find(path);
    if (it == backdated.end()) continue;
    if (auto e = set_mtime(ws_fd.get(), std::string(path), it->second))
      r.warning = "cannot put back the mtime of " + sys::describe((ws_->top / std::string(path)).string(), e);
    restored = true;
    --r.identical;
    --r.changed;
    ++r.uncommitted;
  }
  if (restored) run(ws_->top, {"update-index", "-q", "--refresh"}, /*read_only=*/false);
  return finish();
}

MtimeSync sync_mtimes(const std::filesystem::path& root_project, const std::filesystem::path& ws_project,
                      bool dry_run) {
  return SourceIndex::read(root_project, ws_project, dry_run).apply(dry_run);
}

}  // namespace seedfs::git

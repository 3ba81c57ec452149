#include "seeding/seeder.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <variant>
#include <vector>

#include "seeding/materialize.hpp"
#include "seeding/pace.hpp"

namespace seedfs::seeding {
namespace {

using Clock = std::chrono::steady_clock;
using sys::UniqueFd;

// A directory being worked on: its fds in the root and in the workspace dir,
// shared by the batches of its files and closed with the last one.
struct DirPair {
  UniqueFd src, dst;  // dst is invalid in a dry run
  std::string rel;
};

struct FileEntry {
  std::string name;
  unsigned char type;  // DT_REG or DT_LNK
};

struct ScanTask {
  std::string rel;
};
struct FileTask {
  std::shared_ptr<DirPair> dir;  // null: reopen `rel` (the scan closed its fds)
  std::string rel;
  std::vector<FileEntry> files;
};
using Task = std::variant<ScanTask, FileTask>;

std::string join(std::string_view rel, std::string_view name) {
  std::string out;
  out.reserve(rel.size() + 1 + name.size());
  if (!rel.empty()) {
    out.append(rel);
    out.push_back('/');
  }
  out.append(name);
  return out;
}

// Adds the time of a scope to a counter of nanoseconds.
class Timed {
 public:
  explicit Timed(std::atomic<uint64_t>& sink) : sink_(sink), start_(Clock::now()) {}
  ~Timed() {
    sink_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_)
                        .count(),
                    std::memory_order_relaxed);
  }

 private:
  std::atomic<uint64_t>& sink_;
  Clock::time_point start_;
};

}  // namespace

std::string Failure::to_string() const {
  return op + " " + (path.empty() ? std::string(".") : path) + ": " + ec.message();
}

struct Seeder::Impl {
  Impl(UniqueFd r, UniqueFd d, config::Artifact a, Options o)
      : root(std::move(r)), dest(std::move(d)), art(std::move(a)), opts(std::move(o)) {
    struct stat st {};
    if (::fstat(root.get(), &st) == 0) root_dev = st.st_dev;
  }

  // Whether to try a reflink before a hardlink: not where one failed as
  // unsupported (asked per file, but without a syscall).
  bool reflink_first() const { return art.reflink_first && reflink_may_work(root_dev); }

  UniqueFd root, dest;
  dev_t root_dev = 0;
  config::Artifact art;
  Options opts;

  struct Counters {
    std::atomic<uint64_t> files_found{0}, files_done{0}, dirs_found{0}, dirs_created{0};
    std::atomic<uint64_t> linked{0}, reflinked{0}, copied{0}, kept{0}, symlinks{0};
    std::atomic<uint64_t> skipped_rule{0}, dirs_pruned{0}, skipped_type{0}, left_to_view{0}, changed{0};
    std::atomic<uint64_t> bytes{0}, copy_bytes{0};
    std::atomic<uint64_t> walk_ns{0}, mkdir_ns{0}, file_ns{0};
  } n;

  Clock::time_point started{};
  std::atomic<int64_t> elapsed_ns{-1};  // set when finished
  std::atomic<bool> stop{false};
  std::atomic<bool> was_cancelled{false};
  Pacer pacer{opts.pace, stop, opts.hooks ? std::function<bool()>([h = opts.hooks] { return h->busy(); })
                                          : std::function<bool()>()};

  // A root inode -> the workspace path of its copy; `ready` once the copy is
  // whole (until then the worker that claimed it is copying).
  struct Copy {
    std::string path;
    bool ready = false;
  };
  std::mutex copies_mu;  // guards `copies`
  std::condition_variable copies_cv;  // a claimed copy became ready or was given up
  std::map<std::pair<dev_t, ino_t>, Copy> copies;

  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::deque<Task> queue;
  // Directories whose files a worker is linking now. Links into one directory
  // serialize in the kernel (on the directory's lock), so a second worker
  // there adds contention, not speed: it takes another directory's batch or
  // waits. (86% of a cargo target's files sit in deps/.)
  std::unordered_set<std::string> busy_dirs;
  size_t active = 0;          // tasks being run
  size_t scans_pending = 0;   // scan tasks queued or running
  bool finished = false;
  bool begun = false;
  std::optional<Failure> failure;
  std::vector<std::pair<std::string, mode_t>> dir_modes;  // to restore at the end
  std::vector<std::thread> threads;

  void push(Task t) {
    std::lock_guard lock(mu);
    // Directories first, so that the total is known early (the ETA of a
    // slow filesystem depends on it); files after.
    if (std::holds_alternative<ScanTask>(t)) {
      ++scans_pending;
      queue.push_front(std::move(t));
    } else {
      queue.push_back(std::move(t));
    }
    cv.notify_one();
  }

  void fail(std::string path, const char* op, std::error_code ec) {
    std::lock_guard lock(mu);
    if (!failure) failure = Failure{std::move(path), op, ec};
    stop = true;
    cv.notify_all();
  }

  // Calls `make` directly, or under the caller's lock through the hooks.
  template <class F>
  bool guarded(std::string_view rel, EntryKind kind, F&& make) {
    if (!opts.hooks) {
      make();
      return true;
    }
    return opts.hooks->guard(rel, kind, FunctionRef<void()>(make));
  }

  // The first queued task that may run now: a scan, or files of a directory
  // that no other worker is linking into.
  std::deque<Task>::iterator runnable() {
    return std::find_if(queue.begin(), queue.end(), [&](const Task& t) {
      auto* f = std::get_if<FileTask>(&t);
      return !f || !busy_dirs.contains(f->rel);
    });
  }

  void worker() {
    for (;;) {
      Task task;
      {
        std::unique_lock lock(mu);
        auto next = queue.end();
        cv.wait(lock, [&] {
          if (stop || (queue.empty() && active == 0)) return true;
          next = runnable();
          return next != queue.end();
        });
        if (stop || queue.empty()) break;
        task = std::move(*next);
        queue.erase(next);
        ++active;
        if (auto* f = std::get_if<FileTask>(&task)) busy_dirs.insert(f->rel);
      }
      std::optional<std::string> done_dir;
      if (std::holds_alternative<ScanTask>(task)) {
        scan(std::get<ScanTask>(task).rel);
      } else {
        files(std::get<FileTask>(task));
        done_dir = std::move(std::get<FileTask>(task).rel);
      }
      task = {};  // closes the directory fds outside the lock
      std::lock_guard lock(mu);
      --active;
      if (done_dir) busy_dirs.erase(*done_dir);
      cv.notify_all();  // a directory is free again, or all is done
    }
  }

  void scan(const std::string& rel) {
    std::shared_ptr<DirPair> dir;
    std::vector<FileEntry> batch;
    bool ok;
    {
      Timed timed(n.walk_ns);
      ok = read_dir(rel, dir, batch);
    }
    bool more_to_scan;
    {
      // The directory is read: the total no longer waits for it.
      std::lock_guard lock(mu);
      more_to_scan = --scans_pending > 0;
    }
    if (!ok || batch.empty()) return;
    if (more_to_scan) {
      // Later, by whoever is free once the walk is done; without holding fds meanwhile.
      push(FileTask{nullptr, rel, std::move(batch)});
    } else {
      // The walk is done: handing this batch to another worker would cost
      // more in locking than it saves, unless one is linking into it now.
      FileTask task{std::move(dir), rel, std::move(batch)};
      {
        std::lock_guard lock(mu);
        if (!busy_dirs.insert(rel).second) {
          queue.push_back(std::move(task));
          cv.notify_one();
          return;
        }
      }
      files(task);
      std::lock_guard lock(mu);
      busy_dirs.erase(rel);
      cv.notify_all();
    }
  }

  // Why a batch's directory could not be opened again.
  enum class Reopen { ok, left_to_view, gone_from_root, failed };

  // The fds of directory `rel` for a batch whose scan did not keep them.
  std::shared_ptr<DirPair> reopen(const std::string& rel, Reopen& why) {
    auto dir = std::make_shared<DirPair>();
    dir->rel = rel;
    std::error_code ec;
    dir->src = sys::open_dir(root.get(), rel.empty() ? "." : rel.c_str(), ec);
    if (!dir->src) {
      if (gone(ec)) return why = Reopen::gone_from_root, nullptr;  // removed from the root since the walk
      return why = Reopen::failed, fail(rel, "open", ec), nullptr;
    }
    if (opts.dry_run) return why = Reopen::ok, dir;
    dir->dst = sys::open_dir(dest.get(), rel.empty() ? "." : rel.c_str(), ec);
    if (!dir->dst) {
      if (opts.hooks && gone(ec)) return why = Reopen::left_to_view, nullptr;  // the view moved it
      return why = Reopen::failed, fail(rel, "open in workspace", ec), nullptr;
    }
    return why = Reopen::ok, dir;
  }

  // An entry of the root that is not as it was at T0 (changed, or gone): left out.
  void changed(const std::string& rel) {
    n.changed.fetch_add(1, std::memory_order_relaxed);
    if (opts.on_changed) opts.on_changed(rel);
  }
  static bool gone(std::error_code ec) { return ec.value() == ENOENT || ec.value() == ENOTDIR; }

  // Reads directory `rel`, making its subdirectories and queueing them; full
  // batches of files go to the queue, the rest is left in `batch`.
  bool read_dir(const std::string& rel, std::shared_ptr<DirPair>& dir,
                std::vector<FileEntry>& batch) {
    const char* here = rel.empty() ? "." : rel.c_str();
    dir = std::make_shared<DirPair>();
    dir->rel = rel;
    std::error_code ec;
    dir->src = sys::open_dir(root.get(), here, ec);
    if (!dir->src) {
      if (gone(ec) && !rel.empty()) return changed(rel), false;  // the root removed it after T0
      return fail(rel, "open", ec), false;
    }
    if (!opts.dry_run) {
      dir->dst = sys::open_dir(dest.get(), here, ec);
      if (!dir->dst) {
        // The view removed or replaced it after materializing it: nothing to do below.
        if (opts.hooks && (ec.value() == ENOENT || ec.value() == ENOTDIR)) {
          n.left_to_view.fetch_add(1, std::memory_order_relaxed);
          return false;
        }
        return fail(rel, "open in workspace", ec), false;
      }
    }

    alignas(8) char buf[64 * 1024];
    for (;;) {
      if (stop) return false;
      ssize_t len = ::getdents64(dir->src.get(), buf, sizeof buf);
      if (len < 0 && errno == EINTR) continue;
      if (len < 0 && errno == ENOENT && !rel.empty()) return changed(rel), false;  // removed while read
      if (len < 0) return fail(rel, "read directory", sys::last_error()), false;
      if (len == 0) break;
      for (ssize_t off = 0; off < len;) {
        auto* d = reinterpret_cast<struct dirent64*>(buf + off);
        off += d->d_reclen;
        std::string_view name(d->d_name);
        if (name == "." || name == "..") continue;
        if (!entry(*dir, d->d_name, d->d_type, batch)) return false;
        if (batch.size() >= opts.batch_size) push(FileTask{dir, rel, std::exchange(batch, {})});
      }
    }
    return true;
  }

  // One directory entry met by the walk. False stops the scan (after a failure).
  bool entry(DirPair& dir, const char* name, unsigned char type, std::vector<FileEntry>& batch) {
    std::string child = join(dir.rel, name);
    struct statx sx {};
    if (type == DT_UNKNOWN || type == DT_DIR) {  // a directory's mode is needed anyway
      if (auto ec = sys::statx_at(dir.src.get(), name, sx)) {
        if (gone(ec)) return changed(child), true;  // removed from the root after T0
        return fail(child, "stat", ec), false;
      }
      type = IFTODT(sx.stx_mode);
    }
    if (type == DT_DIR) {
      if (opts.apply_skip && art.skip_rules.prunes_dir(child)) {
        n.skipped_rule.fetch_add(1, std::memory_order_relaxed);
        n.dirs_pruned.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      // Made after T0: nothing below it is as at T0.
      if (!opts.t0.shows(sx, Rewrites::in_place)) return changed(child), true;
      n.dirs_found.fetch_add(1, std::memory_order_relaxed);
      if (!opts.dry_run && !make_dir_guarded(dir, name, child, sx.stx_mode)) return !stop;
      push(ScanTask{std::move(child)});
      return true;
    }
    if (type != DT_REG && type != DT_LNK) {
      n.skipped_type.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (opts.apply_skip && art.skip_rules.matches(child, false)) {
      n.skipped_rule.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    n.files_found.fetch_add(1, std::memory_order_relaxed);
    batch.push_back({name, type});
    return true;
  }

  // False when the directory is not to be entered (left to the view, kept as a
  // non-directory, or failed).
  bool make_dir_guarded(DirPair& dir, const char* name, const std::string& child, mode_t mode) {
    Timed timed(n.mkdir_ns);
    std::error_code ec;
    bool created = false, widened = false;
    bool went = guarded(child, EntryKind::directory,
                        [&] { ec = make_dir(dir.dst.get(), name, mode, created, &widened); });
    if (!went) {
      n.left_to_view.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (ec.value() == ENOTDIR) {  // the workspace has a file here: the workspace wins
      n.kept.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (ec) return fail(child, "mkdir", ec), false;
    if (created) n.dirs_created.fetch_add(1, std::memory_order_relaxed);
    if (widened) {
      std::lock_guard lock(mu);
      dir_modes.emplace_back(child, mode & 07777);
    }
    return true;
  }

  void files(FileTask& task) {
    Timed timed(n.file_ns);
    Reopen why = Reopen::ok;
    if (!task.dir && !(task.dir = reopen(task.rel, why))) {
      if (why == Reopen::failed || stop) return;
      for (const FileEntry& f : task.files) {
        if (why == Reopen::gone_from_root)
          changed(join(task.rel, f.name));
        else  // the view removed or replaced the directory
          n.left_to_view.fetch_add(1, std::memory_order_relaxed);
      }
      n.files_done.fetch_add(task.files.size(), std::memory_order_relaxed);
      return;
    }
    const DirPair& dir = *task.dir;
    for (const FileEntry& f : task.files) {
      if (stop) return;
      // The test throttle's pause; a stop cuts it short (a throttle of seconds
      // would otherwise hold up every unmount).
      if (opts.throttle.count() > 0 && !sleep_until_unless_stopped(Clock::now() + opts.throttle, stop)) return;
      if (!pacer.before_file()) return;  // cancelled while waiting
      std::string child = join(dir.rel, f.name);
      Done done;
      const char* op = f.type == DT_LNK ? "symlink" : "link";
      bool went = true;
      std::error_code ec = f.type == DT_LNK ? copy_link_entry(dir, f, child, done, went)
                                            : file_entry(dir, f, child, done, went, op);
      if (ec.value() == ECANCELED && stop) return;  // cancelled in the middle of a paced copy
      if (ec) return fail(child, op, ec);
      if (!went)
        n.left_to_view.fetch_add(1, std::memory_order_relaxed);
      else if (done.outcome == Outcome::changed)
        changed(child);
      else
        count(done);
      n.files_done.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::error_code copy_link_entry(const DirPair& dir, const FileEntry& f, const std::string& child, Done& done,
                                  bool& went) {
    if (opts.dry_run) return done.outcome = Outcome::symlinked, std::error_code{};
    std::error_code ec;
    went = guarded(child, EntryKind::symlink, [&] {
      ec = copy_symlink(dir.src.get(), f.name.c_str(), dir.dst.get(), f.name.c_str(), opts.t0, done);
    });
    return ec;
  }

  // A regular file: linked or copied by the rules, as the root had it at T0.
  std::error_code file_entry(const DirPair& dir, const FileEntry& f, const std::string& child, Done& done,
                             bool& went, const char*& op) {
    auto method = art.method_for(child, std::nullopt);
    // Copies need the inode (for its other names, below), a file whose mode
    // decides its method needs the mode, and a dry run counts the bytes it
    // would link or copy (`seedfs doctor` weighs them against the free space).
    struct statx sx {};
    bool have_stat = false;
    if (!method || opts.dry_run || *method == config::Method::copy) {
      if (auto ec = sys::statx_at(dir.src.get(), f.name.c_str(), sx)) {
        if (!gone(ec)) return ec;
        return done.outcome = Outcome::changed, std::error_code{};  // removed from the root after T0
      }
      if (!S_ISREG(sx.stx_mode)) return done.outcome = Outcome::changed, std::error_code{};  // replaced
      have_stat = true;
    }
    if (!method) method = art.method_for(child, have_stat ? sx.stx_mode : 0755);
    if (*method == config::Method::copy) op = "copy";
    if (opts.dry_run) {
      done.outcome = *method == config::Method::link ? Outcome::linked : Outcome::copied;
      done.bytes = sx.stx_size;
      return {};
    }
    // What the link rules name is only ever replaced (no more globs to match
    // for the most of a target's files); for the rest, ask.
    Rewrites how = *method == config::Method::link || art.only_replaced(child, have_stat ? sx.stx_mode : 0)
                       ? Rewrites::replace_only
                       : Rewrites::in_place;
    std::error_code ec;
    went = guarded(child, EntryKind::file, [&] {
      bool claimed = false;
      struct stat st = sys::to_stat(sx);
      if (*method == config::Method::copy) {
        if (!opts.t0.shows(sx, how)) return void(done.outcome = Outcome::changed);
        if (link_to_earlier_copy(dir, f, child, st, done, claimed)) return;
      }
      ec = materialize_file(dir.src.get(), f.name.c_str(), dir.dst.get(), f.name.c_str(), *method, how, opts.t0,
                            done, reflink_first(), &pacer);
      if (claimed)
        finish_copy(st, !ec && (done.outcome == Outcome::copied || done.outcome == Outcome::reflinked));
    });
    return ec;
  }

  // A root inode with several names (cargo's target/<profile>/<bin> and
  // deps/<bin>-<hash>, a build script's two names) is copied once: its other
  // names become hardlinks of that copy, inside the workspace, as in the root.
  // The first name to come claims the copy (`claimed`: the caller copies, then
  // calls finish_copy); a name that comes while it is copied waits for it, as
  // two workers may meet the two names at once.
  bool link_to_earlier_copy(const DirPair& dir, const FileEntry& f, const std::string& child,
                            const struct stat& st, Done& done, bool& claimed) {
    if (st.st_nlink < 2) return false;
    std::string first;
    {
      std::unique_lock lock(copies_mu);
      auto key = std::make_pair(st.st_dev, st.st_ino);
      for (;;) {
        auto it = copies.find(key);
        if (it == copies.end()) {
          copies.emplace(key, Copy{child, false});
          claimed = true;
          return false;
        }
        if (it->second.ready) {
          first = it->second.path;
          break;
        }
        copies_cv.wait(lock);  // being copied: wait for it, or for it to be given up
      }
    }
    if (sys::beneath(dest.get(), first.c_str(), [&](int d, const char* n) {
          return ::linkat(d, n, dir.dst.get(), f.name.c_str(), 0);
        }) == 0) {
      done = {Outcome::copied, 0};
      return true;
    }
    if (errno == EEXIST) return done = {Outcome::kept, 0}, true;
    return false;  // the first copy is gone or cannot be linked: copy this one
  }

  // The claimed copy of `st` is whole (`made`: the other names may link to
  // it) or was not made (kept, failed, cancelled: the next name copies).
  void finish_copy(const struct stat& st, bool made) {
    {
      std::lock_guard lock(copies_mu);
      auto it = copies.find({st.st_dev, st.st_ino});
      if (made)
        it->second.ready = true;
      else
        copies.erase(it);
    }
    copies_cv.notify_all();
  }

  void count(const Done& done) {
    auto& c = done.outcome == Outcome::linked      ? n.linked
              : done.outcome == Outcome::reflinked ? n.reflinked
              : done.outcome == Outcome::copied    ? n.copied
              : done.outcome == Outcome::symlinked ? n.symlinks
                                                   : n.kept;
    c.fetch_add(1, std::memory_order_relaxed);
    n.bytes.fetch_add(done.bytes, std::memory_order_relaxed);
    if (done.outcome == Outcome::copied || done.outcome == Outcome::reflinked)
      n.copy_bytes.fetch_add(done.bytes, std::memory_order_relaxed);
  }

  void begin() {
    std::lock_guard lock(mu);
    begun = true;
    started = Clock::now();
    ++scans_pending;
    queue.push_back(ScanTask{opts.subtree});
  }

  // After the last task: put back the modes of directories that were made
  // writable to be filled, deepest first.
  void finish() {
    std::lock_guard lock(mu);
    if (finished) return;
    std::sort(dir_modes.begin(), dir_modes.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    // Only where the mode is still the one make_dir gave: a chmod made
    // meanwhile (through the view) is the workspace's own and stays.
    if (!failure && !was_cancelled)
      for (const auto& [rel, mode] : dir_modes) {
        struct stat st {};
        if (!sys::lstat_at(dest.get(), rel.c_str(), st) && S_ISDIR(st.st_mode) &&
            (st.st_mode & 07777) == (mode | S_IRWXU))
          sys::beneath(dest.get(), rel.c_str(), [&](int d, const char* n) { return ::fchmodat(d, n, mode, 0); });
      }
    elapsed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started)
                     .count();
    finished = true;
    cv.notify_all();
  }
};

Seeder::Seeder(UniqueFd root, UniqueFd dest, config::Artifact artifact, Options opts)
    : impl_(std::make_unique<Impl>(std::move(root), std::move(dest), std::move(artifact),
                                   std::move(opts))) {}

Seeder::~Seeder() {
  cancel();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

void Seeder::start() {
  sys::raise_fd_limit();
  impl_->begin();
  unsigned n = std::max(1u, impl_->opts.workers);
  for (unsigned i = 0; i < n; ++i)
    impl_->threads.emplace_back([this] {
      // A failure leaves the thread as it was: slower for others, never wrong.
      (void)apply_priority(impl_->opts.pace.priority);
      impl_->worker();
    });
}

std::optional<Failure> Seeder::run() {
  if (impl_->opts.workers == 0) {
    impl_->begin();
    impl_->worker();
  } else {
    start();
  }
  return wait();
}

std::optional<Failure> Seeder::wait() {
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->finish();
  std::lock_guard lock(impl_->mu);
  return impl_->failure;
}

bool Seeder::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    return impl_->finished || impl_->stop || (impl_->active == 0 && impl_->queue.empty());
  });
}

void Seeder::cancel() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->finished && !impl_->failure) impl_->was_cancelled = true;
  impl_->stop = true;
  impl_->cv.notify_all();
}

bool Seeder::cancelled() const { return impl_->was_cancelled; }

Stats Seeder::stats() const {
  const auto& n = impl_->n;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  Stats s;
  s.files_found = get(n.files_found);
  s.files_done = get(n.files_done);
  s.dirs_found = get(n.dirs_found);
  s.dirs_created = get(n.dirs_created);
  s.linked = get(n.linked);
  s.reflinked = get(n.reflinked);
  s.copied = get(n.copied);
  s.kept = get(n.kept);
  s.symlinks = get(n.symlinks);
  s.skipped_rule = get(n.skipped_rule);
  s.dirs_pruned = get(n.dirs_pruned);
  s.skipped_type = get(n.skipped_type);
  s.left_to_view = get(n.left_to_view);
  s.changed = get(n.changed);
  s.bytes = get(n.bytes);
  s.copy_bytes = get(n.copy_bytes);
  // The walk's time includes the mkdirs it does; report them apart.
  s.walk_seconds = (get(n.walk_ns) - std::min(get(n.walk_ns), get(n.mkdir_ns))) / 1e9;
  s.mkdir_seconds = get(n.mkdir_ns) / 1e9;
  s.file_seconds = get(n.file_ns) / 1e9;
  s.paced_seconds = impl_->pacer.waited();
  s.yielded_seconds = impl_->pacer.yielded();
  std::lock_guard lock(impl_->mu);
  s.scan_done = impl_->begun && impl_->scans_pending == 0;
  s.finished = impl_->finished;
  int64_t el = impl_->elapsed_ns;
  if (el >= 0)
    s.elapsed = el / 1e9;
  else if (impl_->begun)
    s.elapsed = std::chrono::duration<double>(Clock::now() - impl_->started).count();
  return s;
}

}  // namespace seedfs::seeding

#include "fs/coordinator.hpp"

#include <fcntl.h>

#include <functional>

#include <spdlog/spdlog.h>

#include "seeding/materialize.hpp"

namespace seedfs::fs {
namespace {

using seeding::Done;
using sys::last_error;
using sys::make_error;

std::string parent_of(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string name_of(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// Hooks for a walk run while the exclusive lock is held: no locking, only the
// journal decides.
class JournalOnly final : public seeding::Hooks {
 public:
  explicit JournalOnly(Journal& j) : j_(j) {}
  bool guard(std::string_view rel, seeding::EntryKind, seeding::FunctionRef<void()> make) override {
    if (j_.hides(rel)) return false;
    make();
    return true;
  }

 private:
  Journal& j_;
};

}  // namespace

RwLock::RwLock() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&l_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

RwLock::~RwLock() { pthread_rwlock_destroy(&l_); }

bool Coordinator::guard(std::string_view rel, seeding::EntryKind,
                        seeding::FunctionRef<void()> make) {
  std::shared_lock lock(rw_);
  if (layers_.journal().hides(rel)) return false;
  make();
  return true;
}

bool Coordinator::busy() {
  auto last = std::chrono::steady_clock::duration(last_request_ns_.load(std::memory_order_relaxed));
  return std::chrono::steady_clock::now().time_since_epoch() - last < kBusyWindow;
}

std::error_code Coordinator::ensure_dir(const std::string& rel) {
  struct stat st {};
  if (rel.empty() || !sys::lstat_at(layers_.upper(), rel.c_str(), st))
    return S_ISDIR(st.st_mode) || rel.empty() ? std::error_code{} : make_error(ENOTDIR);
  // Create the missing ancestors top-down, each with the root's mode.
  for (size_t end = rel.find('/');; end = rel.find('/', end + 1)) {
    std::string prefix = rel.substr(0, end);
    if (sys::lstat_at(layers_.upper(), prefix.c_str(), st)) {
      Found low = layers_.find_lower(prefix);
      if (!low || !S_ISDIR(low.st.st_mode)) return make_error(ENOENT);
      bool created = false;
      if (auto ec = seeding::make_dir(layers_.upper(), prefix.c_str(), low.st.st_mode, created))
        return ec;
      if (created) ++ahead_;
    } else if (!S_ISDIR(st.st_mode)) {
      return make_error(ENOTDIR);
    }
    if (end == std::string::npos) return {};
  }
}

std::error_code Coordinator::materialize(const std::string& rel) {
  if (layers_.find_upper(rel)) return {};
  Found low = layers_.find_lower(rel);
  if (!low) return make_error(ENOENT);
  if (auto ec = ensure_dir(parent_of(rel))) return ec;
  const char* p = rel.c_str();
  Done done;
  std::error_code ec;
  if (S_ISDIR(low.st.st_mode)) {
    bool created = false;
    ec = seeding::make_dir(layers_.upper(), p, low.st.st_mode, created);
  } else if (S_ISLNK(low.st.st_mode)) {
    ec = seeding::copy_symlink(layers_.lower(), p, layers_.upper(), p, layers_.t0(), done);
  } else if (S_ISREG(low.st.st_mode)) {
    auto method = *layers_.artifact().method_for(rel, low.st.st_mode);
    ec = seeding::materialize_file(layers_.lower(), p, layers_.upper(), p, method,
                                   layers_.rewrites(rel, low.st.st_mode), layers_.t0(), done,
                                   layers_.artifact().reflink_first);
  } else {
    ec = make_error(EOPNOTSUPP);  // never seeded: FIFOs, sockets, devices
  }
  if (!ec && done.outcome == seeding::Outcome::changed) {
    layers_.note_changed(rel);  // changed between the look and the link: as if never there
    return make_error(ENOENT);
  }
  if (!ec && done.outcome != seeding::Outcome::kept) ++ahead_;
  return ec;
}

bool Coordinator::shared_with_root(const struct stat& st) {
  return S_ISREG(st.st_mode) && st.st_nlink > 1 && !is_view_link(st.st_ino);
}

std::mutex& Coordinator::path_mutex(const std::string& rel) {
  return copy_up_mu_[std::hash<std::string>{}(rel) % copy_up_mu_.size()];
}

std::error_code Coordinator::copy_up(const std::string& rel, const struct stat& st, bool empty) {
  std::error_code ec;
  sys::UniqueFd src = sys::open_at(layers_.upper(), rel.c_str(), O_RDONLY | O_NOFOLLOW, 0, ec);
  if (!src) return ec;
  sys::UniqueFd dir = sys::open_dir(layers_.upper(), at(parent_of(rel)), ec);
  if (!dir) return ec;
  Done done;
  ec = seeding::copy_file(src.get(), st, dir.get(), name_of(rel).c_str(),
                          seeding::CopyMode::replace, done, !empty);
  if (ec) {
    spdlog::error("copy-up of {} failed: {} (the root and the previous content are untouched)", rel,
                  ec.message());
    return ec;
  }
  ++copy_ups_;
  spdlog::info("copy-up {}{}: it shared its inode with the root", rel, empty ? " (truncated)" : "");
  return {};
}

std::error_code Coordinator::make_private(const std::string& rel, bool empty) {
  std::lock_guard lock(path_mutex(rel));
  Found up = layers_.find_upper(rel);
  if (!up) {
    Found low = layers_.find_lower(rel);
    if (!low) return make_error(ENOENT);
    if (!S_ISREG(low.st.st_mode)) return materialize(rel);
    if (auto ec = ensure_dir(parent_of(rel))) return ec;
    // A private copy straight from the root: linking first would only be copied up next.
    std::error_code ec;
    sys::UniqueFd src = sys::open_at(layers_.lower(), rel.c_str(), O_RDONLY | O_NOFOLLOW, 0, ec);
    if (!src) return ec;
    sys::UniqueFd dir = sys::open_dir(layers_.upper(), at(parent_of(rel)), ec);
    if (!dir) return ec;
    Done done;
    // keep_existing: if the materializer linked it meanwhile, the check below
    // copies it up. Judged against T0 before and after, as the materializer's copies.
    if ((ec = seeding::copy_file(src.get(), low.st, dir.get(), name_of(rel).c_str(),
                                 seeding::CopyMode::keep_existing, done, !empty, false, nullptr, &layers_.t0(),
                                 layers_.rewrites(rel, low.st.st_mode))))
      return ec;
    if (done.outcome == seeding::Outcome::changed) {
      layers_.note_changed(rel);
      return make_error(ENOENT);
    }
    ++ahead_;
    up = layers_.find_upper(rel);
    if (!up) return make_error(ENOENT);
  }
  if (shared_with_root(up.st)) return copy_up(rel, up.st, empty);
  return {};
}

std::error_code Coordinator::materialize_subtree(const std::string& rel) {
  if (auto ec = materialize(rel)) return ec;
  Found low = layers_.find_lower(rel);
  if (!low || !S_ISDIR(low.st.st_mode)) return {};
  std::error_code ec;
  sys::UniqueFd lower = sys::open_dir(layers_.lower(), ".", ec);
  sys::UniqueFd upper = sys::open_dir(layers_.upper(), ".", ec);
  if (!lower || !upper) return ec;
  JournalOnly hooks(layers_.journal());
  seeding::Options opts;
  opts.workers = 0;  // in this thread, under the caller's exclusive lock
  opts.subtree = rel;
  opts.hooks = &hooks;
  opts.t0 = layers_.t0();
  opts.on_changed = [this](std::string_view changed) { layers_.note_changed(changed); };
  seeding::Seeder walk(std::move(lower), std::move(upper), layers_.artifact(), opts);
  auto failure = walk.run();
  if (failure) return failure->ec;
  ahead_ += walk.stats().linked + walk.stats().copied + walk.stats().reflinked;
  return {};
}

std::error_code Coordinator::record_deletion(const std::string& rel) {
  return layers_.journal().record(rel);
}

void Coordinator::note_view_link(ino_t ino) {
  std::lock_guard lock(links_mu_);
  view_links_.insert(ino);
  has_view_links_ = true;
}

bool Coordinator::is_view_link(ino_t ino) {
  if (!has_view_links_) return false;
  std::lock_guard lock(links_mu_);
  return view_links_.count(ino) > 0;
}

}  // namespace seedfs::fs

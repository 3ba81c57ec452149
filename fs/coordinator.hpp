// How the view and the background materializer agree per path (DESIGN.md,
// data flow step 5), and the copy-up that keeps the root's inodes untouched.
//
// One reader-writer lock orders them. The materializer's workers and the
// view's ordinary operations (which may materialize a path on first touch)
// hold it shared, so they run in parallel; both sides create entries with
// link/O_EXCL semantics, so whoever comes second just finds the entry there.
// Deleting or renaming an entry the root has takes it exclusively: the
// deletion is recorded in the journal and carried out while no worker is
// between its "is this path still wanted?" check and its link.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "fs/layers.hpp"
#include "seeding/seeder.hpp"

namespace seedfs::fs {

// A writer-preferring rwlock: a steady stream of materializer workers must
// not starve a deletion waiting for the exclusive side.
class RwLock {
 public:
  RwLock();
  ~RwLock();
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  void lock() { pthread_rwlock_wrlock(&l_); }
  void unlock() { pthread_rwlock_unlock(&l_); }
  void lock_shared() { pthread_rwlock_rdlock(&l_); }
  void unlock_shared() { pthread_rwlock_unlock(&l_); }

 private:
  pthread_rwlock_t l_;
};

class Coordinator final : public seeding::Hooks {
 public:
  explicit Coordinator(Layers& layers) : layers_(layers) {}

  // seeding::Hooks: the materializer asks before it creates `rel`.
  bool guard(std::string_view rel, seeding::EntryKind kind,
             seeding::FunctionRef<void()> make) override;
  // seeding::Hooks: the view served a request in the last kBusyWindow. Then a
  // materializer below normal priority yields: the build comes first.
  bool busy() override;
  static constexpr std::chrono::milliseconds kBusyWindow{100};
  // Every request the view serves calls this (cheap: one clock read, one store).
  void note_request() {
    last_request_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

  std::shared_lock<RwLock> shared() { return std::shared_lock(rw_); }
  std::unique_lock<RwLock> exclusive() { return std::unique_lock(rw_); }

  // The functions below expect the caller to hold the lock (either side).

  // Makes directory `rel` and its ancestors exist in the workspace dir.
  std::error_code ensure_dir(const std::string& rel);
  // Makes `rel` exist in the workspace dir, linked or copied by the rules.
  std::error_code materialize(const std::string& rel);
  // Makes `rel` a file of the workspace's own, never sharing the root's
  // inode, ready to be changed: a copy where it is not there yet, a copy-up
  // where it is a hardlink. `empty`: the caller truncates it to 0 anyway.
  std::error_code make_private(const std::string& rel, bool empty);
  // Materializes everything below directory `rel` (before it is renamed).
  // The caller holds the lock exclusively.
  std::error_code materialize_subtree(const std::string& rel);
  // Records that `rel` was deleted or renamed away (exclusive lock held).
  std::error_code record_deletion(const std::string& rel);

  // Hardlinks made through the view are the workspace's own: a write through
  // one name must reach the others, so they are not copied up.
  void note_view_link(ino_t ino);
  bool is_view_link(ino_t ino);
  bool any_view_links() const { return has_view_links_; }

  uint64_t copy_ups() const { return copy_ups_; }
  uint64_t materialized_ahead() const { return ahead_; }

 private:
  // Does `st` (an upper file) share its inode with the root? Hardlinks made by
  // the materializer or found in the root have a link count above 1.
  bool shared_with_root(const struct stat& st);
  std::error_code copy_up(const std::string& rel, const struct stat& st, bool empty);
  std::mutex& path_mutex(const std::string& rel);

  Layers& layers_;
  RwLock rw_;
  std::array<std::mutex, 64> copy_up_mu_;  // one copy-up per path at a time
  std::mutex links_mu_;
  std::unordered_set<ino_t> view_links_;
  std::atomic<bool> has_view_links_{false};
  std::atomic<uint64_t> copy_ups_{0}, ahead_{0};
  std::atomic<int64_t> last_request_ns_{0};
};

}  // namespace seedfs::fs

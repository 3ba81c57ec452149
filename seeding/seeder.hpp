// The seeding engine: walks the root artifact dir, creates its directories in
// the workspace dir and makes every file exist there (link or copy, by the
// artifact's rules) with a pool of worker threads.
//
//   Seeder s(root_fd, ws_fd, artifact, opts);
//   s.start();                      // background threads
//   s.stats();                      // progress, any time, from any thread
//   s.cancel();                     // stop early
//   auto failure = s.wait();        // join; the first error, if any
//
// `seedfs seed` runs it in the foreground; the FUSE view runs it in the
// background and coordinates with it per path through `Hooks`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "config/config.hpp"
#include "seeding/instant.hpp"
#include "seeding/sys.hpp"

namespace seedfs::seeding {

// A non-owning reference to a callable, cheaper than std::function on the hot path.
template <class Sig>
class FunctionRef;
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(a)...);
        }) {}
  R operator()(Args... a) const { return call_(obj_, std::forward<Args>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

enum class EntryKind { directory, file, symlink };

// How the caller of the engine (the FUSE view) keeps it from racing its own
// changes. Before the engine makes `rel` exist in the workspace dir it calls
// `guard`; the caller takes its lock, decides whether `rel` is still to be
// materialized (it may have been deleted, renamed or rewritten through the
// view), and if so calls `make` while holding the lock.
class Hooks {
 public:
  virtual ~Hooks() = default;
  // Returns false, without calling `make`, when `rel` must be left alone.
  virtual bool guard(std::string_view rel, EntryKind kind, FunctionRef<void()> make) = 0;
  // Someone is being served right now (a build through the view): below
  // normal priority the engine yields to it (seeding/pace.hpp, Pacer).
  virtual bool busy() { return false; }
};

struct Options {
  unsigned workers = 2;        // threads; 0 runs everything in the thread that calls run()
  bool apply_skip = true;      // false: --no-skip
  bool dry_run = false;        // walk and decide, create nothing
  std::string subtree;         // walk only below this dir (relative; it must exist in dest)
  std::chrono::microseconds throttle{0};  // a pause before each file (tests: act while it runs)
  size_t batch_size = 256;     // files of one directory handed to a worker at once
  // Limits and the priority of the worker threads (seeding/pace.hpp).
  config::Pace pace;
  Hooks* hooks = nullptr;
  // The root as it was at T0 (seeding/instant.hpp): what changed after it,
  // or is gone, is left out. Unset: everything found is materialized.
  Instant t0;
  // Told the path of each entry left out for that (from a worker thread).
  std::function<void(std::string_view rel)> on_changed;
};

// A snapshot of the counters. Files are regular files and symlinks.
struct Stats {
  uint64_t files_found = 0;   // seen by the walk and not skipped
  uint64_t files_done = 0;    // materialized, kept, or left to the view
  uint64_t dirs_found = 0;
  uint64_t dirs_created = 0;
  uint64_t linked = 0, reflinked = 0, copied = 0, kept = 0, symlinks = 0;
  uint64_t skipped_rule = 0;  // entries matched by a skip rule (a pruned dir counts once)
  uint64_t dirs_pruned = 0;   // of those, directories not entered
  uint64_t skipped_type = 0;  // FIFOs, sockets, devices
  uint64_t left_to_view = 0;  // paths the view told the engine to leave alone
  uint64_t changed = 0;       // root entries changed after T0, or gone: left out
  uint64_t bytes = 0;         // size of the files linked or copied (a dry run: would be)
  uint64_t copy_bytes = 0;    // of those, the files copied or reflinked: what takes space in the workspace
  bool scan_done = false;     // files_found is final
  bool finished = false;
  double elapsed = 0;         // seconds since start
  // Time spent in each activity, summed over threads (they overlap in wall time).
  double walk_seconds = 0, mkdir_seconds = 0, file_seconds = 0;
  double paced_seconds = 0;   // spent waiting for the rate limits, summed over threads
  double yielded_seconds = 0; // spent yielding to a busy caller (Hooks::busy), likewise
};

struct Failure {
  std::string path;  // relative to the artifact dir
  std::string op;    // "open", "link", "copy", ...
  std::error_code ec;
  std::string to_string() const;
};

class Seeder {
 public:
  Seeder(sys::UniqueFd root, sys::UniqueFd dest, config::Artifact artifact, Options opts);
  ~Seeder();  // cancels and joins
  Seeder(const Seeder&) = delete;
  Seeder& operator=(const Seeder&) = delete;

  void start();                       // runs on opts.workers background threads
  std::optional<Failure> run();       // runs in this thread (and the workers) until done
  std::optional<Failure> wait();      // joins; the first failure, if any
  bool wait_for(std::chrono::milliseconds timeout);  // true once finished
  void cancel();                      // stop early; wait() then reports no failure
  bool cancelled() const;
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seedfs::seeding

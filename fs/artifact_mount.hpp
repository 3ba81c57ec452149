// One artifact's mount from start to end: open the root and workspace dirs,
// mount the view over the workspace dir, materialize in the background, and
// unmount when done (or when asked to stop), keeping the journal for a resume.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "fs/coordinator.hpp"
#include "fs/journal.hpp"
#include "fs/layers.hpp"
#include "fs/mount.hpp"
#include "fs/overlay.hpp"
#include "seeding/seeder.hpp"

namespace seedfs::fs {

struct MountSettings {
  config::Artifact artifact;
  std::filesystem::path root_dir;      // <root>/target
  std::filesystem::path ws_dir;        // <ws>/target: the mount point
  std::filesystem::path journal_file;  // the deletions made through the view
  // The root as it was at T0 (seeding/instant.hpp): what the root changes
  // after it is neither shown nor materialized.
  seeding::Instant t0;
  unsigned workers = 2;
  std::chrono::microseconds throttle{0};  // tests: a pause per materialized file
  config::Pace pace;                      // the materializer's limits and priority
  unsigned max_threads = 64;
  // FUSE passthrough where the kernel and privileges allow (fs/passthrough.hpp).
  bool passthrough = true;
  // Lazy: no materializer; the view stays until stop(), and a file is copied
  // (never hardlinked) into the workspace dir only when it is written.
  bool keep_mounted = false;
  // Called, with no lock held, whenever the phase changes and when the mount
  // has finished: `seedfs wait` and the daemon's exit follow at once.
  std::function<void()> on_change;
};

enum class Phase {
  scanning,       // materializing while the walk still finds files
  materializing,  // the total is known
  draining,       // all materialized; unmounting, or serving files still open
  done,           // unmounted: the workspace dir is a plain directory
  failed,         // materialization failed; the view stays usable until unmounted
  stopped,        // unmounted on request before the end; a new mount resumes
  kept,           // kept mounted (keep_mounted): serving the view until stopped
};
const char* to_string(Phase p);

struct MountStatus {
  std::string artifact;
  std::string mountpoint, root;
  Phase phase = Phase::scanning;
  seeding::Stats stats;
  config::Pace pace;
  uint64_t copy_ups = 0;
  uint64_t deletions = 0;           // recorded in the journal
  uint64_t changed_after_t0 = 0;    // root entries left out: the root changed them after T0
  seeding::Instant t0;
  uint64_t materialized_ahead = 0;  // by the view, before the walk reached them
  int open_handles = 0;
  bool passthrough = false;  // the kernel serves opened files' data itself
  uint64_t daemon_reads = 0;  // READ requests the daemon served
  bool lazy = false;  // unmounted lazily: still serving open files
  bool keep_mounted = false;
  std::string error;
};

class ArtifactMount {
 public:
  explicit ArtifactMount(MountSettings s);
  ~ArtifactMount();
  ArtifactMount(const ArtifactMount&) = delete;
  ArtifactMount& operator=(const ArtifactMount&) = delete;

  // Opens both dirs (creating the workspace dir if missing), loads the
  // journal and mounts the view. The view is live when this returns.
  std::error_code mount(std::string& why);
  // Starts the materializer and the thread that unmounts when it is done
  // (keep_mounted: only the thread that unmounts on stop()).
  void start();
  // Stops early: cancels the materializer and unmounts (lazily if busy).
  void stop();
  MountStatus status() const;
  // True once the mount is gone and its session has ended.
  bool finished() const;
  bool wait_for(std::chrono::milliseconds timeout);

 private:
  void supervise();
  void keep();  // the supervisor of a kept view: waits for stop()
  void set_phase(Phase p, std::string error = {});
  void changed() const;
  void unmount_and_drain(Phase final_phase);

  MountSettings s_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Layers> layers_;
  std::unique_ptr<Coordinator> coord_;
  std::unique_ptr<Overlay> overlay_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<seeding::Seeder> seeder_;
  std::thread supervisor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::scanning;
  std::string error_;
  bool stop_requested_ = false;
  bool lazy_ = false;
  bool finished_ = false;
};

}  // namespace seedfs::fs

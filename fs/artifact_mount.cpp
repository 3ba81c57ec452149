#include "fs/artifact_mount.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/passthrough.hpp"

namespace seedfs::fs {

const char* to_string(Phase p) {
  switch (p) {
    case Phase::scanning: return "scanning";
    case Phase::materializing: return "materializing";
    case Phase::draining: return "draining";
    case Phase::done: return "done";
    case Phase::failed: return "failed";
    case Phase::stopped: return "stopped";
    case Phase::kept: return "kept";
  }
  return "?";
}

ArtifactMount::ArtifactMount(MountSettings s) : s_(std::move(s)) {
  // What a kept view writes stays in the workspace dir after the unmount, and
  // the root is not behind it any more: nothing there may share its inode.
  if (s_.keep_mounted) s_.artifact.drop_hardlinks();
}

ArtifactMount::~ArtifactMount() {
  stop();
  if (supervisor_.joinable()) supervisor_.join();
  seeder_.reset();   // joins its workers before the view they call into goes
  if (overlay_) overlay_->watch.reset();  // tells the session: before the session goes
  session_.reset();  // unmounts if still mounted, joins the loop
}

std::error_code ArtifactMount::mount(std::string& why) {
  // spdlog makes its default logger on first use: here, before the threads
  // that log (the view's, the materializer's) can race to make it.
  spdlog::default_logger_raw();
  std::error_code ec;
  sys::UniqueFd lower = sys::open_dir(AT_FDCWD, s_.root_dir.c_str(), ec);
  if (!lower) return why = "cannot open " + s_.root_dir.string(), ec;
  struct stat st {};
  ::fstat(lower.get(), &st);
  if (::mkdir(s_.ws_dir.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST)
    return why = "cannot create " + s_.ws_dir.string(), sys::last_error();
  // Opened before the mount covers it: from now on the real directory is
  // reachable only through this fd.
  sys::UniqueFd upper = sys::open_dir(AT_FDCWD, s_.ws_dir.c_str(), ec);
  if (!upper) return why = "cannot open " + s_.ws_dir.string(), ec;
  journal_ = Journal::open(s_.journal_file, upper.get(), ec);
  if (!journal_) return why = "cannot open the journal " + s_.journal_file.string(), ec;

  layers_ = std::make_unique<Layers>(std::move(lower), std::move(upper), s_.artifact, *journal_, s_.t0);
  coord_ = std::make_unique<Coordinator>(*layers_);
  overlay_ = std::make_unique<Overlay>(*layers_, *coord_);
  overlay_->on_idle = [this] { cv_.notify_all(); };
  session_ = std::make_unique<Session>();
  if ((ec = session_->mount(s_.ws_dir.string(), Overlay::operations(), overlay_.get(), "seedfs")))
    return why = "cannot mount the view over " + s_.ws_dir.string(), ec;
  overlay_->session = session_->session();
  overlay_->watch = std::make_unique<RootWatch>(layers_->lower(), [ov = overlay_.get()](const std::string& dir,
                                                                                    const std::string& name) {
    ov->root_changed(dir, name);
  });
  // Only a process with CAP_SYS_ADMIN may hand the kernel backing files.
  overlay_->io.want(s_.passthrough && ::geteuid() == 0);
  passthrough::install(session_->session(), [](void* ov) -> passthrough::IoModes& {
    return static_cast<Overlay*>(ov)->io;
  });
  session_->serve(s_.max_threads);
  return {};
}

void ArtifactMount::start() {
  if (s_.keep_mounted) {
    set_phase(Phase::kept);
    supervisor_ = std::thread([this] { keep(); });
    return;
  }
  std::error_code ec;
  seeding::Options opts;
  opts.workers = s_.workers;
  opts.throttle = s_.throttle;
  opts.pace = s_.pace;
  opts.hooks = coord_.get();
  opts.t0 = s_.t0;
  opts.on_changed = [layers = layers_.get()](std::string_view rel) { layers->note_changed(rel); };
  auto seeder = std::make_unique<seeding::Seeder>(sys::open_dir(layers_->lower(), ".", ec),
                                                  sys::open_dir(layers_->upper(), ".", ec), s_.artifact, opts);
  seeder->start();
  {
    // status() may already be asked (the control socket serves once the view is live).
    std::lock_guard lock(mu_);
    seeder_ = std::move(seeder);
    if (stop_requested_) seeder_->cancel();  // stop() came before there was a seeder to cancel
  }
  supervisor_ = std::thread([this] { supervise(); });
}

void ArtifactMount::set_phase(Phase p, std::string error) {
  {
    std::lock_guard lock(mu_);
    phase_ = p;
    if (!error.empty()) error_ = std::move(error);
    cv_.notify_all();
  }
  changed();
}

void ArtifactMount::changed() const {
  if (s_.on_change) s_.on_change();
}

void ArtifactMount::supervise() {
  while (!seeder_->wait_for(std::chrono::milliseconds(200))) {
    std::unique_lock lock(mu_);
    if (stop_requested_) break;
    if (phase_ == Phase::scanning && seeder_->stats().scan_done) {
      phase_ = Phase::materializing;
      lock.unlock();
      changed();
    }
  }
  auto failure = seeder_->wait();
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stop_requested_;
  }
  if (stopping) return unmount_and_drain(Phase::stopped);
  if (failure) {
    std::string what = (s_.root_dir / failure->path).string() + ": " + failure->op + ": " +
                       failure->ec.message();
    spdlog::error("materializing {} failed: {}; the view stays usable until `seedfs unmount`",
                  s_.artifact.name, what);
    set_phase(Phase::failed, what);
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_requested_; });
    lock.unlock();
    return unmount_and_drain(Phase::stopped);
  }
  spdlog::info("materialized {}: {} files; unmounting", s_.artifact.name, seeder_->stats().files_done);
  set_phase(Phase::draining);
  unmount_and_drain(Phase::done);
}

void ArtifactMount::keep() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_requested_; });
  }
  spdlog::info("unmounting the kept view of {}: {} copy-ups, {} deletions recorded", s_.artifact.name,
               coord_->copy_ups(), journal_->size());
  unmount_and_drain(Phase::stopped);
}

void ArtifactMount::unmount_and_drain(Phase final_phase) {
  bool lazy = false;
  if (auto ec = session_->unmount(lazy)) {
    spdlog::error("unmounting {}: {}", s_.ws_dir.string(), ec.message());
    set_phase(Phase::failed, "unmount: " + ec.message());
    return;
  }
  if (lazy) {
    spdlog::info("{} is busy (open files or a working directory inside): unmounted lazily, "
                 "serving them until they are released", s_.ws_dir.string());
    {
      std::lock_guard lock(mu_);
      lazy_ = true;
    }
    changed();  // settled for `seedfs wait`: new opens already reach the plain directory
  }
  while (!session_->wait_for(std::chrono::milliseconds(500))) {
  }
  overlay_->watch.reset();  // nothing is cached any more
  overlay_->close_orphaned_handles();
  spdlog::info("{} {}: {}", final_phase == Phase::done ? "done" : "stopped", s_.artifact.name,
               s_.ws_dir.string());
  {
    std::lock_guard lock(mu_);
    phase_ = final_phase;
    finished_ = true;
    cv_.notify_all();
  }
  changed();
}

void ArtifactMount::stop() {
  std::lock_guard lock(mu_);
  stop_requested_ = true;
  if (seeder_) seeder_->cancel();
  cv_.notify_all();
}

MountStatus ArtifactMount::status() const {
  MountStatus st;
  st.artifact = s_.artifact.name;
  st.mountpoint = s_.ws_dir.string();
  st.root = s_.root_dir.string();
  st.pace = s_.pace;
  seeding::Seeder* seeder = nullptr;
  {
    std::lock_guard lock(mu_);
    seeder = seeder_.get();  // set once by start(); lives as long as this mount
  }
  if (seeder) st.stats = seeder->stats();
  if (coord_) {
    st.copy_ups = coord_->copy_ups();
    st.materialized_ahead = coord_->materialized_ahead();
  }
  if (journal_) st.deletions = journal_->size();
  if (layers_) st.changed_after_t0 = layers_->changed_count();
  st.t0 = s_.t0;
  if (overlay_) st.open_handles = overlay_->open_handles;
  if (overlay_) {
    st.passthrough = overlay_->io.negotiated();
    st.daemon_reads = overlay_->reads;
  }
  std::lock_guard lock(mu_);
  st.phase = phase_;
  st.error = error_;
  st.lazy = lazy_;
  st.keep_mounted = s_.keep_mounted;
  return st;
}

bool ArtifactMount::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

bool ArtifactMount::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return finished_; });
}

}  // namespace seedfs::fs

// T0: the one instant whose root a workspace sees (DESIGN.md, invariant 7).
//
// The root is not frozen while a workspace seeds from it: the developer goes
// back to the main checkout and builds. A root entry created, rewritten,
// replaced or deleted after T0 must then be neither shown by the view nor
// materialized, so that cargo finds that unit's outputs missing and rebuilds
// it from the workspace's own sources. Nothing is walked at T0 (the view must
// be live at once), so an entry is judged afterwards, by its own times:
//
//   - mtime >= T0: written after T0. (cargo sets a dep-info file's mtime back
//     only to the time its unit started, which is >= T0 when no build held
//     the root's lock at T0: T0 is taken while seedfs holds it shared.)
//   - birth time >= T0: a new inode, even one given old times (`cp -p`).
//   - ctime >= T0, for a file that tools may rewrite in place (fingerprints,
//     build-script output, executables): rewritten and its mtime set back,
//     or renamed or linked onto this name. ctime is not used for the files
//     the link rules name, which tools only ever replace: their ctime also
//     moves when another seedfs hardlinks them into a second worktree, which
//     must not make worktrees seeded together rebuild each other's units.
//   - a directory: only its birth time (its times move whenever an entry is
//     added); its entries are judged one by one.
//
// Timestamps come from the kernel's coarse clock, which lags CLOCK_REALTIME
// by up to a tick: T0 is read from that clock, so a write after T0 never
// looks older than T0. An entry stamped with T0 itself counts as changed.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

namespace seedfs::seeding {

// How tools change a root file once it is built.
enum class Rewrites {
  replace_only,  // written elsewhere and renamed over (the link rules): one inode, one content
  in_place,      // may be rewritten in place, its mtime set back (cargo's dep-info)
};

class Instant {
 public:
  // No instant: every entry shows (the engine on its own, in unit tests).
  Instant() = default;
  static Instant at_ns(int64_t ns) { return Instant(ns); }
  // Now, as the file timestamps of the filesystem of `root_fd` will say it.
  static Instant now(int root_fd);

  bool set() const { return ns_ != kUnset; }
  int64_t ns() const { return ns_; }
  // "2026-12-07 01:52:39.123 UTC"
  std::string to_string() const;

  // Whether a root entry, as statx(2) describes it (with STATX_BTIME asked),
  // is as it was at T0.
  bool shows(const struct statx& sx, Rewrites how) const;

 private:
  static constexpr int64_t kUnset = INT64_MIN;
  explicit Instant(int64_t ns) : ns_(ns) {}
  int64_t ns_ = kUnset;
};

// T0 of one workspace dir, kept in the state dir: a workspace seeded from the
// root as it was at T0 keeps that T0 for as long as the dir exists (a resumed
// mount, a later `seedfs seed`), or it would mix units of two instants. The
// record names the dir (device, inode, birth time): a dir removed and made
// anew starts with a new T0.
std::optional<Instant> load_instant(const std::filesystem::path& file, int ws_dir_fd);
std::error_code save_instant(const std::filesystem::path& file, int ws_dir_fd, Instant t0);

}  // namespace seedfs::seeding

// The two directories behind the view: the root artifact dir (lower, read
// only) and the workspace dir (upper), both reached only through fds opened
// before the mount covered the workspace dir. A name resolves in the upper
// first, then in the lower unless a skip rule or a recorded deletion hides
// it, or the root changed it after T0 (seeding/instant.hpp).
#pragma once

#include <sys/stat.h>

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "config/config.hpp"
#include "fs/journal.hpp"
#include "seeding/instant.hpp"
#include "seeding/sys.hpp"

namespace seedfs::fs {

enum class Layer { none, upper, lower };

struct Found {
  Layer layer = Layer::none;
  struct stat st {};
  int err = 0;  // layer none because the root could not be asked (EACCES...): that errno
  bool changed = false;  // layer none because the root changed it after T0
  explicit operator bool() const { return layer != Layer::none; }
};

// "" is the artifact dir itself; syscalls relative to a dir fd want ".".
inline const char* at(const std::string& rel) { return rel.empty() ? "." : rel.c_str(); }
std::string join(std::string_view parent, std::string_view name);

class Layers {
 public:
  Layers(sys::UniqueFd lower, sys::UniqueFd upper, config::Artifact artifact, Journal& journal,
         seeding::Instant t0 = {});

  int lower() const { return lower_.get(); }
  int upper() const { return upper_.get(); }
  const config::Artifact& artifact() const { return artifact_; }
  Journal& journal() const { return journal_; }
  const seeding::Instant& t0() const { return t0_; }

  // May the root's entry at `rel` show in the view? Not when a skip rule
  // matches it or prunes one of its ancestors, nor when it was deleted through the view.
  bool lower_visible(std::string_view rel, bool is_dir) const;
  // The same for an entry of a directory already known visible: only the
  // entry's own name is checked against the skip rules.
  bool child_visible(std::string_view rel, bool is_dir) const;
  // Only what seeding materializes shows: files, directories, symlinks.
  static bool seeded_type(mode_t mode) { return S_ISREG(mode) || S_ISDIR(mode) || S_ISLNK(mode); }

  // Upper first, then the visible lower. `parent_in_lower` false skips the
  // lower: the parent is not a directory there (absent, hidden, or a symlink,
  // which must never be followed into).
  Found find(const std::string& rel, bool parent_in_lower = true) const;
  // For a node the kernel already knows (it was visible when looked up, and
  // every change through the view went through the view): no skip-rule or
  // journal checks, but the root's entry must still be as at T0 and, where
  // `lower_ino` is given, the inode it was looked up as.
  Found find_known(const std::string& rel, bool in_lower, ino_t lower_ino = 0) const;
  Found find_upper(const std::string& rel) const;
  Found find_lower(const std::string& rel) const;  // only if visible
  // The root has an entry at `rel` that the skip rules and the journal let
  // show, as at T0 or not (a deletion through the view records it either way).
  bool lower_exists(const std::string& rel) const;

  // Whether a root entry at `rel`, as statx describes it, is as at T0; one
  // that is not is noted (changed_count, and the log).
  bool as_at_t0(std::string_view rel, const struct statx& sx) const;
  seeding::Rewrites rewrites(std::string_view rel, mode_t mode) const;
  // An entry left out because the root changed it after T0 (or removed it):
  // by the view or the materializer. Each path is counted once.
  void note_changed(std::string_view rel) const;
  size_t changed_count() const;

 private:
  sys::UniqueFd lower_, upper_;
  config::Artifact artifact_;
  Journal& journal_;
  seeding::Instant t0_;
  mutable std::mutex changed_mu_;
  mutable std::unordered_set<std::string> changed_;
};

}  // namespace seedfs::fs

// Making one root entry exist in the workspace dir: the primitives shared by
// the seeding engine and the FUSE view (which materializes a path on first
// touch and copies up shared files before changing them).
//
// Every function works relative to directory fds and never writes to the source.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <system_error>

#include "config/config.hpp"
#include "seeding/instant.hpp"
#include "seeding/pace.hpp"

namespace seedfs::seeding {

enum class Outcome {
  linked,     // a hardlink to the root's inode
  reflinked,  // a copy sharing the root's blocks (FICLONE)
  copied,     // a copy of the bytes
  kept,       // the destination already existed: left as it was
  symlinked,  // a new symlink with the same target
  changed,    // the root's entry changed after T0 (or is gone): nothing made
};

struct Done {
  Outcome outcome = Outcome::kept;
  uint64_t bytes = 0;  // the file's size, for linked and copied files
};

// Regular file `src_name` in `src_dir` → `dst_name` in `dst_dir`, as the
// root had it at `t0` (seeding/instant.hpp): a file changed after T0, or gone,
// is left out (Outcome::changed). `how` says how tools change it.
// `method` link: with `reflink_first`, a reflink where the filesystem can
// (the root's blocks, a new inode: nothing written later reaches the root);
// else a hardlink of the very inode that was judged; where the kernel refuses
// one (EXDEV, EPERM, EMLINK, ENOTSUP) a reflink or copy instead. `method`
// copy: a reflink or copy, discarded if the source changed while it was made.
// An existing destination is kept.
// Bytes copied pass `pacer`, if given (the background materializer's pace).
std::error_code materialize_file(int src_dir, const char* src_name, int dst_dir, const char* dst_name,
                                 config::Method method, Rewrites how, const Instant& t0, Done& done,
                                 bool reflink_first = false, Pacer* pacer = nullptr);

// False once a reflink from the filesystem `dev` failed as unsupported (ext4,
// tmpfs, or another filesystem as destination): callers stop asking there.
bool reflink_may_work(dev_t dev);

enum class CopyMode {
  keep_existing,  // an existing destination wins (seeding)
  replace,        // atomically replace the destination (copy-up)
};

// Copies the open regular file `src_fd` (whose stat is `st`) to `dst_name`,
// preserving mode, owner (when root) and times. The copy appears under its
// name whole or not at all: it is written as an O_TMPFILE and linked in.
// Without `data` the copy is empty (for a copy-up that truncates to 0 anyway).
// `reflink_only`: EOPNOTSUPP, with nothing created, where the data cannot be reflinked.
// `pacer`: as for materialize_file; ECANCELED, with nothing created, once it says stop.
// `t0`: `src_fd` is a root file, judged (`how`) before and again after its
// data is copied; if it is not as at T0, nothing is created and the outcome is
// Outcome::changed (a copy torn by a rewrite in place is never published).
std::error_code copy_file(int src_fd, const struct stat& st, int dst_dir, const char* dst_name,
                          CopyMode mode, Done& done, bool data = true, bool reflink_only = false,
                          Pacer* pacer = nullptr, const Instant* t0 = nullptr,
                          Rewrites how = Rewrites::in_place);

// Recreates the symlink `src_name` with the same target text (never followed)
// and the same times, if it is as at `t0`. An existing destination is kept.
std::error_code copy_symlink(int src_dir, const char* src_name, int dst_dir,
                             const char* dst_name, const Instant& t0, Done& done);

// Creates directory `name` with `mode` plus owner rwx (so that it can be filled;
// the caller restores `mode` afterwards where it differs). `created` tells
// whether it is new; an existing directory is fine, anything else is ENOTDIR.
// `widened`: the directory, new or not, has that mode plus owner rwx where
// `mode` lacks it, as this function leaves it (a run that was interrupted, or
// the view, made it): the caller restores `mode` for it too.
std::error_code make_dir(int dst_dir, const char* name, mode_t mode, bool& created,
                         bool* widened = nullptr);

}  // namespace seedfs::seeding

// What build dirs take on disk, and what deleting each would free (`seedfs du`).
//
// Worktrees seeded from one root share bytes two ways: hardlinks (one inode,
// several names) and reflinks (several inodes, shared extents, on btrfs and
// XFS). `du` counts a hardlinked inode once across its arguments, under the
// first argument that reaches it, and cannot see reflinks at all, so neither
// its per-dir figures nor their sum say what deleting a dir frees. This walk
// does: one parallel pass over every dir, every inode with more than one link
// kept in a table so that each dir learns whether all its names are inside it,
// and FIEMAP asked for the shared extents only where the filesystem can have
// them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seedfs::usage {

struct DirUsage {
  std::filesystem::path dir;
  uint64_t files = 0;     // regular files and symlinks, by name
  uint64_t dirs = 0;      // directories, itself included
  uint64_t apparent = 0;  // the sum of their sizes (st_size)
  uint64_t on_disk = 0;   // allocated bytes of what it holds, each inode once
  // Allocated bytes of inodes that also have a name outside this dir (a
  // hardlink from another worktree, or the root): deleting the dir frees none of it.
  uint64_t shared_links = 0;
  // Of its own inodes, bytes in extents shared with other files (reflinks):
  // deleting the dir frees none of those either, while the other files live.
  uint64_t shared_extents = 0;
  // What deleting the dir would free: on_disk - shared_links - shared_extents.
  uint64_t own() const { return on_disk - shared_links - shared_extents; }
  std::string error;  // the first entry that could not be read, with its path
};

struct Usage {
  std::vector<DirUsage> dirs;  // in the order given
  // Really on disk for all of them: each inode once, each shared extent once.
  uint64_t total_on_disk = 0;
  // What `du -s -B1` over the same dirs adds up to: each inode once, extents
  // counted per file (du cannot see reflinks).
  uint64_t du_total = 0;
  bool extents_asked = false;  // some dir is on a filesystem that can share extents
};

// Measures `dirs` (each walked whole, not following symlinks, not crossing
// into other mounts) on `threads` threads. A dir listed twice, or inside
// another, is measured on its own in each place.
Usage measure(const std::vector<std::filesystem::path>& dirs, unsigned threads);

}  // namespace seedfs::usage

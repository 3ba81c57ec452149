// The deletions made through the view: root paths that were deleted or
// renamed away and must never show again — not from the root, not by the
// materializer, not after a restart, not by a later mount of the same
// workspace. Kept in memory and appended to a file beside the daemon state,
// before the deletion is carried out. The file belongs to one workspace dir
// (its device and inode are its first line): when the dir is removed and made
// anew, the deletions it recorded no longer apply and the journal starts over.
#pragma once

#include <filesystem>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "seeding/sys.hpp"

namespace seedfs::fs {

class Journal {
 public:
  // Opens `file` (creating it and its directory) and loads what it records
  // for the workspace dir `upper_fd`.
  static std::unique_ptr<Journal> open(const std::filesystem::path& file, int upper_fd,
                                       std::error_code& ec);

  // True when `rel` or one of its ancestors was deleted through the view.
  bool hides(std::string_view rel) const;
  // Records the deletion of `rel` (and so of everything below it), durably
  // enough to survive the daemon's death: the line is written before this returns.
  std::error_code record(std::string_view rel);
  size_t size() const;

 private:
  Journal() = default;
  mutable std::shared_mutex mu_;
  std::unordered_set<std::string> paths_;
  sys::UniqueFd fd_;
  std::filesystem::path file_;
};

}  // namespace seedfs::fs

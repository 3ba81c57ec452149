#include "git/similarity.hpp"

#include <future>

#include "git/command.hpp"

namespace seedfs::git {

TrackedFiles tracked_files(const std::filesystem::path& top) {
  TrackedFiles t;
  auto status = std::async(std::launch::async, [&] {
    return run(top, {"status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=no",
                     "--ignore-submodules=all"});
  });
  Output files = run(top, {"ls-files", "-s", "-z"});
  Output st = status.get();
  if (!files.ok() || !st.ok()) {
    t.why = "git in " + top.string() + ": " + (!files.ok() ? files.why() : st.why());
    return t;
  }
  // "<mode> <oid> <stage>\t<path>"
  for (std::string_view rec : split_z(files.out)) {
    size_t tab = rec.find('\t'), sp = rec.find(' ');
    if (tab == std::string_view::npos || sp == std::string_view::npos) continue;
    size_t sp2 = rec.find(' ', sp + 1);
    t.blobs.emplace(std::string(rec.substr(tab + 1)), std::string(rec.substr(sp + 1, sp2 - sp - 1)));
  }
  // "XY <path>": Y is the working file against the index.
  for (std::string_view rec : split_z(st.out))
    if (rec.size() >= 4 && (rec[1] != ' ' || rec[0] == 'U')) t.edited.emplace(rec.substr(3));
  return t;
}

size_t files_differing(const TrackedFiles& donor, const TrackedFiles& ws) {
  size_t n = 0;
  for (const auto& [path, blob] : ws.blobs) {
    auto it = donor.blobs.find(path);
    n += it == donor.blobs.end() || it->second != blob || donor.edited.count(path);
  }
  for (const auto& [path, blob] : donor.blobs) n += !ws.blobs.count(path);
  return n;
}

}  // namespace seedfs::git

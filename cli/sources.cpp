#include "cli/sources.hpp"

#include <sstream>

#include "cli/output.hpp"

namespace seedfs::cli {
namespace {

bool absent_or_empty(const stdfs::path& dir) {
  std::error_code ec;
  if (!stdfs::exists(dir, ec)) return true;
  return stdfs::is_directory(dir, ec) && stdfs::is_empty(dir, ec);
}

}  // namespace

std::future<git::SourceIndex> read_sources(const Projects& p, bool enabled, bool dry_run) {
  if (!enabled) return {};
  return std::async(std::launch::async, [p, dry_run] {
    return git::SourceIndex::read(p.root, p.ws, dry_run, p.root_checkout, p.ws_checkout);
  });
}

git::MtimeSync prepare_sources(std::future<git::SourceIndex> index, const std::vector<ArtifactDirs>& dirs,
                               bool dry_run) {
  git::MtimeSync s;
  if (!index.valid()) return s.skipped = "off (sync_mtimes = false, or --no-sync-mtimes)", s;
  git::SourceIndex sources = index.get();
  for (const auto& d : dirs)
    if (!absent_or_empty(d.ws_dir))
      return s.skipped = d.ws_dir.string() + " already has content (its own build may be of other "
                         "sources than the root's): mtimes left as they are",
             s;
  return sources.apply(dry_run);
}

std::string sources_line(const git::MtimeSync& s, bool dry_run) {
  std::ostringstream out;
  out << "sources: ";
  if (!s.skipped.empty()) {
    out << "mtimes not synced: " << s.skipped;
    return out.str();
  }
  out << count(s.identical) << " of " << count(s.tracked) << " tracked files are the root's";
  if (s.changed) out << ", " << count(s.changed) << (dry_run ? " would get" : " given") << " its mtimes";
  out << " (" << count(s.differ) << " differ, " << count(s.uncommitted) << " with uncommitted edits) in "
      << seconds(s.seconds);
  if (!s.warning.empty()) out << "; warning: " << s.warning;
  return out.str();
}

toml::table sources_table(const git::MtimeSync& s) {
  auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
  return toml::table{{"synced", s.skipped.empty()}, {"skipped", s.skipped},
                     {"tracked", i(s.tracked)},     {"identical", i(s.identical)},
                     {"mtimes_set", i(s.changed)},  {"differ", i(s.differ)},
                     {"uncommitted", i(s.uncommitted)}, {"seconds", s.seconds},
                     {"warning", s.warning}};
}

git::MtimeSync sources_from(const toml::table& t) {
  auto u = [&](const char* k) { return static_cast<uint64_t>(t[k].value_or(int64_t{0})); };
  git::MtimeSync s;
  s.skipped = t["skipped"].value_or(std::string());
  s.tracked = u("tracked");
  s.identical = u("identical");
  s.changed = u("mtimes_set");
  s.differ = u("differ");
  s.uncommitted = u("uncommitted");
  s.seconds = t["seconds"].value_or(0.0);
  s.warning = t["warning"].value_or(std::string());
  return s;
}

}  // namespace seedfs::cli

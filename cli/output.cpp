#include "cli/output.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace seedfs::cli {

std::string count(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string bytes(uint64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string rate(double r) {
  char buf[32];
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1fM", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk", r / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

std::string seconds(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, s < 10 ? "%.2f s" : "%.0f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) % 3600 / 60);
  return buf;
}

std::string progress_line(const std::string& artifact, const seeding::Stats& s) {
  std::ostringstream out;
  out << "seeding " << artifact << ": " << s.files_done << "/" << s.files_found << " files";
  double per_s = s.elapsed > 0 ? s.files_done / s.elapsed : 0;
  if (!s.scan_done) {
    out << " (scanning)";
  } else {
    int pct = s.files_found ? static_cast<int>(100.0 * s.files_done / s.files_found) : 100;
    out << " (" << pct << "%)";
  }
  if (per_s > 0) out << ", " << rate(per_s) << " files/s";
  if (s.scan_done && per_s > 0 && s.files_found > s.files_done)
    out << ", ETA " << seconds((s.files_found - s.files_done) / per_s);
  return out.str();
}

toml::table pace_table(const config::Pace& p, const seeding::Stats& s) {
  return toml::table{{"priority", config::to_string(p.priority)},
                     {"files_per_second_limit", p.files_per_s},
                     {"bytes_per_second_limit", p.bytes_per_s},
                     {"waited_seconds", s.paced_seconds},
                     {"yielded_seconds", s.yielded_seconds}};
}

std::string pace_line(const config::Pace& p) {
  std::string out;
  if (p.priority != config::Priority::normal) out = std::string(config::to_string(p.priority)) + " priority";
  std::string limits;
  if (p.files_per_s > 0) limits = count(static_cast<uint64_t>(p.files_per_s)) + " files/s";
  if (p.bytes_per_s > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB/s", p.bytes_per_s / (1 << 20));
    limits += (limits.empty() ? "" : " and ") + std::string(buf);
  }
  if (!limits.empty()) out += (out.empty() ? "at most " : ", at most ") + limits;
  return out;
}

std::string changed_line(uint64_t changed) {
  return "root changed after seeding began (T0): " + count(changed) + (changed == 1 ? " entry" : " entries") +
         " left for cargo to rebuild here";
}

toml::table stats_table(const seeding::Stats& s) {
  auto i = [](uint64_t v) { return static_cast<int64_t>(v); };
  toml::table t{
      {"files_found", i(s.files_found)},   {"files_done", i(s.files_done)},
      {"dirs_found", i(s.dirs_found)},     {"dirs_created", i(s.dirs_created)},
      {"linked", i(s.linked)},             {"reflinked", i(s.reflinked)},
      {"copied", i(s.copied)},             {"kept", i(s.kept)},
      {"symlinks", i(s.symlinks)},         {"skipped_by_rule", i(s.skipped_rule)},
      {"dirs_pruned", i(s.dirs_pruned)},   {"skipped_by_type", i(s.skipped_type)},
      {"left_to_view", i(s.left_to_view)}, {"bytes", i(s.bytes)},
      {"changed_after_t0", i(s.changed)},
      {"scan_done", s.scan_done},          {"elapsed_seconds", s.elapsed},
      {"files_per_second", s.elapsed > 0 ? s.files_done / s.elapsed : 0.0},
  };
  t.insert("thread_seconds", toml::table{{"walk", s.walk_seconds},
                                         {"mkdir", s.mkdir_seconds},
                                         {"link_copy", s.file_seconds},
                                         {"paced", s.paced_seconds},
                                         {"yielded", s.yielded_seconds}});
  return t;
}

std::string to_json(const toml::table& t) {
  std::ostringstream out;
  out << toml::json_formatter{t};
  return out.str();
}

}  // namespace seedfs::cli

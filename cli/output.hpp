// Formatting for people (counts, sizes, rates, durations) and for scripts (JSON).
#pragma once

#include <cstdint>
#include <string>

#include <toml++/toml.h>

#include "seeding/seeder.hpp"

namespace seedfs::cli {

std::string count(uint64_t n);        // 50087 -> "50,087"
std::string bytes(uint64_t n);        // 9700000000 -> "9.7 GB"
std::string rate(double per_second);  // 2100 -> "2.1k"
std::string seconds(double s);        // 0.213 -> "0.21 s", 75 -> "1m15s"

// "seeding cargo: 11821/50087 files (24%)", with the rate and ETA once known.
std::string progress_line(const std::string& artifact, const seeding::Stats& s);

// "root changed after seeding began (T0): 14 entries left for cargo to rebuild here"
std::string changed_line(uint64_t changed);

// The counters as a TOML table; printed as JSON for --json.
toml::table stats_table(const seeding::Stats& s);

// The limits and priority, and the time spent waiting for them.
toml::table pace_table(const config::Pace& p, const seeding::Stats& s);
// "low priority, at most 2,000 files/s and 50.0 MiB/s" ("" for normal priority and no limits).
std::string pace_line(const config::Pace& p);

// One JSON document on one line... or pretty; toml++ writes it.
std::string to_json(const toml::table& t);

}  // namespace seedfs::cli

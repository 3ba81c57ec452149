// The seedfs configuration: which artifacts to seed and the rules for each.
//
// Lookup order (the first file found wins; keys it leaves out keep their built-in value):
//   1. --config FILE
//   2. <ws>/.seedfs.toml
//   3. <root project>/.seedfs.toml
//   4. $XDG_CONFIG_HOME/seedfs/config.toml (default ~/.config/seedfs/config.toml)
//   5. the built-in defaults
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/glob.hpp"

namespace seedfs::config {

inline constexpr const char* kBuiltin = "built-in default";

// How one seeded file is made to exist in the workspace.
enum class Method { link, copy };

// The CPU and I/O priority of the materializer's threads (seeding/pace.hpp).
enum class Priority {
  normal,  // as the process
  low,     // nice 10, best-effort I/O at its lowest level (7)
  idle,    // nice 19, idle I/O class: only what no one else wants
};
const char* to_string(Priority p);
std::optional<Priority> parse_priority(std::string_view s);

// How fast the materializer may go. The view's own requests are never limited.
struct Pace {
  double files_per_s = 0;  // files materialized per second; 0: no limit
  double bytes_per_s = 0;  // bytes copied per second (links and reflinks move none); 0: no limit
  Priority priority = Priority::normal;
  bool limited() const { return files_per_s > 0 || bytes_per_s > 0; }
};

// A byte rate as people write it: "100M", "1.5G", "512k", "100MiB/s", "0"
// (k, M, G, T are powers of 1024). nullopt when it is not one.
std::optional<double> parse_bytes(std::string_view s);

struct Artifact {
  std::string name;
  std::string path;               // relative to the project dir, e.g. "target"
  std::vector<std::string> skip;  // never seeded (and hidden from the view)
  std::vector<std::string> link;  // hardlinked: tools only ever replace these files
  std::vector<std::string> copy;  // always copied, even when executable
  bool link_executables = true;   // hardlink files with an exec bit unless `copy` matches
  bool enabled = true;
  // A file to link is reflinked instead where the filesystem can (btrfs, XFS):
  // it shares the root's blocks but not its inode. (The config's `reflinks`.)
  bool reflink_first = true;

  GlobSet skip_rules, link_rules, copy_rules;  // compiled from the lists above
  // The link rules as configured, kept by drop_hardlinks(): what they name is
  // what tools only ever replace, whether or not it is hardlinked here.
  GlobSet replaced_rules;
  bool executables_replaced = true;
  // Other names of such files, which the link rules need not name (they are
  // not hardlinked: their inode is linked as the first name): cargo's second
  // names for the libraries in deps/, target/<profile>/libfoo.rlib. Built in.
  std::vector<std::string> second_names;
  GlobSet second_name_rules;
  std::map<std::string, std::string> origin;   // key -> the file it came from, or kBuiltin

  // No link rules: every file is copied (a reflink where the filesystem can).
  void drop_hardlinks();

  // Link or copy, for a regular file at `rel`. `mode` is needed only when the
  // globs do not decide; pass nullopt to learn whether they do.
  std::optional<Method> method_for(std::string_view rel, std::optional<unsigned> mode) const;
  // Whether tools only ever replace the regular file at `rel` (write
  // elsewhere, rename over), never rewrite it in place: what the link rules
  // name, also with hardlinks dropped (seeding/instant.hpp uses it).
  bool only_replaced(std::string_view rel, unsigned mode) const;
};

struct Config {
  unsigned workers = 0;             // 0: one per CPU, at least 2
  double progress_interval = 5.0;  // seconds between progress lines
  // Before seeding a new workspace that is a git checkout: give its files that
  // are identical to the root's the root's mtimes (git/mtimes.hpp), so that
  // cargo finds the workspace's own crates fresh too.
  bool sync_mtimes = true;
  // false: no file is ever hardlinked (reflinked where the filesystem can,
  // else copied), so nothing in the workspace shares an inode with the root.
  bool hardlinks = true;
  // false: hardlink even where a reflink is possible (faster; shares the inode).
  bool reflinks = true;
  // Limits for both `seed` and `mount`; `priority` is that of the background
  // materializer of `mount` (`seed` runs in the foreground at normal priority).
  Pace pace{0, 0, Priority::low};
  // `seedfs mount` keeps the view until `seedfs unmount` and materializes
  // nothing ahead (a file is copied when it is written).
  bool keep_mounted = false;
  std::vector<Artifact> artifacts;
  std::string source = kBuiltin;                // the file read, or kBuiltin
  std::map<std::string, std::string> origin;    // top-level key -> source

  const Artifact* find(std::string_view name) const;
  // hardlinks = false applied: every artifact copies (or reflinks) every file.
  void drop_hardlinks();
  unsigned effective_workers() const;
};

struct Error {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;
  std::string message;
  std::string to_string() const;  // "file:line:col: key: message"
};

// The built-in defaults: cargo at `target`, npm at `node_modules`.
Config builtin();

// Reads `file` over the built-in defaults.
std::optional<Config> load_file(const std::filesystem::path& file, Error& err);

struct Candidate {
  std::filesystem::path path;
  std::string why;  // "--config", "workspace", "root project", "user config"
};

// Where to look, in order. `explicit_file` comes first and must exist.
std::vector<Candidate> lookup_order(const std::optional<std::filesystem::path>& explicit_file,
                                    const std::optional<std::filesystem::path>& ws,
                                    const std::optional<std::filesystem::path>& root_project);

// Loads the first existing candidate, or the built-in defaults when none exists.
std::optional<Config> resolve(const std::vector<Candidate>& candidates, Error& err);

// The effective config as a TOML table (for `seedfs config` and --json).
toml::table to_toml(const Config& cfg);

}  // namespace seedfs::config

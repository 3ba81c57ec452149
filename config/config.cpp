#include "config/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <cstdlib>
#include <sstream>
#include <thread>

namespace seedfs::config {
namespace {

Artifact make_artifact(std::string name, std::string path, std::vector<std::string> skip,
                       std::vector<std::string> link, std::vector<std::string> copy,
                       bool link_executables) {
  Artifact a;
  a.name = std::move(name);
  a.path = std::move(path);
  a.skip = std::move(skip);
  a.link = std::move(link);
  a.copy = std::move(copy);
  a.link_executables = link_executables;
  for (const char* key : {"path", "skip", "link", "copy", "link_executables", "enabled"})
    a.origin[key] = kBuiltin;
  return a;
}

// Compiles the glob lists; the built-in ones are known to be valid.
bool compile_rules(Artifact& a, std::string* bad_key, std::string* error) {
  size_t index = 0;
  auto skip = GlobSet::compile(a.skip, &index, error);
  if (!skip) return *bad_key = "skip", false;
  auto link = GlobSet::compile(a.link, &index, error);
  if (!link) return *bad_key = "link", false;
  auto copy = GlobSet::compile(a.copy, &index, error);
  if (!copy) return *bad_key = "copy", false;
  a.skip_rules = std::move(*skip);
  auto second = GlobSet::compile(a.second_names, &index, error);
  if (!second) return *bad_key = "second_names", false;  // built in: never
  a.second_name_rules = std::move(*second);
  a.replaced_rules = *link;
  a.link_rules = std::move(*link);
  a.copy_rules = std::move(*copy);
  a.executables_replaced = a.link_executables;
  return true;
}

// Reads a TOML file into `cfg` (which holds the defaults), checking every key and type.
class Reader {
 public:
  Reader(std::string file, Config& cfg, Error& err) : file_(std::move(file)), cfg_(cfg), err_(err) {}

  bool read(const toml::table& root) {
    for (auto&& [key, node] : root) {
      std::string k(key.str());
      if (k == "workers") {
        auto v = node.value<int64_t>();
        if (!node.is_integer() || !v || *v < 0 || *v > 1024)
          return fail(node, k, "must be an integer from 0 (one per CPU) to 1024");
        cfg_.workers = static_cast<unsigned>(*v);
        cfg_.origin[k] = file_;
      } else if (k == "progress_interval") {
        auto v = node.value<double>();
        if (!(node.is_integer() || node.is_floating_point()) || !v || *v <= 0 || *v > 3600)
          return fail(node, k, "must be a number of seconds, above 0 and at most 3600");
        cfg_.progress_interval = *v;
        cfg_.origin[k] = file_;
      } else if (k == "sync_mtimes" || k == "hardlinks" || k == "reflinks" || k == "keep_mounted") {
        if (!node.is_boolean()) return fail(node, k, "must be true or false");
        (k == "hardlinks"      ? cfg_.hardlinks
         : k == "reflinks"     ? cfg_.reflinks
         : k == "keep_mounted" ? cfg_.keep_mounted
                               : cfg_.sync_mtimes) = *node.value<bool>();
        cfg_.origin[k] = file_;
      } else if (k == "priority") {
        auto p = parse_priority(node.value_or(std::string_view()));
        if (!p) return fail(node, k, "must be \"normal\", \"low\" or \"idle\"");
        cfg_.pace.priority = *p;
        cfg_.origin[k] = file_;
      } else if (k == "rate") {
        auto v = node.value<double>();
        if (!(node.is_integer() || node.is_floating_point()) || !v || *v < 0)
          return fail(node, k, "must be a number of files per second, 0 for no limit");
        cfg_.pace.files_per_s = *v;
        cfg_.origin[k] = file_;
      } else if (k == "bytes_rate") {
        std::optional<double> v;
        if (node.is_integer() || node.is_floating_point()) v = node.value<double>();
        else if (node.is_string()) v = parse_bytes(*node.value<std::string_view>());
        if (!v || *v < 0)
          return fail(node, k, "must be bytes per second, as a number or a string like \"100M\"; 0 for no limit");
        cfg_.pace.bytes_per_s = *v;
        cfg_.origin[k] = file_;
      } else if (k == "artifacts") {
        const toml::table* arts = node.as_table();
        if (!arts) return fail(node, k, "must be a table of artifacts, as in [artifacts.cargo]");
        for (auto&& [name, art] : *arts)
          if (!read_artifact(std::string(name.str()), art)) return false;
      } else {
        return fail(node, k,
                    "unknown key (known: workers, progress_interval, sync_mtimes, hardlinks, reflinks, "
                    "priority, rate, bytes_rate, keep_mounted, artifacts.<name>)");
      }
    }
    return true;
  }

 private:
  bool read_artifact(const std::string& name, const toml::node& node) {
    std::string where = "artifacts." + name;
    const toml::table* tbl = node.as_table();
    if (!tbl) return fail(node, where, "must be a table");
    auto it = std::find_if(cfg_.artifacts.begin(), cfg_.artifacts.end(),
                           [&](const Artifact& a) { return a.name == name; });
    bool is_new = it == cfg_.artifacts.end();
    Artifact fresh;
    Artifact& a = is_new ? fresh : *it;
    if (is_new) {
      a.name = name;
      a.link_executables = false;  // a new kind of artifact: copy unless told otherwise
      for (const char* key : {"skip", "link", "copy", "link_executables", "enabled"})
        a.origin[key] = kBuiltin;
    }
    for (auto&& [key, v] : *tbl) {
      std::string k(key.str());
      std::string full = where + "." + k;
      if (k == "path") {
        auto s = v.value<std::string>();
        if (!v.is_string() || !s || s->empty()) return fail(v, full, "must be a non-empty string");
        std::filesystem::path p(*s);
        if (p.is_absolute() || std::any_of(p.begin(), p.end(), [](auto& c) { return c == ".."; }))
          return fail(v, full, "must be relative to the project dir, without '..'");
        a.path = p.lexically_normal().string();
        if (!a.path.empty() && a.path.back() == '/') a.path.pop_back();
      } else if (k == "skip" || k == "link" || k == "copy") {
        auto list = strings(v, full);
        if (!list) return false;
        auto& dst = k == "skip" ? a.skip : k == "link" ? a.link : a.copy;
        dst = std::move(*list);
        // Check each glob here, so that the error points at its line.
        const toml::array& arr = *v.as_array();
        for (size_t i = 0; i < dst.size(); ++i) {
          std::string why;
          if (!Glob::compile(dst[i], &why))
            return fail(*arr.get(i), full + "[" + std::to_string(i) + "]",
                        "invalid glob '" + dst[i] + "': " + why);
        }
      } else if (k == "link_executables" || k == "enabled") {
        if (!v.is_boolean()) return fail(v, full, "must be true or false");
        (k == "enabled" ? a.enabled : a.link_executables) = *v.value<bool>();
      } else {
        return fail(v, full,
                    "unknown key (known: path, skip, link, copy, link_executables, enabled)");
      }
      a.origin[k] = file_;
    }
    if (is_new && a.path.empty())
      return fail(node, where + ".path", "a new artifact needs a path, e.g. path = \"build\"");
    if (is_new) cfg_.artifacts.push_back(std::move(fresh));
    return true;
  }

  std::optional<std::vector<std::string>> strings(const toml::node& v, const std::string& key) {
    const toml::array* arr = v.as_array();
    if (!arr) return fail(v, key, "must be an array of glob strings"), std::nullopt;
    std::vector<std::string> out;
    for (const toml::node& item : *arr) {
      auto s = item.value<std::string>();
      if (!item.is_string() || !s) return fail(item, key, "must hold only strings"), std::nullopt;
      out.push_back(*s);
    }
    return out;
  }

  bool fail(const toml::node& node, const std::string& key, std::string message) {
    err_.file = file_;
    err_.line = static_cast<int>(node.source().begin.line);
    err_.column = static_cast<int>(node.source().begin.column);
    err_.key = key;
    err_.message = std::move(message);
    return false;
  }

  std::string file_;
  Config& cfg_;
  Error& err_;
};

std::optional<std::filesystem::path> user_config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::filesystem::path(x);
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".config";
  return std::nullopt;
}

toml::array to_array(const std::vector<std::string>& v) {
  toml::array arr;
  for (const auto& s : v) arr.push_back(s);
  return arr;
}

}  // namespace

const char* to_string(Priority p) {
  switch (p) {
    case Priority::normal: return "normal";
    case Priority::low: return "low";
    case Priority::idle: return "idle";
  }
  return "?";
}

std::optional<Priority> parse_priority(std::string_view s) {
  for (Priority p : {Priority::normal, Priority::low, Priority::idle})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

std::optional<double> parse_bytes(std::string_view s) {
  std::string text(s);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(v >= 0) || std::isinf(v)) return std::nullopt;
  std::string_view unit(end);
  constexpr std::pair<char, double> kUnits[] = {
      {'k', 0x1p10}, {'K', 0x1p10}, {'M', 0x1p20}, {'G', 0x1p30}, {'T', 0x1p40}};
  for (auto [prefix, scale] : kUnits)
    if (unit.starts_with(prefix)) {
      v *= scale;
      unit.remove_prefix(unit.starts_with(std::string(1, prefix) + "i") ? 2 : 1);
      break;
    }
  if (unit.starts_with("B")) unit.remove_prefix(1);
  if (unit == "/s") unit = {};
  if (!unit.empty()) return std::nullopt;
  return v;
}

std::optional<Method> Artifact::method_for(std::string_view rel,
                                           std::optional<unsigned> mode) const {
  if (link_rules.matches(rel, false)) return Method::link;
  if (copy_rules.matches(rel, false) || !link_executables) return Method::copy;
  if (!mode) return std::nullopt;
  return (*mode & 0111) ? Method::link : Method::copy;
}

const Artifact* Config::find(std::string_view name) const {
  for (const auto& a : artifacts)
    if (a.name == name) return &a;
  return nullptr;
}

bool Artifact::only_replaced(std::string_view rel, unsigned mode) const {
  if (replaced_rules.matches(rel, false)) return true;
  if (copy_rules.matches(rel, false)) return false;
  if (second_name_rules.matches(rel, false)) return true;
  return executables_replaced && (mode & 0111) != 0;
}

void Artifact::drop_hardlinks() {
  link.clear();
  link_rules = GlobSet{};
  link_executables = false;
}

void Config::drop_hardlinks() {
  hardlinks = false;
  for (auto& a : artifacts) a.drop_hardlinks();
}

unsigned Config::effective_workers() const {
  if (workers) return workers;
  return std::max(2u, std::min(16u, std::thread::hardware_concurrency()));
}

std::string Error::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ":" << line << ":" << column;
  out << ": ";
  if (!key.empty()) out << key << ": ";
  out << message;
  return out.str();
}

Config builtin() {
  Config cfg;
  cfg.origin["workers"] = kBuiltin;
  cfg.origin["progress_interval"] = kBuiltin;
  cfg.origin["sync_mtimes"] = kBuiltin;
  cfg.origin["hardlinks"] = kBuiltin;
  cfg.origin["reflinks"] = kBuiltin;
  for (const char* key : {"priority", "rate", "bytes_rate", "keep_mounted"}) cfg.origin[key] = kBuiltin;
  // Measured on a real project: these hold 93% of the files and 6% of the useful bytes.
  // .o files are already inside the .rlib; .d and incremental/ are path-dependent;
  // the lock files belong to the build that made them.
  cfg.artifacts.push_back(make_artifact(
      "cargo", "target",
      {"**/*.o", "**/*.d", "**/incremental/**", "**/.cargo-lock", "**/.cargo-build-lock",
       "**/.cargo-artifact-lock"},
      // Linked: the libraries in deps/, which rustc and the linkers (bfd, gold,
      // lld, mold) write elsewhere and rename into place.
      {"**/deps/*.rlib", "**/deps/*.rmeta", "**/deps/*.so", "**/deps/*.dylib", "**/deps/*.dll",
       "**/deps/*.a"},
      // Copied, as is every file no link rule names: build scripts may rewrite
      // anything in their OUT_DIR in place.
      {"**/build/*/out/**"},
      // Executables are copied too. mold (1.10) writes a relinked executable
      // into the existing file, and binutils' strip and objcopy write into a
      // file that has other links (to keep them); cargo makes
      // target/<profile>/<bin> a second name of the deps/ file it built or
      // reused. Through a shared inode, each would change the root's binary.
      false));
  // The libraries' second names: cargo links target/<profile>/libfoo.rlib to
  // deps/libfoo-<hash>.rlib (an .so or .a for other crate types), and removes
  // and links it again; another seedfs hardlinking the deps/ name moves the
  // shared inode's ctime, which must not hide the second name (seeding/instant.hpp).
  cfg.artifacts.front().second_names = {"**/*.rlib", "**/*.rmeta", "**/*.so", "**/*.dylib", "**/*.dll", "**/*.a"};
  // Its symlinks point into the old tree; every file is copied (a reflink where possible).
  cfg.artifacts.push_back(make_artifact("npm", "node_modules", {"**/.bin/**"}, {}, {}, false));
  for (auto& a : cfg.artifacts) {
    std::string key, why;
    compile_rules(a, &key, &why);
  }
  return cfg;
}

std::optional<Config> load_file(const std::filesystem::path& file, Error& err) {
  Config cfg = builtin();
  cfg.source = file.string();
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    err.file = file.string();
    err.line = static_cast<int>(e.source().begin.line);
    err.column = static_cast<int>(e.source().begin.column);
    err.message = std::string(e.description());
    if (err.line == 0) err.message += " (cannot read the file?)";
    return std::nullopt;
  }
  Reader reader(file.string(), cfg, err);
  if (!reader.read(root)) return std::nullopt;
  for (auto& a : cfg.artifacts) a.reflink_first = cfg.reflinks;
  for (auto& a : cfg.artifacts) {
    std::string why;
    if (!compile_rules(a, &err.key, &why)) {
      err.file = file.string();
      err.key = "artifacts." + a.name + "." + err.key;
      err.message = why;
      return std::nullopt;
    }
  }
  return cfg;
}

std::vector<Candidate> lookup_order(const std::optional<std::filesystem::path>& explicit_file,
                                    const std::optional<std::filesystem::path>& ws,
                                    const std::optional<std::filesystem::path>& root_project) {
  std::vector<Candidate> out;
  if (explicit_file) out.push_back({*explicit_file, "--config"});
  if (ws) out.push_back({*ws / ".seedfs.toml", "workspace"});
  if (root_project) out.push_back({*root_project / ".seedfs.toml", "root project"});
  if (auto dir = user_config_dir()) out.push_back({*dir / "seedfs" / "config.toml", "user config"});
  return out;
}

std::optional<Config> resolve(const std::vector<Candidate>& candidates, Error& err) {
  for (const auto& c : candidates) {
    struct stat st {};
    bool exists = ::stat(c.path.c_str(), &st) == 0;
    if (!exists && c.why == "--config") {
      err.file = c.path.string();
      err.message = "config file not found (given with --config)";
      return std::nullopt;
    }
    if (exists) return load_file(c.path, err);
  }
  return builtin();
}

toml::table to_toml(const Config& cfg) {
  toml::table out;
  out.insert("workers", static_cast<int64_t>(cfg.workers));
  out.insert("progress_interval", cfg.progress_interval);
  out.insert("sync_mtimes", cfg.sync_mtimes);
  out.insert("hardlinks", cfg.hardlinks);
  out.insert("reflinks", cfg.reflinks);
  out.insert("priority", to_string(cfg.pace.priority));
  out.insert("rate", cfg.pace.files_per_s);
  out.insert("bytes_rate", cfg.pace.bytes_per_s);
  out.insert("keep_mounted", cfg.keep_mounted);
  toml::table arts;
  for (const auto& a : cfg.artifacts) {
    toml::table t;
    t.insert("path", a.path);
    t.insert("skip", to_array(a.skip));
    t.insert("link", to_array(a.link));
    t.insert("copy", to_array(a.copy));
    t.insert("link_executables", a.link_executables);
    t.insert("enabled", a.enabled);
    arts.insert(a.name, std::move(t));
  }
  out.insert("artifacts", std::move(arts));
  return out;
}

}  // namespace seedfs::config

// `seedfs config`: the effective config, and where each part came from.
#include <spdlog/spdlog.h>

#include <iostream>
#include <sys/stat.h>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"

namespace seedfs::cli {
namespace {

void line(const std::string& key, const toml::node& value, const std::string& origin) {
  std::cout << key << " = ";
  value.visit([](auto&& v) { std::cout << v; });
  std::cout << "  # " << origin << "\n";
}

}  // namespace

int cmd_config(const ConfigArgs& args) {
  std::optional<stdfs::path> ws, root;
  if (args.ws) ws = absolute_path(*args.ws);
  if (args.root) root = absolute_path(*args.root);
  auto candidates = config::lookup_order(args.common.config_file, ws, root);
  config::Config cfg;
  if (auto e = load_config(args.common.config_file, ws, root, cfg))
    return spdlog::error("{}", e->message), e->code;
  toml::table t = config::to_toml(cfg);

  if (args.common.json) {
    toml::table lookup;
    toml::array order;
    for (const auto& c : candidates) {
      struct stat st {};
      order.push_back(toml::table{{"path", c.path.string()}, {"why", c.why},
                                  {"exists", ::stat(c.path.c_str(), &st) == 0}});
    }
    toml::table origins;
    for (const auto& [k, v] : cfg.origin) origins.insert(k, v);
    for (const auto& a : cfg.artifacts)
      for (const auto& [k, v] : a.origin) origins.insert("artifacts." + a.name + "." + k, v);
    std::cout << to_json(toml::table{{"source", cfg.source}, {"lookup", std::move(order)},
                                     {"config", std::move(t)}, {"origin", std::move(origins)}})
              << "\n";
    return kOk;
  }

  std::cout << "# effective config, from: " << cfg.source << "\n# lookup order (first found wins; "
            << "keys it leaves out keep their built-in value):\n";
  for (const auto& c : candidates) {
    struct stat st {};
    bool found = ::stat(c.path.c_str(), &st) == 0;
    std::cout << "#   " << c.why << ": " << c.path.string() << (found ? "  [found]" : "") << "\n";
  }
  if (!ws || !root) std::cout << "#   (pass --root and --ws to include the project files)\n";
  std::cout << "#   built-in defaults\n\n";
  line("workers", *t.get("workers"),
       cfg.origin.at("workers") + (cfg.workers ? "" : " (0: one per CPU, " +
                                                          std::to_string(cfg.effective_workers()) +
                                                          " here)"));
  line("progress_interval", *t.get("progress_interval"), cfg.origin.at("progress_interval") + " (seconds)");
  line("sync_mtimes", *t.get("sync_mtimes"),
       cfg.origin.at("sync_mtimes") + " (a new git worktree's unchanged files get the root's mtimes)");
  line("hardlinks", *t.get("hardlinks"),
       cfg.origin.at("hardlinks") + " (false: reflink or copy every file, share no inode with the root)");
  line("reflinks", *t.get("reflinks"),
       cfg.origin.at("reflinks") + " (a file to link is reflinked where the filesystem can: btrfs, XFS)");
  line("priority", *t.get("priority"),
       cfg.origin.at("priority") + " (of mount's background materializer: normal, low = nice 10 and "
                                   "best-effort I/O level 7, idle = nice 19 and idle I/O)");
  line("rate", *t.get("rate"), cfg.origin.at("rate") + " (files per second; 0: no limit)");
  line("bytes_rate", *t.get("bytes_rate"),
       cfg.origin.at("bytes_rate") + " (bytes copied per second; 0: no limit)");
  line("keep_mounted", *t.get("keep_mounted"),
       cfg.origin.at("keep_mounted") + " (mount keeps the view and materializes nothing ahead)");
  for (const auto& a : cfg.artifacts) {
    std::cout << "\n[artifacts." << a.name << "]\n";
    const toml::table& at = *t["artifacts"][a.name].as_table();
    for (const char* key : {"path", "enabled", "skip", "link", "copy", "link_executables"})
      line(key, *at.get(key), a.origin.count(key) ? a.origin.at(key) : config::kBuiltin);
  }
  return kOk;
}

}  // namespace seedfs::cli

// `seedfs seed <root> <ws>`: materialize every artifact in the foreground.
#include <spdlog/spdlog.h>

#include <iostream>
#include <mutex>

#include "cli/commands.hpp"
#include "cli/donor.hpp"
#include "cli/output.hpp"
#include "cli/paths.hpp"
#include "cli/sources.hpp"
#include "cli/state.hpp"
#include "cli/t0.hpp"
#include "seeding/seeder.hpp"
#include "seeding/sys.hpp"

namespace seedfs::cli {
namespace {

// Entries changed after T0 named in the summary; the rest are counted.
constexpr size_t kChangedNamed = 10;

void print_summary(const ArtifactDirs& a, const seeding::Stats& s, bool dry_run, const ArtifactT0& t0,
                   const std::vector<std::string>& changed) {
  std::cout << (dry_run ? "dry run, nothing created: " : "seeded ") << a.artifact->name << ": "
            << a.root_dir.string() << " -> " << a.ws_dir.string()
            << (a.found_by == "config" ? "" : " (build dirs from " + a.found_by + ")") << "\n";
  double per_s = s.elapsed > 0 ? s.files_done / s.elapsed : 0;
  std::cout << "  " << count(s.files_done) << " files, " << count(s.dirs_found) << " dirs in "
            << seconds(s.elapsed) << " (" << rate(per_s) << " files/s)";
  if (!dry_run) std::cout << ", " << bytes(s.bytes);
  std::cout << "\n";
  const char* would = dry_run ? "would " : "";
  std::cout << "  " << would << "link " << count(s.linked) << ", " << would << "copy "
            << count(s.copied + s.reflinked);
  if (s.reflinked) std::cout << " (" << count(s.reflinked) << " as reflinks)";
  std::cout << ", symlinks " << count(s.symlinks) << ", kept " << count(s.kept)
            << " already there\n";
  std::cout << "  skipped " << count(s.skipped_rule) << " by rule (" << count(s.dirs_pruned)
            << " dirs not entered), " << count(s.skipped_type) << " by type (fifo, socket, device)\n";
  if (!dry_run) {
    std::cout << "  the root as it was at " << t0.t0.to_string() << " (T0"
              << (t0.resumed ? ", recorded by this workspace's first seeding)" : ")") << "\n";
    if (s.changed) {
      std::cout << "  " << changed_line(s.changed) << "\n";
      for (const auto& p : changed) std::cout << "    changed: " << p << "\n";
      if (s.changed > changed.size()) std::cout << "    (and " << count(s.changed - changed.size()) << " more)\n";
    }
  }
  std::cout << "  thread time: walk " << seconds(s.walk_seconds) << ", mkdir "
            << seconds(s.mkdir_seconds) << ", link/copy " << seconds(s.file_seconds) << "\n";
}

}  // namespace

int cmd_seed(const SeedArgs& args) {
  Projects projects;
  if (auto e = find_projects(args.root, args.ws, projects))
    return spdlog::error("{}", e->message), e->code;
  config::Config cfg;
  if (auto e = load_config(args.common.config_file, projects.ws, projects.root, cfg))
    return spdlog::error("{}", e->message), e->code;
  if (args.no_hardlinks || !cfg.hardlinks) cfg.drop_hardlinks();
  std::optional<DonorChoice> donor;
  if (!args.root)
    if (auto e = choose_donor(cfg, projects, donor)) return spdlog::error("{}", e->message), e->code;
  if (donor && !args.common.json) std::cout << donor_line(donor->table()) << "\n";
  auto index = read_sources(projects, cfg.sync_mtimes && !args.no_sync_mtimes, args.dry_run);
  std::vector<ArtifactDirs> dirs;
  if (auto e = select_artifacts(cfg, projects, args.artifact, dirs))
    return spdlog::error("{}", e->message), e->code;
  // Every refusal before anything is touched; then T0, before the sources are (cli/t0.hpp).
  std::error_code state_ec;
  StatePaths state = state_paths(projects.ws, state_ec);
  if (state_ec) return spdlog::error("state dir: {}", state_ec.message()), kFailed;
  std::vector<ArtifactT0> t0;
  if (auto e = establish_t0(dirs, state, projects.ws, args.force, !args.dry_run, t0))
    return spdlog::error("{}", e->message), e->code;

  git::MtimeSync sources = prepare_sources(std::move(index), dirs, args.dry_run);
  if (!args.common.json) std::cout << sources_line(sources, args.dry_run) << "\n";

  toml::array results;
  int rc = kOk;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const auto& d = dirs[i];
    std::error_code ec;
    sys::UniqueFd root = sys::open_dir(AT_FDCWD, d.root_dir.c_str(), ec);
    if (!root) return spdlog::error("cannot open {}", sys::describe(d.root_dir.string(), ec)), kFailed;
    sys::UniqueFd dest;
    if (!args.dry_run) {
      struct stat st {};
      ::fstat(root.get(), &st);
      stdfs::create_directories(d.ws_dir.parent_path(), ec);
      if (::mkdir(d.ws_dir.c_str(), st.st_mode & 07777) != 0 && errno != EEXIST)
        return spdlog::error("cannot create {}", sys::describe(d.ws_dir.string(), sys::last_error())),
               kFailed;
      dest = sys::open_dir(AT_FDCWD, d.ws_dir.c_str(), ec);
      if (!dest) return spdlog::error("cannot open {}", sys::describe(d.ws_dir.string(), ec)), kFailed;
    }

    seeding::Options opts;
    opts.workers = args.workers ? *args.workers : cfg.effective_workers();
    opts.apply_skip = !args.no_skip;
    opts.dry_run = args.dry_run;
    opts.throttle = std::chrono::microseconds(args.throttle_us);
    opts.pace = args.pace.resolve(cfg, false);
    if (args.batch_size) opts.batch_size = args.batch_size;
    opts.t0 = t0[i].t0;
    // What the root changed after T0, named (the first ones) for the summary.
    std::mutex changed_mu;
    std::vector<std::string> changed;
    opts.on_changed = [&](std::string_view rel) {
      std::lock_guard lock(changed_mu);
      if (changed.size() < kChangedNamed) changed.emplace_back(rel);
    };
    seeding::Seeder seeder(std::move(root), std::move(dest), *d.artifact, opts);
    seeder.start();
    auto interval = std::chrono::milliseconds(static_cast<int64_t>(cfg.progress_interval * 1000));
    while (!seeder.wait_for(interval)) spdlog::info("{}", progress_line(d.artifact->name, seeder.stats()));
    auto failure = seeder.wait();
    auto stats = seeder.stats();

    toml::table result = stats_table(stats);
    result.insert("artifact", d.artifact->name);
    result.insert("root", d.root_dir.string());
    result.insert("workspace", d.ws_dir.string());
    result.insert("dirs_from", d.found_by);
    result.insert("dry_run", args.dry_run);
    result.insert("t0", t0[i].t0.to_string());
    result.insert("t0_ns", t0[i].t0.ns());
    result.insert("t0_resumed", t0[i].resumed);
    toml::array changed_list;
    for (const auto& c : changed) changed_list.push_back(c);
    result.insert("changed_paths", std::move(changed_list));
    result.insert("ok", !failure);
    if (failure) {
      std::string full = (d.root_dir / failure->path).string();
      result.insert("error", toml::table{{"path", full}, {"op", failure->op},
                                          {"errno", failure->ec.value()},
                                          {"message", failure->ec.message()}});
      spdlog::error("seeding {} failed: {} {}: {}", d.artifact->name, failure->op, full,
                    failure->ec.message());
      rc = kFailed;
    }
    if (!args.common.json && !failure) print_summary(d, stats, args.dry_run, t0[i], changed);
    results.push_back(std::move(result));
    if (failure) break;  // fail fast: the next artifact would only add noise
  }
  if (args.common.json)
    std::cout << to_json(toml::table{{"ok", rc == kOk}, {"sources", sources_table(sources)},
                                     {"donor", donor ? donor->table() : toml::table{}},
                                     {"artifacts", std::move(results)}})
              << "\n";
  return rc;
}

}  // namespace seedfs::cli

#include "cli/donor.hpp"

#include <future>

#include "fs/mount.hpp"
#include "git/checkout.hpp"
#include "git/similarity.hpp"
#include "seeding/build_lock.hpp"
#include "seeding/sys.hpp"

namespace seedfs::cli {
namespace {

bool has_entries(const stdfs::path& dir) {
  std::error_code ec;
  return stdfs::directory_iterator(dir, ec) != stdfs::directory_iterator();
}

// Whether `worktree` can give, from what is cheap to learn: a live view, no
// build, a build running. Its artifact dirs are taken at their configured
// paths (<worktree>/target for cargo): when many worktrees are made at once,
// asking cargo where each one builds would cost each new worktree ~20 ms of
// CPU per other worktree. (A worktree that builds elsewhere, through a
// custom target-dir, is not considered: give it as <root>.)
DonorChoice::Candidate precheck(const config::Config& cfg, const stdfs::path& worktree) {
  DonorChoice::Candidate c{worktree, 0, ""};
  bool built = false;
  for (const auto& a : cfg.artifacts) {
    if (!a.enabled) continue;
    stdfs::path dir = worktree / a.path;
    if (fs::mount_at(dir.string())) return c.skipped = "a live seedfs view", c;
    std::error_code ec;
    sys::UniqueFd fd = sys::open_dir(AT_FDCWD, dir.c_str(), ec);
    if (!fd || !has_entries(dir)) continue;
    if (seeding::held_build_lock(fd.get())) return c.skipped = "being built", c;
    built = true;
  }
  if (!built) c.skipped = "no build";
  return c;
}

std::string short_name(const stdfs::path& p, const stdfs::path& main) {
  return p == main ? "main" : p.filename().string();
}

}  // namespace

std::string DonorChoice::why() const {
  std::string s = std::to_string(differ) + " tracked files differ";
  for (const auto& c : candidates) {
    if (c.worktree == root) continue;
    s += "; " + short_name(c.worktree, candidates.front().worktree) + ": " +
         (c.skipped.empty() ? std::to_string(c.differ) : c.skipped);
  }
  return s;
}

toml::table DonorChoice::table() const {
  toml::array cands;
  for (const auto& c : candidates) {
    toml::table t{{"worktree", c.worktree.string()}};
    if (c.skipped.empty()) t.insert("differ", int64_t(c.differ));
    else t.insert("skipped", c.skipped);
    cands.push_back(std::move(t));
  }
  return toml::table{{"root", root.string()}, {"why", why()}, {"differ", int64_t(differ)},
                     {"candidates", std::move(cands)}};
}

std::string donor_line(const toml::table& donor) {
  return "donor: " + donor["root"].value_or(std::string()) + " (" + donor["why"].value_or(std::string()) + ")";
}

std::optional<CliError> choose_donor(const config::Config& cfg, Projects& p, std::optional<DonorChoice>& out) {
  if (!p.ws_checkout) return std::nullopt;
  std::string why;
  auto trees = git::worktrees(*p.ws_checkout, why);
  if (!trees || trees->empty()) return std::nullopt;  // keep the main worktree (find_projects said why)
  std::vector<stdfs::path> others;
  for (const auto& t : *trees) {
    std::error_code ec;
    if (!stdfs::equivalent(t, p.ws, ec)) others.push_back(t);
  }
  if (others.size() <= 1) return std::nullopt;  // the main worktree only: nothing to choose

  DonorChoice choice;
  for (const auto& t : others) choice.candidates.push_back(precheck(cfg, t));
  size_t free = 0;
  for (const auto& c : choice.candidates) free += c.skipped.empty();
  // Only the main worktree can give: as before, without asking git more.
  if (free == 1 && choice.candidates.front().skipped.empty()) return std::nullopt;
  if (free > 0) {
    git::TrackedFiles ws_files = git::tracked_files(p.ws);
    if (!ws_files.why.empty()) return std::nullopt;
    std::vector<std::future<void>> asks;
    for (auto& c : choice.candidates)
      if (c.skipped.empty())
        asks.push_back(std::async(std::launch::async, [&c, &ws_files] {
          git::TrackedFiles files = git::tracked_files(c.worktree);
          if (!files.why.empty()) c.skipped = files.why;
          else c.differ = git::files_differing(files, ws_files);
        }));
    for (auto& a : asks) a.get();
  }

  const DonorChoice::Candidate* best = nullptr;
  for (const auto& c : choice.candidates)  // the main worktree first: it wins ties
    if (c.skipped.empty() && (!best || c.differ < best->differ)) best = &c;
  if (!best) {
    const auto& main = choice.candidates.front();
    if (main.skipped != "being built") return std::nullopt;  // as before: the main worktree, and its error
    std::string all;
    for (const auto& c : choice.candidates) all += (all.empty() ? "" : "; ") + c.worktree.string() + ": " + c.skipped;
    return CliError{kBusy, "no worktree can give its build now (" + all +
                               "): try again when a build is done, or give <root> and --force"};
  }
  choice.root = best->worktree;
  choice.differ = best->differ;
  if (choice.root != p.root) {
    Projects chosen;
    if (auto e = check_projects(choice.root, p.ws, chosen)) return e;
    p.root = chosen.root;
    p.root_checkout.reset();  // the mtime sync asks git about the donor itself
  }
  out = std::move(choice);
  return std::nullopt;
}

}  // namespace seedfs::cli

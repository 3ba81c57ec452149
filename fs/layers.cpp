#include "fs/layers.hpp"

#include <spdlog/spdlog.h>

namespace seedfs::fs {

std::string join(std::string_view parent, std::string_view name) {
  std::string out;
  out.reserve(parent.size() + 1 + name.size());
  out.append(parent);
  if (!parent.empty()) out.push_back('/');
  out.append(name);
  return out;
}

Layers::Layers(sys::UniqueFd lower, sys::UniqueFd upper, config::Artifact artifact,
               Journal& journal, seeding::Instant t0)
    : lower_(std::move(lower)), upper_(std::move(upper)), artifact_(std::move(artifact)),
      journal_(journal), t0_(t0) {}

seeding::Rewrites Layers::rewrites(std::string_view rel, mode_t mode) const {
  return S_ISREG(mode) && artifact_.only_replaced(rel, mode) ? seeding::Rewrites::replace_only
                                                             : seeding::Rewrites::in_place;
}

bool Layers::as_at_t0(std::string_view rel, const struct statx& sx) const {
  // Only a ctime after T0 depends on how tools change the file: the globs
  // that tell it are matched only then.
  if (t0_.shows(sx, seeding::Rewrites::in_place) || t0_.shows(sx, rewrites(rel, sx.stx_mode))) return true;
  note_changed(rel);
  return false;
}

void Layers::note_changed(std::string_view rel) const {
  // The names, for the log: the first ones each, then every thousandth (a
  // root rebuilt from scratch under a kept view changes them all).
  constexpr size_t kNamed = 50, kMax = 1 << 20;
  size_t n;
  {
    std::lock_guard lock(changed_mu_);
    if (changed_.size() >= kMax || !changed_.emplace(rel).second) return;
    n = changed_.size();
  }
  if (n <= kNamed)
    spdlog::info("the root changed {} after T0 ({}): left out, for cargo to rebuild here", rel, t0_.to_string());
  else if (n % 1000 == 0)
    spdlog::info("the root changed {} entries after T0 so far: left out", n);
}

size_t Layers::changed_count() const {
  std::lock_guard lock(changed_mu_);
  return changed_.size();
}

bool Layers::lower_visible(std::string_view rel, bool is_dir) const {
  if (rel.empty()) return true;
  const auto& skip = artifact_.skip_rules;
  if (!skip.empty()) {
    for (size_t slash = rel.find('/'); slash != std::string_view::npos;
         slash = rel.find('/', slash + 1))
      if (skip.prunes_dir(rel.substr(0, slash))) return false;
    if (is_dir ? skip.prunes_dir(rel) : skip.matches(rel, false)) return false;
  }
  return !journal_.hides(rel);
}

bool Layers::child_visible(std::string_view rel, bool is_dir) const {
  const auto& skip = artifact_.skip_rules;
  if (!skip.empty() && (is_dir ? skip.prunes_dir(rel) : skip.matches(rel, false))) return false;
  return !journal_.hides(rel);
}

Found Layers::find_upper(const std::string& rel) const {
  Found f;
  if (sys::lstat_at(upper_.get(), at(rel), f.st) == std::error_code{}) f.layer = Layer::upper;
  return f;
}

Found Layers::find_lower(const std::string& rel) const {
  Found f;
  struct statx sx {};
  std::error_code ec = sys::statx_at(lower_.get(), at(rel), sx);
  if (!ec) f.st = sys::to_stat(sx);
  // FIFOs, sockets and devices are never seeded: the view must not show them
  // either, or it would differ from the plain directory it turns into.
  if (!ec && seeded_type(f.st.st_mode) && lower_visible(rel, S_ISDIR(f.st.st_mode))) {
    if (rel.empty() || as_at_t0(rel, sx))
      f.layer = Layer::lower;
    else
      f.changed = true;
  }
  // A root dir the daemon may not search must not make its entries look
  // absent: a negative entry would tell a build they do not exist.
  if (ec && ec.value() != ENOENT && ec.value() != ENOTDIR && lower_visible(rel, false) &&
      lower_visible(rel, true))
    f.err = ec.value();
  return f;
}

Found Layers::find_known(const std::string& rel, bool in_lower, ino_t lower_ino) const {
  Found f = find_upper(rel);
  if (f || !in_lower) return f;
  struct statx sx {};
  if (sys::statx_at(lower_.get(), at(rel), sx)) return f;
  f.st = sys::to_stat(sx);
  if ((lower_ino && sx.stx_ino != lower_ino) || (!rel.empty() && !as_at_t0(rel, sx)))
    f.changed = true;
  else
    f.layer = Layer::lower;
  return f;
}

bool Layers::lower_exists(const std::string& rel) const {
  struct stat st {};
  return !sys::lstat_at(lower_.get(), at(rel), st) && seeded_type(st.st_mode) &&
         lower_visible(rel, S_ISDIR(st.st_mode));
}

Found Layers::find(const std::string& rel, bool parent_in_lower) const {
  Found f = find_upper(rel);
  if (f || !parent_in_lower) return f;
  return find_lower(rel);
}

}  // namespace seedfs::fs

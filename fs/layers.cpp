#include "fs/layers.hpp"

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
               Journal& journal)
    : lower_(std::move(lower)), upper_(std::move(upper)), artifact_(std::move(artifact)),
      journal_(journal) {}

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
  std::error_code ec = sys::lstat_at(lower_.get(), at(rel), f.st);
  // FIFOs, sockets and devices are never seeded: the view must not show them
  // either, or it would differ from the plain directory it turns into.
  if (!ec && seeded_type(f.st.st_mode) && lower_visible(rel, S_ISDIR(f.st.st_mode)))
    f.layer = Layer::lower;
  // A root dir the daemon may not search must not make its entries look
  // absent: a negative entry would tell a build they do not exist.
  if (ec && ec.value() != ENOENT && ec.value() != ENOTDIR && lower_visible(rel, false) &&
      lower_visible(rel, true))
    f.err = ec.value();
  return f;
}

Found Layers::find_known(const std::string& rel, bool in_lower) const {
  Found f = find_upper(rel);
  if (f || !in_lower) return f;
  if (sys::lstat_at(lower_.get(), at(rel), f.st) == std::error_code{}) f.layer = Layer::lower;
  return f;
}

Found Layers::find(const std::string& rel, bool parent_in_lower) const {
  Found f = find_upper(rel);
  if (f || !parent_in_lower) return f;
  return find_lower(rel);
}

}  // namespace seedfs::fs

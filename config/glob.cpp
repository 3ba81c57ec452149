#include "config/glob.hpp"

#include <fnmatch.h>

namespace seedfs::config {
namespace {

void split(std::string_view path, std::vector<std::string_view>& parts) {
  parts.clear();
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
}

// The walk matches every entry against every glob: split each path once, into
// a buffer that each thread reuses.
const std::vector<std::string_view>& split_cached(std::string_view path) {
  thread_local std::vector<std::string_view> parts;
  split(path, parts);
  return parts;
}

bool has_magic(std::string_view s) { return s.find_first_of("*?[\\") != std::string_view::npos; }

// Checks that every '[' opens a class that closes, as fnmatch would read it.
bool classes_closed(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '[') {
      size_t j = i + 1;
      if (j < s.size() && (s[j] == '!' || s[j] == '^')) ++j;
      if (j < s.size() && s[j] == ']') ++j;  // a leading ']' is a member
      while (j < s.size() && s[j] != ']') ++j;
      if (j >= s.size()) return false;
      i = j;
    }
  }
  return true;
}

}  // namespace

std::optional<Glob> Glob::compile(std::string_view pattern, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<Glob> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (pattern.empty()) return fail("empty pattern");
  if (pattern[0] == '!') return fail("negation ('!') is not supported");
  if (pattern.back() == '\\') return fail("trailing backslash");
  if (!classes_closed(pattern)) return fail("unclosed '[' character class");

  Glob g;
  g.text_ = std::string(pattern);
  bool anchored = pattern.front() == '/';
  if (anchored) pattern.remove_prefix(1);
  if (!pattern.empty() && pattern.back() == '/') {
    g.dir_only_ = true;
    pattern.remove_suffix(1);
  }
  if (pattern.empty()) return fail("pattern matches nothing");
  // A slash left inside the pattern anchors it, as in .gitignore.
  if (pattern.find('/') != std::string_view::npos) anchored = true;
  if (!anchored) g.segs_.push_back({Kind::any_depth, {}});

  std::vector<std::string_view> parts;
  split(pattern, parts);
  for (std::string_view part : parts) {
    if (part == "." || part == "..") return fail("'.' and '..' components are not allowed");
    if (part == "**") {
      if (g.segs_.empty() || g.segs_.back().kind != Kind::any_depth)
        g.segs_.push_back({Kind::any_depth, {}});
      continue;
    }
    if (part.find("**") != std::string_view::npos)
      return fail("'**' must be a whole path component, as in '**/x' or 'x/**'");
    Segment seg{Kind::fnmatch, std::string(part)};
    std::string_view rest = part.substr(1);
    if (!has_magic(part)) {
      seg.kind = Kind::literal;
    } else if (part == "*") {
      seg.kind = Kind::star;
    } else if (part[0] == '*' && !has_magic(rest)) {
      seg = {Kind::suffix, std::string(rest)};
    } else if (part.back() == '*' && !has_magic(part.substr(0, part.size() - 1))) {
      seg = {Kind::prefix, std::string(part.substr(0, part.size() - 1))};
    }
    g.segs_.push_back(std::move(seg));
  }
  // "x/**" covers everything below whatever "x" matches.
  if (g.segs_.size() > 1 && g.segs_.back().kind == Kind::any_depth)
    g.below_.assign(g.segs_.begin(), g.segs_.end() - 1);
  return g;
}

bool Glob::segment_matches(const Segment& seg, std::string_view name) {
  switch (seg.kind) {
    case Kind::literal:
      return name == seg.text;
    case Kind::star:
      return true;
    case Kind::suffix:
      return name.size() >= seg.text.size() && name.ends_with(seg.text);
    case Kind::prefix:
      return name.starts_with(seg.text);
    case Kind::fnmatch:
      return ::fnmatch(seg.text.c_str(), std::string(name).c_str(), 0) == 0;
    case Kind::any_depth:
      break;
  }
  return false;
}

bool Glob::match_from(const std::vector<Segment>& segs, size_t si,
                      const std::vector<std::string_view>& parts, size_t pi) {
  while (si < segs.size()) {
    const Segment& seg = segs[si];
    if (seg.kind == Kind::any_depth) {
      if (si + 1 == segs.size()) return pi < parts.size();  // "a/**" needs something below a
      for (size_t k = pi; k < parts.size(); ++k)
        if (match_from(segs, si + 1, parts, k)) return true;
      return false;
    }
    if (pi >= parts.size() || !segment_matches(seg, parts[pi])) return false;
    ++si;
    ++pi;
  }
  return pi == parts.size();
}

bool Glob::matches_parts(const Parts& parts, bool is_dir) const {
  if (dir_only_ && !is_dir) return false;
  if (segs_.size() == 1 && segs_[0].kind == Kind::any_depth) return true;  // "**"
  return match_from(segs_, 0, parts, 0);
}

bool Glob::covers_below_parts(const Parts& parts) const {
  if (segs_.size() == 1 && segs_[0].kind == Kind::any_depth) return true;  // "**"
  if (below_.empty() || dir_only_) return false;
  return match_from(below_, 0, parts, 0);
}

bool Glob::matches(std::string_view rel, bool is_dir) const {
  return matches_parts(split_cached(rel), is_dir);
}

bool Glob::covers_below(std::string_view rel) const {
  return covers_below_parts(split_cached(rel));
}

std::optional<GlobSet> GlobSet::compile(const std::vector<std::string>& patterns,
                                        size_t* bad_index, std::string* error) {
  GlobSet set;
  for (size_t i = 0; i < patterns.size(); ++i) {
    auto g = Glob::compile(patterns[i], error);
    if (!g) {
      if (bad_index) *bad_index = i;
      return std::nullopt;
    }
    set.globs_.push_back(std::move(*g));
  }
  return set;
}

bool GlobSet::matches(std::string_view rel, bool is_dir) const {
  if (globs_.empty()) return false;
  const auto& parts = split_cached(rel);
  for (const auto& g : globs_)
    if (g.matches_parts(parts, is_dir)) return true;
  return false;
}

bool GlobSet::prunes_dir(std::string_view rel) const {
  if (globs_.empty()) return false;
  const auto& parts = split_cached(rel);
  for (const auto& g : globs_)
    if (g.matches_parts(parts, true) || g.covers_below_parts(parts)) return true;
  return false;
}

}  // namespace seedfs::config

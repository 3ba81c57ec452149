// Gitignore-like globs, anchored at an artifact's root.
//
//   *  and ?   match within one path component ("*.o", "lib?.a")
//   [abc]      a character class, as in fnmatch(3)
//   **         as a whole component: any number of components ("**/*.o", "a/**")
//   /x         a leading slash anchors the pattern at the artifact root
//   x/         a trailing slash makes the pattern match directories only
// A pattern without a slash (other than a trailing one) matches at any depth,
// as in .gitignore: "*.o" is "**/*.o".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace seedfs::config {

class Glob {
 public:
  // Returns nullopt and sets *error to a one-line reason when `pattern` is invalid.
  static std::optional<Glob> compile(std::string_view pattern, std::string* error);

  // `rel` is relative to the artifact root: components joined by '/', no leading '/'.
  bool matches(std::string_view rel, bool is_dir) const;
  // True when every path strictly below directory `rel` matches ("a/**" covers "a").
  bool covers_below(std::string_view rel) const;

  const std::string& text() const { return text_; }

 private:
  enum class Kind { any_depth, literal, suffix, prefix, star, fnmatch };
  struct Segment {
    Kind kind;
    std::string text;  // the literal, the suffix/prefix, or the fnmatch pattern
  };

  friend class GlobSet;
  using Parts = std::vector<std::string_view>;
  bool matches_parts(const Parts& parts, bool is_dir) const;
  bool covers_below_parts(const Parts& parts) const;
  static bool segment_matches(const Segment& seg, std::string_view name);
  static bool match_from(const std::vector<Segment>& segs, size_t si,
                         const std::vector<std::string_view>& parts, size_t pi);

  std::vector<Segment> segs_;
  std::vector<Segment> below_;  // segs_ without a trailing "**", or empty
  bool dir_only_ = false;
  std::string text_;
};

// A list of globs; a path matches the set when any glob matches it.
class GlobSet {
 public:
  GlobSet() = default;
  // Compiles every pattern; on the first invalid one returns nullopt with its index and reason.
  static std::optional<GlobSet> compile(const std::vector<std::string>& patterns,
                                        size_t* bad_index, std::string* error);

  bool matches(std::string_view rel, bool is_dir) const;
  // A directory is pruned (never entered, never created) when a glob matches it
  // or covers everything below it.
  bool prunes_dir(std::string_view rel) const;
  bool empty() const { return globs_.empty(); }

 private:
  std::vector<Glob> globs_;
};

}  // namespace seedfs::config

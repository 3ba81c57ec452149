#include "git/checkout.hpp"

#include <sstream>

#include "git/command.hpp"

namespace seedfs::git {
namespace {

std::filesystem::path canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::canonical(p, ec);
  return ec ? std::filesystem::path(p).lexically_normal() : c;
}

}  // namespace

std::optional<Checkout> checkout_of(const std::filesystem::path& dir, std::string& why) {
  Output r = run(dir, {"rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir",
                       "--git-common-dir", "--show-prefix"});
  if (!r.ok()) {
    why = r.ec ? r.why() : dir.string() + " is not in a git checkout";
    return std::nullopt;
  }
  std::istringstream lines(r.out);
  std::string top, git_dir, common_dir, prefix;
  std::getline(lines, top);
  std::getline(lines, git_dir);
  std::getline(lines, common_dir);
  std::getline(lines, prefix);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (top.empty() || git_dir.empty() || common_dir.empty()) {
    why = "git rev-parse in " + dir.string() + " gave no working tree (a bare repository?)";
    return std::nullopt;
  }
  Checkout c{canonical(top), std::filesystem::path(prefix).lexically_normal(), canonical(git_dir),
             canonical(common_dir)};
  if (c.prefix == ".") c.prefix.clear();
  return c;
}

std::optional<std::filesystem::path> main_worktree(const Checkout& c, std::string& why) {
  Output r = run(c.top, {"worktree", "list", "--porcelain", "-z"});
  if (!r.ok()) {
    why = "git worktree list in " + c.top.string() + ": " + r.why();
    if (!r.ec && r.err.find("not a git repository") != std::string::npos)
      why = c.top.string() + " is not in a git checkout";
    return std::nullopt;
  }
  // Records "worktree <path>", "HEAD <oid>", "branch <ref>" or "bare", ...;
  // an empty record ends each worktree. The main worktree comes first.
  auto records = split_z(r.out);
  if (records.empty() || records[0].rfind("worktree ", 0) != 0) {
    why = "git worktree list in " + c.top.string() + " named no worktree";
    return std::nullopt;
  }
  for (size_t i = 1; i < records.size() && !records[i].empty(); ++i)
    if (records[i] == "bare") {
      why = "the repository " + c.common_dir.string() + " is bare: it has no main worktree to take as the root; give <root>";
      return std::nullopt;
    }
  return canonical(std::string(records[0].substr(9)));
}

}  // namespace seedfs::git

namespace seedfs::git {

std::optional<std::vector<std::filesystem::path>> worktrees(const Checkout& c, std::string& why) {
  Output r = run(c.top, {"worktree", "list", "--porcelain", "-z"});
  if (!r.ok()) {
    why = "git worktree list in " + c.top.string() + ": " + r.why();
    return std::nullopt;
  }
  // One record per line ("worktree <path>", "bare", "prunable ..."); an empty
  // one ends each worktree.
  std::vector<std::filesystem::path> out;
  std::optional<std::filesystem::path> cur;
  bool bare = false;
  auto end_worktree = [&] {
    std::error_code ec;
    if (cur && !bare && std::filesystem::is_directory(*cur, ec)) out.push_back(*cur);
    cur.reset();
    bare = false;
  };
  for (std::string_view rec : split_z(r.out)) {
    if (rec.empty()) {
      end_worktree();
    } else if (rec.rfind("worktree ", 0) == 0) {
      cur = std::filesystem::path(std::string(rec.substr(9)));
    } else if (rec == "bare") {
      bare = true;
    }
  }
  end_worktree();
  return out;
}

}  // namespace seedfs::git

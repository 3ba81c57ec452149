#include "git/hook.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "git/command.hpp"
#include "seeding/sys.hpp"

namespace seedfs::git {
namespace {

constexpr const char* kMarker = "# seedfs post-checkout hook, v1";
constexpr const char* kChainedSuffix = ".seedfs-chained";

// Single quotes for sh: every ' becomes '\''.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string hook_text(const std::filesystem::path& seedfs) {
  std::ostringstream h;
  h << "#!/bin/sh\n"
    << kMarker << "\n"
    << "# Written by `seedfs hook install`; `seedfs hook uninstall` removes it and puts\n"
       "# back the hook it chains (post-checkout" << kChainedSuffix << "), if any.\n"
       "#\n"
       "# For a new linked worktree (`git worktree add`: the old HEAD is the null\n"
       "# commit) it runs `seedfs mount` there, which shows the main worktree's build\n"
       "# artifacts in the new one at once and returns once that view is live; its\n"
       "# daemon goes on in the background. It never fails the checkout: the exit\n"
       "# status is the chained hook's. SEEDFS_NO_HOOK=1 skips it.\n"
       "status=0\n"
       "chained=\"$0" << kChainedSuffix << "\"\n"
       "if [ -x \"$chained\" ]; then\n"
       "  \"$chained\" \"$@\" || status=$?\n"
       "fi\n"
       "case \"$1\" in\n"
       "  *[!0]*) ;;  # an existing HEAD: not a new worktree\n"
       "  *)\n"
       "    if [ \"$3\" = 1 ] && [ \"${SEEDFS_NO_HOOK:-0}\" != 1 ]; then\n"
       "      # git sets these for the new worktree; seedfs must also reach the main one.\n"
       "      (unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX GIT_COMMON_DIR\n"
       "       exec " << sh_quote(seedfs.string()) << " mount --from-hook) </dev/null >&2 || true\n"
       "    fi\n"
       "    ;;\n"
       "esac\n"
       "exit $status\n";
  return h.str();
}

// Writes `text` as an executable file, whole or not at all.
std::error_code write_executable(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::path tmp = p.string() + ".seedfs-tmp";
  std::error_code ec;
  sys::UniqueFd fd = sys::open_at(AT_FDCWD, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755, ec);
  if (!fd) return ec;
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fchmod(fd.get(), 0755) != 0 || ::rename(tmp.c_str(), p.c_str()) != 0) {
    ec = sys::last_error();
    ::unlink(tmp.c_str());
  }
  return ec;
}

bool present(const std::filesystem::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

}  // namespace

bool is_our_hook(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  return second == kMarker;
}

std::filesystem::path hooks_dir(const Checkout& c, std::string& why) {
  Output r = run(c.top, {"rev-parse", "--path-format=absolute", "--git-path", "hooks"});
  if (!r.ok()) {
    why = "git rev-parse --git-path hooks in " + c.top.string() + ": " + r.why();
    return {};
  }
  std::string dir = r.out.substr(0, r.out.find('\n'));
  return dir;
}

std::error_code install_hook(const Checkout& c, const std::filesystem::path& seedfs_binary, HookChange& out,
                             std::string& why) {
  std::filesystem::path dir = hooks_dir(c, why);
  if (dir.empty()) return std::make_error_code(std::errc::invalid_argument);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return why = "cannot create " + dir.string() + ": " + ec.message(), ec;
  out.hook = dir / "post-checkout";
  std::filesystem::path chained = out.hook.string() + kChainedSuffix;
  if (present(out.hook)) {
    if (is_our_hook(out.hook)) {
      out.updated = true;
    } else {
      if (present(chained))
        return why = out.hook.string() + " is not seedfs's, and " + chained.string() +
                     " exists already: move one of them away",
               std::make_error_code(std::errc::file_exists);
      if (::rename(out.hook.c_str(), chained.c_str()) != 0)
        return ec = sys::last_error(), why = "cannot move " + out.hook.string() + " aside: " + ec.message(), ec;
    }
  }
  if (present(chained)) out.chained = chained;
  if ((ec = write_executable(out.hook, hook_text(seedfs_binary)))) {
    why = "cannot write " + out.hook.string() + ": " + ec.message();
    if (!out.updated && !out.chained.empty()) ::rename(chained.c_str(), out.hook.c_str());  // as it was
    return ec;
  }
  return {};
}

std::error_code uninstall_hook(const Checkout& c, HookChange& out, std::string& why) {
  std::filesystem::path dir = hooks_dir(c, why);
  if (dir.empty()) return std::make_error_code(std::errc::invalid_argument);
  out.hook = dir / "post-checkout";
  if (!present(out.hook) || !is_our_hook(out.hook))
    return why = "no seedfs hook at " + out.hook.string() +
                 (present(out.hook) ? " (the hook there is someone else's: left alone)" : ""),
           std::make_error_code(std::errc::no_such_file_or_directory);
  std::filesystem::path chained = out.hook.string() + kChainedSuffix;
  std::error_code ec;
  if (present(chained)) {
    if (::rename(chained.c_str(), out.hook.c_str()) != 0)
      return ec = sys::last_error(), why = "cannot put back " + chained.string() + ": " + ec.message(), ec;
    out.chained = chained;
  } else if (::unlink(out.hook.c_str()) != 0) {
    return ec = sys::last_error(), why = "cannot remove " + out.hook.string() + ": " + ec.message(), ec;
  }
  return {};
}

}  // namespace seedfs::git

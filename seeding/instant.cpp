#include "seeding/instant.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>

#include "seeding/sys.hpp"

namespace seedfs::seeding {
namespace {

constexpr int64_t kNs = 1000000000;

int64_t ns_of(const struct statx_timestamp& t) { return t.tv_sec * kNs + t.tv_nsec; }

}  // namespace

Instant Instant::now(int root_fd) {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  int64_t ns = ts.tv_sec * kNs + ts.tv_nsec;
  // A filesystem that keeps whole seconds (its root dir says so: no
  // nanoseconds in either time) stamps a write just after T0 with the second
  // T0 falls in: T0 is that second's start.
  struct stat st {};
  if (::fstat(root_fd, &st) == 0 && st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0) ns -= ns % kNs;
  return Instant(ns);
}

std::string Instant::to_string() const {
  if (!set()) return "(none)";
  time_t secs = static_cast<time_t>(ns_ / kNs);
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03lld UTC", static_cast<long long>(ns_ % kNs / 1000000));
  return buf;
}

bool Instant::shows(const struct statx& sx, Rewrites how) const {
  if (!set()) return true;
  bool born_after = (sx.stx_mask & STATX_BTIME) && ns_of(sx.stx_btime) >= ns_;
  if (S_ISDIR(sx.stx_mode)) return !born_after;
  if (born_after || ns_of(sx.stx_mtime) >= ns_) return false;
  return how == Rewrites::replace_only || ns_of(sx.stx_ctime) < ns_;
}

std::optional<Instant> load_instant(const std::filesystem::path& file, int ws_dir_fd) {
  std::string id;
  if (sys::dir_identity(ws_dir_fd, id)) return std::nullopt;
  std::ifstream in(file);
  std::string line;
  // "U <identity>" then "T0 <ns>"
  if (!std::getline(in, line) || line != "U " + id) return std::nullopt;
  long long ns = 0;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "T0 %lld", &ns) != 1) return std::nullopt;
  return Instant::at_ns(ns);
}

std::error_code save_instant(const std::filesystem::path& file, int ws_dir_fd, Instant t0) {
  std::string id;
  if (auto ec = sys::dir_identity(ws_dir_fd, id)) return ec;
  std::string text = "U " + id + "\nT0 " + std::to_string(t0.ns()) + "\n# " + t0.to_string() + "\n";
  // Whole or not at all (renamed into place), and written before the
  // workspace is changed: a daemon killed right after finds it. (Not synced
  // to the disk, as the journal is not: a power cut loses the workspace's
  // page cache too.)
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return ec;
  std::string tmp = file.string() + ".tmp";
  sys::UniqueFd fd = sys::open_at(AT_FDCWD, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600, ec);
  if (!fd) return ec;
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::rename(tmp.c_str(), file.c_str()) != 0) {
    ec = sys::last_error();
    ::unlink(tmp.c_str());
    return ec;
  }
  return {};
}

}  // namespace seedfs::seeding

#include "seeding/materialize.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>

#include "seeding/sys.hpp"

namespace seedfs::seeding {
namespace {

using sys::last_error;
using sys::UniqueFd;

// Errors for which a hardlink is impossible but a copy may work.
bool link_impossible(int err) {
  return err == EXDEV || err == EPERM || err == EMLINK || err == ENOTSUP || err == EOPNOTSUPP;
}

// False once O_TMPFILE + linkat through /proc failed here (no /proc, or a
// filesystem without O_TMPFILE): then copies go through a named temporary.
std::atomic<bool> g_tmpfile_works{true};

std::string temp_name() {
  static std::atomic<uint64_t> counter{0};
  char buf[64];
  std::snprintf(buf, sizeof buf, ".seedfs-tmp-%d-%llu", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  return buf;
}

// The filesystems (by the source file's st_dev) where FICLONE failed as
// unsupported: ext4 and tmpfs never reflink, so one failed ioctl per
// filesystem is enough to stop asking. A few slots: a process seeds from one
// or two roots.
std::array<std::atomic<uint64_t>, 8> g_no_reflink{};  // st_dev + 1; 0: empty

void no_reflink_on(dev_t dev) {
  for (auto& slot : g_no_reflink) {
    uint64_t empty = 0;
    if (slot.load(std::memory_order_relaxed) == dev + 1 || slot.compare_exchange_strong(empty, dev + 1)) return;
  }
}

// How to name an O_TMPFILE: linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH;
// /proc/self/fd works for everyone where /proc is mounted.
std::atomic<bool> g_empty_path_works{true};

// Copies up to `len` bytes at offset `pos` of `src` to the same offset of
// `dst` in one step: copy_file_range, or read/write through a 64 KiB buffer
// where the kernel cannot (across filesystems of different types; `use_cfr`
// goes false for the rest of the file). Returns the bytes copied, 0 at the
// end of the file, possibly fewer than asked.
ssize_t copy_step(int src, int dst, loff_t pos, size_t len, bool& use_cfr) {
  if (use_cfr) {
    loff_t in = pos, out = pos;
    for (;;) {
      ssize_t n = ::copy_file_range(src, &in, dst, &out, len, 0);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return -1;
      use_cfr = false;
      break;
    }
  }
  std::array<char, 1 << 16> buf;
  ssize_t n;
  do {
    n = ::pread(src, buf.data(), std::min(len, buf.size()), pos);
  } while (n < 0 && errno == EINTR);
  for (ssize_t w = 0; w < n;) {
    ssize_t m = ::pwrite(dst, buf.data() + w, n - w, pos + w);
    if (m < 0 && errno == EINTR) continue;
    if (m < 0) return -1;
    w += m;
  }
  return n;
}

// copy_step until `len` bytes are copied or the file ends: a caller that paid
// for `len` bytes (the pace) gets them all. Returns the bytes copied.
ssize_t copy_range(int src, int dst, loff_t pos, size_t len, bool& use_cfr) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = copy_step(src, dst, pos + static_cast<loff_t>(done), len - done, use_cfr);
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// What one paced request may move: small enough that a limit of a few MB/s
// stays smooth, large enough that copy_file_range keeps its speed.
constexpr size_t kPacedChunk = 1 << 20;

// Copies the bytes of `src` into `dst`: a reflink where the filesystem can,
// else copy_file_range, else read/write; with `reflink_only`, EOPNOTSUPP
// where no reflink is possible. Copied bytes pass `pacer` (if any) a chunk at
// a time; ECANCELED once it says stop.
std::error_code copy_data(int src, dev_t src_dev, int dst, uint64_t size, Outcome& how, bool reflink_only,
                          Pacer* pacer) {
  if (size > 0 && reflink_may_work(src_dev)) {
    if (::ioctl(dst, FICLONE, src) == 0) {
      how = Outcome::reflinked;
      return {};
    }
    if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL || errno == EXDEV) no_reflink_on(src_dev);
  }
  if (reflink_only) return sys::make_error(EOPNOTSUPP);
  how = Outcome::copied;
  bool paced = pacer && pacer->chunked();
  // Copy st_size bytes: the root does not change while it is seeded (a build
  // in it is refused), and stopping there saves the call that would read EOF.
  bool use_cfr = true;
  for (uint64_t pos = 0; pos < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size - pos, paced ? kPacedChunk : SIZE_MAX >> 1));
    if (paced && !pacer->before_bytes(want)) return sys::make_error(ECANCELED);
    ssize_t n = copy_range(src, dst, static_cast<loff_t>(pos), want, use_cfr);
    if (n < 0) return last_error();
    if (n == 0) return {};  // the file shrank: what is there is copied
    pos += static_cast<uint64_t>(n);
  }
  return {};
}

// Mode, owner and times of `st` onto the open file `fd`, created with `created_mode`.
std::error_code copy_metadata(int fd, const struct stat& st, mode_t created_mode) {
  mode_t mode = st.st_mode & 07777;
  bool chowned = false;
  // Only root can give a file away; keep the owner when we can.
  static const uid_t euid = ::geteuid();
  static const gid_t egid = ::getegid();
  if (euid == 0 && (st.st_uid != euid || st.st_gid != egid)) {
    if (::fchown(fd, st.st_uid, st.st_gid) != 0) return last_error();
    chowned = true;
  }
  // After fchown (which clears set-id bits), and where the umask took bits away.
  if ((chowned && (mode & 06000)) || (created_mode & ~sys::process_umask()) != mode)
    if (::fchmod(fd, mode) != 0) return last_error();
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) != 0) return last_error();
  return {};
}

// Hardlinks the file open as `fd` (O_PATH is enough) as `name` in `dst_dir`:
// exactly that inode, whatever the name it was opened by now holds.
// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; /proc/self/fd works for
// everyone where /proc is mounted.
int link_fd(int fd, int dst_dir, const char* name) {
  if (g_empty_path_works.load(std::memory_order_relaxed)) {
    if (::linkat(fd, "", dst_dir, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM) return -1;
    // Without the capability the kernel says ENOENT: try /proc, and stay
    // there if /proc does what AT_EMPTY_PATH did not.
  }
  char proc[64];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  int rc = ::linkat(AT_FDCWD, proc, dst_dir, name, AT_SYMLINK_FOLLOW);
  if (rc == 0 || errno == EEXIST) g_empty_path_works = false;
  return rc;
}

// Puts the finished temporary under `name`: renamed, or linked from an O_TMPFILE.
std::error_code publish(int fd, bool is_tmpfile, const std::string& tmp, int dst_dir,
                        const char* name, CopyMode mode, bool& existed) {
  existed = false;
  bool replace = mode == CopyMode::replace;
  if (is_tmpfile) {
    // linkat cannot replace: a replacing publish links under a temporary name first.
    std::string link_name = replace ? temp_name() : name;
    if (link_fd(fd, dst_dir, link_name.c_str()) != 0) {
      if (errno == EEXIST && !replace) return existed = true, std::error_code{};
      return last_error();
    }
    if (!replace) return {};
    if (::renameat(dst_dir, link_name.c_str(), dst_dir, name) != 0) {
      auto ec = last_error();
      ::unlinkat(dst_dir, link_name.c_str(), 0);
      return ec;
    }
    return {};
  }
  int rc = replace ? ::renameat(dst_dir, tmp.c_str(), dst_dir, name)
                   : ::renameat2(dst_dir, tmp.c_str(), dst_dir, name, RENAME_NOREPLACE);
  if (rc == 0) return {};
  auto ec = last_error();
  ::unlinkat(dst_dir, tmp.c_str(), 0);
  if (ec.value() == EEXIST && !replace) return existed = true, std::error_code{};
  return ec;
}

// The root's entry is not as it was at T0 (changed, or gone): nothing is made.
std::error_code left_out(Done& done) {
  done = {Outcome::changed, 0};
  return {};
}

// The root's file `name` in `dir`, opened with `flags`; invalid, with `ec`
// clear, when the root no longer has it (an entry to leave out).
UniqueFd open_source(int dir, const char* name, int flags, std::error_code& ec) {
  UniqueFd fd = sys::open_at(dir, name, flags | O_NOFOLLOW, 0, ec);
  if (!fd && ec.value() == ENOENT) ec.clear();
  return fd;
}

// Whether the open root file `fd` is as it was at `t0`.
bool as_at(const Instant& t0, int fd, Rewrites how, struct statx& sx, std::error_code& ec) {
  if ((ec = sys::statx_at(fd, "", sx))) return false;
  return t0.shows(sx, how);
}

}  // namespace

bool reflink_may_work(dev_t dev) {
  for (const auto& slot : g_no_reflink)
    if (slot.load(std::memory_order_relaxed) == dev + 1) return false;
  return true;
}

namespace {

// A reflink or copy of a file the workspace does not have yet (one it has is
// kept), as the root had it at `t0`. With `reflink_only`, EOPNOTSUPP where no
// reflink is possible (or the file is empty: nothing to share), for the
// caller to hardlink instead.
std::error_code copy_new(int src_dir, const char* src_name, int dst_dir, const char* dst_name, Rewrites how,
                         const Instant& t0, Done& done, bool reflink_only, Pacer* pacer) {
  // A copy costs a new inode and its data before linkat can say the name is
  // taken: look first, so that a rerun or a resumed mount keeps files cheaply.
  struct stat existing {};
  if (::fstatat(dst_dir, dst_name, &existing, AT_SYMLINK_NOFOLLOW) == 0)
    return done = {Outcome::kept, 0}, std::error_code{};
  std::error_code ec;
  UniqueFd src = open_source(src_dir, src_name, O_RDONLY, ec);
  if (!src) return ec ? ec : left_out(done);
  struct statx sx {};
  if ((ec = sys::statx_at(src.get(), "", sx))) return ec;
  struct stat st = sys::to_stat(sx);
  if (reflink_only && (st.st_size == 0 || !reflink_may_work(st.st_dev))) return sys::make_error(EOPNOTSUPP);
  return copy_file(src.get(), st, dst_dir, dst_name, CopyMode::keep_existing, done, true, reflink_only, pacer,
                   &t0, how);
}

}  // namespace

std::error_code copy_file(int src_fd, const struct stat& st, int dst_dir, const char* dst_name,
                          CopyMode mode, Done& done, bool data, bool reflink_only, Pacer* pacer,
                          const Instant* t0, Rewrites how) {
  sys::Reach dst(dst_dir, dst_name);  // a view's path may pass PATH_MAX (sys::Reach)
  if (dst.error()) return dst.error();
  dst_dir = dst.dir();
  dst_name = dst.name();
  struct statx sx {};
  std::error_code judged;
  if (t0 && !as_at(*t0, src_fd, how, sx, judged)) return judged ? judged : left_out(done);
  for (;;) {
    bool is_tmpfile = g_tmpfile_works.load(std::memory_order_relaxed);
    std::error_code ec;
    std::string tmp;
    UniqueFd out;
    mode_t created_mode = (st.st_mode & 0777) | S_IRUSR | S_IWUSR;
    if (is_tmpfile) {
      out = sys::open_at(dst_dir, ".", O_TMPFILE | O_RDWR, created_mode, ec);
      if (!out && (ec.value() == EOPNOTSUPP || ec.value() == EISDIR || ec.value() == EINVAL)) {
        g_tmpfile_works = false;
        continue;
      }
    } else {
      tmp = temp_name();
      out = sys::open_at(dst_dir, tmp.c_str(), O_CREAT | O_EXCL | O_RDWR, created_mode, ec);
    }
    if (!out) return ec;
    auto drop_named = [&] {
      if (!is_tmpfile) ::unlinkat(dst_dir, tmp.c_str(), 0);
    };
    done.outcome = Outcome::copied;
    if (data) {
      if ((ec = copy_data(src_fd, st.st_dev, out.get(), static_cast<uint64_t>(st.st_size), done.outcome,
                          reflink_only, pacer)))
        return drop_named(), ec;
    }
    if ((ec = copy_metadata(out.get(), st, created_mode))) return drop_named(), ec;
    // Judged again now that the bytes are in: a root file rewritten while it
    // was copied (a fingerprint, by the root's cargo) has moved its times.
    if (t0 && !as_at(*t0, src_fd, how, sx, ec)) {
      drop_named();
      return ec ? ec : left_out(done);
    }
    bool existed = false;
    ec = publish(out.get(), is_tmpfile, tmp, dst_dir, dst_name, mode, existed);
    if (ec && is_tmpfile && (ec.value() == ENOENT || ec.value() == EPERM) &&
        ::access("/proc/self/fd", F_OK) != 0) {
      g_tmpfile_works = false;  // no /proc: use named temporaries from now on
      continue;
    }
    if (ec) return ec;
    if (existed) {
      done.outcome = Outcome::kept;
      done.bytes = 0;
    } else {
      done.bytes = data ? static_cast<uint64_t>(st.st_size) : 0;
    }
    return {};
  }
}

std::error_code materialize_file(int src_dir, const char* src_name, int dst_dir, const char* dst_name,
                                 config::Method method, Rewrites how, const Instant& t0, Done& done,
                                 bool reflink_first, Pacer* pacer) {
  sys::Reach dst(dst_dir, dst_name);  // a view's path may pass PATH_MAX (sys::Reach)
  if (dst.error()) return dst.error();
  dst_dir = dst.dir();
  dst_name = dst.name();
  if (method == config::Method::link && reflink_first) {
    if (auto ec = copy_new(src_dir, src_name, dst_dir, dst_name, how, t0, done, /*reflink_only=*/true, pacer);
        ec.value() != EOPNOTSUPP)
      return ec;  // reflinked, kept, changed, or a real error
  }
  if (method == config::Method::link) {
    // The inode is opened, judged, and that inode linked: a name the root
    // replaces meanwhile cannot slip a newer file in.
    std::error_code ec;
    UniqueFd src = open_source(src_dir, src_name, O_PATH, ec);
    if (!src) return ec ? ec : left_out(done);
    struct statx sx {};
    if (!as_at(t0, src.get(), how, sx, ec)) return ec ? ec : left_out(done);
    if (!S_ISREG(sx.stx_mode)) return left_out(done);  // replaced by another type
    if (link_fd(src.get(), dst_dir, dst_name) == 0) {
      done = {Outcome::linked, sx.stx_size};
      return {};
    }
    if (errno == EEXIST) return done = {Outcome::kept, 0}, std::error_code{};
    if (errno == ENOENT && sx.stx_nlink <= 1) return left_out(done);  // deleted meanwhile
    if (!link_impossible(errno)) return last_error();
  }
  return copy_new(src_dir, src_name, dst_dir, dst_name, how, t0, done, /*reflink_only=*/false, pacer);
}

std::error_code copy_symlink(int src_dir, const char* src_name, int dst_dir,
                             const char* dst_name, const Instant& t0, Done& done) {
  // Judged before and after its target is read: a symlink is only ever
  // replaced, and a replacement moves the times or the inode.
  struct statx before {}, after {};
  std::string target;
  std::error_code ec = sys::statx_at(src_dir, src_name, before);
  if (!ec) ec = sys::read_link_at(src_dir, src_name, target);
  if (!ec) ec = sys::statx_at(src_dir, src_name, after);
  if (ec.value() == ENOENT || ec.value() == EINVAL) return left_out(done);  // gone, or not a symlink now
  if (ec) return ec;
  if (!t0.shows(before, Rewrites::in_place) || after.stx_ino != before.stx_ino ||
      !t0.shows(after, Rewrites::in_place))
    return left_out(done);
  sys::Reach dst(dst_dir, dst_name);  // a view's path may pass PATH_MAX (sys::Reach)
  if (dst.error()) return dst.error();
  dst_dir = dst.dir();
  dst_name = dst.name();
  if (::symlinkat(target.c_str(), dst_dir, dst_name) != 0) {
    if (errno == EEXIST) return done = {Outcome::kept, 0}, std::error_code{};
    return last_error();
  }
  done = {Outcome::symlinked, 0};
  struct timespec times[2] = {{before.stx_atime.tv_sec, before.stx_atime.tv_nsec},
                              {before.stx_mtime.tv_sec, before.stx_mtime.tv_nsec}};
  ::utimensat(dst_dir, dst_name, times, AT_SYMLINK_NOFOLLOW);  // cosmetic: best effort
  return {};
}

std::error_code make_dir(int dst_dir, const char* name, mode_t mode, bool& created,
                         bool* widened) {
  created = false;
  sys::Reach dst(dst_dir, name);  // a view's path may pass PATH_MAX (sys::Reach)
  if (dst.error()) return dst.error();
  dst_dir = dst.dir();
  name = dst.name();
  mode_t want = (mode & 07777) | S_IRWXU;
  if (widened) *widened = false;
  if (::mkdirat(dst_dir, name, want) == 0) {
    created = true;
    // mkdir applies the umask; the root's mode is what we want.
    if ((want & sys::process_umask()) && ::fchmodat(dst_dir, name, want, 0) != 0)
      return last_error();
    if (widened) *widened = want != (mode & 07777);
    return {};
  }
  if (errno != EEXIST) return last_error();
  struct stat st {};
  if (auto ec = sys::lstat_at(dst_dir, name, st)) return ec;
  if (!S_ISDIR(st.st_mode)) return sys::make_error(ENOTDIR);
  if (widened) *widened = want != (mode & 07777) && (st.st_mode & 07777) == want;
  return {};
}

}  // namespace seedfs::seeding

#include "seeding/disk_usage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "seeding/sys.hpp"

namespace seedfs::usage {
namespace {

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

// Only these share extents between files (reflinks); FIEMAP elsewhere would
// cost an ioctl per file to learn nothing.
bool can_share_extents(int fd) {
  struct statfs sf {};
  if (::fstatfs(fd, &sf) != 0) return false;
  return sf.f_type == BTRFS_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC;
}

struct InodeKey {
  dev_t dev;
  ino_t ino;
  bool operator==(const InodeKey&) const = default;
};
struct InodeKeyHash {
  size_t operator()(const InodeKey& k) const { return std::hash<uint64_t>()(k.ino * 31 + k.dev); }
};

// An inode with more than one link, and how many of its names each dir holds.
struct Linked {
  uint64_t bytes = 0;  // allocated
  nlink_t nlink = 0;
  std::map<size_t, nlink_t> names_in;  // dir index -> names seen there
};

// A physical extent shared between files, by device and offset; its length.
struct Extent {
  dev_t dev;
  uint64_t physical;
  auto operator<=>(const Extent&) const = default;
};

// The figures of one dir that need no table: summed per thread, then added up.
struct Counts {
  uint64_t files = 0, dirs = 0, apparent = 0, single_bytes = 0, shared_extents = 0;
  std::string error;
};

class Walk {
 public:
  Walk(const std::vector<std::filesystem::path>& tops, unsigned threads)
      : tops_(tops), threads_(threads), top_dev_(tops.size()), extents_(tops.size()) {}

  Usage run() {
    for (size_t i = 0; i < tops_.size(); ++i) queue_.push_back({i, tops_[i].string(), true});
    std::vector<std::vector<Counts>> per_thread(threads_, std::vector<Counts>(tops_.size()));
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads_; ++t) pool.emplace_back([this, &per_thread, t] { work(per_thread[t]); });
    for (auto& th : pool) th.join();
    return sum_up(per_thread);
  }

 private:
  struct Job {
    size_t top;        // which of the given dirs it belongs to
    std::string path;  // absolute
    bool is_top = false;
  };

  void work(std::vector<Counts>& counts) {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || busy_ == 0; });
        if (queue_.empty()) return;  // and nobody busy: the walk is over
        job = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
      }
      std::vector<Job> subdirs;
      walk_dir(job, counts[job.top], subdirs);
      {
        std::lock_guard lock(mu_);
        for (auto& s : subdirs) queue_.push_back(std::move(s));
        --busy_;
      }
      cv_.notify_all();
    }
  }

  void note_error(Counts& c, const std::string& path, std::error_code ec) {
    if (c.error.empty()) c.error = sys::describe(path, ec);
  }

  // Lists one dir: counts its entries, queues its subdirs (on the same device).
  void walk_dir(const Job& job, Counts& c, std::vector<Job>& subdirs) {
    std::error_code ec;
    sys::UniqueFd fd = sys::open_dir(AT_FDCWD, job.path.c_str(), ec);
    if (!fd) return note_error(c, job.path, ec);
    struct stat self {};
    if (::fstat(fd.get(), &self) != 0) return note_error(c, job.path, sys::last_error());
    if (job.is_top) {  // before any of its subdirs is queued
      std::lock_guard lock(mu_);
      top_dev_[job.top] = self.st_dev;
      extents_[job.top] = can_share_extents(fd.get());
    }
    c.dirs += 1;
    count_inode(job.top, self, c, -1, "");
    DIR* d = ::fdopendir(::dup(fd.get()));
    if (!d) return note_error(c, job.path, sys::last_error());
    bool ask_extents;
    dev_t top_dev;
    {
      std::lock_guard lock(mu_);
      ask_extents = extents_[job.top];
      top_dev = top_dev_[job.top];
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      std::string path = job.path + "/" + e->d_name;
      if (::fstatat(fd.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) note_error(c, path, sys::last_error());
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        if (st.st_dev == top_dev) subdirs.push_back({job.top, std::move(path)});
        continue;
      }
      c.files += 1;
      c.apparent += st.st_size;
      int file_fd = -1;
      sys::UniqueFd owner;
      if (ask_extents && S_ISREG(st.st_mode) && st.st_blocks > 0) {
        owner = sys::open_at(fd.get(), e->d_name, O_RDONLY | O_NOFOLLOW, 0, ec);
        file_fd = owner.get();
      }
      count_inode(job.top, st, c, file_fd, path);
    }
    ::closedir(d);
  }

  // One name of an inode, found in `top`.
  void count_inode(size_t top, const struct stat& st, Counts& c, int fd, const std::string& path) {
    uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      std::lock_guard lock(linked_mu_);
      Linked& l = linked_[{st.st_dev, st.st_ino}];
      l.bytes = bytes;
      l.nlink = st.st_nlink;
      l.names_in[top] += 1;
      return;
    }
    uint64_t shared = fd >= 0 ? shared_extent_bytes(fd, st.st_dev, path, c) : 0;
    shared = std::min(shared, bytes);
    c.single_bytes += bytes;
    c.shared_extents += shared;
  }

  // The bytes of `fd`'s extents that the filesystem marks shared; each such
  // extent is remembered once for the total.
  uint64_t shared_extent_bytes(int fd, dev_t dev, const std::string& path, Counts& c) {
    constexpr unsigned kBatch = 64;
    std::array<char, sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent)> buf{};
    auto* fm = reinterpret_cast<struct fiemap*>(buf.data());
    uint64_t start = 0, shared = 0;
    for (;;) {
      fm->fm_start = start;
      fm->fm_length = FIEMAP_MAX_OFFSET - start;
      fm->fm_flags = 0;  // no FIEMAP_FLAG_SYNC: it would write back dirty data to measure it
      fm->fm_extent_count = kBatch;
      fm->fm_mapped_extents = 0;
      if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
        note_error(c, path, sys::last_error());
        return shared;
      }
      if (fm->fm_mapped_extents == 0) return shared;
      bool last = false;
      for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
        const struct fiemap_extent& x = fm->fm_extents[i];
        if (x.fe_flags & FIEMAP_EXTENT_SHARED) {
          shared += x.fe_length;
          std::lock_guard lock(extent_mu_);
          auto [it, fresh] = shared_extents_.emplace(Extent{dev, x.fe_physical}, x.fe_length);
          if (!fresh) it->second = std::max(it->second, static_cast<uint64_t>(x.fe_length));
        }
        last = x.fe_flags & FIEMAP_EXTENT_LAST;
        start = x.fe_logical + x.fe_length;
      }
      if (last) return shared;
    }
  }

  Usage sum_up(const std::vector<std::vector<Counts>>& per_thread) {
    Usage u;
    u.dirs.resize(tops_.size());
    uint64_t unshared = 0;
    for (size_t i = 0; i < tops_.size(); ++i) {
      DirUsage& d = u.dirs[i];
      d.dir = tops_[i];
      for (const auto& t : per_thread) {
        const Counts& c = t[i];
        d.files += c.files;
        d.dirs += c.dirs;
        d.apparent += c.apparent;
        d.on_disk += c.single_bytes;
        d.shared_extents += c.shared_extents;
        unshared += c.single_bytes - c.shared_extents;
        u.du_total += c.single_bytes;
        if (d.error.empty()) d.error = c.error;
      }
      if (extents_[i]) u.extents_asked = true;
    }
    for (const auto& [key, l] : linked_) {
      nlink_t seen = 0;
      for (const auto& [top, n] : l.names_in) seen += n;
      for (const auto& [top, n] : l.names_in) {
        u.dirs[top].on_disk += l.bytes;
        // Every name inside this one dir: deleting it frees the inode.
        if (!(n == l.nlink && seen == n)) u.dirs[top].shared_links += l.bytes;
      }
      u.du_total += l.bytes;
      unshared += l.bytes;
    }
    u.total_on_disk = unshared;
    for (const auto& [extent, length] : shared_extents_) u.total_on_disk += length;
    return u;
  }

  const std::vector<std::filesystem::path>& tops_;
  const unsigned threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  unsigned busy_ = 0;
  std::vector<dev_t> top_dev_;
  std::vector<char> extents_;  // the top dir's filesystem can share extents
  std::mutex linked_mu_;
  std::unordered_map<InodeKey, Linked, InodeKeyHash> linked_;
  std::mutex extent_mu_;
  std::map<Extent, uint64_t> shared_extents_;
};

}  // namespace

Usage measure(const std::vector<std::filesystem::path>& dirs, unsigned threads) {
  return Walk(dirs, std::max(1u, threads)).run();
}

}  // namespace seedfs::usage

#include "fs/overlay.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <unordered_set>
#include <vector>

namespace seedfs::fs {

struct DirEntry {
  std::string name;
  ino_t ino;
  unsigned char type;
  bool upper;  // found in the workspace dir (else in the root)
};

// The listing of a directory, held between the READDIRs of one pass.
struct Listing {
  std::mutex mu;
  NodeTable::Where where;         // the directory's path, lower_dir: the root has it too
  ino_t ino = 0;
  std::vector<DirEntry> entries;
  sys::UniqueFd upper, lower;     // the directory in each layer (if there)
};

namespace {

using Where = NodeTable::Where;

struct FileHandle {
  sys::UniqueFd fd;
  bool writable;        // opened for writing: then it is the workspace's own copy
  fuse_ino_t node = 0;  // the node it was opened on
  bool counted = false;      // counted in Overlay::io
  bool passthrough = false;  // the kernel does its reads and writes (no READ/WRITE come)
};

Overlay& self(fuse_req_t req) { return *static_cast<Overlay*>(fuse_req_userdata(req)); }
FileHandle& file(fuse_file_info* fi) { return *reinterpret_cast<FileHandle*>(fi->fh); }

void reply_err(fuse_req_t req, int err) { fuse_reply_err(req, err); }
void reply_err(fuse_req_t req, std::error_code ec) { fuse_reply_err(req, ec.value() ? ec.value() : EIO); }

// For a node that lost its name after the kernel walked a path to it: it was
// replaced by a rename (as rustc replaces its outputs) or unlinked meanwhile,
// and has no path to act on any more. ESTALE, not ENOENT: the kernel then
// walks the path again (LOOKUP_REVAL) and acts on what the name is now, so
// that a rename over a file looks atomic to a reader — the old file or the
// new one, never "No such file or directory".
constexpr int kNameGone = ESTALE;

// The same for a node whose root entry is no longer what the kernel looked up:
// the root changed it after T0 (seeding/instant.hpp), replaced it, or removed
// it. The node loses its name, and the kernel's walk again finds the name as
// the view shows it now: absent, or another node.
void reply_gone(fuse_req_t req, Overlay& o, fuse_ino_t ino) {
  o.nodes.detach(ino);
  fuse_reply_err(req, kNameGone);
}

// For a known node: the root's error for its path, where the root's entry is
// gone or changed after T0, is that of a node that lost its name.
void reply_err_known(fuse_req_t req, Overlay& o, fuse_ino_t ino, const NodeTable::Where& w, std::error_code ec) {
  if (ec.value() == ENOENT && w.in_lower) return reply_gone(req, o, ino);
  fuse_reply_err(req, ec.value() ? ec.value() : EIO);
}

// Drops kernel references; a node the kernel no longer knows gives up its
// backing file (fs/passthrough.hpp).
void forget(Overlay& o, fuse_ino_t ino, uint64_t nlookup) {
  o.nodes.forget(ino, nlookup, [&o](fuse_ino_t gone) { o.io.forget(gone); });
}

std::string parent_of(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

// The root has a visible real directory at `w.rel` (so its children may come from there).
bool lower_dir_at(Overlay& o, const Where& w, const Found& f) {
  if (!S_ISDIR(f.st.st_mode)) return false;
  if (f.layer == Layer::lower) return true;
  if (!w.in_lower) return false;
  Found low = o.layers.find_lower(w.rel);
  return low && S_ISDIR(low.st.st_mode);
}

// How long the kernel may keep the attributes of `st`. Not at all for a file
// (of any type: FIFOs and devices too) with hardlinks made through the view:
// each name is a node (a kernel inode)
// of its own, so a write through one would leave the others' cached size,
// link count and mtime stale for an hour, and reads through them cut short.
double attr_timeout(Overlay& o, const struct stat& st) {
  return !S_ISDIR(st.st_mode) && st.st_nlink > 1 && o.coord.is_view_link(st.st_ino) ? 0 : o.timeout;
}

void reply_entry(fuse_req_t req, fuse_ino_t parent, const std::string& name, const Found& f,
                 bool lower_dir) {
  Overlay& o = self(req);
  Node* n = o.nodes.lookup(parent, name, f.st.st_mode, lower_dir, f.layer == Layer::lower ? f.st.st_ino : 0);
  fuse_entry_param e{};
  e.ino = NodeTable::id(n);
  e.attr = f.st;
  e.attr_timeout = attr_timeout(o, f.st);
  e.entry_timeout = o.timeout;
  if (fuse_reply_entry(req, &e) != 0) forget(o, e.ino, 1);
}

// Files created through the view belong to the caller, as on a plain filesystem.
void give_to_caller(fuse_req_t req, Overlay& o, const std::string& rel) {
  static const bool root = ::geteuid() == 0;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  if (root && (ctx->uid != 0 || ctx->gid != 0))
    sys::beneath(o.layers.upper(), rel.c_str(), [&](int dir, const char* name) {
      return ::fchownat(dir, name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
    });
}

// Lists one directory into `out`, skipping names already there and those `keep` refuses.
template <class Keep>
std::error_code list_dir(int fd, bool upper, std::vector<DirEntry>& out,
                         std::unordered_set<std::string>& seen, Keep&& keep) {
  alignas(8) char buf[32 * 1024];
  for (;;) {
    ssize_t len = ::getdents64(fd, buf, sizeof buf);
    if (len < 0 && errno == EINTR) continue;
    if (len < 0) return sys::last_error();
    if (len == 0) return {};
    for (ssize_t off = 0; off < len;) {
      auto* d = reinterpret_cast<dirent64*>(buf + off);
      off += d->d_reclen;
      std::string_view name(d->d_name);
      if (name == "." || name == "..") continue;
      unsigned char type = d->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st {};
        if (sys::lstat_at(fd, d->d_name, st)) continue;
        type = IFTODT(st.st_mode);
      }
      if (seen.count(std::string(name)) || !keep(name, type)) continue;
      seen.emplace(name);
      out.push_back({std::string(name), d->d_ino, type, upper});
    }
  }
}

// Whether directory `w` shows no entry at all in the view.
std::error_code view_empty(Overlay& o, const Where& w, bool lower_dir, bool& empty) {
  std::vector<DirEntry> entries;
  std::unordered_set<std::string> seen;
  std::error_code ec;
  if (sys::UniqueFd up = sys::open_dir(o.layers.upper(), at(w.rel), ec)) {
    if ((ec = list_dir(up.get(), true, entries, seen, [](auto, auto) { return true; }))) return ec;
  }
  if (entries.empty() && lower_dir) {
    if (sys::UniqueFd low = sys::open_dir(o.layers.lower(), at(w.rel), ec)) {
      ec = list_dir(low.get(), false, entries, seen, [&](std::string_view name, unsigned char type) {
        std::string rel = join(w.rel, name);
        struct statx sx {};
        return (type == DT_REG || type == DT_DIR || type == DT_LNK) && o.layers.child_visible(rel, type == DT_DIR) &&
               !sys::statx_at(low.get(), std::string(name).c_str(), sx) && o.layers.as_at_t0(rel, sx);
      });
      if (ec) return ec;
    }
  }
  empty = entries.empty();
  return {};
}

// ---- lookup and attributes ----

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Overlay& o = self(req);
  if (std::strlen(name) > NAME_MAX) return reply_err(req, ENAMETOOLONG);
  auto w = o.nodes.child(parent, name);
  if (!w) return reply_err(req, ENOENT);
  Found f = o.layers.find(w->rel, w->in_lower);
  if (!f && f.err) return reply_err(req, f.err);
  if (!f) {
    fuse_entry_param e{};  // a negative entry, cached like the positive ones
    e.entry_timeout = o.timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  if (f.layer == Layer::lower && o.watch) o.watch->watch(parent_of(w->rel));
  reply_entry(req, parent, name, f, lower_dir_at(o, *w, f));
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  forget(self(req), ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) forget(self(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Overlay& o = self(req);
  struct stat st {};
  if (fi && fi->fh) {
    if (::fstat(file(fi).fd.get(), &st) != 0) return reply_err(req, errno);
    fuse_reply_attr(req, &st, attr_timeout(o, st));
    return;
  }
  auto w = o.nodes.where(ino);
  if (!w) {
    // Unlinked or replaced while open (the kernel asks without the handle on
    // fstat): an open file keeps its attributes, as on any filesystem.
    std::lock_guard lock(o.handles_mu);
    for (void* p : o.file_handles) {
      auto* h = static_cast<FileHandle*>(p);
      if (h->node == ino && ::fstat(h->fd.get(), &st) == 0) {
        fuse_reply_attr(req, &st, attr_timeout(o, st));
        return;
      }
    }
    return reply_err(req, kNameGone);
  }
  Found f = o.layers.find_known(w->rel, w->in_lower, w->lower_ino);
  if (!f && f.changed) return reply_gone(req, o, ino);
  if (!f) return reply_err(req, ENOENT);
  fuse_reply_attr(req, &f.st, attr_timeout(o, f.st));
}

std::error_code apply_attrs(int dirfd, const char* rel, int fd, const struct stat& attr, int to_set) {
  auto check = [](int rc) { return rc == 0 ? std::error_code{} : sys::last_error(); };
  std::error_code ec;
  if (to_set & FUSE_SET_ATTR_MODE)
    if ((ec = check(fd >= 0 ? ::fchmod(fd, attr.st_mode) : ::fchmodat(dirfd, rel, attr.st_mode, 0))))
      return ec;
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr.st_uid : static_cast<uid_t>(-1);
    gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr.st_gid : static_cast<gid_t>(-1);
    if ((ec = check(fd >= 0 ? ::fchown(fd, uid, gid)
                            : ::fchownat(dirfd, rel, uid, gid, AT_SYMLINK_NOFOLLOW))))
      return ec;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    sys::UniqueFd own;
    if (fd < 0) {
      own = sys::open_at(dirfd, rel, O_WRONLY | O_NOFOLLOW, 0, ec);
      if (!own) return ec;
    }
    if ((ec = check(::ftruncate(fd >= 0 ? fd : own.get(), attr.st_size)))) return ec;
  }
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec tv[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) tv[0].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_ATIME) tv[0] = attr.st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) tv[1].tv_nsec = UTIME_NOW;
    else if (to_set & FUSE_SET_ATTR_MTIME) tv[1] = attr.st_mtim;
    if ((ec = check(fd >= 0 ? ::futimens(fd, tv) : ::utimensat(dirfd, rel, tv, AT_SYMLINK_NOFOLLOW))))
      return ec;
  }
  return {};
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Overlay& o = self(req);
  auto w = o.nodes.where(ino);
  // A writable handle is the workspace's own file already (copied up at open).
  if (fi && fi->fh && file(fi).writable) {
    int fd = file(fi).fd.get();
    if (auto ec = apply_attrs(-1, nullptr, fd, *attr, to_set)) return reply_err(req, ec);
    struct stat st {};
    ::fstat(fd, &st);
    fuse_reply_attr(req, &st, attr_timeout(o, st));
    return;
  }
  if (!w) return reply_err(req, kNameGone);
  {
    auto lock = o.coord.shared();
    Found f = o.layers.find_known(w->rel, w->in_lower, w->lower_ino);
    if (!f && f.changed) return reply_gone(req, o, ino);
    if (!f) return reply_err(req, ENOENT);
    bool empty = (to_set & FUSE_SET_ATTR_SIZE) && attr->st_size == 0;
    std::error_code ec = S_ISREG(f.st.st_mode) ? o.coord.make_private(w->rel, empty)
                                               : o.coord.materialize(w->rel);
    if (ec) return reply_err_known(req, o, ino, *w, ec);
    ec = sys::beneath(o.layers.upper(), at(w->rel), [&](int dir, const char* name) {
      return apply_attrs(dir, name, -1, *attr, to_set);
    });
    if (ec) return reply_err(req, ec);
    if (to_set & FUSE_SET_ATTR_SIZE) o.io.content_changed(ino);
  }
  Found f = o.layers.find_upper(w->rel);
  if (!f) return reply_err(req, ENOENT);
  fuse_reply_attr(req, &f.st, attr_timeout(o, f.st));
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  Overlay& o = self(req);
  auto w = o.nodes.where(ino);
  if (!w) return reply_err(req, kNameGone);
  Found f = o.layers.find_known(w->rel, w->in_lower, w->lower_ino);
  if (!f && f.changed) return reply_gone(req, o, ino);
  if (!f) return reply_err(req, ENOENT);
  std::string target;
  int fd = f.layer == Layer::upper ? o.layers.upper() : o.layers.lower();
  if (auto ec = sys::read_link_at(fd, at(w->rel), target)) return reply_err(req, ec);
  fuse_reply_readlink(req, target.c_str());
}

// ---- creating entries ----

// Runs `make(rel)` for a new name in `parent`, materializing the parent
// directory first, and replies with the new entry.
template <class Make>
void create_entry(fuse_req_t req, fuse_ino_t parent, const char* name, Make&& make) {
  Overlay& o = self(req);
  if (std::strlen(name) > NAME_MAX) return reply_err(req, ENAMETOOLONG);
  auto w = o.nodes.child(parent, name);
  if (!w) return reply_err(req, ENOENT);
  {
    auto lock = o.coord.shared();
    if (o.layers.find(w->rel, w->in_lower)) return reply_err(req, EEXIST);
    if (auto ec = o.coord.ensure_dir(parent_of(w->rel))) return reply_err(req, ec);
    if (make(w->rel) != 0) return reply_err(req, errno);
    give_to_caller(req, o, w->rel);
  }
  Found f = o.layers.find_upper(w->rel);
  if (!f) return reply_err(req, EIO);
  reply_entry(req, parent, name, f, false);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  int up = self(req).layers.upper();
  create_entry(req, parent, name, [&](const std::string& rel) {
    return sys::beneath(up, rel.c_str(), [&](int dir, const char* n) { return ::mkdirat(dir, n, mode); });
  });
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  int up = self(req).layers.upper();
  create_entry(req, parent, name,
               [&](const std::string& rel) {
    return sys::beneath(up, rel.c_str(), [&](int dir, const char* n) { return ::mknodat(dir, n, mode, rdev); });
  });
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  int up = self(req).layers.upper();
  create_entry(req, parent, name,
               [&](const std::string& rel) {
    return sys::beneath(up, rel.c_str(), [&](int dir, const char* n) { return ::symlinkat(link, dir, n); });
  });
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Overlay& o = self(req);
  auto src = o.nodes.where(ino);
  if (!src) return reply_err(req, kNameGone);
  {
    auto lock = o.coord.shared();
    Found f = o.layers.find_known(src->rel, src->in_lower, src->lower_ino);
    if (!f && f.changed) return reply_gone(req, o, ino);
    if (!f) return reply_err(req, ENOENT);
    // The new name joins a link family of the workspace's own, never the root's.
    std::error_code ec = S_ISREG(f.st.st_mode) ? o.coord.make_private(src->rel, false)
                                               : o.coord.materialize(src->rel);
    if (ec) return reply_err_known(req, o, ino, *src, ec);
  }  // create_entry takes the lock again; it is not recursive
  int up = o.layers.upper();
  create_entry(req, newparent, newname, [&](const std::string& rel) {
    int rc = sys::beneath(up, src->rel.c_str(), up, rel.c_str(), [](int d1, const char* n1, int d2, const char* n2) {
      return ::linkat(d1, n1, d2, n2, 0);
    });
    struct stat st {};
    if (rc == 0 && !sys::lstat_at(up, rel.c_str(), st)) {
      o.coord.note_view_link(st.st_ino);
      // The source's attributes were given with the long timeout (see
      // attr_timeout): drop them. Attributes only, which takes no lock that
      // this LINK holds, so it may be done before the reply.
      if (o.session) fuse_lowlevel_notify_inval_inode(o.session, ino, -1, 0);
    }
    return rc;
  });
}

// ---- removing and renaming ----

int unlink_upper(Overlay& o, const std::string& rel, int flags) {
  return sys::beneath(o.layers.upper(), rel.c_str(), [&](int dir, const char* name) {
    return ::unlinkat(dir, name, flags);
  });
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Overlay& o = self(req);
  auto w = o.nodes.child(parent, name);
  if (!w) return reply_err(req, ENOENT);
  Found f = o.layers.find(w->rel, w->in_lower);
  if (!f) return reply_err(req, ENOENT);
  if (S_ISDIR(f.st.st_mode)) return reply_err(req, EISDIR);
  if (w->in_lower && o.layers.lower_exists(w->rel)) {
    // The root has it (as at T0 or not): record the deletion before carrying
    // it out, with no materializer worker between its check and its link.
    auto lock = o.coord.exclusive();
    if (auto ec = o.coord.record_deletion(w->rel)) return reply_err(req, ec);
    if (unlink_upper(o, w->rel, 0) != 0 && errno != ENOENT)
      return reply_err(req, errno);
  } else if (unlink_upper(o, w->rel, 0) != 0) {
    return reply_err(req, errno);
  }
  o.nodes.detach(parent, name);
  reply_err(req, 0);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Overlay& o = self(req);
  auto w = o.nodes.child(parent, name);
  if (!w) return reply_err(req, ENOENT);
  Found f = o.layers.find(w->rel, w->in_lower);
  if (!f) return reply_err(req, ENOENT);
  if (!S_ISDIR(f.st.st_mode)) return reply_err(req, ENOTDIR);
  bool lower_dir = lower_dir_at(o, *w, f);
  bool empty = false;
  if (auto ec = view_empty(o, *w, lower_dir, empty)) return reply_err(req, ec);
  if (!empty) return reply_err(req, ENOTEMPTY);
  if (w->in_lower && o.layers.lower_exists(w->rel)) {
    auto lock = o.coord.exclusive();
    if (auto ec = o.coord.record_deletion(w->rel)) return reply_err(req, ec);
    if (unlink_upper(o, w->rel, AT_REMOVEDIR) != 0 && errno != ENOENT)
      return reply_err(req, errno);
  } else if (unlink_upper(o, w->rel, AT_REMOVEDIR) != 0) {
    return reply_err(req, errno);
  }
  o.nodes.detach(parent, name);
  reply_err(req, 0);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags) {
  Overlay& o = self(req);
  if (flags & ~RENAME_NOREPLACE) return reply_err(req, EINVAL);  // RENAME_EXCHANGE, WHITEOUT
  if (std::strlen(newname) > NAME_MAX) return reply_err(req, ENAMETOOLONG);
  auto src = o.nodes.child(parent, name);
  auto dst = o.nodes.child(newparent, newname);
  if (!src || !dst) return reply_err(req, ENOENT);
  auto lock = o.coord.exclusive();
  Found s = o.layers.find(src->rel, src->in_lower);
  if (!s) return reply_err(req, ENOENT);
  Found d = o.layers.find(dst->rel, dst->in_lower);
  if (src->rel == dst->rel) return reply_err(req, 0);
  if (d) {
    if (flags & RENAME_NOREPLACE) return reply_err(req, EEXIST);
    bool sdir = S_ISDIR(s.st.st_mode), ddir = S_ISDIR(d.st.st_mode);
    if (sdir && !ddir) return reply_err(req, ENOTDIR);
    if (!sdir && ddir) return reply_err(req, EISDIR);
    if (ddir) {
      bool empty = false;
      if (auto ec = view_empty(o, *dst, lower_dir_at(o, *dst, d), empty)) return reply_err(req, ec);
      if (!empty) return reply_err(req, ENOTEMPTY);
    }
  }
  // Everything that moves must be in the workspace dir first: a directory of
  // the root with its whole subtree.
  std::error_code ec = S_ISDIR(s.st.st_mode) ? o.coord.materialize_subtree(src->rel)
                                             : o.coord.materialize(src->rel);
  if (!ec) ec = o.coord.ensure_dir(parent_of(dst->rel));
  if (ec) return reply_err(req, ec);
  // What the root has at either name must not show through afterwards.
  for (const Where* w : {&*dst, &*src})
    if (w->in_lower && o.layers.lower_exists(w->rel))
      if ((ec = o.coord.record_deletion(w->rel))) return reply_err(req, ec);
  if (sys::beneath(o.layers.upper(), src->rel.c_str(), o.layers.upper(), dst->rel.c_str(),
                   [&](int d1, const char* n1, int d2, const char* n2) {
                     return ::renameat2(d1, n1, d2, n2, flags & RENAME_NOREPLACE);
                   }) != 0)
    return reply_err(req, errno);
  o.nodes.move(parent, name, newparent, newname);
  reply_err(req, 0);
}

// ---- files ----

bool opens_for_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

void finish_open(Overlay& o, fuse_ino_t node, sys::UniqueFd fd, bool writable, fuse_file_info* fi) {
  // The kernel may keep its page cache across opens: the data only changes
  // through the view. Not for hardlinks made through the view: two nodes
  // (two kernel inodes) share the file, and each would cache on its own. Nor
  // once the other names are gone: this node may still cache what it read
  // before a write through one of them.
  fi->keep_cache = 1;
  struct stat st {};
  if (o.coord.any_view_links() && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
      o.coord.is_view_link(st.st_ino))
    fi->keep_cache = 0;
  auto* h = new FileHandle{std::move(fd), writable, node};
  fi->fh = reinterpret_cast<uint64_t>(h);
  {
    std::lock_guard lock(o.handles_mu);
    o.file_handles.insert(h);
  }
  ++o.open_handles;
}

void drop_file(Overlay& o, fuse_file_info* fi) {
  if (file(fi).counted) o.io.release(file(fi).node, file(fi).passthrough);
  {
    std::lock_guard lock(o.handles_mu);
    o.file_handles.erase(&file(fi));
  }
  delete &file(fi);  // closing the backing fd also drops its flock and OFD locks
}

// Passthrough where the kernel took it (fs/passthrough.hpp); marks the reply
// sent next. False on a conflict: the node's kernel inode is bound to a
// backing file that the view no longer has at this path.
bool bind_io(Overlay& o, fuse_ino_t node, fuse_file_info* fi, bool created) {
  FileHandle& h = file(fi);
  auto io = o.io.open(node, h.fd.get(), h.writable, created);
  if (io.conflict) return false;
  h.counted = true;
  if (io.backing_id > 0) {
    h.passthrough = true;
    fi->keep_cache = 0;
    passthrough::mark_reply(fi->fh, io.backing_id);
  }
  return true;
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Overlay& o = self(req);
  auto w = o.nodes.where(ino);
  if (!w) return reply_err(req, kNameGone);
  int flags = (fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW;
  std::error_code ec;
  sys::UniqueFd fd;
  bool writable = opens_for_write(fi->flags);
  if (writable) {
    auto lock = o.coord.shared();
    if (Found f = o.layers.find_known(w->rel, w->in_lower, w->lower_ino); !f && f.changed)
      return reply_gone(req, o, ino);
    if ((ec = o.coord.make_private(w->rel, (fi->flags & O_TRUNC) != 0))) return reply_err_known(req, o, ino, *w, ec);
    fd = sys::open_at(o.layers.upper(), at(w->rel), flags, 0, ec);
  } else {
    // Upper first; where it is not there (yet), the root's file: the same
    // bytes, if it is still the inode looked up and as at T0.
    fd = sys::open_at(o.layers.upper(), at(w->rel), flags, 0, ec);
    if (!fd && ec.value() == ENOENT && w->in_lower) {
      fd = sys::open_at(o.layers.lower(), at(w->rel), flags, 0, ec);
      struct statx sx {};
      if (fd && (sys::statx_at(fd.get(), "", sx) || (w->lower_ino && sx.stx_ino != w->lower_ino) ||
                 !o.layers.as_at_t0(w->rel, sx)))
        return reply_gone(req, o, ino);
      if (!fd) return reply_err_known(req, o, ino, *w, ec);
    }
  }
  if (!fd) return reply_err(req, ec);
  finish_open(o, ino, std::move(fd), writable, fi);
  if (!bind_io(o, ino, fi, false)) {
    // The old file stays with the opens that have it; the path gets a new
    // node, which the kernel finds when it walks the path again (ESTALE).
    drop_file(o, fi);
    --o.open_handles;
    o.nodes.detach(ino);
    return reply_err(req, kNameGone);
  }
  if (fuse_reply_open(req, fi) != 0) {
    drop_file(o, fi);
    --o.open_handles;
  }
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Overlay& o = self(req);
  if (std::strlen(name) > NAME_MAX) return reply_err(req, ENAMETOOLONG);
  auto w = o.nodes.child(parent, name);
  if (!w) return reply_err(req, ENOENT);
  std::error_code ec;
  sys::UniqueFd fd;
  {
    auto lock = o.coord.shared();
    if (Found f = o.layers.find(w->rel, w->in_lower)) {
      // The name exists (the kernel's negative entry was older): open it.
      if (fi->flags & O_EXCL) return reply_err(req, EEXIST);
      if ((ec = o.coord.make_private(w->rel, (fi->flags & O_TRUNC) != 0))) return reply_err(req, ec);
    } else if ((ec = o.coord.ensure_dir(parent_of(w->rel)))) {
      return reply_err(req, ec);
    }
    fd = sys::open_at(o.layers.upper(), w->rel.c_str(), (fi->flags & ~O_NOCTTY) | O_CREAT | O_NOFOLLOW,
                      mode, ec);
    if (!fd) return reply_err(req, ec);
    give_to_caller(req, o, w->rel);
  }
  Found f;
  f.layer = Layer::upper;
  if (::fstat(fd.get(), &f.st) != 0) return reply_err(req, errno);
  finish_open(o, 0, std::move(fd), true, fi);
  Node* n = o.nodes.lookup(parent, name, f.st.st_mode, false, 0);
  file(fi).node = NodeTable::id(n);
  if (!bind_io(o, file(fi).node, fi, true)) {
    // An old node of this name still has passthrough opens of another file
    // (see op_open): this file gets a node of its own.
    o.nodes.detach(file(fi).node);
    forget(o, file(fi).node, 1);
    n = o.nodes.lookup(parent, name, f.st.st_mode, false, 0);
    file(fi).node = NodeTable::id(n);
    bind_io(o, file(fi).node, fi, true);
  }
  fuse_entry_param e{};
  e.ino = NodeTable::id(n);
  e.attr = f.st;
  e.attr_timeout = attr_timeout(o, f.st);
  e.entry_timeout = o.timeout;
  if (fuse_reply_create(req, &e, fi) != 0) {
    forget(o, e.ino, 1);
    drop_file(o, fi);
    --o.open_handles;
  }
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ++self(req).reads;
  fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
  buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  buf.buf[0].fd = file(fi).fd.get();
  buf.buf[0].pos = off;
  fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(fuse_req_t req, fuse_ino_t, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
  fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
  out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  out.buf[0].fd = file(fi).fd.get();
  out.buf[0].pos = off;
  ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
  if (n < 0) return reply_err(req, static_cast<int>(-n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void release_handle(Overlay& o) {
  if (--o.open_handles == 0 && o.on_idle) o.on_idle();
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Overlay& o = self(req);
  drop_file(o, fi);
  reply_err(req, 0);
  release_handle(o);
}

void op_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = file(fi).fd.get();
  reply_err(req, (datasync ? ::fdatasync(fd) : ::fsync(fd)) == 0 ? 0 : errno);
}

void op_fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len, fuse_file_info* fi) {
  reply_err(req, ::fallocate(file(fi).fd.get(), mode, off, len) == 0 ? 0 : errno);
}

void op_lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  off_t res = ::lseek(file(fi).fd.get(), off, whence);
  if (res < 0) return reply_err(req, errno);
  fuse_reply_lseek(req, res);
}

// Locks reach the real file: they are taken on the backing fd, so a build
// that started before the unmount and one that starts after exclude each other.
void op_flock(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, int op) {
  reply_err(req, ::flock(file(fi).fd.get(), op) == 0 ? 0 : errno);
}

void op_getlk(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, struct flock* lock) {
  struct flock fl = *lock;
  fl.l_pid = 0;  // open file description locks: one owner per open
  if (::fcntl(file(fi).fd.get(), F_OFD_GETLK, &fl) != 0) return reply_err(req, errno);
  fuse_reply_lock(req, &fl);
}

void op_setlk(fuse_req_t req, fuse_ino_t, fuse_file_info* fi, struct flock* lock, int sleep) {
  struct flock fl = *lock;
  fl.l_pid = 0;
  int rc = ::fcntl(file(fi).fd.get(), sleep ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  reply_err(req, rc == 0 ? 0 : errno);
}

// ---- directories ----
//
// The view implements no opendir (FUSE_CAP_NO_OPENDIR_SUPPORT): the kernel
// then sends neither OPENDIR nor RELEASEDIR and caches listings itself
// (FOPEN_CACHE_DIR), dropping them on every change through the view — the
// materializer changes nothing a listing shows. A listing is built here when a
// READDIR starts at offset 0 and kept until it has been read to the end.

// The merged listing of a directory: the workspace dir first (on a name clash
// it wins), then what the root shows of it.
std::error_code list(Overlay& o, Listing& l, bool in_upper) {
  l.entries.push_back({".", l.ino, DT_DIR, false});
  l.entries.push_back({"..", 0, DT_DIR, false});
  std::unordered_set<std::string> seen;
  std::error_code ec;
  const std::string& rel = l.where.rel;
  if (in_upper) {
    l.upper = sys::open_dir(o.layers.upper(), at(rel), ec);
    if (!l.upper) return ec;
    if ((ec = list_dir(l.upper.get(), true, l.entries, seen, [](auto, auto) { return true; }))) return ec;
  }
  if (l.where.lower_dir) {
    l.lower = sys::open_dir(o.layers.lower(), at(rel), ec);
    if (!l.lower) return ec;
    ec = list_dir(l.lower.get(), false, l.entries, seen, [&](std::string_view name, unsigned char type) {
      return (type == DT_REG || type == DT_DIR || type == DT_LNK) &&
             o.layers.child_visible(join(rel, name), type == DT_DIR);
    });
  }
  return ec;
}

// ENOSYS tells the kernel to stop sending OPENDIR and RELEASEDIR for good and
// to cache listings (FOPEN_CACHE_DIR is its default then).
void op_opendir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { reply_err(req, ENOSYS); }

// The listing a READDIR at `off` continues, or a new one at offset 0 (then `fresh`).
std::shared_ptr<Listing> listing_for(Overlay& o, fuse_ino_t ino, off_t off, std::error_code& ec,
                                     bool& fresh) {
  fresh = false;
  auto w = o.nodes.where(ino);
  if (!w) return ec = sys::make_error(ENOENT), nullptr;
  if (off > 0) {
    std::lock_guard lock(o.listings_mu);
    auto it = o.listings.find(ino);
    // Node ids are addresses: a listing left by a forgotten node must not be reused.
    if (it != o.listings.end() && it->second->where.rel == w->rel) return it->second;
  }
  Found f = o.layers.find_known(w->rel, w->in_lower, w->lower_ino);
  if (!f && f.changed) return o.nodes.detach(ino), ec = sys::make_error(kNameGone), nullptr;
  if (!f) return ec = sys::make_error(ENOENT), nullptr;
  if (!S_ISDIR(f.st.st_mode)) return ec = sys::make_error(ENOTDIR), nullptr;
  auto l = std::make_shared<Listing>();
  l->where = *w;  // lower_dir as found when the kernel looked the directory up
  l->ino = f.st.st_ino;
  if ((ec = list(o, *l, f.layer == Layer::upper))) return nullptr;
  fresh = true;
  std::lock_guard lock(o.listings_mu);
  o.listings[ino] = l;
  return l;
}

// Once a pass has read everything, its listing goes.
void listing_done(Overlay& o, fuse_ino_t ino, const std::shared_ptr<Listing>& l) {
  std::lock_guard lock(o.listings_mu);
  auto it = o.listings.find(ino);
  if (it != o.listings.end() && it->second == l) o.listings.erase(it);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Overlay& o = self(req);
  std::error_code ec;
  bool fresh = false;
  auto l = listing_for(o, ino, off, ec, fresh);
  if (!l) return reply_err(req, ec);
  std::lock_guard lock(l->mu);
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < l->entries.size(); ++i) {
    const DirEntry& d = l->entries[i];
    struct statx sx {};
    if (!d.upper && d.name != "." && d.name != ".." &&
        (!l->lower || sys::statx_at(l->lower.get(), d.name.c_str(), sx) ||
         !o.layers.as_at_t0(join(l->where.rel, d.name), sx)))
      continue;  // changed in the root after T0, or gone
    struct stat st {};
    st.st_ino = l->entries[i].ino;
    st.st_mode = DTTOIF(l->entries[i].type);
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, l->entries[i].name.c_str(),
                                 &st, static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  if (used == 0) listing_done(o, ino, l);
  fuse_reply_buf(req, buf.data(), used);
}

// readdir with the attributes and a lookup of every entry: a walk that stats
// everything (find, cargo) needs no LOOKUP round trip per name.
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Overlay& o = self(req);
  std::error_code ec;
  bool fresh = false;
  auto l = listing_for(o, ino, off, ec, fresh);
  if (!l) return reply_err(req, ec);
  std::lock_guard lock(l->mu);
  // The workspace dir may have been created since the listing was taken.
  if (!l->upper && !fresh) l->upper = sys::open_dir(o.layers.upper(), at(l->where.rel), ec);
  if (l->lower && o.watch) o.watch->watch(l->where.rel);  // the kernel is given the root's entries
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < l->entries.size(); ++i) {
    const DirEntry& d = l->entries[i];
    fuse_entry_param e{};
    bool dot = d.name == "." || d.name == "..";
    if (dot) {  // the kernel takes no reference for these
      e.attr.st_ino = d.ino;
      e.attr.st_mode = DTTOIF(d.type);
    } else {
      // Resolve again, through the directory's fds: the name may have been
      // deleted, or materialized (and changed) in the workspace dir since the
      // listing was taken. Not if it was taken in this request: a change
      // through the view after the request began makes the kernel ignore the
      // attributes in this reply (its attr_version check), and the
      // materializer's links and copies keep a file's bytes and times.
      Where w{join(l->where.rel, d.name), l->where.lower_dir, false};
      Found f;
      struct statx sx {};
      bool try_upper = l->upper && (d.upper || !fresh);
      if (try_upper && !sys::lstat_at(l->upper.get(), d.name.c_str(), f.st)) {
        f.layer = Layer::upper;
      } else if (l->lower && !sys::statx_at(l->lower.get(), d.name.c_str(), sx) &&
                 !o.layers.journal().hides(w.rel) && o.layers.as_at_t0(w.rel, sx)) {
        f.layer = Layer::lower;
        f.st = sys::to_stat(sx);
      } else {
        continue;
      }
      // Does the root have this directory too (so that its children merge)?
      bool lower_dir = false;
      if (S_ISDIR(f.st.st_mode)) {
        struct stat low {};
        lower_dir = f.layer == Layer::lower ||
                    (l->lower && !sys::lstat_at(l->lower.get(), d.name.c_str(), low) &&
                     S_ISDIR(low.st_mode) && o.layers.child_visible(w.rel, true));
      }
      Node* n = o.nodes.lookup(ino, d.name, f.st.st_mode, lower_dir, f.layer == Layer::lower ? f.st.st_ino : 0);
      e.ino = NodeTable::id(n);
      e.attr = f.st;
      e.attr_timeout = attr_timeout(o, f.st);
      e.entry_timeout = o.timeout;
    }
    size_t need = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                         static_cast<off_t>(i + 1));
    if (need > size - used) {
      if (!dot) forget(o, e.ino, 1);  // not sent: no reference taken
      break;
    }
    used += need;
  }
  if (used == 0) listing_done(o, ino, l);
  fuse_reply_buf(req, buf.data(), used);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { reply_err(req, 0); }

void op_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  if (::fstatvfs(self(req).layers.upper(), &st) != 0) return reply_err(req, errno);
  fuse_reply_statfs(req, &st);
}

void op_init(void*, fuse_conn_info* conn) {
  auto want = [conn](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  want(FUSE_CAP_FLOCK_LOCKS);     // flock on the backing fd (cargo's .cargo-lock)
  want(FUSE_CAP_POSIX_LOCKS);     // fcntl locks, likewise
  want(FUSE_CAP_ATOMIC_O_TRUNC);  // O_TRUNC reaches open: a copy-up need not copy the data
  want(FUSE_CAP_CACHE_SYMLINKS);
  want(FUSE_CAP_SPLICE_WRITE);    // reads are spliced from the backing fd
  want(FUSE_CAP_SPLICE_MOVE);
  want(FUSE_CAP_PARALLEL_DIROPS);
  // Always READDIRPLUS: in "auto" mode the kernel asks for attributes only in
  // the first buffer of a listing, and a walk then looks up the rest one by one.
  want(FUSE_CAP_READDIRPLUS);
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  want(FUSE_CAP_NO_OPENDIR_SUPPORT);  // see "directories" above
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // writes go through: mtimes stay the backing file's
  // File data only changes through the view, which the kernel sees: it need
  // not check mtimes (a GETATTR per directory listed, per file opened).
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

// `Op`, after telling the coordinator that the view is in use: a process is
// waiting for this answer, and a gentle materializer yields to it. Once per
// request, for every operation a process waits on (not init or forget).
template <auto Op>
struct Noted;
template <typename... Args, void (*Op)(fuse_req_t, Args...)>
struct Noted<Op> {
  static void call(fuse_req_t req, Args... args) {
    self(req).coord.note_request();
    Op(req, args...);
  }
};

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = Noted<op_lookup>::call;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = Noted<op_getattr>::call;
  ops.setattr = Noted<op_setattr>::call;
  ops.readlink = Noted<op_readlink>::call;
  ops.mknod = Noted<op_mknod>::call;
  ops.mkdir = Noted<op_mkdir>::call;
  ops.symlink = Noted<op_symlink>::call;
  ops.link = Noted<op_link>::call;
  ops.unlink = Noted<op_unlink>::call;
  ops.rmdir = Noted<op_rmdir>::call;
  ops.rename = Noted<op_rename>::call;
  ops.open = Noted<op_open>::call;
  ops.create = Noted<op_create>::call;
  ops.read = Noted<op_read>::call;
  ops.write_buf = Noted<op_write_buf>::call;
  // No flush: libfuse answers ENOSYS and the kernel stops sending one per close.
  ops.release = Noted<op_release>::call;
  ops.fsync = Noted<op_fsync>::call;
  ops.fallocate = Noted<op_fallocate>::call;
  ops.lseek = Noted<op_lseek>::call;
  ops.flock = Noted<op_flock>::call;
  ops.getlk = Noted<op_getlk>::call;
  ops.setlk = Noted<op_setlk>::call;
  ops.opendir = Noted<op_opendir>::call;
  ops.readdir = Noted<op_readdir>::call;
  ops.readdirplus = Noted<op_readdirplus>::call;
  ops.fsyncdir = Noted<op_fsyncdir>::call;
  ops.statfs = Noted<op_statfs>::call;
  return ops;
}();

}  // namespace

const fuse_lowlevel_ops& Overlay::operations() { return kOps; }

void Overlay::root_changed(const std::string& dir, const std::string& name) {
  std::string rel = join(dir, name);
  auto known = nodes.find(rel);
  if (!known || !known->lower_ino) return;  // unknown, or the workspace's own file: the root's change is hidden
  struct statx sx {};
  bool same = !sys::statx_at(layers.lower(), rel.c_str(), sx) && sx.stx_ino == known->lower_ino &&
              layers.as_at_t0(rel, sx);
  if (same || layers.find_upper(rel)) return;  // another seedfs's hardlink, or materialized meanwhile
  nodes.detach(known->node);
  if (session) fuse_lowlevel_notify_inval_entry(session, known->parent, name.c_str(), name.size());
}

void Overlay::close_orphaned_handles() {
  std::lock_guard lock(handles_mu);
  for (void* h : file_handles) delete static_cast<FileHandle*>(h);
  file_handles.clear();
  io.clear();
  open_handles = 0;
  std::lock_guard lock2(listings_mu);
  listings.clear();
}

}  // namespace seedfs::fs

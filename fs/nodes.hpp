// The view's inode table. A node is a name in the view (parent + name), not a
// backing inode: one path may be backed by the root's inode, then by a
// hardlink of it, then by a private copy (copy-up), and the kernel must keep
// seeing one inode through all of that. Every operation resolves the node's
// path against the two layers afresh, so the materializer may change the
// workspace dir underneath without the table going stale.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace seedfs::fs {

struct Node {
  Node* parent = nullptr;
  std::string name;
  mode_t type = 0;          // S_IFMT bits of what the kernel was told
  uint64_t nlookup = 0;     // references the kernel holds
  bool attached = true;     // false once unlinked or replaced: no path any more
  bool lower_dir = false;   // the root has a visible real directory at this path
  // The root's inode this name was looked up as (0: found in the workspace
  // dir). The root may replace the name after T0: the node must then not
  // start serving another inode (seeding/instant.hpp).
  ino_t lower_ino = 0;
  std::unordered_map<std::string, Node*> children;  // looked-up children only
};

class NodeTable {
 public:
  NodeTable();
  ~NodeTable();
  NodeTable(const NodeTable&) = delete;
  NodeTable& operator=(const NodeTable&) = delete;

  Node* get(fuse_ino_t ino);
  static fuse_ino_t id(const Node* n);

  // Where a node is: its path relative to the artifact dir ("" for the root),
  // and whether the root may have it (its parent is a real directory in the root).
  struct Where {
    std::string rel;
    bool in_lower;   // look in the root for this path at all
    bool lower_dir;  // (directories) the root has a visible directory here
    ino_t lower_ino = 0;  // Node::lower_ino
  };
  // nullopt when the node (or an ancestor) has been unlinked.
  std::optional<Where> where(fuse_ino_t ino);
  // The same for `name` inside directory `parent` (lower_dir is unknown: false).
  std::optional<Where> child(fuse_ino_t parent, const char* name);

  // The node for parent/name with one more kernel reference; a new node when
  // there is none, the type changed (the kernel must not see an inode change
  // type), or the root's inode behind it did (`lower_ino`: the root's inode
  // it was found as, 0 when found in the workspace dir).
  Node* lookup(fuse_ino_t parent, const std::string& name, mode_t type, bool lower_dir, ino_t lower_ino);
  // Whether children of `ino` may resolve in the root (see Node::lower_dir).
  bool lower_dir(fuse_ino_t ino);
  // When the kernel holds no reference any more, calls `gone` before the node
  // can be deleted: its id may name a new node right after.
  void forget(fuse_ino_t ino, uint64_t count, const std::function<void(fuse_ino_t)>& gone = {});
  // parent/name no longer exists (unlink, rmdir, replaced by a rename).
  void detach(fuse_ino_t parent, const std::string& name);
  // The same for a node: its path gets a new node on the next lookup.
  void detach(fuse_ino_t ino);
  // The node at `rel` (a path the kernel walked) and its parent, if the kernel
  // knows one there, with the root's inode it was looked up as (0: found in
  // the workspace dir).
  struct Known {
    fuse_ino_t parent, node;
    ino_t lower_ino;
  };
  std::optional<Known> find(const std::string& rel);
  // rename: the node keeps its identity under its new name.
  void move(fuse_ino_t parent, const std::string& name, fuse_ino_t new_parent,
            const std::string& new_name);
  size_t size();

 private:
  // Where `n` sits in its parent's map: its name, or a key no name can have once detached.
  static std::string key(const Node* n);
  std::string path_locked(const Node* n) const;
  void detach_locked(Node* parent, const std::string& name);
  void maybe_delete_locked(Node* n);

  std::mutex mu_;
  Node root_;
  size_t count_ = 1;
};

}  // namespace seedfs::fs

#include "fs/nodes.hpp"

#include <sys/stat.h>

#include <vector>

namespace seedfs::fs {

NodeTable::NodeTable() {
  root_.type = S_IFDIR;
  root_.lower_dir = true;
  root_.nlookup = 1;  // the kernel's reference to the root is never forgotten
}

NodeTable::~NodeTable() {
  // Free whatever the kernel did not forget (the mount went away first).
  std::vector<Node*> stack;
  for (auto& [_, c] : root_.children) stack.push_back(c);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& [_, c] : n->children) stack.push_back(c);
    delete n;
  }
}

std::string NodeTable::key(const Node* n) {
  if (n->attached) return n->name;
  return std::string(1, '\0') + std::to_string(reinterpret_cast<uintptr_t>(n));
}

Node* NodeTable::get(fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? &root_ : reinterpret_cast<Node*>(ino);
}

fuse_ino_t NodeTable::id(const Node* n) {
  return n->parent == nullptr ? FUSE_ROOT_ID : reinterpret_cast<fuse_ino_t>(n);
}

std::string NodeTable::path_locked(const Node* n) const {
  std::vector<const std::string*> parts;
  for (; n && n->parent; n = n->parent) parts.push_back(&n->name);
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += **it;
  }
  return out;
}

std::optional<NodeTable::Where> NodeTable::where(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  Node* n = get(ino);
  for (Node* p = n; p; p = p->parent)
    if (!p->attached) return std::nullopt;
  return Where{path_locked(n), n->parent ? n->parent->lower_dir : true, n->lower_dir, n->lower_ino};
}

std::optional<NodeTable::Where> NodeTable::child(fuse_ino_t parent, const char* name) {
  auto p = where(parent);
  if (!p) return std::nullopt;
  std::string rel = p->rel.empty() ? std::string(name) : p->rel + "/" + name;
  return Where{std::move(rel), p->lower_dir, false};
}

bool NodeTable::lower_dir(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  return get(ino)->lower_dir;
}

Node* NodeTable::lookup(fuse_ino_t parent, const std::string& name, mode_t type, bool lower_dir,
                        ino_t lower_ino) {
  std::lock_guard lock(mu_);
  Node* p = get(parent);
  auto it = p->children.find(name);
  if (it != p->children.end() &&
      ((it->second->type & S_IFMT) != (type & S_IFMT) ||
       (lower_ino && it->second->lower_ino && it->second->lower_ino != lower_ino)))
    detach_locked(p, name);
  it = p->children.find(name);
  Node* n;
  if (it != p->children.end()) {
    n = it->second;
  } else {
    n = new Node;
    n->parent = p;
    n->name = name;
    n->type = type & S_IFMT;
    p->children.emplace(name, n);
    ++count_;
  }
  n->lower_dir = lower_dir;
  n->lower_ino = lower_ino;
  ++n->nlookup;
  return n;
}

void NodeTable::detach_locked(Node* parent, const std::string& name) {
  auto it = parent->children.find(name);
  if (it == parent->children.end()) return;
  Node* n = it->second;
  n->attached = false;
  // A detached node stays in its parent's map under a key no name can have,
  // so that its parent outlives it; it is deleted when the kernel forgets it.
  parent->children.erase(it);
  parent->children.emplace(key(n), n);
  maybe_delete_locked(n);
}

void NodeTable::detach(fuse_ino_t parent, const std::string& name) {
  std::lock_guard lock(mu_);
  detach_locked(get(parent), name);
}

void NodeTable::detach(fuse_ino_t ino) {
  std::lock_guard lock(mu_);
  Node* n = get(ino);
  if (n->attached && n->parent) detach_locked(n->parent, n->name);
}

std::optional<NodeTable::Known> NodeTable::find(const std::string& rel) {
  std::lock_guard lock(mu_);
  Node* n = &root_;
  for (size_t start = 0; start <= rel.size();) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    auto it = n->children.find(rel.substr(start, slash - start));
    if (it == n->children.end()) return std::nullopt;
    n = it->second;
    start = slash + 1;
  }
  if (n == &root_) return std::nullopt;
  return Known{id(n->parent), id(n), n->lower_ino};
}

void NodeTable::move(fuse_ino_t parent, const std::string& name, fuse_ino_t new_parent,
                     const std::string& new_name) {
  std::lock_guard lock(mu_);
  Node* from = get(parent);
  Node* to = get(new_parent);
  auto it = from->children.find(name);
  if (it == from->children.end()) {
    detach_locked(to, new_name);  // the kernel never looked the source up: only the target changes
    return;
  }
  Node* n = it->second;
  from->children.erase(it);
  detach_locked(to, new_name);
  n->parent = to;
  n->name = new_name;
  // Whatever the root has at the new path was hidden by the rename (journal),
  // and a directory's subtree was materialized before it moved: nothing below
  // may merge with the root any more. That holds for the descendants the
  // kernel already knows too, or they would look for their new paths in the
  // root (a listing of one then fails, and shows empty).
  for (std::vector<Node*> stack{n}; !stack.empty();) {
    Node* x = stack.back();
    stack.pop_back();
    x->lower_dir = false;
    for (auto& [_, c] : x->children) stack.push_back(c);
  }
  to->children.emplace(new_name, n);
  maybe_delete_locked(from);
}

void NodeTable::forget(fuse_ino_t ino, uint64_t count, const std::function<void(fuse_ino_t)>& gone) {
  std::lock_guard lock(mu_);
  Node* n = get(ino);
  if (n == &root_) return;
  n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
  if (n->nlookup == 0 && gone) gone(ino);
  maybe_delete_locked(n);
}

void NodeTable::maybe_delete_locked(Node* n) {
  // Children keep their parent alive; delete upwards while nothing refers to a node.
  while (n != &root_ && n->nlookup == 0 && n->children.empty()) {
    Node* parent = n->parent;
    parent->children.erase(key(n));
    delete n;
    --count_;
    n = parent;
  }
}

size_t NodeTable::size() {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace seedfs::fs

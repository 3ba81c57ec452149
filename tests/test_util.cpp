#include "tests/test_util.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/config.hpp"
#include "seeding/seeder.hpp"

namespace seedfs::test {

TempDir::TempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + tag + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Read-only dirs made by a test must not stop the cleanup.
  for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
  // A tree deeper than PATH_MAX stops remove_all; rm walks by fds.
  if (ec && fs::exists(path_)) {
    std::string quoted = "'" + path_.string() + "'";
    if (std::system(("chmod -R u+rwx " + quoted + " 2>/dev/null; rm -rf " + quoted).c_str()) != 0) {
    }
  }
}

void write_file(const fs::path& p, const std::string& content, mode_t mode, int64_t mtime) {
  fs::create_directories(p.parent_path());
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ::chmod(p.c_str(), mode);
  if (mtime) {
    struct timeval tv[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
    ::utimes(p.c_str(), tv);
  }
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string blob(const std::string& tag, size_t n) {
  std::string s;
  s.reserve(n + 32);
  while (s.size() < n) s += tag + "@" + std::to_string(s.size()) + "\n";
  s.resize(n);
  return s;
}

bool long_mode() {
  const char* v = std::getenv("SEEDFS_LONG");
  return v && std::string(v) == "1";
}

Result run_process(const std::vector<std::string>& argv, const fs::path& cwd, bool merge_err) {
  TempDir io("seedfs-run-io");
  auto out = io / "out", err = io / "err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = merge_err ? o : ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int n = ::open("/dev/null", O_RDONLY);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::dup2(n, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  if (!merge_err) r.err = read_file(err);
  return r;
}

std::string json_value(const std::string& json, const std::string& path) {
  TempDir io("seedfs-json");
  write_file(io / "doc.json", json);
  static const char* kScript =
      "import json, sys\n"
      "try:\n"
      "    v = json.load(open(sys.argv[1]))\n"
      "except ValueError:\n"
      "    print('(invalid JSON)', end=''); sys.exit(0)\n"
      "for k in [k for k in sys.argv[2].split('.') if k]:\n"
      "    try:\n"
      "        v = v[int(k)] if isinstance(v, list) else v[k]\n"
      "    except (KeyError, IndexError, ValueError, TypeError):\n"
      "        print('(missing)', end=''); sys.exit(0)\n"
      "print(v if isinstance(v, str) else json.dumps(v), end='')\n";
  Result r = run_process({"python3", "-c", kScript, (io / "doc.json").string(), path});
  return r.rc == 0 ? r.out : "(python3 failed: " + r.err + ")";
}

std::string ensure_test_user(uid_t& uid, gid_t& gid) {
  if (::geteuid() != 0) return "needs root to make the test user";
  if (!::getpwnam(kTestUser)) {
    Result add = run_process({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", kTestUser},
                             {}, true);
    if (add.rc != 0) return "useradd " + std::string(kTestUser) + ": " + add.out;
  }
  const struct passwd* pw = ::getpwnam(kTestUser);
  if (!pw) return "no user " + std::string(kTestUser) + " after useradd";
  uid = pw->pw_uid;
  gid = pw->pw_gid;
  return "";
}

DevFuseOpenToAll::DevFuseOpenToAll() {
  struct stat st {};
  if (::stat("/dev/fuse", &st) == 0 && ::chmod("/dev/fuse", 0666) == 0) mode_ = st.st_mode & 07777;
}

DevFuseOpenToAll::~DevFuseOpenToAll() {
  if (mode_) ::chmod("/dev/fuse", mode_);
}

Result run_as(const std::string& user, const std::vector<std::string>& env, const std::vector<std::string>& argv,
              const fs::path& cwd, bool merge_err) {
  std::vector<std::string> all{"runuser", "-u", user, "--", "env", "-i"};
  all.insert(all.end(), env.begin(), env.end());
  all.insert(all.end(), argv.begin(), argv.end());
  return run_process(all, cwd, merge_err);
}

std::string show(const Result& r) {
  return "rc=" + std::to_string(r.rc) + "\nstdout:\n" + r.out + "stderr:\n" + r.err;
}

uint64_t hash_bytes(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool Entry::operator==(const Entry& o) const {
  return type == o.type && mode == o.mode && uid == o.uid && gid == o.gid && size == o.size &&
         mtime_ns == o.mtime_ns && hash == o.hash;
}

namespace {

// Walks by dir fds, a name at a time: a tree deeper than PATH_MAX is
// snapshotted whole (std::filesystem's iterator stops there without a word).
// An entry that cannot be read is an entry of type 'e' with its errno (an
// unreadable dir of the root stays comparable); one gone meanwhile is left out.
void snapshot_dir(int dir, const std::string& prefix, Snapshot& snap) {
  int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? nullptr : ::fdopendir(fd);
  if (!d) {
    snap[prefix + "/"] = Entry{'e', 0, 0, 0, errno, 0, 0, 0, 0};
    if (fd >= 0) ::close(fd);
    return;
  }
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    Entry e{};
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.ino = st.st_ino;
    e.nlink = st.st_nlink;
    if (S_ISREG(st.st_mode)) {
      e.type = 'f';
      e.size = st.st_size;
      e.mtime_ns = st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
      int f = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (f < 0) {
        e.type = 'e';
        e.size = errno;
      } else {
        std::string bytes;
        char buf[65536];
        for (ssize_t n; (n = ::read(f, buf, sizeof buf)) > 0;) bytes.append(buf, static_cast<size_t>(n));
        ::close(f);
        e.hash = hash_bytes(bytes);
      }
    } else if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      e.mtime_ns = st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(dir, name.c_str(), target.data(), target.size());
      target.resize(n < 0 ? 0 : static_cast<size_t>(n));
      e.hash = hash_bytes(target);
    } else {
      e.type = 'o';
    }
    snap[rel] = e;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dir, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;  // gone meanwhile
      snapshot_dir(sub, rel, snap);
      ::close(sub);
    }
  }
  ::closedir(d);
}

}  // namespace

Snapshot snapshot(const fs::path& root) {
  Snapshot snap;
  int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return snap;
  snapshot_dir(fd, "", snap);
  ::close(fd);
  return snap;
}

std::string diff(const Snapshot& before, const Snapshot& after, bool identity) {
  std::ostringstream out;
  for (const auto& [path, e] : before) {
    auto it = after.find(path);
    if (it == after.end()) {
      out << "missing: " << path << "\n";
      continue;
    }
    const Entry& a = it->second;
    if (!(e == a)) {
      out << "changed: " << path << " (type " << e.type << "->" << a.type << ", mode " << std::oct
          << e.mode << "->" << a.mode << std::dec << ", size " << e.size << "->" << a.size
          << ", mtime " << e.mtime_ns << "->" << a.mtime_ns << ", owner " << e.uid << ":" << e.gid
          << "->" << a.uid << ":" << a.gid << (e.hash != a.hash ? ", content differs" : "")
          << ")\n";
    } else if (identity && (e.ino != a.ino || e.nlink != a.nlink)) {
      out << "identity changed: " << path << "\n";
    }
  }
  for (const auto& [path, e] : after)
    if (!before.count(path)) out << "added: " << path << "\n";
  return out.str();
}

void make_reference(const fs::path& root, const fs::path& ref) {
  fs::create_directories(ref);
  config::Artifact a = *config::builtin().find("cargo");
  a.link_rules = config::GlobSet{};
  a.link_executables = false;
  std::error_code ec;
  seeding::Seeder s(sys::open_dir(AT_FDCWD, root.c_str(), ec), sys::open_dir(AT_FDCWD, ref.c_str(), ec), a,
                    seeding::Options{});
  auto failure = s.run();
  ASSERT_FALSE(failure) << failure->to_string();
}

int64_t changes_since() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return (ts.tv_sec - 2) * 1000000000ll + ts.tv_nsec;
}

std::string compare_trees(const fs::path& got, const fs::path& want, int64_t since) {
  Snapshot a = snapshot(want), b = snapshot(got);
  for (auto& [path, e] : a) {
    auto it = b.find(path);
    if (it != b.end() && e.mtime_ns >= since && it->second.mtime_ns >= since) e.mtime_ns = it->second.mtime_ns = 0;
  }
  return diff(a, b);
}

}  // namespace seedfs::test

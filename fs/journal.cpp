#include "fs/journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

namespace seedfs::fs {
namespace {

// One record per line: "D <path>", with '\\' and '\n' escaped so that any name fits.
std::string encode(std::string_view rel) {
  std::string out = "D ";
  for (char c : rel) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  out += '\n';
  return out;
}

std::string decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[i + 1] == 'n' ? '\n' : s[i + 1];
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Journal> Journal::open(const std::filesystem::path& file, int upper_fd,
                                       std::error_code& ec) {
  std::unique_ptr<Journal> j(new Journal);
  j->file_ = file;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return nullptr;
  // The workspace dir's identity: device, inode and birth time.
  std::string id;
  if ((ec = sys::dir_identity(upper_fd, id))) return nullptr;
  std::string header = "U " + id + "\n";
  {
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.compare(0, header.size(), header) != 0) {
      // Another workspace dir (or none yet): start over.
      text.clear();
      j->fd_ = sys::open_at(AT_FDCWD, file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600, ec);
      if (!j->fd_) return nullptr;
      if (::write(j->fd_.get(), header.data(), header.size()) < 0) return ec = sys::last_error(), nullptr;
      return j;
    }
    // A record is written before its deletion is carried out; one cut short by
    // a crash (no newline) was never acted on, so it is ignored.
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(text.data() + start, nl - start);
      if (line.size() > 2 && line.substr(0, 2) == "D ") j->paths_.insert(decode(line.substr(2)));
    }
  }
  j->fd_ = sys::open_at(AT_FDCWD, file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600, ec);
  if (!j->fd_) return nullptr;
  return j;
}

bool Journal::hides(std::string_view rel) const {
  std::shared_lock lock(mu_);
  if (paths_.empty()) return false;
  std::string probe(rel);
  for (;;) {
    if (paths_.count(probe)) return true;
    size_t slash = probe.rfind('/');
    if (slash == std::string::npos) return false;
    probe.resize(slash);
  }
}

std::error_code Journal::record(std::string_view rel) {
  std::unique_lock lock(mu_);
  if (paths_.count(std::string(rel))) return {};
  std::string line = encode(rel);
  // One write(2) per record with O_APPEND: a record is whole or absent.
  if (::write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return sys::last_error();
  paths_.insert(std::string(rel));
  return {};
}

size_t Journal::size() const {
  std::shared_lock lock(mu_);
  return paths_.size();
}


}  // namespace seedfs::fs

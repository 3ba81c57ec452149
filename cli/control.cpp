#include "cli/control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace seedfs::cli {
namespace {

bool make_address(const std::string& path, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

bool write_all(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ControlServer::~ControlServer() { stop(); }

std::error_code ControlServer::listen(const std::string& path) {
  sockaddr_un addr{};
  if (!make_address(path, addr)) return std::make_error_code(std::errc::filename_too_long);
  std::error_code ec;
  if (control_request(path, "ping", ec)) return std::make_error_code(std::errc::address_in_use);
  ::unlink(path.c_str());  // stale: nobody answered
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_fd_) return sys::last_error();
  // The dir is 0700 already; 0600 on the socket too (umask is process-wide: not touched).
  if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(listen_fd_.get(), 16) != 0)
    return sys::last_error();
  path_ = path;
  return {};
}

void ControlServer::start(Handler handler) {
  handler_ = std::move(handler);
  accept_thread_ = std::thread([this] {
    for (;;) {
      int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      std::lock_guard lock(mu_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

void ControlServer::serve(int fd) {
  sys::UniqueFd conn(fd);
  timeval tv{5, 0};  // a client that says nothing is dropped
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string request;
  char c;
  while (request.size() < 256 && ::recv(fd, &c, 1, 0) == 1 && c != '\n') request += c;
  std::string reply = request == "ping" ? "pong\n" : handler_(request);
  write_all(fd, reply);
}

void ControlServer::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_) ::shutdown(listen_fd_.get(), SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::list<std::thread> conns;
  {
    std::lock_guard lock(mu_);
    conns.swap(connections_);
  }
  for (auto& t : conns) t.join();
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::optional<std::string> control_request(const std::string& socket, const std::string& request,
                                           std::error_code& ec) {
  sockaddr_un addr{};
  if (!make_address(socket, addr)) return ec = std::make_error_code(std::errc::filename_too_long), std::nullopt;
  sys::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ec = sys::last_error(), std::nullopt;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return ec = sys::last_error(), std::nullopt;
  if (!write_all(fd.get(), request + "\n")) return ec = sys::last_error(), std::nullopt;
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ec = sys::last_error(), std::nullopt;
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ec = {};
  return reply;
}

}  // namespace seedfs::cli

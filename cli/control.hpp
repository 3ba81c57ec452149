// The control socket: one Unix stream socket per mounted workspace, 0600 in a
// 0700 dir. A client writes one request line ("status", "wait", "unmount")
// and reads the reply, a TOML document, until EOF.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "seeding/sys.hpp"

namespace seedfs::cli {

class ControlServer {
 public:
  // The reply to one request; may block (wait), runs on a thread of its own.
  using Handler = std::function<std::string(const std::string& request)>;

  ~ControlServer();
  // Binds `path`, replacing a stale socket; fails if a live daemon answers there.
  std::error_code listen(const std::string& path);
  void start(Handler handler);
  // Stops accepting, joins the connection threads (handlers must return), removes the socket.
  void stop();

 private:
  void serve(int fd);
  std::string path_;
  sys::UniqueFd listen_fd_;
  Handler handler_;
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<std::thread> connections_;
  std::atomic<bool> stopping_{false};
};

// Sends `request` to the daemon at `socket` and returns its reply. ECONNREFUSED
// or ENOENT in `ec` mean no daemon is there.
std::optional<std::string> control_request(const std::string& socket, const std::string& request,
                                           std::error_code& ec);

}  // namespace seedfs::cli

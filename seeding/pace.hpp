// How gently the materializer runs beside the builds it is meant to speed up:
// a rate limit shared by its workers, and the CPU and I/O priority of their
// threads. The view's own requests never pass through here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <system_error>

#include "config/config.hpp"

namespace seedfs::seeding {

// Gives the calling thread the CPU and I/O priority `p` (Linux keeps both per
// thread): `low` is nice 10 and best-effort I/O at level 7, `idle` nice 19 and
// the idle I/O class, which the block layer serves only when no one else asks
// (BFQ, and mq-deadline since Linux 5.14). A nice value is only ever raised.
std::error_code apply_priority(config::Priority p);

// Sleeps until `at`, in slices, so that a `stop` is seen within 50 ms.
// False when stopped.
bool sleep_until_unless_stopped(std::chrono::steady_clock::time_point at, const std::atomic<bool>& stop);

// Lets `per_second` units pass per second, shared by every thread that asks:
// take(n) returns once n units may go. A request is charged after it passes
// (the next one waits for it), so a single request may be large; callers that
// move many bytes ask in chunks.
class RateLimiter {
 public:
  RateLimiter(double per_second, const std::atomic<bool>& stop) : per_s_(per_second), stop_(stop) {}
  bool enabled() const { return per_s_ > 0; }
  // Blocks until `n` units may pass. False, at once, when `stop` is set.
  bool take(double n);
  // Seconds spent waiting in take(), summed over threads.
  double waited() const { return waited_ns_.load(std::memory_order_relaxed) / 1e9; }
  // Units let through so far.
  double taken() const {
    std::lock_guard lock(mu_);
    return taken_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  double per_s_;
  const std::atomic<bool>& stop_;
  mutable std::mutex mu_;
  Clock::time_point next_{};  // when the next unit may pass
  double taken_ = 0;
  std::atomic<uint64_t> waited_ns_{0};
};

// Everything that holds the materializer back, asked before each file and
// before each chunk of a copy: the rate limits, and, below normal priority, a
// caller that is busy (the view serving a build), to which it yields: it
// waits until the caller has been quiet a moment, but at most kMaxYield at a
// time, so that under a load that never pauses it still moves a file or a
// chunk a second per worker.
class Pacer {
 public:
  static constexpr std::chrono::milliseconds kMaxYield{1000};

  Pacer(const config::Pace& pace, const std::atomic<bool>& stop, std::function<bool()> busy = {});
  bool before_file();               // false once stopped
  bool before_bytes(uint64_t n);    // false once stopped
  bool chunked() const { return bytes_.enabled() || static_cast<bool>(busy_); }  // copies ask per chunk
  double waited() const { return files_.waited() + bytes_.waited(); }  // for the limits
  double bytes_taken() const { return bytes_.taken(); }
  double yielded() const { return yielded_ns_.load(std::memory_order_relaxed) / 1e9; }

 private:
  bool yield();
  const std::atomic<bool>& stop_;
  RateLimiter files_, bytes_;
  std::function<bool()> busy_;
  std::atomic<uint64_t> yielded_ns_{0};
};

}  // namespace seedfs::seeding

#include "seeding/pace.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "seeding/sys.hpp"

namespace seedfs::seeding {
namespace {

// From linux/ioprio.h, which glibc does not wrap.
constexpr int kIoprioWhoProcess = 1;  // a thread id, for a thread
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassBestEffort = 2;
constexpr int kIoprioClassIdle = 3;

int ioprio(int io_class, int level) { return (io_class << kIoprioClassShift) | level; }

}  // namespace

std::error_code apply_priority(config::Priority p) {
  if (p == config::Priority::normal) return {};
  pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  int nice = p == config::Priority::idle ? 19 : 10;
  errno = 0;
  int now = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  // Lowering a nice value needs privileges and would not be gentle anyway.
  if (errno == 0 && now < nice && ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0)
    return sys::last_error();
  int io = p == config::Priority::idle ? ioprio(kIoprioClassIdle, 0) : ioprio(kIoprioClassBestEffort, 7);
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, io) != 0) return sys::last_error();
  return {};
}

bool sleep_until_unless_stopped(std::chrono::steady_clock::time_point at, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  for (auto now = Clock::now(); !stop && now < at; now = Clock::now())
    std::this_thread::sleep_for(std::min<Clock::duration>(at - now, std::chrono::milliseconds(50)));
  return !stop;
}

bool RateLimiter::take(double n) {
  if (per_s_ <= 0) return !stop_;
  Clock::time_point at;
  {
    std::lock_guard lock(mu_);
    Clock::time_point now = Clock::now();
    at = std::max(next_, now);  // time not used meanwhile is not saved up: no bursts
    next_ = at + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(n / per_s_));
    taken_ += n;
  }
  Clock::time_point start = Clock::now();
  sleep_until_unless_stopped(at, stop_);
  waited_ns_.fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count(),
      std::memory_order_relaxed);
  return !stop_;
}

Pacer::Pacer(const config::Pace& pace, const std::atomic<bool>& stop, std::function<bool()> busy)
    : stop_(stop),
      files_(pace.files_per_s, stop),
      bytes_(pace.bytes_per_s, stop),
      busy_(pace.priority == config::Priority::normal ? nullptr : std::move(busy)) {}

bool Pacer::yield() {
  if (!busy_) return !stop_;
  auto start = std::chrono::steady_clock::now();
  auto now = start;
  while (!stop_ && busy_() && now - start < kMaxYield) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now = std::chrono::steady_clock::now();
  }
  yielded_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count(),
                        std::memory_order_relaxed);
  return !stop_;
}

// The limit first, then the yield: a worker that waited for its turn does not
// go while the view has become busy meanwhile.
bool Pacer::before_file() { return files_.take(1) && yield(); }

bool Pacer::before_bytes(uint64_t n) { return bytes_.take(static_cast<double>(n)) && yield(); }

}  // namespace seedfs::seeding

#include "common/Watchdog.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

namespace cvgate {

namespace {

using Clock = std::chrono::steady_clock;

struct Watch {
  Clock::time_point deadline;
  double seconds;
  std::string what;
};

/// The one watcher thread and the open deadlines. Leaked on purpose: it must
/// outlive every Deadline, including those in static destructors.
class Watcher {
 public:
  static Watcher& get() {
    static Watcher* w = new Watcher();
    return *w;
  }

  std::uint64_t add(double seconds, std::string what) {
    std::lock_guard<std::mutex> g(m_);
    const std::uint64_t id = ++next_;
    const auto d = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    open_.emplace(id, Watch{d, seconds, std::move(what)});
    if (!started_) {
      started_ = true;
      std::thread([this] { run(); }).detach();
    }
    // Wake the watcher only when it would sleep past the new deadline. A
    // model call per batch arms a deadline of the same length each time:
    // each is later than the one the watcher sleeps until, so it wakes once
    // per timeout, not once per batch (a wake-up is a thread switch on a
    // core the model is using).
    if (d < wakeAt_) cv_.notify_one();
    return id;
  }

  void remove(std::uint64_t id) {
    std::lock_guard<std::mutex> g(m_);
    open_.erase(id);
  }

 private:
  Watcher() = default;

  [[noreturn]] void expire(const Watch& w) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", w.seconds);
    std::string line = std::string(program_invocation_short_name) + ": error: " + w.what +
                       ": did not finish within " + secs + " s ([limits] model_timeout_s)\n";
    ssize_t ignored = ::write(2, line.data(), line.size());
    (void)ignored;
    ::_exit(kDeadlineExitCode);
  }

  void run() {
    std::unique_lock<std::mutex> g(m_);
    for (;;) {
      if (open_.empty()) {
        // Sleep on to the time already set (a deadline armed before then
        // does not wake us), then until the next one is armed.
        if (wakeAt_ != Clock::time_point::max() && Clock::now() < wakeAt_) {
          const Clock::time_point until = wakeAt_;
          cv_.wait_until(g, until);
          continue;
        }
        wakeAt_ = Clock::time_point::max();
        cv_.wait(g);
        continue;
      }
      auto soonest = open_.begin();
      for (auto it = open_.begin(); it != open_.end(); ++it)
        if (it->second.deadline < soonest->second.deadline) soonest = it;
      if (Clock::now() >= soonest->second.deadline) expire(soonest->second);
      // A copy: wait_until reads its time point again after waking, and by
      // then ~Deadline may have erased the entry (AddressSanitizer's
      // heap-use-after-free in every model load).
      wakeAt_ = soonest->second.deadline;
      const Clock::time_point until = wakeAt_;
      cv_.wait_until(g, until);
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Watch> open_;
  std::uint64_t next_ = 0;
  bool started_ = false;
  /// When the watcher wakes next (max: only when notified). Every open
  /// deadline is at or after it, or the watcher has been notified.
  Clock::time_point wakeAt_ = Clock::time_point::max();
};

}  // namespace

Deadline::Deadline(double seconds, std::string what) {
  if (!(seconds > 0) || !std::isfinite(seconds)) return;
  id_ = Watcher::get().add(seconds, std::move(what));
}

Deadline::~Deadline() {
  if (id_) Watcher::get().remove(id_);
}

}  // namespace cvgate

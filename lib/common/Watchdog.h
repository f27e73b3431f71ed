// A watchdog for work that cannot be interrupted: a TorchScript model's load
// or forward pass runs user code that may never return, and libtorch offers
// no way to cancel it. A Deadline names the work and how long it may take;
// one background thread watches every open deadline, and when one passes it
// prints "<tool>: error: <what>: did not finish within N s" and ends the
// process with exit code 2 (the input is at fault) — so that a hung model
// fails its step like any other bad input, and never holds a lock forever.
#pragma once

#include <cstdint>
#include <string>

namespace cvgate {

class Deadline {
 public:
  /// Watch the work from now for `seconds` (<= 0 or not finite: not watched).
  Deadline(double seconds, std::string what);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  std::uint64_t id_ = 0;
};

/// The exit code a passed deadline ends the process with.
inline constexpr int kDeadlineExitCode = 2;

}  // namespace cvgate

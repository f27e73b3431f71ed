// Wall-clock formatting, cycle ids, and elapsed time on the steady clock.
#pragma once

#include <chrono>
#include <string>

namespace cvgate {

/// Milliseconds and seconds of the steady clock since `t0` (durations measured
/// in-process: immune to wall-clock steps).
inline double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
inline double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// "2026-11-25T21:00:01Z" (UTC, second resolution).
std::string isoUtc(std::chrono::system_clock::time_point t);
inline std::string nowIsoUtc() { return isoUtc(std::chrono::system_clock::now()); }

/// Parse isoUtc's format back; returns false on anything else.
bool parseIsoUtc(const std::string& s, std::chrono::system_clock::time_point* out);

/// A new cycle id: "20261125T2100Z-3f2a" (UTC minute + 4 random hex digits).
std::string newCycleId();

/// The cycle id for this run: `flag` if set, else $CVGATE_CYCLE_ID, else a new one.
std::string resolveCycleId(const std::string& flag);

/// A cycle id must be usable as a file name: [A-Za-z0-9._-]+, 1..64 chars.
bool isValidCycleId(const std::string& id);

}  // namespace cvgate

// The load generator: single-stream, server (open-loop Poisson arrivals,
// worker pool, dynamic batching) and offline scenarios over a
// SystemUnderTest, with per-request records. Latency is measured from each
// request's SCHEDULED arrival, so a backlog counts (no coordinated omission).
// Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/Error.h"
#include "latency/Sut.h"

namespace cvgate::latency {

enum class Scenario { SingleStream, Server, Offline };

/// "single-stream", "server", "offline".
std::string toString(Scenario s);
/// Parse a scenario name; "all" is not a single scenario (see parseScenarios).
Expected<Scenario> parseScenario(const std::string& s);
/// "all" or one name -> the scenarios to run, in order.
Expected<std::vector<Scenario>> parseScenarios(const std::string& s);

/// How one run is driven (LoadGen's TestSettings).
struct TestSettings {
  Scenario scenario = Scenario::Server;
  double offeredRps = 200.0;       ///< server: Poisson arrival rate
  double durationS = 4.0;          ///< server: requests = max(minSamples, rate * duration); single-stream: at least this long
  std::size_t minSamples = 600;    ///< never fewer requests than this
  int workers = 2;                 ///< server/offline: worker threads
  int maxBatch = 8;                ///< server/offline: largest batch
  double batchWindowMs = 2.0;      ///< server: how long a worker waits to fill a batch
  double deadlineMs = 1000.0;      ///< a request slower than this is an error; server: one still
                                   ///< queued at its deadline is shed (an error, never run)
  double maxIssueDelayMs = 10.0;   ///< server: issue-delay p99 above this makes the run invalid
  std::uint64_t seed = 1;          ///< arrival process seed
};

/// One request, all times in ms from the run's start.
struct RequestRecord {
  double scheduledMs = 0;          ///< when it should arrive
  double issuedMs = 0;             ///< when the generator actually enqueued it
  double startMs = 0;              ///< when a worker took it
  double endMs = 0;                ///< when its completion returned
  double preprocessMs = 0, forwardMs = 0, postprocessMs = 0;
  int batch = 0;                   ///< size of the batch it ran in
  bool ok = false;
  bool shed = false;               ///< server: dropped unrun, its deadline passed while queued
  std::string errorKind;           ///< "", "exception", "non-finite", "wrong-shape", "deadline", "other"
  double latencyMs() const { return endMs - scheduledMs; }
};

/// What one run measured.
struct RunResult {
  TestSettings settings;
  std::vector<RequestRecord> requests;
  double elapsedS = 0;             ///< first scheduled arrival to last completion
  double arrivalRps = 0;           ///< realised arrival rate of the schedule (server)
  double achievedRps = 0;          ///< requests run to completion (not shed) / elapsedS
  std::size_t errors = 0;
  std::size_t shed = 0;            ///< server: requests dropped at their deadline, unrun (in errors)
  std::map<std::string, std::size_t> errorKinds;
  double meanBatch = 0;
  double issueDelayP99Ms = 0;      ///< generator lateness (server)
  /// Server: CPU time the generator's thread used (scheduling, enqueueing,
  /// waking workers), and that over the run's wall time: the share of one
  /// core the generator took from the cores it measures. 0 when no separate
  /// generator ran (single-stream, offline).
  double generatorCpuS = 0;
  double generatorCoreFraction = 0;
  /// CPUs this process could run on during the run (sched_getaffinity): the
  /// cores the generator and the server shared.
  int cores = 0;
  bool valid = true;               ///< the generator kept up
  std::string invalidReason;
  double growthMsPerS = 0;         ///< least-squares slope of latency over scheduled time
  bool saturated = false;          ///< offered load above capacity: the backlog grows
  std::string saturationReason;

  /// Latencies of every request, ascending.
  std::vector<double> sortedLatencies() const;
};

/// Run one scenario against `sut`. Errors only for settings out of range.
Expected<RunResult> runScenario(SystemUnderTest& sut, const TestSettings& s);

/// Warm-up that stops when the per-call time settles (two consecutive
/// windows' medians within 10 %) or after maxSeconds; discarded.
struct WarmupResult {
  std::size_t calls = 0;
  double seconds = 0;
  bool settled = false;
  double settledMs = 0;            ///< median call time of the last window
};
WarmupResult warmup(SystemUnderTest& sut, int maxBatch, double maxSeconds);

/// Resident set size sampler (reads /proc/self/statm on a thread).
class RssSampler {
 public:
  explicit RssSampler(double periodMs = 50.0);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  void stop();
  std::vector<double> timesS() const { return t_; }
  std::vector<double> rssBytes() const { return rss_; }

 private:
  void loop();
  double periodMs_;
  std::vector<double> t_, rss_;
  void* thread_ = nullptr;
  std::atomic<bool> stop_{false};
};

/// Current RSS in bytes from /proc/self/statm (0 if unreadable).
double currentRssBytes();
/// Peak RSS of the process so far (getrusage), bytes.
double processPeakRssBytes();

}  // namespace cvgate::latency

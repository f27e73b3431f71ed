// From runs to evidence: percentiles with order-statistic intervals, stage
// breakdown, the latency checks, and the bounded throughput search.
// Torch-free.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/Config.h"
#include "latency/LoadGen.h"
#include "report/Report.h"

namespace cvgate::latency {

/// A run as JSON: percentiles p50/p90/p95/p99/max each with its CI at
/// `confidence`, stages (mean, p95), rates, errors, issue delay, validity.
json runToJson(const RunResult& r, double confidence);

/// The counts a check's detail carries, so that a reader can test them at
/// another confidence: scenario, offered_rps, requests, errors,
/// at_or_over_p95_objective (requests whose latency reached the P95
/// objective), valid, saturated.
json runCounts(const RunResult& r, const Objectives& o);

/// latency.p95: pass iff the CI's upper end < objective; fail iff its lower
/// end >= objective (or the run is saturated: latency grows without bound);
/// else inconclusive with need.samples. An invalid run (the generator fell
/// behind) is inconclusive, never fail or pass.
Check p95Check(const RunResult& r, const Objectives& o, const std::string& subject);

/// latency.error_rate: one-sided Clopper-Pearson upper bound < objective.
/// Fail when the one-sided lower bound is above the objective. An invalid run
/// or one without requests is inconclusive.
Check errorRateCheck(const RunResult& r, const Objectives& o, const std::string& subject);

/// latency.valid: the generator kept up (issue delay p99 within bound).
Check validCheck(const RunResult& r, const std::string& subject);

/// Whether one run meets the P95 and error objectives, and was valid and
/// sustained: pass, fail (decisively missed or saturated) or inconclusive
/// (a bound not settled, or an invalid run, the generator fell behind, whose
/// miss its lag could explain).
Outcome runMeetsObjectives(const RunResult& r, const Objectives& o);

/// The bounded search for the highest offered rate that meets the objectives.
struct SearchSettings {
  int doublingSteps = 10;          ///< at most this many doublings (or halvings) from the start rate
  int bisectSteps = 3;             ///< then at most this many geometric bisections
  double resolution = 1.1;         ///< ... while the bracket's top over its bottom is above this
  double durationS = 1.0;          ///< each search run: max(minSamples, rate * durationS) requests
  int repeats = 2;                 ///< an invalid or inconclusive run is repeated at most this often
  std::size_t maxSampleGrowth = 8; ///< a repeat asks for at most this many times the samples
  /// The start rate is a challenge (a sweep variant against the best so
  /// far): when its run does not pass, the search ends there, and nothing
  /// lower is searched.
  bool challenge = false;
  /// Whether a run at this rate with at least this many requests (0: the
  /// usual number) still fits the time left; null: always. A run that does
  /// not fit ends the search (ThroughputResult::stoppedByTime).
  std::function<bool(double rate, std::size_t samples)> fits;
};
struct SearchStep {
  double offeredRps = 0;
  int attempt = 1;                 ///< 1, or 2.. for a repeat at the same rate
  Outcome outcome = Outcome::Inconclusive;
  std::string why;
  json run;                        ///< summary of the run (runToJson)
  std::size_t needSamples = 0;     ///< for an inconclusive P95 or error bound
  std::size_t samples = 0;         ///< requests in the run
  bool valid = true;               ///< the generator kept up
  /// A P95 miss made of waiting: the requests' own service times (worker
  /// pickup to completion) have a P95 under the objective, so a lower rate,
  /// with shorter queues, can meet it even where the run was not flagged
  /// saturated (a subject just under its capacity).
  bool waitingMiss = false;
};
struct ThroughputResult {
  double bestRps = 0;              ///< highest offered rate that met the objectives (0: none)
  double bestAchievedRps = 0;      ///< completed rate of that run
  std::vector<SearchStep> steps;
  bool stoppedByTime = false;      ///< the next run did not fit the time budget
  double stoppedAtRps = 0;         ///< the rate it would have run at
};
/// Runs the server scenario at `rate` (settings otherwise fixed) with at
/// least `samples` requests (0: the usual number).
using SearchRunFn = std::function<Expected<RunResult>(double rate, std::size_t samples)>;
/// Doubles (or halves) from `startRps` until the outcome changes, then
/// bisects. A run that is invalid or inconclusive is repeated (s.repeats),
/// asking for the samples its bound needs; every run is a step.
/// `first`, if given, is an already-measured run at `startRps`.
ThroughputResult searchThroughput(const SearchRunFn& run, double startRps, double minRps, const Objectives& o,
                                  const SearchSettings& s, const RunResult* first, double confidence);

/// No run above the best rate failed decisively (above it: nothing, or only
/// unsettled runs): the capacity is at least bestRps, how much more is
/// unknown.
bool searchCapped(const ThroughputResult& t);

/// The distinct rates whose runs met the objectives, highest first.
std::vector<double> passedRates(const ThroughputResult& t);

/// The run at the lowest rate above `rate` that failed decisively (the top
/// of a capacity bracket), or null when none did.
const SearchStep* lowestFailAbove(const ThroughputResult& t, double rate);

/// latency.throughput from a search.
Check throughputCheck(const ThroughputResult& t, const Objectives& o, const std::string& subject);

json toJson(const ThroughputResult& t);

}  // namespace cvgate::latency

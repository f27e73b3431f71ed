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

/// latency.p95: pass iff the CI's upper end < objective; fail iff its lower
/// end >= objective (or the run is saturated: latency grows without bound);
/// else inconclusive with need.samples.
Check p95Check(const RunResult& r, const Objectives& o, const std::string& subject);

/// latency.error_rate: one-sided Clopper-Pearson upper bound < objective.
/// Fail when the point estimate's lower two-sided end is above the objective.
Check errorRateCheck(const RunResult& r, const Objectives& o, const std::string& subject);

/// latency.valid: the generator kept up (issue delay p99 within bound).
Check validCheck(const RunResult& r, const std::string& subject);

/// Whether one run meets the P95 and error objectives, and was valid and
/// sustained: pass, fail (decisively missed or saturated) or inconclusive.
Outcome runMeetsObjectives(const RunResult& r, const Objectives& o);

/// The bounded search for the highest offered rate that meets the objectives.
struct SearchSettings {
  int doublingSteps = 6;           ///< at most this many doublings (or halvings) from the start rate
  int bisectSteps = 3;             ///< then at most this many geometric bisections
  double durationS = 1.0;          ///< each search run: max(minSamples, rate * durationS) requests
};
struct SearchStep {
  double offeredRps = 0;
  Outcome outcome = Outcome::Inconclusive;
  std::string why;
  json run;                        ///< summary of the run (runToJson)
  std::size_t needSamples = 0;     ///< for an inconclusive P95 or error bound
};
struct ThroughputResult {
  double bestRps = 0;              ///< highest offered rate that met the objectives (0: none)
  double bestAchievedRps = 0;      ///< completed rate of that run
  std::vector<SearchStep> steps;
};
/// `run` runs the server scenario at a rate (server settings otherwise fixed).
/// `first`, if given, is an already-measured run at `startRps`.
ThroughputResult searchThroughput(const std::function<Expected<RunResult>(double)>& run,
                                  double startRps, double minRps, const Objectives& o,
                                  const SearchSettings& s, const RunResult* first, double confidence);

/// latency.throughput from a search.
Check throughputCheck(const ThroughputResult& t, const Objectives& o, const std::string& subject);

json toJson(const ThroughputResult& t);

}  // namespace cvgate::latency

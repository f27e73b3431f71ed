// A verdict simulation: synthetic measurements of known truth, turned into
// reports by the tools' own check functions (profile-latency's p95Check and
// errorRateCheck, eval-compliance's errorRateCheck, regressionCheck and
// upliftCheck), judged cycle after cycle by decide's own policy
// (chooseSubjects, screenReports, countHistory, evaluatePolicy) with the
// verdict history it would write. Used by a test (few trials) and by the
// bench's verdict-sim (many), which prints the figures the README quotes.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "config/Config.h"
#include "decision/Decision.h"

namespace cvgate::verdictsim {

/// What production really is, in one scenario.
struct ProductionTruth {
  std::string name;
  double p95Ms = 250;               ///< true P95 latency at the operating point
  double errorRate = 0.002;         ///< true failure rate of a request under load
  double complianceErrorRate = 0;   ///< true failure rate of an evaluation request
  double compliance = 0.78;         ///< true compliance now
  double blessedCompliance = 0.78;  ///< true compliance when the blessed figure was measured
};

/// What the candidate really is, for the false-GO trials.
struct CandidateTruth {
  std::string name;
  double p95Ms = 100;
  double errorRate = 0.001;
  double complianceErrorRate = 0;
  double uplift = 0.20;             ///< true relative compliance uplift over production
};

struct Settings {
  Objectives objectives;
  DecisionConfig decision;
  std::size_t latencyRequests = 2000;  ///< [latency] min_samples: requests of the gate run
  std::size_t complianceN = 8000;      ///< evaluation images
  std::size_t bootstrapResamples = 2000;
  int cyclesPerMonth = 720;            ///< 30 days of hourly cycles
};

/// The defaults of cvgate's config.
Settings defaultSettings();

struct MonthOutcome {
  bool rolledBack = false;
  int cycle = -1;                      ///< 1-based cycle of the ROLLBACK
  std::vector<std::string> breaches;   ///< the gates that breached in that cycle
};

/// One simulated month of hourly cycles of production alone (no candidate).
MonthOutcome simulateMonth(const ProductionTruth& t, const Settings& s, std::mt19937_64& rng);

/// Cycles until the first ROLLBACK (at most `maxCycles`; -1: none).
int cyclesToRollback(const ProductionTruth& t, const Settings& s, std::mt19937_64& rng, int maxCycles);

/// One cycle with a candidate: is it GO? Production healthy.
bool candidateGoes(const CandidateTruth& c, const Settings& s, std::mt19937_64& rng);

/// `good` with one of its figures moved exactly onto its objective: P95,
/// error rate, compliance uplift, in that order (names say which).
std::vector<CandidateTruth> candidatesAtObjectives(const CandidateTruth& good, const Settings& s);

/// Exact probability that an event of per-cycle probability p (independent
/// cycles) happens in k cycles in a row at least once within m cycles.
double probRunWithin(double p, int k, int m);

/// Exact per-cycle probability that decide's breach test fires for a
/// binomial count of n at true rate `rate` against the bound `bound`
/// (one-sided Clopper-Pearson lower bound at `confidence` above `bound`).
double breachProbability(std::size_t n, double rate, double bound, double confidence);

/// Exact probability that a candidate's binomial gate passes (one-sided
/// Clopper-Pearson upper bound at `confidence` below `bound`) for a count of
/// n at true rate `rate`: at rate == bound, the gate's false-GO rate.
double passProbability(std::size_t n, double rate, double bound, double confidence);

}  // namespace cvgate::verdictsim

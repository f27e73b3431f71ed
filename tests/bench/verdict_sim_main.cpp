// verdict-sim: the verdict simulation with enough trials for the README's
// figures. Usage: verdict-sim [MONTHS] [TRIALS] [CANDIDATE_TRIALS] (the last
// defaults to TRIALS). Prints one line per figure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "VerdictSim.h"
#include "stats/Stats.h"

using namespace cvgate;
using namespace cvgate::verdictsim;

int main(int argc, char** argv) {
  const int months = argc > 1 ? std::atoi(argv[1]) : 200;
  const int trials = argc > 2 ? std::atoi(argv[2]) : 400;
  const int candidateTrials = argc > 3 ? std::atoi(argv[3]) : trials;
  const Settings s = defaultSettings();
  const double conf = s.decision.breachConfidence;
  std::mt19937_64 rng(20261130);
  auto ci = [](int k, int n) { return stats::clopperPearson(static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n), 0.95); };

  std::printf("settings: %zu requests per latency run at %.0f/s, %zu evaluation images, rollback after %d "
              "breaching cycles in a row at %.0f %% one-sided, %d cycles per month\n",
              s.latencyRequests, s.objectives.minThroughputRps, s.complianceN, s.decision.consecutiveFailsForRollback,
              100 * conf, s.cyclesPerMonth);
  // Exact, per gate at its objective.
  const double p95 = breachProbability(s.latencyRequests, 0.05, 0.05, conf);
  const double err = breachProbability(s.latencyRequests, 0.01, 0.01, conf);
  const double comp = breachProbability(s.complianceN, 0.01, 0.01, conf);
  double none = 1;
  for (double p : {p95, err, comp}) none *= 1 - probRunWithin(p, s.decision.consecutiveFailsForRollback, s.cyclesPerMonth);
  std::printf("exact: per-cycle breach at the objective: p95 %.2e, latency errors %.2e, compliance errors %.2e; "
              "false ROLLBACK per month %.2e (target < 1e-2)\n", p95, err, comp, 1 - none);
  std::printf("exact: a candidate with its error rate at the objective passes that gate with probability %.2e in "
              "the latency run and %.2e in the evaluation (alpha %.0f %%)\n",
              passProbability(s.latencyRequests, s.objectives.maxErrorRate, s.objectives.maxErrorRate, s.objectives.confidence),
              passProbability(s.complianceN, s.objectives.maxErrorRate, s.objectives.maxErrorRate, s.objectives.confidence),
              100 * (1 - s.objectives.confidence));
  std::printf("exact: old rule (1 cycle at 95 %%, 800 requests, true error rate 0.9 %%): P(ROLLBACK) per day %.3f\n",
              probRunWithin(breachProbability(800, 0.009, 0.01, 0.95), 1, 24));

  struct Scenario {
    const char* name;
    ProductionTruth t;
  };
  ProductionTruth boundary;
  boundary.p95Ms = 500;
  boundary.errorRate = 0.01;
  boundary.complianceErrorRate = 0.01;
  ProductionTruth typical;
  for (const auto& sc : {Scenario{"every gate at its objective", boundary}, Scenario{"typical healthy", typical}}) {
    const auto t0 = std::chrono::steady_clock::now();
    int k = 0;
    for (int m = 0; m < months; ++m) k += simulateMonth(sc.t, s, rng).rolledBack ? 1 : 0;
    const auto c = ci(k, months);
    std::printf("monte carlo: %s: %d of %d months rolled back (%.2f %%, 95 %% CI %.2f-%.2f %%) in %.0f s\n", sc.name,
                k, months, 100.0 * k / months, 100 * c.lo, 100 * c.hi,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  ProductionTruth errors;
  errors.errorRate = 0.03;
  ProductionTruth slow;
  slow.p95Ms = 1000;
  ProductionTruth regressed;
  regressed.compliance = 0.73;
  for (const auto& sc : {Scenario{"error rate 3 %", errors}, Scenario{"P95 at 2x the objective", slow},
                         Scenario{"compliance 0.78 -> 0.73", regressed}}) {
    int within3 = 0, sum = 0, n = 0;
    for (int i = 0; i < trials; ++i) {
      const int c = cyclesToRollback(sc.t, s, rng, 12);
      if (c > 0 && c <= 3) ++within3;
      if (c > 0) sum += c, ++n;
    }
    const auto c = ci(within3, trials);
    std::printf("monte carlo: %s: rolled back within 3 cycles in %d of %d (%.1f %%, 95 %% CI %.1f-%.1f %%), mean %.2f "
                "cycles\n", sc.name, within3, trials, 100.0 * within3 / trials, 100 * c.lo, 100 * c.hi,
                n ? static_cast<double>(sum) / n : 0.0);
  }
  Settings cs = s;
  CandidateTruth good;
  for (const CandidateTruth& c : candidatesAtObjectives(good, s)) {
    int go = 0;
    for (int i = 0; i < candidateTrials; ++i) go += candidateGoes(c, cs, rng) ? 1 : 0;
    const auto k = ci(go, candidateTrials);
    std::printf("monte carlo: candidate with %s: GO in %d of %d (%.1f %%, 95 %% CI %.1f-%.1f %%; alpha %.0f %%)\n",
                c.name.c_str(), go, candidateTrials, 100.0 * go / std::max(candidateTrials, 1), 100 * k.lo, 100 * k.hi,
                100 * (1 - s.objectives.confidence));
  }
  return 0;
}

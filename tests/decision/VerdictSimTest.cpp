// The verdict simulation (VerdictSim.h) with few trials: a healthy production
// at its objectives is rarely rolled back, a real breach is rolled back within
// 3 cycles, and a candidate exactly at an objective rarely goes. The exact
// figures (DP over streaks) are asserted against the targets; the Monte Carlo
// checks that the real policy behaves as the arithmetic says. The bench's
// verdict-sim runs the same with many trials for the README.
#include <gtest/gtest.h>

#include <random>

#include "VerdictSim.h"

using namespace cvgate;
using namespace cvgate::verdictsim;

namespace {

ProductionTruth atTheObjectives() {
  ProductionTruth t;
  t.name = "every production gate at its objective";
  t.p95Ms = 500;
  t.errorRate = 0.01;
  t.complianceErrorRate = 0.01;
  t.compliance = t.blessedCompliance = 0.78;
  return t;
}

}  // namespace

TEST(VerdictSim, ExactFalseRollbackRateOfAHealthyMonthIsBelowOnePercent) {
  const Settings s = defaultSettings();
  ASSERT_EQ(s.decision.consecutiveFailsForRollback, 3);
  const double conf = s.decision.breachConfidence;
  // Per cycle, at the objective: P(breach) of each binomial gate.
  const double p95 = breachProbability(s.latencyRequests, 0.05, 0.05, conf);
  const double err = breachProbability(s.latencyRequests, 0.01, 0.01, conf);
  const double comp = breachProbability(s.complianceN, 0.01, 0.01, conf);
  EXPECT_LT(p95, 0.01);
  EXPECT_LT(err, 0.01);
  // The month: three in a row of the same gate within 720 cycles.
  double none = 1;
  for (double p : {p95, err, comp}) none *= 1 - probRunWithin(p, 3, 720);
  EXPECT_LT(1 - none, 0.01) << "p95 " << p95 << " err " << err << " comp " << comp;
  // The old rule (one cycle at 95 %): a day already rolled back a third of the time.
  EXPECT_GT(probRunWithin(breachProbability(800, 0.009, 0.01, 0.95), 1, 24), 0.2);
}

TEST(VerdictSim, ExactTimeToRollbackOfARealBreachIsThreeCycles) {
  const Settings s = defaultSettings();
  const double conf = s.decision.breachConfidence;
  // Error rate 3 %: each cycle breaches with this probability...
  const double err = breachProbability(s.latencyRequests, 0.03, 0.01, conf);
  // ...so three in a row, starting at the first cycle:
  EXPECT_GT(err * err * err, 0.99) << err;
}

TEST(VerdictSim, HealthyMonthsThroughTheRealPolicyAreNotRolledBack) {
  Settings s = defaultSettings();
  std::mt19937_64 rng(2026);
  const ProductionTruth t = atTheObjectives();
  int rolledBack = 0;
  const int months = 6;
  for (int m = 0; m < months; ++m) rolledBack += simulateMonth(t, s, rng).rolledBack ? 1 : 0;
  // The exact rate is below 1 %; 6 months of 720 cycles without a ROLLBACK
  // is what a working policy shows (the old one: every month).
  EXPECT_EQ(rolledBack, 0);
}

TEST(VerdictSim, RealBreachesAreRolledBackWithinThreeCycles) {
  Settings s = defaultSettings();
  std::mt19937_64 rng(7);
  ProductionTruth errors;
  errors.errorRate = 0.03;
  ProductionTruth slow;
  slow.p95Ms = 1000;
  ProductionTruth regressed;
  regressed.compliance = 0.73;  // blessed 0.78
  for (const auto& t : {errors, slow, regressed})
    for (int trial = 0; trial < 10; ++trial) EXPECT_EQ(cyclesToRollback(t, s, rng, 6), 3) << t.p95Ms << " " << t.errorRate;
}

TEST(VerdictSim, ACandidateExactlyAtAnObjectiveRarelyGoes) {
  Settings s = defaultSettings();
  s.complianceN = 2000;  // smaller than the default to keep the bootstrap cheap here
  s.bootstrapResamples = 400;
  std::mt19937_64 rng(11);
  CandidateTruth good;
  good.name = "good";
  EXPECT_TRUE(candidateGoes(good, s, rng));
  const int trials = 60;
  for (const CandidateTruth& c : candidatesAtObjectives(good, s)) {
    int go = 0;
    for (int i = 0; i < trials; ++i) go += candidateGoes(c, s, rng) ? 1 : 0;
    // alpha = 1 - confidence = 5 %: at most ~3 of 60 expected; 9 would be p < 0.01.
    EXPECT_LE(go, 8) << c.name << ": " << go << " of " << trials << " went";
  }
}

TEST(VerdictSim, ExactFalseGoOfTheErrorRateGatesIsAtMostAlpha) {
  const Settings s = defaultSettings();
  const double alpha = 1 - s.objectives.confidence, bound = s.objectives.maxErrorRate;
  for (std::size_t n : {s.latencyRequests, s.complianceN, std::size_t{800}, std::size_t{20000}}) {
    const double p = passProbability(n, bound, bound, s.objectives.confidence);
    EXPECT_LE(p, alpha) << n;
    EXPECT_GT(p, alpha / 3) << n << ": the gate is far more conservative than its confidence says";
  }
  // 2,000 requests at the objective: GO only with at most 12 errors (the
  // upper bound at 12 is 0.97 %, at 13 it is 1.03 %), P(X <= 12) = 3.83 %.
  EXPECT_NEAR(passProbability(2000, 0.01, 0.01, 0.95), 0.0383, 0.0005);
  // A candidate well inside the objective passes almost surely.
  EXPECT_GT(passProbability(2000, 0.002, 0.01, 0.95), 0.99);
}

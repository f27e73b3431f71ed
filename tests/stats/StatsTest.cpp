// Unit tests for lib/stats: every expected value is either published, computed by
// hand, or recomputed here by brute force without the Boost calls the library uses.
#include "stats/Stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace cvgate::stats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- brute-force binomial, independent of Boost ----------------------------

/// pmf of Binomial(n, p) for k = 0..n, in long double via log-gamma.
std::vector<long double> binomialPmf(std::size_t n, long double p) {
  std::vector<long double> pmf(n + 1);
  const auto N = static_cast<long double>(n);
  for (std::size_t k = 0; k <= n; ++k) {
    const auto K = static_cast<long double>(k);
    const long double logp = std::lgamma(N + 1) - std::lgamma(K + 1) - std::lgamma(N - K + 1) +
                             K * std::log(p) + (N - K) * std::log1p(-p);
    pmf[k] = std::exp(logp);
  }
  return pmf;
}

struct BruteRanks {
  std::size_t lo, hi;
  long double coverage;
};

/// Equal-tailed ranks by summing the pmf: lo = max l with P(B <= l-1) <= a,
/// hi = min u with P(B >= u) <= a.
BruteRanks bruteRanks(std::size_t n, double p, double confidence) {
  const auto pmf = binomialPmf(n, p);
  const long double a = (1.0L - static_cast<long double>(confidence)) / 2.0L;
  std::size_t lo = 0;
  long double below = 0;  // P(B <= l-1)
  for (std::size_t l = 0; l <= n; ++l) {
    if (below <= a) lo = l;
    below += pmf[l];
  }
  std::size_t hi = n + 1;
  long double above = 0;  // P(B >= u)
  for (std::size_t u = n + 1; u >= 1; --u) {
    if (u <= n) above += pmf[u];
    if (above <= a) hi = u;
  }
  long double cov = 0;
  for (std::size_t k = lo; k < hi && k <= n; ++k) cov += pmf[k];
  return {lo, hi, cov};
}

std::vector<double> iota1(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i + 1);
  return v;
}

// ---- quantile CIs -----------------------------------------------------------

TEST(QuantileCI, MedianOf100MatchesTextbookRanks) {
  // Conover, Practical Nonparametric Statistics: n = 100, 95% median CI is [x_(40), x_(61)].
  const auto q = quantileCI(iota1(100), 0.5, 0.95);
  EXPECT_EQ(q.loRank, 40u);
  EXPECT_EQ(q.hiRank, 61u);
  EXPECT_DOUBLE_EQ(q.lo, 40.0);
  EXPECT_DOUBLE_EQ(q.hi, 61.0);
  EXPECT_DOUBLE_EQ(q.value, 50.0);
  EXPECT_TRUE(q.bounded);
  const auto b = bruteRanks(100, 0.5, 0.95);
  EXPECT_EQ(b.lo, 40u);
  EXPECT_EQ(b.hi, 61u);
}

TEST(QuantileCI, MedianOf20MatchesTextbookRanks) {
  const auto q = quantileCI(iota1(20), 0.5, 0.95);
  EXPECT_EQ(q.loRank, 6u);
  EXPECT_EQ(q.hiRank, 15u);
}

TEST(QuantileCI, P95AndP99Of100MatchExactRationalReference) {
  // Ranks computed with exact rational arithmetic (Python fractions) beforehand.
  const auto q95 = quantileCI(iota1(100), 0.95, 0.95);
  EXPECT_EQ(q95.loRank, 90u);
  EXPECT_EQ(q95.hiRank, 100u);
  EXPECT_DOUBLE_EQ(q95.value, 95.0);
  EXPECT_TRUE(q95.bounded);
  const auto q99 = quantileCI(iota1(100), 0.99, 0.95);
  EXPECT_EQ(q99.loRank, 97u);
  EXPECT_EQ(q99.hiRank, 101u);
  EXPECT_FALSE(q99.bounded);
  EXPECT_EQ(q99.hi, kInf);
  EXPECT_DOUBLE_EQ(q99.lo, 97.0);
  const auto q = quantileCI(iota1(1000), 0.95, 0.99);
  EXPECT_EQ(q.loRank, 931u);
  EXPECT_EQ(q.hiRank, 968u);
}

TEST(QuantileCI, RanksAgreeWithBruteForceBinomialSums) {
  const std::vector<std::size_t> sizes = {1, 2, 3, 5, 8, 13, 21, 34, 50, 71, 72, 99, 250, 1000, 5000};
  for (std::size_t n : sizes) {
    const auto x = iota1(n);
    for (double p : {0.05, 0.25, 0.5, 0.9, 0.95, 0.99}) {
      for (double c : {0.8, 0.9, 0.95, 0.99}) {
        const auto q = quantileCI(x, p, c);
        const auto b = bruteRanks(n, p, c);
        SCOPED_TRACE("n=" + std::to_string(n) + " p=" + std::to_string(p) +
                     " c=" + std::to_string(c));
        EXPECT_EQ(q.loRank, b.lo);
        EXPECT_EQ(q.hiRank, b.hi);
        EXPECT_GE(b.coverage, static_cast<long double>(c) - 1e-12L);
        EXPECT_EQ(q.bounded, q.loRank >= 1 && q.hiRank <= n);
        if (q.hiRank <= n) {
          EXPECT_DOUBLE_EQ(q.hi, static_cast<double>(q.hiRank));
        }
        if (q.loRank >= 1) {
          EXPECT_DOUBLE_EQ(q.lo, static_cast<double>(q.loRank));
        }
      }
    }
  }
}

TEST(QuantileCI, PointEstimateIsNearestRank) {
  const auto x = iota1(100);
  EXPECT_DOUBLE_EQ(quantileCI(x, 0.07, 0.95).value, 7.0);   // 0.07*100 is 7.000000000000001
  EXPECT_DOUBLE_EQ(quantileCI(x, 0.951, 0.95).value, 96.0);
  EXPECT_DOUBLE_EQ(quantileCI(x, 0.0, 0.95).value, 1.0);
  EXPECT_DOUBLE_EQ(quantileCI(x, 1.0, 0.95).value, 100.0);
  EXPECT_DOUBLE_EQ(quantileCI({3.0, 9.0}, 0.5, 0.95).value, 3.0);
}

TEST(QuantileCI, EmptyAndInvalidInputsNeverBounded) {
  const auto e = quantileCI({}, 0.95, 0.95);
  EXPECT_TRUE(std::isnan(e.value));
  EXPECT_FALSE(e.bounded);
  EXPECT_EQ(e.hi, kInf);
  EXPECT_EQ(e.lo, -kInf);
  const auto bad = quantileCI(iota1(10), 1.5, 0.95);
  EXPECT_FALSE(bad.bounded);
  EXPECT_TRUE(std::isnan(bad.hi));
  EXPECT_FALSE(quantileCI(iota1(10), 0.5, 1.0).bounded);
}

TEST(QuantileCI, SamplesForUpperBoundMatchesReferenceAndQuantileCI) {
  // Smallest n with p^n <= 0.025, computed exactly with rationals beforehand.
  EXPECT_EQ(samplesForUpperBound(0.95, 0.95), 72u);
  EXPECT_EQ(samplesForUpperBound(0.99, 0.95), 368u);
  EXPECT_EQ(samplesForUpperBound(0.999, 0.95), 3688u);
  for (double p : {0.5, 0.9, 0.95, 0.99}) {
    for (double c : {0.9, 0.95, 0.99}) {
      const std::size_t n = samplesForUpperBound(p, c);
      EXPECT_LE(quantileCI(iota1(n), p, c).hiRank, n);
      EXPECT_EQ(quantileCI(iota1(n - 1), p, c).hiRank, n);  // n-1+1: no upper bound
    }
  }
  EXPECT_EQ(samplesForUpperBound(1.0, 0.95), kSampleCap);
}

/// The observed sample stretched to size N: x_(ceil(n*i/N)) for i = 1..N.
std::vector<double> stretched(const std::vector<double>& x, std::size_t N) {
  std::vector<double> out(N);
  const std::uint64_t n = x.size();
  for (std::uint64_t i = 1; i <= N; ++i) out[i - 1] = x[(n * i + N - 1) / N - 1];
  return out;
}

bool settles(const std::vector<double>& x, double p, double c, double threshold) {
  const auto q = quantileCI(x, p, c);
  return q.hi < threshold || q.lo >= threshold;
}

TEST(SamplesToDecide, AlreadySettledIsZero) {
  const auto x = iota1(100);  // median CI [40, 61]
  EXPECT_EQ(samplesToDecide(x, 0.5, 0.95, 70.0), 0u);  // hi 61 < 70: met
  EXPECT_EQ(samplesToDecide(x, 0.5, 0.95, 30.0), 0u);  // lo 40 >= 30: breached
}

TEST(SamplesToDecide, ProjectsSizeWhereStretchedSampleSettles) {
  const auto x = iota1(100);
  for (double threshold : {55.0, 45.0, 58.0, 42.5}) {
    SCOPED_TRACE(threshold);
    const std::size_t N = samplesToDecide(x, 0.5, 0.95, threshold);
    ASSERT_GT(N, 100u);
    ASSERT_LT(N, kSampleCap);
    EXPECT_TRUE(settles(stretched(x, N), 0.5, 0.95, threshold));
    EXPECT_FALSE(settles(stretched(x, N - 1), 0.5, 0.95, threshold));
  }
  // 55 vs a median of 50 on 1..100: need 1.96*0.5/sqrt(N) ~ 0.04, i.e. N ~ 600.
  const std::size_t N = samplesToDecide(x, 0.5, 0.95, 55.0);
  EXPECT_GT(N, 400u);
  EXPECT_LT(N, 900u);
}

TEST(SamplesToDecide, UpperBoundOfTailQuantileNeedsMoreSamples) {
  // 50 latencies all well below the objective: p95 cannot be bounded until n = 72.
  std::vector<double> x(50, 10.0);
  EXPECT_EQ(samplesToDecide(x, 0.95, 0.95, 500.0), 72u);
}

TEST(SamplesToDecide, ThresholdOnTheQuantileIsCapped) {
  // The empirical median of 1..100 sits on a jump at 50/51: 50.5 is never excluded.
  EXPECT_EQ(samplesToDecide(iota1(100), 0.5, 0.95, 50.5), kSampleCap);
  EXPECT_EQ(samplesToDecide({}, 0.95, 0.95, 1.0), 72u);
  EXPECT_EQ(samplesToDecide(iota1(10), 0.5, 0.95, std::nan("")), kSampleCap);
}

// ---- binomial proportions and paired tests ----------------------------------

TEST(ClopperPearson, PublishedValues) {
  const auto a = clopperPearson(5, 10, 0.95);
  EXPECT_NEAR(a.lo, 0.1870860, 1e-7);
  EXPECT_NEAR(a.hi, 0.8129140, 1e-7);
  const auto z = clopperPearson(0, 10, 0.95);
  EXPECT_EQ(z.lo, 0.0);
  EXPECT_NEAR(z.hi, 0.3084971, 1e-7);
  const auto all = clopperPearson(10, 10, 0.95);
  EXPECT_NEAR(all.lo, 0.6915029, 1e-7);
  EXPECT_EQ(all.hi, 1.0);
  const auto none = clopperPearson(0, 0, 0.95);
  EXPECT_EQ(none.lo, 0.0);
  EXPECT_EQ(none.hi, 1.0);
  EXPECT_TRUE(std::isnan(clopperPearson(11, 10, 0.95).lo));
}

TEST(ClopperPearson, EndsSolveTheBinomialTailEquations) {
  // lo: P(X >= k | lo) = a; hi: P(X <= k | hi) = a, summed by brute force.
  for (auto [k, n] : {std::pair<std::size_t, std::size_t>{3, 20}, {17, 40}, {1, 250}}) {
    const auto ci = clopperPearson(k, n, 0.9);
    const auto lo = binomialPmf(n, ci.lo);
    const auto hi = binomialPmf(n, ci.hi);
    long double upperTail = 0, lowerTail = 0;
    for (std::size_t j = k; j <= n; ++j) upperTail += lo[j];
    for (std::size_t j = 0; j <= k; ++j) lowerTail += hi[j];
    EXPECT_NEAR(static_cast<double>(upperTail), 0.05, 1e-9);
    EXPECT_NEAR(static_cast<double>(lowerTail), 0.05, 1e-9);
  }
}

TEST(ClopperPearson, OneSidedUpper) {
  // k = 0 has the closed form 1 - alpha^(1/n).
  EXPECT_NEAR(clopperPearsonUpper(0, 10, 0.95), 1.0 - std::pow(0.05, 0.1), 1e-12);
  EXPECT_NEAR(clopperPearsonUpper(0, 10, 0.975), 0.3084971, 1e-7);
  EXPECT_NEAR(clopperPearsonUpper(7, 300, 0.975), clopperPearson(7, 300, 0.95).hi, 1e-12);
  EXPECT_EQ(clopperPearsonUpper(4, 4, 0.95), 1.0);
  EXPECT_LT(clopperPearsonUpper(1, 1000, 0.95), 0.01);  // 1 error in 1000 passes a 1% gate
}

TEST(McNemar, ExactValues) {
  EXPECT_DOUBLE_EQ(mcnemarExactP(1, 9), 0.021484375);
  EXPECT_DOUBLE_EQ(mcnemarExactP(9, 1), 0.021484375);
  EXPECT_DOUBLE_EQ(mcnemarExactP(0, 5), 0.0625);
  EXPECT_DOUBLE_EQ(mcnemarExactP(7, 7), 1.0);
  EXPECT_DOUBLE_EQ(mcnemarExactP(0, 0), 1.0);
  const auto pmf = binomialPmf(15, 0.5L);
  long double tail = 0;
  for (int j = 0; j <= 3; ++j) tail += pmf[static_cast<std::size_t>(j)];
  EXPECT_NEAR(mcnemarExactP(3, 12), static_cast<double>(2 * tail), 1e-12);
}

TEST(Holm, KnownVector) {
  const auto adj = holmAdjust({0.01, 0.04, 0.03, 0.005});
  const std::vector<double> expected = {0.03, 0.06, 0.06, 0.02};
  ASSERT_EQ(adj.size(), expected.size());
  for (std::size_t i = 0; i < adj.size(); ++i) EXPECT_NEAR(adj[i], expected[i], 1e-15) << i;
}

TEST(Holm, CapsAtOneAndSkipsNaN) {
  const auto adj = holmAdjust({0.5, std::nan(""), 0.2, 0.9});
  EXPECT_NEAR(adj[2], 0.6, 1e-15);  // m = 3
  EXPECT_DOUBLE_EQ(adj[0], 1.0);
  EXPECT_DOUBLE_EQ(adj[3], 1.0);
  EXPECT_TRUE(std::isnan(adj[1]));
  EXPECT_TRUE(holmAdjust({}).empty());
}

// ---- paired bootstrap --------------------------------------------------------

std::vector<std::uint8_t> bernoulli(std::size_t n, double p, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = u(rng) < p ? 1 : 0;
  return v;
}

TEST(Bootstrap, PointEstimateByHand) {
  const auto e = pairedBootstrapUplift({1, 1, 0, 0}, {1, 1, 1, 0}, 200, 1, 0.95);
  EXPECT_DOUBLE_EQ(e.baseline, 0.5);
  EXPECT_DOUBLE_EQ(e.candidate, 0.75);
  EXPECT_DOUBLE_EQ(e.uplift, 0.5);
  EXPECT_EQ(e.n, 4u);
  EXPECT_GT(e.resamples, 150u);  // those with an all-zero baseline are dropped
  EXPECT_LE(e.resamples, 200u);
  EXPECT_LE(e.lo, e.uplift);
  EXPECT_GE(e.hi, e.uplift);
}

TEST(Bootstrap, DeterministicForASeed) {
  std::mt19937_64 rng(7);
  const auto base = bernoulli(500, 0.6, rng);
  const auto cand = bernoulli(500, 0.7, rng);
  const auto a = pairedBootstrapUplift(base, cand, 1000, 42, 0.95);
  const auto b = pairedBootstrapUplift(base, cand, 1000, 42, 0.95);
  const auto c = pairedBootstrapUplift(base, cand, 1000, 43, 0.95);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_EQ(a.resamples, 1000u);
  EXPECT_TRUE(a.lo != c.lo || a.hi != c.hi);
  EXPECT_LT(a.lo, a.uplift);
  EXPECT_GT(a.hi, a.uplift);
}

TEST(Bootstrap, IdenticalSystemsContainZero) {
  std::mt19937_64 rng(3);
  const auto v = bernoulli(300, 0.8, rng);
  const auto e = pairedBootstrapUplift(v, v, 500, 9, 0.95);
  EXPECT_DOUBLE_EQ(e.uplift, 0.0);
  EXPECT_LE(e.lo, 0.0);
  EXPECT_GE(e.hi, 0.0);
}

TEST(Bootstrap, CoverageIsNearNominal) {
  // Independent baseline (0.5) and candidate (0.6) outcomes: true uplift 0.2.
  std::mt19937_64 rng(11);
  int covered = 0;
  const int trials = 200;
  for (int t = 0; t < trials; ++t) {
    const auto base = bernoulli(400, 0.5, rng);
    const auto cand = bernoulli(400, 0.6, rng);
    const auto e = pairedBootstrapUplift(base, cand, 400, static_cast<std::uint64_t>(t), 0.9);
    if (e.lo <= 0.2 && 0.2 <= e.hi) ++covered;
  }
  const double coverage = static_cast<double>(covered) / trials;
  EXPECT_GT(coverage, 0.82);
  EXPECT_LT(coverage, 0.97);
}

TEST(Bootstrap, MatchesExactBootstrapDistribution) {
  // Baseline always right on 3 items, candidate right on 2: a resample's uplift is
  // (C - 3) / 3 with C ~ Binomial(3, 2/3), i.e. -1, -2/3, -1/3, 0 with mass
  // 1/27, 6/27, 12/27, 8/27. Its 5% and 95% quantiles are -2/3 and 0.
  const auto e = pairedBootstrapUplift({1, 1, 1}, {1, 1, 0}, 10000, 5, 0.9);
  EXPECT_NEAR(e.uplift, -1.0 / 3.0, 1e-15);
  EXPECT_NEAR(e.lo, -2.0 / 3.0, 1e-12);
  EXPECT_NEAR(e.hi, 0.0, 1e-12);
  EXPECT_EQ(e.resamples, 10000u);
}

TEST(Bootstrap, DropsResamplesWithZeroBaseline) {
  // One baseline success in 5 items: a resample misses it with probability 0.8^5.
  const auto e = pairedBootstrapUplift({1, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, 20000, 8, 0.95);
  const double kept = 1.0 - std::pow(0.8, 5);
  const double sd = std::sqrt(kept * (1 - kept) / 20000.0);
  EXPECT_NEAR(static_cast<double>(e.resamples) / 20000.0, kept, 5 * sd);
}

TEST(Bootstrap, AgreesWithDeltaMethodOnALargeSample) {
  // For n large the percentile interval is close to uplift -/+ z * se, where the
  // delta method gives se^2 = (Var C / b^2 + c^2 Var B / b^4 - 2 c Cov / b^3) / n.
  std::mt19937_64 rng(21);
  const std::size_t n = 4000;
  auto base = bernoulli(n, 0.6, rng);
  auto cand = base;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& x : cand) {  // correlated: flip 20% of outcomes, mostly towards right
    const double r = u(rng);
    if (r < 0.15) x = 1;
    else if (r < 0.2) x = 0;
  }
  double b = 0, c = 0, bc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    b += base[i];
    c += cand[i];
    bc += base[i] * cand[i];
  }
  const double N = static_cast<double>(n);
  b /= N;
  c /= N;
  bc /= N;
  const double se = std::sqrt((c * (1 - c) / (b * b) + c * c * b * (1 - b) / (b * b * b * b) -
                               2 * c * (bc - b * c) / (b * b * b)) / N);
  const auto e = pairedBootstrapUplift(base, cand, 4000, 77, 0.95);
  EXPECT_NEAR(e.uplift, c / b - 1, 1e-12);
  EXPECT_NEAR(e.lo, e.uplift - 1.959964 * se, 0.2 * se);
  EXPECT_NEAR(e.hi, e.uplift + 1.959964 * se, 0.2 * se);
}

TEST(Bootstrap, ZeroBaselineIsNaN) {
  const auto e = pairedBootstrapUplift({0, 0, 0}, {1, 0, 1}, 100, 1, 0.95);
  EXPECT_TRUE(std::isnan(e.uplift));
  EXPECT_TRUE(std::isnan(e.lo));
  EXPECT_TRUE(std::isnan(e.hi));
  EXPECT_TRUE(std::isnan(pairedBootstrapUplift({1, 0}, {1}, 100, 1, 0.95).uplift));
  EXPECT_EQ(samplesForUpliftDecision(e, 0.1), kSampleCap);
}

TEST(UpliftDecision, ScalesHalfWidthBySqrtN) {
  UpliftEstimate e{0.5, 0.6, 0.2, 0.05, 0.35, 1000, 2000};
  // Lower half-width 0.15 must shrink to 0.1: n' = 1000 * 1.5^2.
  EXPECT_EQ(samplesForUpliftDecision(e, 0.1), 2250u);
  e.lo = 0.12;
  EXPECT_EQ(samplesForUpliftDecision(e, 0.1), 0u);
  UpliftEstimate f{0.5, 0.5, 0.0, -0.1, 0.15, 1000, 2000};
  // Upper half-width 0.15 must fall below 0.1 to exclude it.
  EXPECT_EQ(samplesForUpliftDecision(f, 0.1), 2250u);
  f.hi = 0.09;
  EXPECT_EQ(samplesForUpliftDecision(f, 0.1), 0u);
  UpliftEstimate g{0.5, 0.55, 0.1, 0.0, 0.2, 1000, 2000};
  EXPECT_EQ(samplesForUpliftDecision(g, 0.1), kSampleCap);
}

// ---- calibration -----------------------------------------------------------

TEST(Calibration, EceAndReliabilityByHand) {
  const std::vector<double> conf = {0.1, 0.2, 0.6, 0.7, 0.9, 1.0};
  const std::vector<std::uint8_t> ok = {0, 0, 1, 0, 1, 1};
  // Bins of width 0.25: |0 - 0.15|*2/6 + |0.5 - 0.65|*2/6 + |1 - 0.95|*2/6 = 0.7/6.
  EXPECT_NEAR(expectedCalibrationError(conf, ok, 4), 0.7 / 6.0, 1e-12);
  const auto curve = reliabilityCurve(conf, ok, 4);
  ASSERT_EQ(curve.size(), 4u);
  EXPECT_EQ(curve[0].count, 2u);
  EXPECT_EQ(curve[1].count, 0u);
  EXPECT_EQ(curve[2].count, 2u);
  EXPECT_EQ(curve[3].count, 2u);  // 1.0 falls in the last bin
  EXPECT_NEAR(curve[2].meanConfidence, 0.65, 1e-12);
  EXPECT_DOUBLE_EQ(curve[2].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(curve[3].lo, 0.75);
  EXPECT_DOUBLE_EQ(curve[3].hi, 1.0);
  EXPECT_TRUE(std::isnan(expectedCalibrationError({}, {}, 10)));
  EXPECT_TRUE(std::isnan(expectedCalibrationError(conf, ok, 0)));
}

TEST(Calibration, PerfectlyCalibratedBinHasZeroError) {
  EXPECT_NEAR(expectedCalibrationError({0.75, 0.75, 0.75, 0.75}, {1, 1, 1, 0}, 10), 0.0, 1e-15);
}

TEST(Calibration, BrierAndNllByHand) {
  const std::vector<std::vector<double>> probs = {{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}};
  const std::vector<int> labels = {0, 2};
  // (0.09 + 0.04 + 0.01 + 0.01 + 0.64 + 0.81) / 2
  EXPECT_NEAR(brierScore(probs, labels), 0.8, 1e-12);
  EXPECT_NEAR(negLogLikelihood(probs, labels), (-std::log(0.7) - std::log(0.1)) / 2.0, 1e-12);
  EXPECT_NEAR(negLogLikelihood({{1.0, 0.0}}, {1}), -std::log(1e-12), 1e-9);
  EXPECT_TRUE(std::isnan(brierScore(probs, {0, 3})));
  EXPECT_TRUE(std::isnan(negLogLikelihood(probs, {0})));
}

// ---- temperature scaling ---------------------------------------------------

TEST(Temperature, SoftmaxWithTemperature) {
  const double l3 = std::log(3.0);
  const auto a = softmaxWithTemperature({{0.0, l3}}, 1.0);
  EXPECT_NEAR(a[0][0], 0.25, 1e-15);
  EXPECT_NEAR(a[0][1], 0.75, 1e-15);
  const auto b = softmaxWithTemperature({{1000.0, 1000.0 + 2 * l3}}, 2.0);  // stable
  EXPECT_NEAR(b[0][0], 0.25, 1e-12);
  EXPECT_NEAR(b[0][1], 0.75, 1e-12);
  EXPECT_TRUE(std::isnan(softmaxWithTemperature({{1.0, 2.0}}, 0.0)[0][0]));
}

/// Logits ~ N(0, 3) over 10 classes, labels drawn from softmax(logits / trueT).
void syntheticLogits(double trueT, std::uint64_t seed, std::vector<std::vector<double>>& logits,
                     std::vector<int>& labels) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 3.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::size_t n = 20000;
  const std::size_t k = 10;
  logits.assign(n, std::vector<double>(k));
  labels.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (auto& v : logits[i]) v = z(rng);
    double m = logits[i][0];
    for (double v : logits[i]) m = std::max(m, v);
    std::vector<double> w(k);
    double sum = 0;
    for (std::size_t j = 0; j < k; ++j) sum += w[j] = std::exp((logits[i][j] - m) / trueT);
    double r = u(rng) * sum;
    std::size_t j = 0;
    while (j + 1 < k && r >= w[j]) r -= w[j++];
    labels[i] = static_cast<int>(j);
  }
}

TEST(Temperature, RecoversKnownTemperature) {
  for (double trueT : {2.0, 0.5}) {
    std::vector<std::vector<double>> logits;
    std::vector<int> labels;
    syntheticLogits(trueT, 123, logits, labels);
    const double T = fitTemperature(logits, labels);
    EXPECT_NEAR(T, trueT, 0.05 * trueT) << "true T " << trueT;
    // The fit must not be worse than the truth on its own data.
    EXPECT_LE(negLogLikelihood(softmaxWithTemperature(logits, T), labels),
              negLogLikelihood(softmaxWithTemperature(logits, trueT), labels) + 1e-9);
  }
  EXPECT_TRUE(std::isnan(fitTemperature({}, {})));
}

// ---- fits and helpers --------------------------------------------------------

TEST(LinearFitTest, ExactOnALine) {
  const std::vector<double> x = {0, 1, 2, 3, 10};
  std::vector<double> y;
  for (double v : x) y.push_back(3.0 * v - 2.0);
  const auto f = linearFit(x, y);
  EXPECT_NEAR(f.slope, 3.0, 1e-12);
  EXPECT_NEAR(f.intercept, -2.0, 1e-12);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
}

TEST(LinearFitTest, NoisyByHand) {
  const auto f = linearFit({1, 2, 3, 4}, {2, 4, 5, 4});
  EXPECT_NEAR(f.slope, 0.7, 1e-12);
  EXPECT_NEAR(f.intercept, 2.0, 1e-12);
  EXPECT_NEAR(f.r2, 2.45 / 4.75, 1e-12);
  EXPECT_TRUE(std::isnan(linearFit({1, 1}, {2, 3}).slope));
  EXPECT_TRUE(std::isnan(linearFit({1}, {2}).slope));
}

TEST(Helpers, MeanStddevMedian) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(mean(v), 5.0);
  EXPECT_NEAR(stddev(v), std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_DOUBLE_EQ(median(v), 4.5);
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_TRUE(std::isnan(mean({})));
  EXPECT_TRUE(std::isnan(stddev({1.0})));
  EXPECT_TRUE(std::isnan(median({})));
}

}  // namespace
}  // namespace cvgate::stats

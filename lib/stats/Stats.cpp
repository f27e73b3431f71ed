#include "stats/Stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/policies/policy.hpp>
#include <boost/math/tools/minima.hpp>

namespace cvgate::stats {
namespace {

namespace bm = boost::math;

// Inputs are validated before any Boost call; should one still be out of domain,
// return NaN instead of throwing through a gate.
using NoThrow = bm::policies::policy<
    bm::policies::domain_error<bm::policies::ignore_error>,
    bm::policies::overflow_error<bm::policies::ignore_error>,
    bm::policies::pole_error<bm::policies::ignore_error>,
    bm::policies::evaluation_error<bm::policies::ignore_error>>;
using Binomial = bm::binomial_distribution<double, NoThrow>;
using Beta = bm::beta_distribution<double, NoThrow>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

bool isOpenUnit(double x) { return x > 0.0 && x < 1.0; }

/// 1-based order-statistic ranks of an equal-tailed interval; lo == 0 and
/// hi == n + 1 mean "no bound on that side".
struct Ranks {
  std::size_t lo;
  std::size_t hi;
};

/// Ranks for n samples at quantile level p with at most `tail` mass in each tail.
Ranks binomialRanks(std::size_t n, double p, double tail) {
  const Binomial b(static_cast<double>(n), p);
  const auto N = static_cast<std::int64_t>(n);
  // Largest x in [-1, n-1] with P(B <= x) <= tail (P(B <= -1) = 0, P(B <= n) = 1).
  std::int64_t good = -1;
  std::int64_t bad = N;
  while (bad - good > 1) {
    const std::int64_t mid = good + (bad - good) / 2;
    if (bm::cdf(b, static_cast<double>(mid)) <= tail) {
      good = mid;
    } else {
      bad = mid;
    }
  }
  const auto lo = static_cast<std::size_t>(good + 1);
  // Smallest y in [0, n] with P(B > y) <= tail (P(B > n) = 0, P(B > -1) = 1).
  std::int64_t ok = N;
  std::int64_t notOk = -1;
  while (ok - notOk > 1) {
    const std::int64_t mid = notOk + (ok - notOk) / 2;
    if (bm::cdf(bm::complement(b, static_cast<double>(mid))) <= tail) {
      ok = mid;
    } else {
      notOk = mid;
    }
  }
  return Ranks{lo, static_cast<std::size_t>(ok + 1)};
}

/// True when n samples are enough for an upper rank to exist: P(B >= n) <= tail.
bool upperBoundExists(std::size_t n, double p, double tail) {
  if (n == 0) return false;
  const Binomial b(static_cast<double>(n), p);
  return bm::cdf(bm::complement(b, static_cast<double>(n - 1))) <= tail;
}

/// Nearest rank ceil(p * n), 1-based, clamped to [1, n]. A relative slack of 1e-12
/// keeps representation error (0.07 * 100 = 7.000000000000001) from adding a rank.
std::size_t nearestRank(double p, std::size_t n) {
  const double x = p * static_cast<double>(n);
  const double r = std::ceil(x - x * 1e-12);
  if (r < 1.0) return 1;
  if (r >= static_cast<double>(n)) return n;
  return static_cast<std::size_t>(r);
}

/// Linear-interpolation (type 7) quantile of ascending, non-empty values.
double interpolatedQuantile(const std::vector<double>& sorted, double q) {
  const double h = q * static_cast<double>(sorted.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(h));
  if (i + 1 >= sorted.size()) return sorted.back();
  const double frac = h - static_cast<double>(i);
  return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

/// Unbiased uniform draw in [0, n) from mt19937_64, defined here rather than by
/// std::uniform_int_distribution so a seed gives the same draws on every library.
std::uint64_t drawIndex(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = (~n + 1) % n;  // 2^64 mod n
  for (;;) {
    const std::uint64_t r = rng();
    if (r >= limit) return r % n;
  }
}

bool labelsValid(const std::vector<std::vector<double>>& rows, const std::vector<int>& labels) {
  if (rows.empty() || rows.size() != labels.size()) return false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= rows[i].size()) return false;
  }
  return true;
}

/// Mean NLL of softmax(logits / T) for labels already validated.
double meanNllAtTemperature(const std::vector<std::vector<double>>& logits,
                            const std::vector<int>& labels, double T) {
  double total = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const auto& z = logits[i];
    const double m = *std::max_element(z.begin(), z.end()) / T;
    double sum = 0.0;
    for (double v : z) sum += std::exp(v / T - m);
    total += m + std::log(sum) - z[static_cast<std::size_t>(labels[i])] / T;
  }
  return total / static_cast<double>(logits.size());
}

}  // namespace

// ---------------------------------------------------------------------------

QuantileEstimate quantileCI(const std::vector<double>& sortedSamples, double p,
                            double confidence) {
  const std::size_t n = sortedSamples.size();
  QuantileEstimate e{p, kNaN, -kInf, kInf, false, n, 0, n + 1};
  if (!(p >= 0.0 && p <= 1.0) || !isOpenUnit(confidence)) {
    e.lo = kNaN;
    e.hi = kNaN;
    return e;
  }
  if (n == 0) return e;
  e.value = sortedSamples[nearestRank(p, n) - 1];
  const Ranks r = binomialRanks(n, p, (1.0 - confidence) / 2.0);
  e.loRank = r.lo;
  e.hiRank = r.hi;
  if (r.lo >= 1) e.lo = sortedSamples[r.lo - 1];
  if (r.hi <= n) e.hi = sortedSamples[r.hi - 1];
  e.bounded = r.lo >= 1 && r.hi <= n;
  return e;
}

std::size_t samplesForUpperBound(double p, double confidence) {
  if (!isOpenUnit(p) || !isOpenUnit(confidence)) return kSampleCap;
  const double tail = (1.0 - confidence) / 2.0;
  // p^n <= tail in closed form, then settled against the very test quantileCI uses.
  const double guess = std::ceil(std::log(tail) / std::log(p));
  if (!(guess < static_cast<double>(kSampleCap))) return kSampleCap;
  auto n = static_cast<std::size_t>(std::max(1.0, guess));
  while (n > 1 && upperBoundExists(n - 1, p, tail)) --n;
  while (!upperBoundExists(n, p, tail)) {
    if (++n >= kSampleCap) return kSampleCap;
  }
  return n;
}

std::size_t samplesToDecide(const std::vector<double>& sorted, double p, double confidence,
                            double threshold) {
  if (!isOpenUnit(p) || !isOpenUnit(confidence) || std::isnan(threshold)) return kSampleCap;
  const std::size_t n = sorted.size();
  if (n == 0) return samplesForUpperBound(p, confidence);
  const double tail = (1.0 - confidence) / 2.0;
  // Order statistic `rank` of a size-N sample drawn as the observed one stays:
  // the empirical quantile at rank / N, i.e. x_(ceil(n * rank / N)).
  auto projected = [&](std::size_t rank, std::size_t N) {
    const std::uint64_t num = static_cast<std::uint64_t>(n) * rank;
    std::uint64_t r = (num + N - 1) / N;
    r = std::clamp<std::uint64_t>(r, 1, n);
    return sorted[static_cast<std::size_t>(r - 1)];
  };
  auto decided = [&](std::size_t N) {
    const Ranks r = binomialRanks(N, p, tail);
    const double hi = r.hi <= N ? projected(r.hi, N) : kInf;
    const double lo = r.lo >= 1 ? projected(r.lo, N) : -kInf;
    return hi < threshold || lo >= threshold;
  };
  if (decided(n)) return 0;
  if (n >= kSampleCap) return kSampleCap;
  // Bracket by doubling, then bisect to the first decided size after an undecided one.
  std::size_t lo = n;
  std::size_t hi = n;
  for (;;) {
    hi = std::min(kSampleCap, hi * 2);
    if (decided(hi)) break;
    if (hi == kSampleCap) return kSampleCap;
    lo = hi;
  }
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (decided(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

// ---------------------------------------------------------------------------

Interval clopperPearson(std::uint64_t k, std::uint64_t n, double confidence) {
  if (k > n || !isOpenUnit(confidence)) return Interval{kNaN, kNaN};
  const double tail = (1.0 - confidence) / 2.0;
  const auto K = static_cast<double>(k);
  const auto N = static_cast<double>(n);
  const double lo = k == 0 ? 0.0 : bm::quantile(Beta(K, N - K + 1.0), tail);
  const double hi = k == n ? 1.0 : bm::quantile(bm::complement(Beta(K + 1.0, N - K), tail));
  return Interval{lo, hi};
}

double clopperPearsonUpper(std::uint64_t k, std::uint64_t n, double confidence) {
  if (k > n || !isOpenUnit(confidence)) return kNaN;
  if (k == n) return 1.0;
  const auto K = static_cast<double>(k);
  const auto N = static_cast<double>(n);
  return bm::quantile(bm::complement(Beta(K + 1.0, N - K), 1.0 - confidence));
}

double clopperPearsonLower(std::uint64_t k, std::uint64_t n, double confidence) {
  if (k > n || !isOpenUnit(confidence)) return kNaN;
  if (k == 0) return 0.0;
  const auto K = static_cast<double>(k);
  const auto N = static_cast<double>(n);
  return bm::quantile(Beta(K, N - K + 1.0), 1.0 - confidence);
}

namespace {
/// Wilson score interval of k/n with normal quantile z.
Interval wilson(double k, double n, double z) {
  const double p = k / n, z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return Interval{std::max(0.0, centre - half), std::min(1.0, centre + half)};
}
}  // namespace

Interval proportionDifference(std::uint64_t k1, std::uint64_t n1, std::uint64_t k2, std::uint64_t n2,
                              double confidence) {
  if (n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 || !isOpenUnit(confidence)) return Interval{kNaN, kNaN};
  const double z = bm::quantile(bm::normal_distribution<double>(), 1.0 - (1.0 - confidence) / 2.0);
  const double N1 = static_cast<double>(n1), N2 = static_cast<double>(n2);
  const double p1 = static_cast<double>(k1) / N1, p2 = static_cast<double>(k2) / N2;
  const Interval w1 = wilson(static_cast<double>(k1), N1, z), w2 = wilson(static_cast<double>(k2), N2, z);
  const double d = p2 - p1;
  return Interval{d - std::sqrt((p2 - w2.lo) * (p2 - w2.lo) + (w1.hi - p1) * (w1.hi - p1)),
                  d + std::sqrt((w2.hi - p2) * (w2.hi - p2) + (p1 - w1.lo) * (p1 - w1.lo))};
}

double mcnemarExactP(std::uint64_t b, std::uint64_t c) {
  const std::uint64_t n = b + c;
  if (n == 0) return 1.0;
  const Binomial bin(static_cast<double>(n), 0.5);
  return std::min(1.0, 2.0 * bm::cdf(bin, static_cast<double>(std::min(b, c))));
}

std::vector<double> holmAdjust(const std::vector<double>& p) {
  std::vector<double> out(p.size(), kNaN);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  const std::size_t m = order.size();
  double running = 0.0;
  for (std::size_t j = 0; j < m; ++j) {
    const double adj = std::min(1.0, static_cast<double>(m - j) * p[order[j]]);
    running = std::max(running, adj);
    out[order[j]] = running;
  }
  return out;
}

// ---------------------------------------------------------------------------

UpliftEstimate pairedBootstrapUplift(const std::vector<std::uint8_t>& baselineOk,
                                     const std::vector<std::uint8_t>& candidateOk,
                                     std::size_t resamples, std::uint64_t seed,
                                     double confidence) {
  UpliftEstimate e{kNaN, kNaN, kNaN, kNaN, kNaN, 0, 0};
  if (baselineOk.empty() || baselineOk.size() != candidateOk.size()) return e;
  const std::size_t n = baselineOk.size();
  e.n = n;
  std::size_t sumBase = 0;
  std::size_t sumCand = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sumBase += baselineOk[i] != 0 ? 1U : 0U;
    sumCand += candidateOk[i] != 0 ? 1U : 0U;
  }
  e.baseline = static_cast<double>(sumBase) / static_cast<double>(n);
  e.candidate = static_cast<double>(sumCand) / static_cast<double>(n);
  if (sumBase == 0) return e;
  e.uplift = (static_cast<double>(sumCand) - static_cast<double>(sumBase)) /
             static_cast<double>(sumBase);
  if (!isOpenUnit(confidence) || resamples == 0) return e;

  std::mt19937_64 rng(seed);
  std::vector<double> uplifts;
  uplifts.reserve(resamples);
  for (std::size_t r = 0; r < resamples; ++r) {
    std::size_t b = 0;
    std::size_t c = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto j = static_cast<std::size_t>(drawIndex(rng, n));
      b += baselineOk[j] != 0 ? 1U : 0U;
      c += candidateOk[j] != 0 ? 1U : 0U;
    }
    if (b == 0) continue;
    uplifts.push_back((static_cast<double>(c) - static_cast<double>(b)) / static_cast<double>(b));
  }
  e.resamples = uplifts.size();
  if (uplifts.empty()) return e;
  std::sort(uplifts.begin(), uplifts.end());
  const double tail = (1.0 - confidence) / 2.0;
  e.lo = interpolatedQuantile(uplifts, tail);
  e.hi = interpolatedQuantile(uplifts, 1.0 - tail);
  return e;
}

std::size_t samplesForUpliftDecision(const UpliftEstimate& e, double objective) {
  if (std::isnan(e.uplift) || std::isnan(e.lo) || std::isnan(e.hi) || std::isnan(objective) ||
      e.n == 0) {
    return kSampleCap;
  }
  if (e.lo >= objective || e.hi < objective) return 0;
  double halfWidth = 0.0;
  double gap = 0.0;
  if (e.uplift > objective) {
    halfWidth = e.uplift - e.lo;  // the lower end has to rise above the objective
    gap = e.uplift - objective;
  } else if (e.uplift < objective) {
    halfWidth = e.hi - e.uplift;  // the upper end has to fall below it
    gap = objective - e.uplift;
  } else {
    return kSampleCap;
  }
  const double ratio = halfWidth / gap;
  // Relative slack of 1e-12 so rounding (0.15 / 0.1 = 1.4999...) does not add an item.
  const double exact = static_cast<double>(e.n) * ratio * ratio;
  const double need = std::ceil(exact - exact * 1e-12);
  if (!(need < static_cast<double>(kSampleCap))) return kSampleCap;
  return std::max(e.n + 1, static_cast<std::size_t>(need));
}

// ---------------------------------------------------------------------------

std::vector<ReliabilityBin> reliabilityCurve(const std::vector<double>& confidence,
                                             const std::vector<std::uint8_t>& correct,
                                             int bins) {
  if (bins < 1 || confidence.size() != correct.size()) return {};
  const auto nb = static_cast<std::size_t>(bins);
  std::vector<ReliabilityBin> out(nb);
  std::vector<double> sumConf(nb, 0.0);
  std::vector<std::size_t> sumOk(nb, 0);
  for (std::size_t b = 0; b < nb; ++b) {
    out[b].lo = static_cast<double>(b) / static_cast<double>(bins);
    out[b].hi = static_cast<double>(b + 1) / static_cast<double>(bins);
    out[b].count = 0;
  }
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    if (!std::isfinite(confidence[i])) continue;
    const double c = std::clamp(confidence[i], 0.0, 1.0);
    const auto b =
        std::min(nb - 1, static_cast<std::size_t>(std::floor(c * static_cast<double>(bins))));
    out[b].count += 1;
    sumConf[b] += c;
    sumOk[b] += correct[i] != 0 ? 1U : 0U;
  }
  for (std::size_t b = 0; b < nb; ++b) {
    const auto cnt = static_cast<double>(out[b].count);
    out[b].meanConfidence = out[b].count == 0 ? 0.0 : sumConf[b] / cnt;
    out[b].accuracy = out[b].count == 0 ? 0.0 : static_cast<double>(sumOk[b]) / cnt;
  }
  return out;
}

double expectedCalibrationError(const std::vector<double>& confidence,
                                const std::vector<std::uint8_t>& correct, int bins) {
  const auto curve = reliabilityCurve(confidence, correct, bins);
  std::size_t total = 0;
  for (const auto& b : curve) total += b.count;
  if (total == 0) return kNaN;
  double ece = 0.0;
  for (const auto& b : curve) {
    ece += static_cast<double>(b.count) / static_cast<double>(total) *
           std::fabs(b.accuracy - b.meanConfidence);
  }
  return ece;
}

double brierScore(const std::vector<std::vector<double>>& probs, const std::vector<int>& labels) {
  if (!labelsValid(probs, labels)) return kNaN;
  double total = 0.0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const auto label = static_cast<std::size_t>(labels[i]);
    for (std::size_t k = 0; k < probs[i].size(); ++k) {
      const double d = probs[i][k] - (k == label ? 1.0 : 0.0);
      total += d * d;
    }
  }
  return total / static_cast<double>(probs.size());
}

double negLogLikelihood(const std::vector<std::vector<double>>& probs,
                        const std::vector<int>& labels) {
  if (!labelsValid(probs, labels)) return kNaN;
  double total = 0.0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const double pr = probs[i][static_cast<std::size_t>(labels[i])];
    total -= std::log(std::max(pr, 1e-12));
  }
  return total / static_cast<double>(probs.size());
}

// ---------------------------------------------------------------------------

double fitTemperature(const std::vector<std::vector<double>>& logits,
                      const std::vector<int>& labels) {
  if (!labelsValid(logits, labels)) return kNaN;
  for (const auto& row : logits) {
    for (double v : row) {
      if (!std::isfinite(v)) return kNaN;
    }
  }
  auto objective = [&](double logT) { return meanNllAtTemperature(logits, labels, std::exp(logT)); };
  // Brent's method cannot resolve a minimum beyond about half the mantissa bits.
  const int bits = std::numeric_limits<double>::digits / 2;
  std::uintmax_t maxIter = 200;
  const auto best = bm::tools::brent_find_minima(objective, std::log(kMinTemperature),
                                                 std::log(kMaxTemperature), bits, maxIter);
  return std::clamp(std::exp(best.first), kMinTemperature, kMaxTemperature);
}

std::vector<std::vector<double>> softmaxWithTemperature(
    const std::vector<std::vector<double>>& logits, double T) {
  std::vector<std::vector<double>> out;
  out.reserve(logits.size());
  for (const auto& z : logits) {
    std::vector<double> row(z.size(), kNaN);
    if (!z.empty() && T > 0.0) {
      const double m = *std::max_element(z.begin(), z.end()) / T;
      double sum = 0.0;
      for (std::size_t k = 0; k < z.size(); ++k) {
        row[k] = std::exp(z[k] / T - m);
        sum += row[k];
      }
      for (double& v : row) v /= sum;
    }
    out.push_back(std::move(row));
  }
  return out;
}

// ---------------------------------------------------------------------------

LinearFit linearFit(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return LinearFit{kNaN, kNaN, kNaN};
  const double mx = mean(x);
  const double my = mean(y);
  double sxx = 0.0;
  double sxy = 0.0;
  double syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx;
    const double dy = y[i] - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (!(sxx > 0.0)) return LinearFit{kNaN, kNaN, kNaN};
  const double slope = sxy / sxx;
  const double intercept = my - slope * mx;
  double ssRes = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - (slope * x[i] + intercept);
    ssRes += r * r;
  }
  const double r2 = syy > 0.0 ? 1.0 - ssRes / syy : 1.0;
  return LinearFit{slope, intercept, r2};
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return kNaN;
  const double m = mean(v);
  double ss = 0.0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

double median(const std::vector<double>& v) {
  if (v.empty()) return kNaN;
  std::vector<double> w(v);
  const std::size_t mid = w.size() / 2;
  std::nth_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(mid), w.end());
  const double upper = w[mid];
  if (w.size() % 2 == 1) return upper;
  const double lower = *std::max_element(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2.0;
}

}  // namespace cvgate::stats

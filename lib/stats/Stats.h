// Statistics shared by every gate: distribution-free quantile intervals,
// binomial intervals, paired tests, bootstrap uplift, calibration, fits.
//
// Conventions, for every function here:
// - `confidence` is a two-sided level in (0, 1), e.g. 0.95, unless a name says
//   "Upper" (one-sided). A two-sided interval at level c has each tail at most
//   (1 - c) / 2, so its upper end alone is a one-sided bound at (1 + c) / 2.
// - No function throws or returns an Error: the inputs are numbers the caller
//   owns. Where an input is outside a documented domain, the result is NaN (or
//   kSampleCap for the sample-size estimators) so that a gate reading it can
//   never mistake it for a pass.
// - "Samples needed" estimates are total sample counts (not additional ones),
//   capped at kSampleCap; the cap means "not reachable at any affordable size".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cvgate::stats {

/// Upper limit of every samples-needed estimate (10 million): returned when the
/// decision cannot be reached by that size, or cannot be estimated at all.
inline constexpr std::size_t kSampleCap = 10'000'000;

/// A closed interval [lo, hi]; an end may be infinite (no bound) or NaN (undefined).
struct Interval {
  double lo;  ///< lower end
  double hi;  ///< upper end
};

// ---------------------------------------------------------------------------
// Quantiles with distribution-free confidence intervals (order statistics).
// ---------------------------------------------------------------------------

/// A sample quantile with its order-statistic confidence interval.
struct QuantileEstimate {
  double p;             ///< the quantile level, e.g. 0.95
  double value;         ///< nearest-rank point estimate x_(ceil(p*n)); NaN when n == 0
  double lo;            ///< x_(loRank), or -inf when no lower bound exists at this n
  double hi;            ///< x_(hiRank), or +inf when no upper bound exists at this n
  bool bounded;         ///< both ends are finite order statistics
  std::size_t n;        ///< number of samples
  std::size_t loRank;   ///< 1-based rank of lo; 0 when there is no lower bound
  std::size_t hiRank;   ///< 1-based rank of hi; n + 1 when there is no upper bound
};

/// Quantile p of ascending `sortedSamples` with an equal-tailed order-statistic CI:
/// loRank = max l with P(B <= l-1) <= a, hiRank = min u with P(B >= u) <= a,
/// B ~ Binomial(n, p), a = (1 - confidence) / 2, so P(l <= B < u) >= confidence.
QuantileEstimate quantileCI(const std::vector<double>& sortedSamples, double p,
                            double confidence);

/// Smallest n at which quantileCI(.., p, confidence) has an upper bound (p^n <= a);
/// kSampleCap when p is outside (0, 1) or the answer exceeds the cap.
std::size_t samplesForUpperBound(double p, double confidence);

/// Total sample count at which quantileCI would settle "quantile < threshold":
/// settled when hi < threshold (met) or lo >= threshold (breached). 0 if already
/// settled; otherwise the projected size, assuming the distribution stays the
/// observed one (the CI ranks for size N are read off the empirical quantile
/// function at rank/N); kSampleCap if not settled by then. With no samples,
/// samplesForUpperBound(p, confidence).
std::size_t samplesToDecide(const std::vector<double>& sorted, double p, double confidence,
                            double threshold);

// ---------------------------------------------------------------------------
// Binomial proportions and paired tests.
// ---------------------------------------------------------------------------

/// Exact two-sided Clopper-Pearson interval for k successes in n trials
/// (k == 0 gives lo = 0, k == n gives hi = 1, n == 0 gives [0, 1]; k > n gives NaN).
Interval clopperPearson(std::uint64_t k, std::uint64_t n, double confidence);

/// Exact one-sided Clopper-Pearson upper bound at `confidence` (1 when k == n; NaN if k > n).
double clopperPearsonUpper(std::uint64_t k, std::uint64_t n, double confidence);

/// Exact one-sided Clopper-Pearson lower bound at `confidence` (0 when k == 0; NaN if k > n).
double clopperPearsonLower(std::uint64_t k, std::uint64_t n, double confidence);

/// Newcombe's hybrid score interval (his method 10, from Wilson intervals) for
/// the difference of two independent proportions, k2/n2 - k1/n1, two-sided at
/// `confidence`. NaN ends when either n is 0.
Interval proportionDifference(std::uint64_t k1, std::uint64_t n1, std::uint64_t k2, std::uint64_t n2,
                              double confidence);

/// Two-sided exact McNemar p-value for b and c discordant pairs:
/// min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c == 0.
double mcnemarExactP(std::uint64_t b, std::uint64_t c);

/// Holm step-down adjusted p-values in input order (monotone, at most 1);
/// NaN entries stay NaN and do not count towards the number of tests.
std::vector<double> holmAdjust(const std::vector<double>& p);

// ---------------------------------------------------------------------------
// Paired bootstrap of relative uplift.
// ---------------------------------------------------------------------------

/// Relative uplift of a candidate over a baseline on the same items, with a CI.
struct UpliftEstimate {
  double baseline;        ///< baseline success fraction
  double candidate;       ///< candidate success fraction
  double uplift;          ///< (candidate - baseline) / baseline; NaN when baseline == 0
  double lo;              ///< percentile-bootstrap lower end; NaN when undefined
  double hi;              ///< percentile-bootstrap upper end; NaN when undefined
  std::size_t n;          ///< number of paired items
  std::size_t resamples;  ///< bootstrap resamples used (those with a nonzero baseline)
};

/// Uplift of candidateOk over baselineOk (nonzero = success), paired by index, with
/// a percentile-bootstrap CI over item indices drawn by std::mt19937_64(seed)
/// (same result on every platform for a seed). Resamples whose baseline is 0 are
/// dropped (they are the extreme upper tail, so the lower end stays conservative).
/// Baseline 0, no items or unequal sizes give NaN uplift and a NaN interval;
/// resamples == 0 or confidence outside (0, 1) give a NaN interval only.
UpliftEstimate pairedBootstrapUplift(const std::vector<std::uint8_t>& baselineOk,
                                     const std::vector<std::uint8_t>& candidateOk,
                                     std::size_t resamples, std::uint64_t seed,
                                     double confidence);

/// Total item count at which the uplift CI would settle "uplift >= objective"
/// (lo >= objective met, hi < objective missed): 0 if already settled, else the
/// observed lower (or upper) half-width scaled by sqrt(n / n'); kSampleCap if
/// the estimate is NaN or the point estimate sits on the objective.
std::size_t samplesForUpliftDecision(const UpliftEstimate& e, double objective);

// ---------------------------------------------------------------------------
// Calibration.
// ---------------------------------------------------------------------------

/// One equal-width confidence bin of a reliability diagram.
struct ReliabilityBin {
  double lo;              ///< lower edge (inclusive)
  double hi;              ///< upper edge (exclusive, except 1.0 in the last bin)
  std::size_t count;      ///< samples in the bin
  double meanConfidence;  ///< mean confidence in the bin; 0 when count == 0
  double accuracy;        ///< fraction correct in the bin; 0 when count == 0
};

/// Expected calibration error over `bins` equal-width bins on [0, 1], weighted by
/// count; confidences are clamped to [0, 1], non-finite ones skipped; NaN when
/// nothing is left, sizes differ or bins < 1.
double expectedCalibrationError(const std::vector<double>& confidence,
                                const std::vector<std::uint8_t>& correct, int bins);

/// The bins behind expectedCalibrationError, all `bins` of them, empty ones included
/// (empty when sizes differ or bins < 1).
std::vector<ReliabilityBin> reliabilityCurve(const std::vector<double>& confidence,
                                             const std::vector<std::uint8_t>& correct,
                                             int bins);

/// Multi-class Brier score: mean over samples of sum_k (p_k - [k == label])^2;
/// NaN when empty, sizes differ or a label is out of range.
double brierScore(const std::vector<std::vector<double>>& probs, const std::vector<int>& labels);

/// Mean negative log-likelihood of the labels, probabilities clamped to >= 1e-12;
/// NaN when empty, sizes differ or a label is out of range.
double negLogLikelihood(const std::vector<std::vector<double>>& probs,
                        const std::vector<int>& labels);

// ---------------------------------------------------------------------------
// Temperature scaling.
// ---------------------------------------------------------------------------

/// Lower end of the temperature search range.
inline constexpr double kMinTemperature = 0.05;
/// Upper end of the temperature search range.
inline constexpr double kMaxTemperature = 20.0;

/// Temperature T in [0.05, 20] minimising mean NLL of softmax(logits / T) (Brent's
/// method on log T); NaN when empty, sizes differ or a label is out of range.
double fitTemperature(const std::vector<std::vector<double>>& logits,
                      const std::vector<int>& labels);

/// Row-wise softmax(logits / T), computed stably (max subtracted); NaN rows unless T > 0.
std::vector<std::vector<double>> softmaxWithTemperature(
    const std::vector<std::vector<double>>& logits, double T);

// ---------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------

/// Least-squares line y = slope * x + intercept with its coefficient of determination.
struct LinearFit {
  double slope;      ///< dy/dx
  double intercept;  ///< y at x = 0
  double r2;         ///< 1 - SS_res / SS_tot; 1 when y is constant and fitted exactly
};

/// Ordinary least squares of y on x; all NaN when sizes differ, n < 2 or x is constant.
LinearFit linearFit(const std::vector<double>& x, const std::vector<double>& y);

/// Arithmetic mean; NaN when empty.
double mean(const std::vector<double>& v);

/// Sample standard deviation (n - 1 denominator); NaN when n < 2.
double stddev(const std::vector<double>& v);

/// Median (mean of the two middle values for even n); NaN when empty.
double median(const std::vector<double>& v);

}  // namespace cvgate::stats

// Compliance metrics of DESIGN.md section 7, computed from what the models
// answered on labelled images: compliance / conflict / abstain at the
// operating threshold, calibration (ECE, Brier, NLL, temperature), the paired
// comparison of a candidate with the baseline (bootstrap uplift, McNemar,
// per-class deltas with Holm), regressions, and the checks decide reads.
// No torch and no files here: everything is a function of its arguments.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report/Report.h"
#include "stats/Stats.h"

namespace cvgate::compliance {

/// One model's answer on one image, in the label space of the evaluation
/// (index i = the i-th name of the label list both models share).
struct Answer {
  bool ok = false;                 ///< false: the request failed (error says why)
  int top1 = -1;                   ///< predicted label index
  double confidence = 0;           ///< probability of top1
  std::vector<double> probs;       ///< probabilities, one per label
  std::vector<double> logits;      ///< logits (log-probabilities for models that output probabilities)
  std::string error;               ///< why the request failed
};

/// Disjoint calibration and evaluation sets of sample indices, each in the
/// order of the samples' keys (bytewise): the order every per-sample
/// statistic (the bootstrap's resampling among them) is computed in, so that
/// the same images in any layout give the same figures.
struct Split {
  std::vector<std::size_t> calibration;  ///< used to fit the temperature only
  std::vector<std::size_t> evaluation;   ///< every reported metric is on these
};

/// What a sample's key and the seed decide about it, and nothing else
/// (docs/data.md, "Sample identity"): two numbers from
/// sha256("cvgate.sample/1\n<seed>\n<key>"), its first 8 bytes (`split`) and
/// its next 8 (`order`), big-endian.
struct KeyDraw {
  std::uint64_t split = 0;         ///< the sample calibrates when split / 2^64 < fraction
  std::uint64_t order = 0;         ///< its place in the evaluation order
};
KeyDraw drawForKey(const std::string& key, std::uint64_t seed);

/// The order samples are evaluated in: by their `order` draw (ties by key).
/// A budget evaluates a prefix of it, which is a uniform random subset that
/// is the same in every layout. `keys` must be unique.
std::vector<std::size_t> evaluationOrder(const std::vector<std::string>& keys, std::uint64_t seed);

/// Split the samples `used` (indices into `keys`): a sample calibrates when
/// its `split` draw is below fraction * 2^64, so its side depends on its key
/// and the seed only, not on the data set's order or the other samples. When
/// two or more are used and one side came out empty, the sample nearest the
/// cut moves across (each side gets one); a single sample evaluates.
Split makeSplit(const std::vector<std::string>& keys, const std::vector<std::size_t>& used, double fraction,
                std::uint64_t seed);

/// The split scheme a blessed figure was measured under; older figures (a
/// shuffle of enumeration indices) have none, a key mismatch: re-baselined.
inline constexpr const char* kSplitScheme = "key-sha256/1";

/// Per-label figures of one model on the evaluation split.
struct ClassMetrics {
  std::string label;
  std::size_t n = 0;               ///< evaluation images of this label
  std::size_t predicted = 0;       ///< answers (ok) with this top-1
  std::size_t correct = 0;         ///< images of this label with top-1 right
  std::size_t compliant = 0;       ///< images of this label complying
  double precision = 0;            ///< correct / predicted (NaN when never predicted)
  double recall = 0;               ///< correct / n (NaN when n == 0)
  double compliance = 0;           ///< compliant / n (NaN when n == 0)
};

/// One model on the evaluation split (see DESIGN.md section 7).
struct SubjectMetrics {
  std::size_t n = 0;               ///< evaluation images
  std::size_t errors = 0;          ///< failed requests (count as neither complying nor conflicting)
  std::size_t compliant = 0;       ///< top-1 right, confidence >= threshold
  std::size_t conflict = 0;        ///< top-1 wrong, confidence >= threshold
  std::size_t abstain = 0;         ///< answered, confidence < threshold
  std::size_t correct = 0;         ///< top-1 right, any confidence
  double accuracy = 0, compliance = 0, conflictRate = 0, abstainRate = 0, errorRate = 0;
  double ece = 0;                  ///< ECE of the answered evaluation images, T = 1
  double eceAfterTemperature = 0;  ///< the same with softmax(logits / temperature)
  double brier = 0, nll = 0;       ///< T = 1
  double brierAfterTemperature = 0, nllAfterTemperature = 0;
  double temperature = 0;          ///< fitted on the calibration split (NaN: nothing to fit on)
  std::size_t calibrationUsed = 0; ///< answered calibration images the fit used
  std::vector<ClassMetrics> perClass;
  std::vector<std::vector<std::size_t>> confusion;  ///< [true][predicted], answered images
  std::vector<stats::ReliabilityBin> reliability;   ///< T = 1
  std::vector<stats::ReliabilityBin> reliabilityAfterTemperature;
  std::vector<std::uint8_t> compliantFlags;         ///< per evaluation image, in split order
  std::vector<std::uint8_t> correctFlags;           ///< per evaluation image, in split order
  std::vector<std::uint8_t> errorFlags;             ///< per evaluation image, in split order
};

/// Everything about one model. `answers` and `labels` are indexed by sample;
/// labels are in [0, labelNames.size()).
SubjectMetrics evaluateSubject(const std::vector<Answer>& answers, const std::vector<int>& labels,
                               const std::vector<std::string>& labelNames, const Split& split,
                               double threshold, int eceBins);

/// Per-label compliance change of the candidate, with McNemar and Holm.
struct ClassDelta {
  std::string label;
  std::size_t n = 0;               ///< evaluation images of this label
  double delta = 0;                ///< candidate compliance - baseline compliance (NaN if n == 0)
  std::uint64_t b = 0, c = 0;      ///< discordant pairs in this class (see PairedMetrics)
  double pValue = 1;               ///< exact McNemar
  double pHolm = 1;                ///< Holm-adjusted over the labels with n > 0
};

/// An image the candidate gets confidently wrong where the baseline was right.
struct Regression {
  std::string key;                 ///< sample key
  std::string id;                  ///< sample id
  std::string label;               ///< true label
  std::string candidateTop1;
  double candidateConfidence = 0;
  std::string baselineTop1;
  double baselineConfidence = 0;
};

/// The candidate against the baseline on the same evaluation images.
struct PairedMetrics {
  stats::UpliftEstimate uplift{};  ///< relative compliance uplift with the bootstrap CI
  std::uint64_t b = 0;             ///< baseline complies, candidate does not
  std::uint64_t c = 0;             ///< candidate complies, baseline does not
  double mcnemarP = 1;             ///< exact two-sided McNemar p-value of (b, c)
  std::vector<ClassDelta> perClass;
  std::vector<Regression> regressions; ///< the first `maxListed`, most confident first
  std::size_t regressionsTotal = 0;
};

PairedMetrics comparePaired(const SubjectMetrics& baseline, const SubjectMetrics& candidate,
                            const std::vector<Answer>& baselineAnswers,
                            const std::vector<Answer>& candidateAnswers,
                            const std::vector<int>& labels, const std::vector<std::string>& keys,
                            const std::vector<std::string>& ids,
                            const std::vector<std::string>& labelNames, const Split& split,
                            double threshold, std::size_t resamples, std::uint64_t seed,
                            double confidence, std::size_t maxListed);

/// One model on one slice's evaluation images.
struct SliceSide {
  std::size_t n = 0, compliant = 0, correct = 0, errors = 0;
};

/// The paired statistics of one slice (a list's slice column: a camera, a
/// site, a time window), on its evaluation images: as for the whole set.
struct SliceMetrics {
  std::string slice;
  std::size_t n = 0;               ///< evaluation images in the slice
  SliceSide baseline, candidate;   ///< candidate: zero when there is none
  bool paired = false;             ///< a candidate was compared
  stats::UpliftEstimate uplift{};  ///< paired bootstrap over the slice's images (seed as the whole set's)
  std::uint64_t b = 0, c = 0;      ///< discordant pairs (see PairedMetrics)
  double mcnemarP = 1;
};

/// Per slice (sorted by name; samples whose slice is "" belong to none). With
/// `candidate` null, the baseline's figures only. `slices` is indexed by sample.
std::vector<SliceMetrics> compareSlices(const SubjectMetrics& baseline, const SubjectMetrics* candidate,
                                        const std::vector<std::string>& slices, const Split& split,
                                        std::size_t resamples, std::uint64_t seed, double confidence);

// ---------------------------------------------------------------------------
// Checks (docs/checks.md).
// ---------------------------------------------------------------------------

/// compliance.uplift (candidate): pass iff CI lo >= objective, fail iff hi <
/// objective, else inconclusive with need.samples (evaluation images) and
/// need.dataset_images (labelled images, calibration share included).
Check upliftCheck(const stats::UpliftEstimate& e, double objective, double confidence,
                  double calibrationFraction);

/// compliance.uplift when no candidate is staged: inconclusive.
Check noCandidateCheck();

/// Total request count at which the one-sided Clopper-Pearson bound settles
/// "error rate < objective" at the observed rate k/n: 0 if settled already,
/// kSampleCap if unreachable.
std::size_t samplesForErrorRateDecision(std::uint64_t k, std::uint64_t n, double objective,
                                        double confidence);

/// compliance.error_rate: pass iff the one-sided CP upper bound < objective,
/// fail iff the one-sided CP lower bound >= objective, else inconclusive.
Check errorRateCheck(const std::string& subject, std::uint64_t errors, std::uint64_t n,
                     double objective, double confidence);

/// What a compliance figure is a figure of: a measurement on other data, at
/// another threshold or on another split is not comparable.
struct BlessingKey {
  std::string datasetSha256;       ///< the data set's content hash
  double threshold = 0;            ///< the operating confidence threshold
  double calibrationFraction = 0;  ///< the split: share held out for calibration
  std::uint64_t seed = 0;          ///< the split's seed
  std::size_t nEval = 0;           ///< evaluation images the configuration selects (before a time budget stops early)
  std::string split = kSplitScheme;///< how samples are split: by their keys (makeSplit)
};
nlohmann::json toJson(const BlessingKey& k);

/// The figure eval-compliance offers as a model's blessed compliance
/// (results.blessing.<role>): {key, compliant, n, rate}. decide records the
/// candidate's when it deploys it, the current model's when it re-baselines.
nlohmann::json blessingJson(const BlessingKey& k, std::size_t compliant, std::size_t n);

/// compliance.regression (current): this cycle's compliance of production
/// (compliant of n) against its blessed figure (`blessed`: the "compliance"
/// object of the registry's blessed record, null when there is none). No
/// figure, or one with another key: inconclusive, detail.rebaseline = true
/// (decide then records this cycle's figure). Otherwise both figures are
/// measurements: fail iff the upper end of the difference's interval
/// (Newcombe, one-sided at `confidence`) is below 0. The detail carries both
/// counts so decide can test at its breach confidence.
Check regressionCheck(std::uint64_t compliant, std::uint64_t n, const nlohmann::json& blessed,
                      const BlessingKey& key, double confidence, const std::string& whyNoFigure);

/// compliance.data (""): every label has >= minPerClass evaluation images.
Check dataCheck(const std::vector<std::string>& labelNames,
                const std::vector<std::size_t>& evalPerClass, std::int64_t minPerClass,
                double calibrationFraction);

/// compliance.class.<slug> (candidate), one per label: inconclusive below
/// minPerClass images; fail when the candidate's compliance drops with a
/// Holm-adjusted McNemar p below 1 - confidence; else pass. Severity "minor".
Check classCheck(const ClassDelta& d, std::int64_t minPerClass, double confidence);

/// "T-shirt/top" -> "t_shirt_top": a label usable inside a check id.
std::string labelSlug(const std::string& label);

/// How slices are judged ([compliance] slice_*).
struct SliceGate {
  bool gated = false;              ///< slice_gate: compliance.slices gates GO
  std::int64_t minSamples = 200;   ///< slice_min_samples
  double minUplift = -0.05;        ///< slice_min_uplift
};

/// compliance.slice.<slug> (candidate), one per slice: inconclusive below
/// minSamples evaluation images (or without a candidate); pass when the
/// uplift's CI lower end >= minUplift (the candidate loses at most that much
/// there); fail when its upper end is below it; else inconclusive with
/// need.samples. Severity "major" when gated, else "minor". `slug` is the id's
/// tail (labelSlug, made unique by the caller).
Check sliceCheck(const SliceMetrics& s, const std::string& slug, const SliceGate& gate, double confidence);

/// compliance.slices (candidate), the gate decide reads: with the gate on, the
/// worst of the slice checks (fail names the failing slices, inconclusive the
/// undecided ones); with it off, pass saying the slices are reported, not
/// gated. Inconclusive without a candidate.
Check slicesCheck(const std::vector<Check>& sliceChecks, const SliceGate& gate, bool haveCandidate);

/// The blessed compliance figure in a verify-env lock (JSON), looked up
/// defensively: baseline_kpis.compliance (a number, or an object with
/// "value"/"rate"), then kpis.compliance. Empty optional with `why` filled when
/// absent or not a fraction in [0, 1].
std::optional<double> blessedCompliance(const nlohmann::json& lock, std::string* why);

// ---------------------------------------------------------------------------
// results JSON.
// ---------------------------------------------------------------------------

nlohmann::json toJson(const SubjectMetrics& m);
nlohmann::json toJson(const PairedMetrics& p, double confidence);
/// results.slices: one object per slice.
nlohmann::json toJson(const std::vector<SliceMetrics>& slices, double confidence);

}  // namespace cvgate::compliance

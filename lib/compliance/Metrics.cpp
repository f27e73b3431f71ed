#include "compliance/Metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "common/Strings.h"

namespace cvgate::compliance {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(std::size_t a, std::size_t b) {
  return b == 0 ? kNaN : static_cast<double>(a) / static_cast<double>(b);
}

/// "+14.2%" for a fraction.
std::string pct(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "n/a";
  return (v >= 0 ? "+" : "") + fmtNum(100.0 * v, decimals) + "%";
}

std::string levelPct(double confidence) { return fmtNum(100.0 * confidence, 0) + "%"; }

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json binsJson(const std::vector<stats::ReliabilityBin>& bins) {
  json a = json::array();
  for (const auto& b : bins)
    a.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count},
                 {"mean_confidence", b.meanConfidence}, {"accuracy", b.accuracy}});
  return a;
}

/// Calibration figures of answered items under temperature T (T = 1: as is).
struct Calib {
  double ece = kNaN, brier = kNaN, nll = kNaN;
  std::vector<stats::ReliabilityBin> bins;
};

Calib calibrate(const std::vector<std::vector<double>>& probs, const std::vector<int>& labels,
                int eceBins) {
  Calib c;
  std::vector<double> conf;
  std::vector<std::uint8_t> correct;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    const auto& p = probs[i];
    auto top = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
    conf.push_back(p.empty() ? kNaN : p[static_cast<std::size_t>(top)]);
    correct.push_back(top == labels[i] ? 1 : 0);
  }
  c.bins = stats::reliabilityCurve(conf, correct, eceBins);
  if (probs.empty()) return c;
  c.ece = stats::expectedCalibrationError(conf, correct, eceBins);
  c.brier = stats::brierScore(probs, labels);
  c.nll = stats::negLogLikelihood(probs, labels);
  return c;
}

}  // namespace

Split makeSplit(std::size_t n, double fraction, std::uint64_t seed) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  // Fisher-Yates with our own unbiased draw so a seed splits alike everywhere.
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i > 1; --i) {
    const std::uint64_t range = i;
    const std::uint64_t limit = (~range + 1) % range;
    std::uint64_t r;
    do r = rng(); while (r < limit);
    std::swap(idx[i - 1], idx[static_cast<std::size_t>(r % range)]);
  }
  auto ncal = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  if (n >= 2) ncal = std::clamp<std::size_t>(ncal, 1, n - 1);
  else ncal = 0;
  Split s;
  s.calibration.assign(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(ncal));
  s.evaluation.assign(idx.begin() + static_cast<std::ptrdiff_t>(ncal), idx.end());
  std::sort(s.calibration.begin(), s.calibration.end());
  std::sort(s.evaluation.begin(), s.evaluation.end());
  return s;
}

SubjectMetrics evaluateSubject(const std::vector<Answer>& answers, const std::vector<int>& labels,
                               const std::vector<std::string>& labelNames, const Split& split,
                               double threshold, int eceBins) {
  const std::size_t k = labelNames.size();
  SubjectMetrics m;
  m.perClass.resize(k);
  for (std::size_t j = 0; j < k; ++j) m.perClass[j].label = labelNames[j];
  m.confusion.assign(k, std::vector<std::size_t>(k, 0));

  std::vector<std::vector<double>> probs, logits;
  std::vector<int> answeredLabels;
  for (std::size_t i : split.evaluation) {
    const Answer& a = answers[i];
    const auto y = static_cast<std::size_t>(labels[i]);
    ++m.n;
    ++m.perClass[y].n;
    if (!a.ok || a.top1 < 0 || static_cast<std::size_t>(a.top1) >= k) {
      ++m.errors;
      m.compliantFlags.push_back(0);
      m.correctFlags.push_back(0);
      continue;
    }
    const auto t = static_cast<std::size_t>(a.top1);
    const bool right = t == y;
    const bool confident = a.confidence >= threshold;
    ++m.confusion[y][t];
    ++m.perClass[t].predicted;
    if (right) {
      ++m.correct;
      ++m.perClass[y].correct;
    }
    if (confident && right) {
      ++m.compliant;
      ++m.perClass[y].compliant;
    } else if (confident) {
      ++m.conflict;
    } else {
      ++m.abstain;
    }
    m.compliantFlags.push_back(confident && right ? 1 : 0);
    m.correctFlags.push_back(right ? 1 : 0);
    probs.push_back(a.probs);
    logits.push_back(a.logits);
    answeredLabels.push_back(labels[i]);
  }
  m.accuracy = ratio(m.correct, m.n);
  m.compliance = ratio(m.compliant, m.n);
  m.conflictRate = ratio(m.conflict, m.n);
  m.abstainRate = ratio(m.abstain, m.n);
  m.errorRate = ratio(m.errors, m.n);
  for (auto& c : m.perClass) {
    c.precision = ratio(c.correct, c.predicted);
    c.recall = ratio(c.correct, c.n);
    c.compliance = ratio(c.compliant, c.n);
  }

  Calib before = calibrate(probs, answeredLabels, eceBins);
  m.ece = before.ece;
  m.brier = before.brier;
  m.nll = before.nll;
  m.reliability = before.bins;

  // Temperature: fitted on the answered calibration images only.
  std::vector<std::vector<double>> calLogits;
  std::vector<int> calLabels;
  for (std::size_t i : split.calibration) {
    if (!answers[i].ok || answers[i].logits.size() != k) continue;
    calLogits.push_back(answers[i].logits);
    calLabels.push_back(labels[i]);
  }
  m.calibrationUsed = calLogits.size();
  m.temperature = calLogits.empty() ? kNaN : stats::fitTemperature(calLogits, calLabels);
  m.eceAfterTemperature = m.brierAfterTemperature = m.nllAfterTemperature = kNaN;
  if (std::isfinite(m.temperature)) {
    Calib after = calibrate(stats::softmaxWithTemperature(logits, m.temperature), answeredLabels, eceBins);
    m.eceAfterTemperature = after.ece;
    m.brierAfterTemperature = after.brier;
    m.nllAfterTemperature = after.nll;
    m.reliabilityAfterTemperature = after.bins;
  }
  return m;
}

PairedMetrics comparePaired(const SubjectMetrics& baseline, const SubjectMetrics& candidate,
                            const std::vector<Answer>& baselineAnswers,
                            const std::vector<Answer>& candidateAnswers,
                            const std::vector<int>& labels, const std::vector<std::string>& ids,
                            const std::vector<std::string>& labelNames, const Split& split,
                            double threshold, std::size_t resamples, std::uint64_t seed,
                            double confidence, std::size_t maxListed) {
  PairedMetrics p;
  p.uplift = stats::pairedBootstrapUplift(baseline.compliantFlags, candidate.compliantFlags,
                                          resamples, seed, confidence);
  const std::size_t k = labelNames.size();
  std::vector<std::uint64_t> bk(k, 0), ck(k, 0), nk(k, 0), baseK(k, 0), candK(k, 0);
  for (std::size_t e = 0; e < split.evaluation.size(); ++e) {
    const std::size_t i = split.evaluation[e];
    const auto y = static_cast<std::size_t>(labels[i]);
    const bool bOk = baseline.compliantFlags[e] != 0, cOk = candidate.compliantFlags[e] != 0;
    ++nk[y];
    baseK[y] += bOk;
    candK[y] += cOk;
    if (bOk && !cOk) { ++p.b; ++bk[y]; }
    if (cOk && !bOk) { ++p.c; ++ck[y]; }
    const Answer& ba = baselineAnswers[i];
    const Answer& ca = candidateAnswers[i];
    if (ba.ok && ba.top1 == labels[i] && ca.ok && ca.top1 != labels[i] &&
        ca.confidence >= threshold) {
      Regression r;
      r.id = ids[i];
      r.label = labelNames[y];
      r.candidateTop1 = labelNames[static_cast<std::size_t>(ca.top1)];
      r.candidateConfidence = ca.confidence;
      r.baselineTop1 = labelNames[static_cast<std::size_t>(ba.top1)];
      r.baselineConfidence = ba.confidence;
      p.regressions.push_back(std::move(r));
    }
  }
  p.mcnemarP = stats::mcnemarExactP(p.b, p.c);
  std::vector<double> pv;
  for (std::size_t j = 0; j < k; ++j) {
    ClassDelta d;
    d.label = labelNames[j];
    d.n = nk[j];
    d.b = bk[j];
    d.c = ck[j];
    d.delta = nk[j] == 0 ? kNaN
                         : (static_cast<double>(candK[j]) - static_cast<double>(baseK[j])) /
                               static_cast<double>(nk[j]);
    d.pValue = nk[j] == 0 ? kNaN : stats::mcnemarExactP(bk[j], ck[j]);
    pv.push_back(d.pValue);
    p.perClass.push_back(d);
  }
  auto holm = stats::holmAdjust(pv);
  for (std::size_t j = 0; j < k; ++j) p.perClass[j].pHolm = holm[j];

  p.regressionsTotal = p.regressions.size();
  std::stable_sort(p.regressions.begin(), p.regressions.end(),
                   [](const Regression& a, const Regression& b) {
                     return a.candidateConfidence > b.candidateConfidence;
                   });
  if (p.regressions.size() > maxListed) p.regressions.resize(maxListed);
  return p;
}

// ---------------------------------------------------------------------------

Check upliftCheck(const stats::UpliftEstimate& e, double objective, double confidence,
                  double calibrationFraction) {
  Check c;
  c.id = "compliance.uplift";
  c.subject = "candidate";
  c.unit = "fraction";
  c.threshold = objective;
  c.value = e.uplift;
  if (std::isfinite(e.lo) && std::isfinite(e.hi)) c.ci = std::make_pair(e.lo, e.hi);
  const std::string figures = "candidate compliance " + fmtNum(e.candidate) + " vs baseline " +
                              fmtNum(e.baseline) + " on " + std::to_string(e.n) + " images";
  if (!std::isfinite(e.uplift) || !std::isfinite(e.lo) || !std::isfinite(e.hi)) {
    c.status = Outcome::Inconclusive;
    c.message = "uplift undefined (" + figures + "; a baseline compliance of 0 has no relative uplift)";
    c.need = {{"samples", stats::kSampleCap}};
    return c;
  }
  const std::string ci = "(" + levelPct(confidence) + " CI " + pct(e.lo) + " to " + pct(e.hi) + ")";
  if (e.lo >= objective) {
    c.status = Outcome::Pass;
    c.message = "uplift " + pct(e.uplift) + " " + ci + " >= " + pct(objective, 0) + ": " + figures;
  } else if (e.hi < objective) {
    c.status = Outcome::Fail;
    c.message = "uplift " + pct(e.uplift) + " " + ci + " < " + pct(objective, 0) + ": " + figures;
  } else {
    c.status = Outcome::Inconclusive;
    std::size_t need = stats::samplesForUpliftDecision(e, objective);
    auto dataset = need >= stats::kSampleCap
                       ? stats::kSampleCap
                       : static_cast<std::size_t>(std::ceil(static_cast<double>(need) / (1.0 - calibrationFraction)));
    c.need = {{"samples", need}, {"dataset_images", dataset}};
    c.message = "uplift " + pct(e.uplift) + " " + ci + " straddles " + pct(objective, 0) + ": " +
                figures + "; about " + std::to_string(need) + " evaluation images would settle it" +
                (need >= stats::kSampleCap ? " (not reachable)" : "");
  }
  return c;
}

Check noCandidateCheck() {
  Check c;
  c.id = "compliance.uplift";
  c.subject = "candidate";
  c.status = Outcome::Inconclusive;
  c.unit = "fraction";
  c.message = "no candidate staged: nothing to compare with the baseline";
  return c;
}

std::size_t samplesForErrorRateDecision(std::uint64_t k, std::uint64_t n, double objective,
                                        double confidence) {
  if (n == 0) {
    // Zero errors expected: the n with (1 - objective)^n <= 1 - confidence.
    double need = std::ceil(std::log(1.0 - confidence) / std::log(1.0 - objective));
    return need >= static_cast<double>(stats::kSampleCap) ? stats::kSampleCap : static_cast<std::size_t>(need);
  }
  const double rate = static_cast<double>(k) / static_cast<double>(n);
  const double twoSided = 2.0 * confidence - 1.0;
  auto settled = [&](std::uint64_t size) {
    auto errs = static_cast<std::uint64_t>(std::llround(rate * static_cast<double>(size)));
    if (rate < objective) return stats::clopperPearsonUpper(errs, size, confidence) < objective;
    return stats::clopperPearson(errs, size, twoSided).lo >= objective;
  };
  if (rate == objective) return stats::kSampleCap;
  if (settled(n)) return 0;
  std::uint64_t lo = n, hi = n;
  while (!settled(hi)) {
    lo = hi;
    hi *= 2;
    if (hi >= stats::kSampleCap) {
      if (!settled(stats::kSampleCap)) return stats::kSampleCap;
      hi = stats::kSampleCap;
      break;
    }
  }
  while (hi - lo > 1) {
    std::uint64_t mid = lo + (hi - lo) / 2;
    (settled(mid) ? hi : lo) = mid;
  }
  return static_cast<std::size_t>(hi);
}

Check errorRateCheck(const std::string& subject, std::uint64_t errors, std::uint64_t n,
                     double objective, double confidence) {
  Check c;
  c.id = "compliance.error_rate";
  c.subject = subject;
  c.unit = "fraction";
  c.threshold = objective;
  if (n == 0) {
    c.status = Outcome::Inconclusive;
    c.message = "no evaluation images";
    c.need = {{"samples", samplesForErrorRateDecision(0, 0, objective, confidence)}};
    return c;
  }
  const double rate = static_cast<double>(errors) / static_cast<double>(n);
  const double upper = stats::clopperPearsonUpper(errors, n, confidence);
  const double lower = stats::clopperPearson(errors, n, 2.0 * confidence - 1.0).lo;
  c.value = rate;
  c.ci = std::make_pair(lower, upper);
  c.detail = {{"errors", errors}, {"n", n}};
  const std::string figures = std::to_string(errors) + " of " + std::to_string(n) +
                              " requests failed (" + fmtNum(100.0 * rate, 2) + "%, one-sided " +
                              levelPct(confidence) + " bounds " + fmtNum(100.0 * lower, 2) + "%.." +
                              fmtNum(100.0 * upper, 2) + "%)";
  if (upper < objective) {
    c.status = Outcome::Pass;
    c.message = figures + " < " + fmtNum(100.0 * objective, 2) + "%";
  } else if (lower >= objective) {
    c.status = Outcome::Fail;
    c.message = figures + " >= " + fmtNum(100.0 * objective, 2) + "%";
  } else {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", samplesForErrorRateDecision(errors, n, objective, confidence)}};
    c.message = figures + ": the bounds straddle " + fmtNum(100.0 * objective, 2) + "%";
  }
  return c;
}

json toJson(const BlessingKey& k) {
  return {{"dataset_sha256", k.datasetSha256}, {"threshold", k.threshold},
          {"calibration_fraction", k.calibrationFraction}, {"seed", k.seed}, {"n_eval", k.nEval}};
}

json blessingJson(const BlessingKey& k, std::size_t compliant, std::size_t n) {
  return {{"key", toJson(k)}, {"compliant", compliant}, {"n", n},
          {"rate", n ? static_cast<double>(compliant) / static_cast<double>(n) : 0.0}};
}

Check regressionCheck(std::uint64_t compliant, std::uint64_t n, const json& blessed, const BlessingKey& key,
                      double confidence, const std::string& whyNoFigure) {
  Check c;
  c.id = "compliance.regression";
  c.subject = "current";
  c.unit = "fraction";
  if (n > 0) {
    c.value = static_cast<double>(compliant) / static_cast<double>(n);
    auto ci = stats::clopperPearson(compliant, n, confidence);
    c.ci = std::make_pair(ci.lo, ci.hi);
  }
  auto rebaseline = [&](const std::string& why) {
    c.status = Outcome::Inconclusive;
    c.message = why + "; this cycle's figure becomes the blessed one";
    c.need = {{"blessed_figure", "recorded by decide from this cycle"}};
    c.detail = {{"rebaseline", true}, {"reason", why}, {"compliant", compliant}, {"n", n}};
  };
  if (!blessed.is_object()) {
    rebaseline(whyNoFigure);
    return c;
  }
  const json want = toJson(key);
  const json have = blessed.contains("key") ? blessed["key"] : json();
  std::vector<std::string> differ;
  for (const auto& [k, v] : want.items())
    if (!have.is_object() || !have.contains(k) || have[k] != v) differ.push_back(k);
  const json bc = blessed.contains("compliant") ? blessed["compliant"] : json();
  const json bn = blessed.contains("n") ? blessed["n"] : json();
  if (!differ.empty() || !bc.is_number_unsigned() || !bn.is_number_unsigned() || bn.get<std::uint64_t>() == 0 ||
      bc.get<std::uint64_t>() > bn.get<std::uint64_t>()) {
    rebaseline(differ.empty() ? "the blessed figure has no usable counts"
                              : "the blessed figure was measured with another " + join(differ, ", ") +
                                    " (a key mismatch: not comparable)");
    return c;
  }
  const auto k1 = bc.get<std::uint64_t>(), n1 = bn.get<std::uint64_t>();
  c.threshold = static_cast<double>(k1) / static_cast<double>(n1);
  c.detail = {{"rebaseline", false}, {"blessed_compliant", k1}, {"blessed_n", n1}, {"compliant", compliant},
              {"n", n}};
  if (n == 0) {
    c.status = Outcome::Inconclusive;
    c.message = "no evaluation images";
    return c;
  }
  const auto diff = stats::proportionDifference(k1, n1, compliant, n, 2.0 * confidence - 1.0);
  c.detail["difference_ci"] = {diff.lo, diff.hi};
  const std::string figures = "production compliance " + fmtNum(*c.value, 4) + " (n " + std::to_string(n) +
                              ") vs blessed " + fmtNum(*c.threshold, 4) + " (n " + std::to_string(n1) +
                              "), difference " + fmtNum(*c.value - *c.threshold, 4) + " (one-sided " +
                              levelPct(confidence) + " bounds " + fmtNum(diff.lo, 4) + ".." + fmtNum(diff.hi, 4) + ")";
  if (diff.hi < 0) {
    c.status = Outcome::Fail;
    c.message = figures + ": significantly below the blessed figure";
  } else {
    c.status = Outcome::Pass;
    c.message = figures + ": no significant drop";
  }
  return c;
}

Check dataCheck(const std::vector<std::string>& labelNames,
                const std::vector<std::size_t>& evalPerClass, std::int64_t minPerClass,
                double calibrationFraction) {
  Check c;
  c.id = "compliance.data";
  c.subject = "";
  c.unit = "images";
  c.threshold = static_cast<double>(minPerClass);
  std::size_t total = 0, least = std::numeric_limits<std::size_t>::max();
  std::vector<std::string> few;
  double worstShare = 1.0;
  for (std::size_t j = 0; j < labelNames.size(); ++j) {
    total += evalPerClass[j];
    least = std::min(least, evalPerClass[j]);
  }
  for (std::size_t j = 0; j < labelNames.size(); ++j) {
    if (static_cast<std::int64_t>(evalPerClass[j]) >= minPerClass) continue;
    few.push_back("'" + labelNames[j] + "' (" + std::to_string(evalPerClass[j]) + ")");
    worstShare = std::min(worstShare, total == 0 ? 0.0 : static_cast<double>(evalPerClass[j]) / static_cast<double>(total));
  }
  c.value = labelNames.empty() ? 0.0 : static_cast<double>(least);
  if (few.empty()) {
    c.status = Outcome::Pass;
    c.message = "every label has at least " + std::to_string(minPerClass) +
                " evaluation images (fewest: " + std::to_string(least) + ")";
    return c;
  }
  c.status = Outcome::Inconclusive;
  std::size_t needEval = stats::kSampleCap;
  if (worstShare > 0) {
    double v = std::ceil(static_cast<double>(minPerClass) / worstShare);
    if (v < static_cast<double>(stats::kSampleCap)) needEval = static_cast<std::size_t>(v);
  }
  std::size_t needData = needEval >= stats::kSampleCap
                             ? stats::kSampleCap
                             : static_cast<std::size_t>(std::ceil(static_cast<double>(needEval) / (1.0 - calibrationFraction)));
  c.need = {{"samples_per_class", minPerClass}, {"samples", needEval}, {"dataset_images", needData}};
  c.message = "labels with fewer than " + std::to_string(minPerClass) +
              " evaluation images (their per-class results are inconclusive): " + join(few, ", ");
  return c;
}

std::string labelSlug(const std::string& label) {
  std::string s;
  for (char ch : label) {
    auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u)) s.push_back(static_cast<char>(std::tolower(u)));
    else if (!s.empty() && s.back() != '_') s.push_back('_');
  }
  while (!s.empty() && s.back() == '_') s.pop_back();
  return s.empty() ? "label" : s;
}

Check classCheck(const ClassDelta& d, std::int64_t minPerClass, double confidence) {
  Check c;
  c.id = "compliance.class." + labelSlug(d.label);
  c.subject = "candidate";
  c.unit = "fraction";
  c.severity = "minor";
  c.value = d.delta;
  c.detail = {{"label", d.label}, {"n", d.n}, {"p_value", num(d.pValue)}, {"p_holm", num(d.pHolm)}};
  const double alpha = 1.0 - confidence;
  if (static_cast<std::int64_t>(d.n) < minPerClass) {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", minPerClass}};
    c.message = "'" + d.label + "': " + std::to_string(d.n) + " evaluation images < " +
                std::to_string(minPerClass) + ": per-class result inconclusive";
    return c;
  }
  const std::string figures = "'" + d.label + "': compliance " +
                              (std::isfinite(d.delta) ? (d.delta >= 0 ? "+" : "") + fmtNum(100.0 * d.delta, 1) + " points" : "n/a") +
                              " (McNemar p " + fmtNum(d.pValue, 4) + ", Holm " + fmtNum(d.pHolm, 4) +
                              ", n " + std::to_string(d.n) + ")";
  if (d.delta < 0 && d.pHolm < alpha) {
    c.status = Outcome::Fail;
    c.message = figures + ": significant drop";
  } else {
    c.status = Outcome::Pass;
    c.message = figures + ": no significant drop";
  }
  return c;
}

std::optional<double> blessedCompliance(const nlohmann::json& lock, std::string* why) {
  auto pick = [](const json& j) -> std::optional<double> {
    if (j.is_number()) return j.get<double>();
    if (j.is_object())
      for (const char* k : {"value", "rate", "compliance"})
        if (j.contains(k) && j[k].is_number()) return j[k].get<double>();
    return std::nullopt;
  };
  std::optional<double> v;
  if (lock.is_object()) {
    for (const char* section : {"baseline_kpis", "kpis"}) {
      auto it = lock.find(section);
      if (it != lock.end() && it->is_object() && it->contains("compliance")) {
        v = pick((*it)["compliance"]);
        if (v) break;
      }
    }
  }
  if (!v) {
    if (why) *why = "the env lock has no blessed compliance figure (baseline_kpis.compliance)";
    return std::nullopt;
  }
  if (!std::isfinite(*v) || *v < 0 || *v > 1) {
    if (why) *why = "the env lock's blessed compliance " + fmtNum(*v) + " is not a fraction in [0, 1]";
    return std::nullopt;
  }
  return v;
}

// ---------------------------------------------------------------------------

json toJson(const SubjectMetrics& m) {
  json perClass = json::array();
  for (const auto& c : m.perClass)
    perClass.push_back({{"label", c.label}, {"n", c.n}, {"precision", num(c.precision)},
                        {"recall", num(c.recall)}, {"compliance", num(c.compliance)}});
  return {{"n", m.n},
          {"accuracy", num(m.accuracy)},
          {"compliance", num(m.compliance)},
          {"conflict", num(m.conflictRate)},
          {"abstain", num(m.abstainRate)},
          {"error_rate", num(m.errorRate)},
          {"errors", m.errors},
          {"counts", {{"compliant", m.compliant}, {"conflict", m.conflict}, {"abstain", m.abstain},
                      {"correct", m.correct}}},
          {"ece", num(m.ece)},
          {"ece_after_temperature", num(m.eceAfterTemperature)},
          {"brier", num(m.brier)},
          {"brier_after_temperature", num(m.brierAfterTemperature)},
          {"nll", num(m.nll)},
          {"nll_after_temperature", num(m.nllAfterTemperature)},
          {"temperature", num(m.temperature)},
          {"calibration_n", m.calibrationUsed},
          {"per_class", perClass},
          {"confusion", m.confusion},
          {"reliability", binsJson(m.reliability)},
          {"reliability_after_temperature", binsJson(m.reliabilityAfterTemperature)}};
}

json toJson(const PairedMetrics& p, double confidence) {
  json perClass = json::array();
  for (const auto& d : p.perClass)
    perClass.push_back({{"label", d.label}, {"n", d.n}, {"delta", num(d.delta)}, {"b", d.b},
                        {"c", d.c}, {"p_value", num(d.pValue)}, {"p_holm", num(d.pHolm)}});
  json regs = json::array();
  for (const auto& r : p.regressions)
    regs.push_back({{"id", r.id}, {"label", r.label}, {"candidate_top1", r.candidateTop1},
                    {"candidate_confidence", r.candidateConfidence},
                    {"baseline_top1", r.baselineTop1},
                    {"baseline_confidence", r.baselineConfidence}});
  return {{"uplift",
           {{"baseline", num(p.uplift.baseline)}, {"candidate", num(p.uplift.candidate)},
            {"uplift", num(p.uplift.uplift)}, {"lo", num(p.uplift.lo)}, {"hi", num(p.uplift.hi)},
            {"confidence", confidence}, {"resamples", p.uplift.resamples}, {"n", p.uplift.n}}},
          {"mcnemar", {{"b", p.b}, {"c", p.c}, {"p_value", num(p.mcnemarP)}}},
          {"per_class_delta", perClass},
          {"regressions", regs},
          {"regressions_total", p.regressionsTotal}};
}

}  // namespace cvgate::compliance

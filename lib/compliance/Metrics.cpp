#include "compliance/Metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "common/Sha256.h"
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

KeyDraw drawForKey(const std::string& key, std::uint64_t seed) {
  const std::string hex = sha256Hex("cvgate.sample/1\n" + std::to_string(seed) + "\n" + key);
  return KeyDraw{std::stoull(hex.substr(0, 16), nullptr, 16), std::stoull(hex.substr(16, 16), nullptr, 16)};
}

std::vector<std::size_t> evaluationOrder(const std::vector<std::string>& keys, std::uint64_t seed) {
  std::vector<std::pair<std::uint64_t, std::size_t>> by(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) by[i] = {drawForKey(keys[i], seed).order, i};
  std::sort(by.begin(), by.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : keys[a.second] < keys[b.second];
  });
  std::vector<std::size_t> out(keys.size());
  for (std::size_t i = 0; i < by.size(); ++i) out[i] = by[i].second;
  return out;
}

Split makeSplit(const std::vector<std::string>& keys, const std::vector<std::size_t>& used, double fraction,
                std::uint64_t seed) {
  // The cut in 64-bit draw space: a sample calibrates when its draw is below it.
  const double f = std::clamp(fraction, 0.0, 1.0);
  const std::uint64_t cut = f >= 1.0 ? std::numeric_limits<std::uint64_t>::max()
                                     : static_cast<std::uint64_t>(std::ldexp(f, 64));
  std::vector<std::pair<std::uint64_t, std::size_t>> cal, eval;
  for (std::size_t i : used) {
    const std::uint64_t u = drawForKey(keys[i], seed).split;
    (u < cut ? cal : eval).emplace_back(u, i);
  }
  // Tiny sets: each side one sample when two or more are used; the sample
  // whose draw is nearest the cut moves, which depends on the keys alone.
  if (used.size() >= 2 && eval.empty()) {
    auto it = std::max_element(cal.begin(), cal.end());
    eval.push_back(*it);
    cal.erase(it);
  } else if (used.size() >= 2 && cal.empty()) {
    auto it = std::min_element(eval.begin(), eval.end());
    cal.push_back(*it);
    eval.erase(it);
  } else if (used.size() == 1 && eval.empty()) {
    eval.swap(cal);
  }
  auto byKey = [&](std::vector<std::pair<std::uint64_t, std::size_t>>& v) {
    std::vector<std::size_t> out;
    for (const auto& p : v) out.push_back(p.second);
    std::sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    return out;
  };
  Split s;
  s.calibration = byKey(cal);
  s.evaluation = byKey(eval);
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
      m.errorFlags.push_back(1);
      continue;
    }
    m.errorFlags.push_back(0);
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
                            const std::vector<int>& labels, const std::vector<std::string>& keys,
                            const std::vector<std::string>& ids,
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
      r.key = keys[i];
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
  // Most confident first; ties in key order (the evaluation order).
  std::stable_sort(p.regressions.begin(), p.regressions.end(),
                   [](const Regression& a, const Regression& b) {
                     return a.candidateConfidence > b.candidateConfidence;
                   });
  if (p.regressions.size() > maxListed) p.regressions.resize(maxListed);
  return p;
}

std::vector<SliceMetrics> compareSlices(const SubjectMetrics& baseline, const SubjectMetrics* candidate,
                                        const std::vector<std::string>& slices, const Split& split,
                                        std::size_t resamples, std::uint64_t seed, double confidence) {
  // Positions in the evaluation split (key order) of each slice's images.
  std::map<std::string, std::vector<std::size_t>> at;
  for (std::size_t e = 0; e < split.evaluation.size(); ++e) {
    const std::string& sl = slices[split.evaluation[e]];
    if (!sl.empty()) at[sl].push_back(e);
  }
  std::vector<SliceMetrics> out;
  for (const auto& [name, pos] : at) {
    SliceMetrics m;
    m.slice = name;
    m.n = pos.size();
    std::vector<std::uint8_t> bOk, cOk;
    auto side = [&](const SubjectMetrics& sm, SliceSide& s, std::vector<std::uint8_t>& ok) {
      for (std::size_t e : pos) {
        ++s.n;
        s.compliant += sm.compliantFlags[e];
        s.correct += sm.correctFlags[e];
        s.errors += sm.errorFlags[e];
        ok.push_back(sm.compliantFlags[e]);
      }
    };
    side(baseline, m.baseline, bOk);
    if (candidate) {
      side(*candidate, m.candidate, cOk);
      m.paired = true;
      m.uplift = stats::pairedBootstrapUplift(bOk, cOk, resamples, seed, confidence);
      for (std::size_t i = 0; i < bOk.size(); ++i) {
        m.b += bOk[i] && !cOk[i];
        m.c += cOk[i] && !bOk[i];
      }
      m.mcnemarP = stats::mcnemarExactP(m.b, m.c);
    }
    out.push_back(std::move(m));
  }
  return out;
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
          {"calibration_fraction", k.calibrationFraction}, {"seed", k.seed}, {"n_eval", k.nEval},
          {"split", k.split}};
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

Check sliceCheck(const SliceMetrics& s, const std::string& slug, const SliceGate& gate, double confidence) {
  Check c;
  c.id = "compliance.slice." + slug;
  c.subject = "candidate";
  c.unit = "fraction";
  c.severity = gate.gated ? "major" : "minor";
  c.threshold = gate.minUplift;
  c.detail = {{"slice", s.slice}, {"n", s.n}, {"gated", gate.gated}, {"b", s.b}, {"c", s.c},
              {"p_value", num(s.mcnemarP)},
              {"current", {{"n", s.baseline.n}, {"compliant", s.baseline.compliant}, {"errors", s.baseline.errors}}}};
  if (s.paired)
    c.detail["candidate"] = {{"n", s.candidate.n}, {"compliant", s.candidate.compliant}, {"errors", s.candidate.errors}};
  const std::string name = "slice '" + s.slice + "'";
  if (!s.paired) {
    c.status = Outcome::Inconclusive;
    c.message = name + ": no candidate staged";
    return c;
  }
  const auto& e = s.uplift;
  if (std::isfinite(e.uplift)) c.value = e.uplift;
  if (std::isfinite(e.lo) && std::isfinite(e.hi)) c.ci = std::make_pair(e.lo, e.hi);
  const std::string figures = "compliance " + fmtNum(e.baseline) + " -> " + fmtNum(e.candidate) + " on " +
                              std::to_string(s.n) + " images, McNemar b " + std::to_string(s.b) + " c " +
                              std::to_string(s.c) + " p " + fmtNum(s.mcnemarP, 4);
  if (static_cast<std::int64_t>(s.n) < gate.minSamples) {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", gate.minSamples - static_cast<std::int64_t>(s.n)}};
    c.message = name + ": " + std::to_string(s.n) + " evaluation images < " + std::to_string(gate.minSamples) +
                " ([compliance] slice_min_samples): " + figures;
    return c;
  }
  if (!std::isfinite(e.uplift) || !std::isfinite(e.lo) || !std::isfinite(e.hi)) {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", stats::kSampleCap}};
    c.message = name + ": uplift undefined (" + figures + "; a baseline compliance of 0 has no relative uplift)";
    return c;
  }
  const std::string ci = "uplift " + pct(e.uplift) + " (" + levelPct(confidence) + " CI " + pct(e.lo) + " to " +
                         pct(e.hi) + ")";
  if (e.lo >= gate.minUplift) {
    c.status = Outcome::Pass;
    c.message = name + ": " + ci + " >= " + pct(gate.minUplift, 0) + ": " + figures;
  } else if (e.hi < gate.minUplift) {
    c.status = Outcome::Fail;
    c.message = name + ": " + ci + " < " + pct(gate.minUplift, 0) + ": the candidate is worse here: " + figures;
  } else {
    c.status = Outcome::Inconclusive;
    const std::size_t need = stats::samplesForUpliftDecision(e, gate.minUplift);
    c.need = {{"samples", need}};
    c.message = name + ": " + ci + " straddles " + pct(gate.minUplift, 0) + ": " + figures + "; about " +
                std::to_string(need) + " evaluation images in this slice would settle it";
  }
  return c;
}

Check slicesCheck(const std::vector<Check>& sliceChecks, const SliceGate& gate, bool haveCandidate) {
  Check c;
  c.id = "compliance.slices";
  c.subject = "candidate";
  c.unit = "slices";
  c.value = static_cast<double>(sliceChecks.size());
  c.detail = {{"gated", gate.gated}, {"slices", sliceChecks.size()}, {"min_samples", gate.minSamples},
              {"min_uplift", gate.minUplift}};
  if (!haveCandidate) {
    c.status = Outcome::Inconclusive;
    c.message = "no candidate staged: no slice to compare";
    return c;
  }
  if (!gate.gated) {
    c.status = Outcome::Pass;
    c.message = sliceChecks.empty() ? "no slices in the data set; [compliance] slice_gate is off"
                                    : std::to_string(sliceChecks.size()) +
                                          " slices reported in results.slices, not gated ([compliance] slice_gate is off)";
    return c;
  }
  std::vector<std::string> failed, open;
  json need = json::object();
  std::size_t needSamples = 0;
  for (const auto& s : sliceChecks) {
    const std::string name = s.detail.value("slice", s.id);
    if (s.status == Outcome::Fail) failed.push_back("'" + name + "'");
    if (s.status == Outcome::Inconclusive) {
      open.push_back("'" + name + "'");
      if (s.need.is_object() && s.need.contains("samples") && s.need["samples"].is_number_unsigned())
        needSamples = std::max<std::size_t>(needSamples, s.need["samples"].get<std::size_t>());
      else if (s.need.is_object() && s.need.contains("samples") && s.need["samples"].is_number_integer())
        needSamples = std::max<std::size_t>(needSamples, static_cast<std::size_t>(std::max<std::int64_t>(0, s.need["samples"].get<std::int64_t>())));
    }
  }
  c.detail["failed"] = failed;
  c.detail["inconclusive"] = open;
  const std::string rule = "each slice's uplift CI lower end >= " + pct(gate.minUplift, 0);
  if (!failed.empty()) {
    c.status = Outcome::Fail;
    c.message = "the candidate is worse on " + std::to_string(failed.size()) + " of " +
                std::to_string(sliceChecks.size()) + " slices: " + join(failed, ", ") + " (" + rule + ")";
  } else if (!open.empty()) {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", needSamples}};
    c.message = std::to_string(open.size()) + " of " + std::to_string(sliceChecks.size()) +
                " slices undecided: " + join(open, ", ") + " (" + rule + ")";
  } else {
    c.status = Outcome::Pass;
    c.message = "every slice (" + std::to_string(sliceChecks.size()) + ") passes: " + rule;
  }
  return c;
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
    regs.push_back({{"key", r.key}, {"id", r.id}, {"label", r.label}, {"candidate_top1", r.candidateTop1},
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

json toJson(const std::vector<SliceMetrics>& slices, double confidence) {
  json a = json::array();
  auto side = [](const SliceSide& s) {
    return json{{"n", s.n}, {"compliant", s.compliant}, {"compliance", num(ratio(s.compliant, s.n))},
                {"accuracy", num(ratio(s.correct, s.n))}, {"errors", s.errors},
                {"error_rate", num(ratio(s.errors, s.n))}};
  };
  for (const auto& m : slices) {
    json j = {{"slice", m.slice}, {"n", m.n}, {"current", side(m.baseline)}};
    if (m.paired) {
      j["candidate"] = side(m.candidate);
      j["uplift"] = {{"baseline", num(m.uplift.baseline)}, {"candidate", num(m.uplift.candidate)},
                     {"uplift", num(m.uplift.uplift)}, {"lo", num(m.uplift.lo)}, {"hi", num(m.uplift.hi)},
                     {"confidence", confidence}, {"resamples", m.uplift.resamples}, {"n", m.uplift.n}};
      j["mcnemar"] = {{"b", m.b}, {"c", m.c}, {"p_value", num(m.mcnemarP)}};
    } else {
      j["candidate"] = nullptr;
      j["uplift"] = nullptr;
      j["mcnemar"] = nullptr;
    }
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace cvgate::compliance

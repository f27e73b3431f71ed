// The compatibility matrix (manifests and modules) and the behavioural
// comparison on the golden set.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/Strings.h"
#include "integration/Integration.h"
#include "stats/Stats.h"

namespace cvgate::integration {

std::string toString(Compat c) {
  switch (c) {
    case Compat::Compatible: return "compatible";
    case Compat::Risky: return "risky";
    case Compat::Breaking: return "breaking";
  }
  return "breaking";
}

namespace {

template <class T>
std::string list(const std::vector<T>& v) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s << ", ";
    if constexpr (std::is_floating_point_v<T>) s << fmtNum(v[i], 4);
    else s << v[i];
  }
  s << "]";
  return s.str();
}

std::string pairStr(int a, int b) { return std::to_string(a) + "x" + std::to_string(b); }

/// Labels rendered short: the count and the first few names.
std::string labelsStr(const std::vector<std::string>& l) {
  std::string s = std::to_string(l.size()) + ": ";
  for (std::size_t i = 0; i < l.size() && i < 4; ++i) s += (i ? "," : "") + l[i];
  if (l.size() > 4) s += ",...";
  return s;
}

MatrixEntry row(std::string aspect, std::string cur, std::string cand, Compat ifDifferent,
                std::string noteIfDifferent) {
  MatrixEntry e;
  e.aspect = std::move(aspect);
  e.same = cur == cand;
  e.current = std::move(cur);
  e.candidate = std::move(cand);
  e.cls = e.same ? Compat::Compatible : ifDifferent;
  e.note = e.same ? "same" : std::move(noteIfDifferent);
  return e;
}

}  // namespace

std::vector<MatrixEntry> compatibilityMatrix(const InterfaceSide& cur, const InterfaceSide& cand) {
  const Manifest& a = cur.manifest;
  const Manifest& b = cand.manifest;
  std::vector<MatrixEntry> m;

  m.push_back(row("manifest.schema", a.schema, b.schema, Compat::Risky,
                  "manifest format changed: readers of the old schema may refuse it"));
  m.push_back(row("model.task", a.task, b.task, Compat::Breaking, "a different task"));
  m.push_back(row("model.name", a.name, b.name, Compat::Compatible, "identity only"));
  m.push_back(row("model.version", a.version, b.version, Compat::Compatible, "identity only"));
  m.push_back(row("input.shape", list(a.inputShape), list(b.inputShape), Compat::Breaking,
                  "a server feeding the current tensor shape sends the wrong input"));
  m.push_back(row("input.dtype", a.dtype, b.dtype, Compat::Breaking, "input dtype changed"));
  m.push_back(row("input.colour", a.colour, b.colour, Compat::Breaking,
                  "colour conversion changed: images decoded for the current model are wrong"));
  m.push_back(row("preprocess.resize", resizeSummary(a), resizeSummary(b), Compat::Risky,
                  "resizing changed: a hard-coded preprocessor feeds other pixels"));
  m.push_back(row("preprocess.crop", pairStr(a.cropH, a.cropW), pairStr(b.cropH, b.cropW), Compat::Risky,
                  "centre crop changed"));
  m.push_back(row("preprocess.channel_order", a.channelOrder, b.channelOrder, Compat::Breaking,
                  "colour planes swapped: images prepared for the current model are wrong"));
  m.push_back(row("preprocess.scale", fmtNum(a.scale, 6), fmtNum(b.scale, 6), Compat::Risky,
                  "pixel scale changed"));
  m.push_back(row("preprocess.mean", list(a.mean), list(b.mean), Compat::Risky,
                  "normalisation changed: a hard-coded preprocessor normalises wrongly"));
  m.push_back(row("preprocess.std", list(a.std), list(b.std), Compat::Risky,
                  "normalisation changed: a hard-coded preprocessor normalises wrongly"));
  m.push_back(row("output.kind", a.output, b.output, Compat::Risky,
                  "logits vs probabilities: a consumer applying softmax itself gets wrong confidences"));
  m.push_back(row("output.arity", std::to_string(a.labels.size()), std::to_string(b.labels.size()),
                  Compat::Breaking, "number of outputs per image changed"));

  // Labels: the set and, separately, the order (a reorder is breaking even
  // with the same names: output index k means another class).
  std::set<std::string> sa(a.labels.begin(), a.labels.end()), sb(b.labels.begin(), b.labels.end());
  {
    MatrixEntry e;
    e.aspect = "labels.set";
    e.current = labelsStr(a.labels);
    e.candidate = labelsStr(b.labels);
    e.same = sa == sb;
    if (e.same) {
      e.cls = Compat::Compatible;
      e.note = "same names";
    } else {
      std::vector<std::string> added, removed;
      for (const auto& l : sb) if (!sa.count(l)) added.push_back(l);
      for (const auto& l : sa) if (!sb.count(l)) removed.push_back(l);
      e.cls = Compat::Breaking;
      e.note = "class names differ";
      if (!added.empty()) e.note += "; added " + join(added, ",");
      if (!removed.empty()) e.note += "; removed " + join(removed, ",");
    }
    m.push_back(e);
  }
  {
    MatrixEntry e;
    e.aspect = "labels.order";
    e.same = a.labels == b.labels;
    std::vector<std::string> moved;
    for (std::size_t i = 0; i < std::min(a.labels.size(), b.labels.size()); ++i)
      if (a.labels[i] != b.labels[i]) moved.push_back(std::to_string(i));
    e.current = e.same ? "same" : "index: name";
    e.candidate = e.same ? "same" : std::to_string(moved.size()) + " indices differ";
    if (e.same) {
      e.cls = Compat::Compatible;
      e.note = "same order";
    } else if (sa == sb) {
      e.cls = Compat::Breaking;
      e.note = "same classes in another order: output index k names another class (indices " +
               join(moved, ",") + ")";
    } else {
      e.cls = Compat::Breaking;
      e.note = "label lists differ (see labels.set)";
    }
    m.push_back(e);
  }

  // TorchScript methods: a method the current module has and the candidate
  // lacks breaks a consumer calling it; extra methods do not.
  {
    MatrixEntry e;
    e.aspect = "module.methods";
    std::vector<std::string> ma = cur.methods, mb = cand.methods;
    std::sort(ma.begin(), ma.end());
    std::sort(mb.begin(), mb.end());
    e.current = list(ma);
    e.candidate = list(mb);
    e.same = ma == mb;
    std::vector<std::string> missing;
    for (const auto& x : ma)
      if (!std::binary_search(mb.begin(), mb.end(), x)) missing.push_back(x);
    bool hasForward = std::binary_search(mb.begin(), mb.end(), std::string("forward"));
    if (!hasForward) {
      e.cls = Compat::Breaking;
      e.note = "the candidate has no forward method";
    } else if (!missing.empty()) {
      e.cls = Compat::Breaking;
      e.note = "methods missing in the candidate: " + join(missing, ",");
    } else {
      e.cls = Compat::Compatible;
      e.note = e.same ? "same" : "candidate adds methods";
    }
    m.push_back(e);
  }
  return m;
}

nlohmann::json toJson(const MatrixEntry& e) {
  return {{"aspect", e.aspect}, {"current", e.current}, {"candidate", e.candidate},
          {"same", e.same},     {"class", toString(e.cls)}, {"note", e.note}};
}

// ---------------------------------------------------------------------------

namespace {

SideBehaviour sideFacts(const GoldenRecord& g, std::size_t expectedWidth) {
  SideBehaviour s;
  s.expectedWidth = expectedWidth;
  bool any = false;
  for (std::size_t i = 0; i < g.ids.size(); ++i) {
    if (!g.errors[i].empty()) {
      ++s.failed;
      if (g.errors[i].find("non-finite") != std::string::npos) ++s.nonFinite;
      if (g.errors[i].find("shape") != std::string::npos) ++s.wrongShape;
      if (s.errors.size() < 5 &&
          std::find(s.errors.begin(), s.errors.end(), g.errors[i]) == s.errors.end())
        s.errors.push_back(g.errors[i]);
      continue;
    }
    const auto& p = g.probs[i];
    if (s.outputWidth < 0) s.outputWidth = static_cast<int>(p.size());
    double sum = 0;
    for (float x : p) sum += static_cast<double>(x);
    double dev = std::fabs(sum - 1.0);
    if (!std::isfinite(dev)) dev = std::numeric_limits<double>::infinity();
    s.probSumMaxDev = any ? std::max(s.probSumMaxDev, dev) : dev;
    any = true;
  }
  if (!any) s.probSumMaxDev = std::numeric_limits<double>::quiet_NaN();
  return s;
}

std::string labelName(const std::vector<std::string>& labels, int k) {
  if (k >= 0 && static_cast<std::size_t>(k) < labels.size()) return labels[static_cast<std::size_t>(k)];
  return "#" + std::to_string(k);
}

nlohmann::json numOrNull(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json toJson(const SideBehaviour& s) {
  return {{"failed", s.failed},
          {"non_finite", s.nonFinite},
          {"wrong_shape", s.wrongShape},
          {"errors", s.errors},
          {"output_width", s.outputWidth < 0 ? nlohmann::json(nullptr) : nlohmann::json(s.outputWidth)},
          {"expected_width", s.expectedWidth},
          {"prob_sum_max_dev", numOrNull(s.probSumMaxDev)}};
}

}  // namespace

Expected<BehaviourResult> compareBehaviour(const GoldenRecord& cur,
                                           const std::vector<std::string>& curLabels,
                                           const GoldenRecord& cand,
                                           const std::vector<std::string>& candLabels,
                                           const std::vector<int>& trueLabels, double confidence) {
  if (cur.ids != cand.ids)
    return internalError("golden records of '" + cur.model + "' and '" + cand.model +
                         "' are of different samples");
  if (trueLabels.size() != cur.ids.size())
    return internalError("golden set: labels and records differ in length");
  BehaviourResult b;
  b.n = cur.ids.size();
  b.current = sideFacts(cur, curLabels.size());
  b.candidate = sideFacts(cand, candLabels.size());
  std::map<int, ClassFlips> byClass;
  for (std::size_t i = 0; i < b.n; ++i) {
    if (!cur.errors[i].empty()) continue;  // nothing to agree with
    ++b.compared;
    bool same = cand.errors[i].empty() &&
                labelName(curLabels, cur.top1[i]) == labelName(candLabels, cand.top1[i]);
    if (same) ++b.agree;
    auto& cf = byClass[trueLabels[i]];
    cf.label = labelName(curLabels, trueLabels[i]);
    ++cf.n;
    if (!same) ++cf.flips;
  }
  for (auto& [k, cf] : byClass) b.perClass.push_back(cf);
  if (b.compared == 0) {
    b.agreement = std::numeric_limits<double>::quiet_NaN();
    b.agreementCi = {0.0, 1.0};
  } else {
    b.agreement = static_cast<double>(b.agree) / static_cast<double>(b.compared);
    auto ci = stats::clopperPearson(b.agree, b.compared, confidence);
    b.agreementCi = {ci.lo, ci.hi};
  }
  return b;
}

nlohmann::json toJson(const BehaviourResult& b) {
  nlohmann::json per = nlohmann::json::array();
  for (const auto& c : b.perClass)
    per.push_back({{"label", c.label}, {"n", c.n}, {"flips", c.flips},
                   {"flip_rate", c.n ? static_cast<double>(c.flips) / static_cast<double>(c.n) : 0.0}});
  return {{"n", b.n},
          {"current", toJson(b.current)},
          {"candidate", toJson(b.candidate)},
          {"compared", b.compared},
          {"agree", b.agree},
          {"top1_agreement", numOrNull(b.agreement)},
          {"top1_agreement_ci", {b.agreementCi.first, b.agreementCi.second}},
          {"flip_rate", b.compared ? numOrNull(1.0 - b.agreement) : nlohmann::json(nullptr)},
          {"per_class", per}};
}

std::size_t samplesToSettleAgreement(double rate, double minimum, double confidence,
                                     std::size_t from) {
  if (!std::isfinite(rate)) return stats::kSampleCap;
  auto settled = [&](std::size_t n) {
    auto k = static_cast<std::uint64_t>(std::llround(rate * static_cast<double>(n)));
    auto ci = stats::clopperPearson(k, n, confidence);
    return ci.lo >= minimum || ci.hi < minimum;
  };
  std::size_t hi = std::max<std::size_t>(from, 1);
  if (settled(hi)) return hi;
  std::size_t lo = hi;
  while (!settled(hi)) {
    lo = hi;
    if (hi >= stats::kSampleCap) return stats::kSampleCap;
    hi = std::min<std::size_t>(hi * 2, stats::kSampleCap);
  }
  while (hi - lo > 1) {  // settled(hi), !settled(lo)
    std::size_t mid = lo + (hi - lo) / 2;
    if (settled(mid)) hi = mid; else lo = mid;
  }
  return hi;
}

}  // namespace cvgate::integration

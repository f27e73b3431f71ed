// Findings from every part, the risk scorecard, and the four checks.
//
// Likelihood: 5 observed on this cycle's data, 4 statistically significant
// evidence, 3 plausible (evidence missing or not settled), 2 possible, 1 rare.
// Impact: 5 wrong answers or failed requests in production, 4 a decision made
// on wrong or absent evidence, 3 degraded quality for some inputs or some
// consumers, 2 minor performance cost, 1 cosmetic.
#include <algorithm>
#include <cmath>

#include "common/Strings.h"
#include "integration/Integration.h"
#include "stats/Stats.h"

namespace cvgate::integration {

namespace {
Finding finding(std::string id, std::string area, std::string title, int l, int i, bool breaking = false) {
  Finding f;
  f.id = std::move(id);
  f.area = std::move(area);
  f.title = std::move(title);
  f.likelihood = l;
  f.impact = i;
  f.breaking = breaking;
  return f;
}
std::string pct(double f) { return fmtNum(100.0 * f, 1) + " %"; }
}  // namespace

std::vector<Finding> interfaceFindings(const std::vector<MatrixEntry>& matrix) {
  std::vector<Finding> out;
  for (const auto& e : matrix) {
    if (e.cls == Compat::Breaking)
      out.push_back(finding("interface." + e.aspect, "interface",
                            e.aspect + " " + e.current + " -> " + e.candidate + ": " + e.note, 5, 5, true));
    else if (e.cls == Compat::Risky)
      out.push_back(finding("interface." + e.aspect, "interface",
                            e.aspect + " " + e.current + " -> " + e.candidate + ": " + e.note, 3, 3));
  }
  return out;
}

std::vector<Finding> behaviourFindings(const BehaviourResult& b, const IntegrationConfig& cfg,
                                       double confidence) {
  std::vector<Finding> out;
  const auto& c = b.candidate;
  if (c.failed > 0) {
    std::string what = c.nonFinite ? std::to_string(c.nonFinite) + " non-finite" : "";
    if (c.wrongShape) what += (what.empty() ? "" : ", ") + std::to_string(c.wrongShape) + " wrong shape";
    out.push_back(finding("behaviour.failures", "behaviour",
                          "candidate failed " + std::to_string(c.failed) + " of " + std::to_string(b.n) +
                              " golden requests" + (what.empty() ? "" : " (" + what + ")") +
                              (c.errors.empty() ? "" : ": " + c.errors[0]),
                          5, 5));
  }
  if (std::isfinite(c.probSumMaxDev) && c.probSumMaxDev > cfg.probSumTolerance)
    out.push_back(finding("behaviour.prob_sum", "behaviour",
                          "candidate probabilities sum to 1 +- " + fmtNum(c.probSumMaxDev, 4) +
                              " (tolerance " + fmtNum(cfg.probSumTolerance, 4) + ")",
                          5, 3));
  if (b.compared > 0) {
    if (b.agreementCi.second < cfg.minTop1Agreement)
      out.push_back(finding("behaviour.agreement", "behaviour",
                            "top-1 agreement " + pct(b.agreement) + " (CI upper " + pct(b.agreementCi.second) +
                                ") below " + pct(cfg.minTop1Agreement),
                            4, 3));
    else if (b.agreementCi.first < cfg.minTop1Agreement && b.agreement < cfg.minTop1Agreement)
      out.push_back(finding("behaviour.agreement", "behaviour",
                            "top-1 agreement " + pct(b.agreement) + " below " + pct(cfg.minTop1Agreement) +
                                ", not yet significant",
                            3, 3));
    // Classes whose flip rate is significantly above what the agreement minimum tolerates.
    std::vector<std::string> classes;
    for (const auto& pc : b.perClass) {
      if (pc.n == 0) continue;
      auto ci = stats::clopperPearson(pc.flips, pc.n, confidence);
      if (ci.lo > 1.0 - cfg.minTop1Agreement)
        classes.push_back(pc.label + " " + std::to_string(pc.flips) + "/" + std::to_string(pc.n));
    }
    if (!classes.empty())
      out.push_back(finding("behaviour.class_flips", "behaviour",
                            "flip rate significantly above " + pct(1.0 - cfg.minTop1Agreement) +
                                " for: " + join(classes, ", "),
                            4, 3));
  }
  return out;
}

std::vector<Finding> contractFindings(const std::vector<ContractResult>& contracts, const LockCheck* lock) {
  std::vector<Finding> out;
  if (lock && lock->state == "refused")
    out.push_back(finding("contracts.lock", "contracts", "environment lock refused: " + lock->problem, 3, 3));
  for (const auto& c : contracts) {
    std::string id = "contracts." + c.source.kind;
    std::string why = c.problems.empty() ? "" : ": " + c.problems[0];
    switch (c.state) {
      case ContractState::Ok: break;
      case ContractState::Mismatch:
        out.push_back(finding(id, "contracts", c.source.kind + " report is stale or mismatched" + why, 4, 5));
        break;
      case ContractState::Refused:
        out.push_back(finding(id, "contracts", c.source.kind + " report refused" + why, 3, 4));
        break;
      case ContractState::Missing:
        out.push_back(finding(id, "contracts", c.source.kind + " report missing: the cycle is incomplete", 3, 4));
        break;
      case ContractState::Failed:
        out.push_back(finding(id, "contracts", c.source.kind + " report has no evidence" + why, 3, 4));
        break;
      case ContractState::Incomplete:
        out.push_back(finding(id, "contracts", c.source.kind + " report incomplete" + why, 3, 3));
        break;
    }
  }
  return out;
}

std::vector<Finding> regressionFindings(const std::vector<RegressionRow>& rows, double p95ObjectiveMs) {
  std::vector<Finding> out;
  for (const auto& r : rows) {
    if (r.significance != "significant" || r.direction != "worse" || !r.delta) continue;
    std::string what = r.metric + (r.scope == "overall" ? "" : " [" + r.scope + "]");
    std::string id = "regression." + r.metric + (r.scope == "overall" ? "" : "." + r.scope);
    std::string title = what + " worse by " + fmtNum(std::fabs(*r.delta), 4) + " " + r.unit +
                        (r.pValue ? " (p " + fmtNum(*r.pValue, 4) + ")" : "");
    if (r.metric == "compliance" || r.metric == "compliance.uplift") {
      if (r.scope == "overall") {
        if (r.metric == "compliance") out.push_back(finding(id, "regression", title, 4, 5));
      } else {
        out.push_back(finding(id, "regression", title, 4, 3));
      }
    } else if (r.metric == "latency.p95") {
      double worst = r.candidateCi ? r.candidateCi->second : (r.candidate ? *r.candidate : 0);
      int impact = worst >= p95ObjectiveMs ? 5 : worst >= 0.5 * p95ObjectiveMs ? 3 : 2;
      out.push_back(finding(id, "regression", title, 4, impact));
    } else if (r.metric == "latency.error_rate") {
      out.push_back(finding(id, "regression", title, 4, 4));
    } else if (r.metric == "latency.throughput") {
      out.push_back(finding(id, "regression", title, 4, 2));
    } else {
      out.push_back(finding(id, "regression", title, 4, 2));
    }
  }
  return out;
}

Scorecard scoreFindings(std::vector<Finding> findings, const IntegrationConfig& cfg) {
  Scorecard s;
  std::stable_sort(findings.begin(), findings.end(),
                   [](const Finding& a, const Finding& b) { return a.score() > b.score(); });
  s.findings = std::move(findings);
  for (const auto& f : s.findings) {
    s.maxScore = std::max(s.maxScore, f.score());
    if (f.score() >= cfg.blockingRisk || f.breaking) {
      s.blocksGo = true;
      s.blockedBy.push_back(f.id);
    }
  }
  s.level = s.maxScore >= cfg.highRisk ? "high" : s.maxScore >= cfg.mediumRisk ? "medium" : "low";
  return s;
}

nlohmann::json toJson(const Scorecard& s, const IntegrationConfig& cfg) {
  nlohmann::json fs = nlohmann::json::array();
  for (const auto& f : s.findings)
    fs.push_back({{"id", f.id}, {"area", f.area}, {"title", f.title}, {"likelihood", f.likelihood},
                  {"impact", f.impact}, {"score", f.score()}, {"breaking", f.breaking},
                  {"blocking", f.score() >= cfg.blockingRisk || f.breaking}});
  return {{"findings", fs},
          {"max_score", s.maxScore},
          {"level", s.level},
          {"blocks_go", s.blocksGo},
          {"blocked_by", s.blockedBy},
          {"thresholds", {{"medium_risk", cfg.mediumRisk}, {"high_risk", cfg.highRisk},
                          {"blocking_risk", cfg.blockingRisk}}}};
}

// ---------------------------------------------------------------------------

namespace {
Check makeCheck(const std::string& id, const std::string& subject) {
  Check c;
  c.id = id;
  c.subject = subject;
  return c;
}
Check noCandidate(const std::string& id) {
  Check c = makeCheck(id, "candidate");
  c.status = Outcome::Inconclusive;
  c.message = "no candidate staged";
  c.need = {{"candidate", 1}};
  return c;
}
}  // namespace

Check interfaceCheck(const std::vector<MatrixEntry>* matrix) {
  if (!matrix) return noCandidate("integration.interface");
  Check c = makeCheck("integration.interface", "candidate");
  std::vector<std::string> breaking, risky;
  for (const auto& e : *matrix) {
    if (e.cls == Compat::Breaking) breaking.push_back(e.aspect);
    if (e.cls == Compat::Risky) risky.push_back(e.aspect);
  }
  c.value = static_cast<double>(breaking.size());
  c.threshold = 0;
  c.unit = "differences";
  c.detail = {{"breaking", breaking}, {"risky", risky}};
  if (!breaking.empty()) {
    c.status = Outcome::Fail;
    c.message = std::to_string(breaking.size()) + " breaking interface difference(s): " + join(breaking, ", ");
  } else {
    c.status = Outcome::Pass;
    c.message = "no breaking interface difference" +
                (risky.empty() ? std::string() : "; risky: " + join(risky, ", "));
  }
  return c;
}

Check behaviourCheck(const BehaviourResult* b, const IntegrationConfig& cfg, double confidence) {
  if (!b) return noCandidate("integration.behaviour");
  Check c = makeCheck("integration.behaviour", "candidate");
  c.value = std::isfinite(b->agreement) ? std::optional<double>(b->agreement) : std::nullopt;
  c.threshold = cfg.minTop1Agreement;
  c.unit = "fraction";
  c.ci = b->agreementCi;
  const auto& k = b->candidate;
  std::vector<std::string> defects;
  if (k.failed)
    defects.push_back(std::to_string(k.failed) + "/" + std::to_string(b->n) + " requests failed" +
                      (k.errors.empty() ? "" : " (" + k.errors[0] + ")"));
  if (std::isfinite(k.probSumMaxDev) && k.probSumMaxDev > cfg.probSumTolerance)
    defects.push_back("probabilities sum to 1 +- " + fmtNum(k.probSumMaxDev, 4));
  if (k.outputWidth >= 0 && static_cast<std::size_t>(k.outputWidth) != k.expectedWidth)
    defects.push_back("output width " + std::to_string(k.outputWidth) + " for " +
                      std::to_string(k.expectedWidth) + " labels");
  std::string agreeStr = b->compared
                             ? "top-1 agreement " + fmtNum(b->agreement, 3) + " (" +
                                   fmtNum(100 * confidence, 0) + "% CI " + fmtNum(b->agreementCi.first, 3) +
                                   "-" + fmtNum(b->agreementCi.second, 3) + ", n " +
                                   std::to_string(b->compared) + ") vs minimum " + fmtNum(cfg.minTop1Agreement, 2)
                             : "no agreement measured";
  if (!defects.empty()) {
    c.status = Outcome::Fail;
    c.message = join(defects, "; ") + "; " + agreeStr;
  } else if (b->compared == 0) {
    c.status = Outcome::Inconclusive;
    c.message = "the current model answered none of the " + std::to_string(b->n) + " golden samples";
    c.need = {{"samples", b->n}};
  } else if (b->agreementCi.second < cfg.minTop1Agreement) {
    c.status = Outcome::Fail;
    c.message = agreeStr + ": below";
  } else if (b->agreementCi.first >= cfg.minTop1Agreement) {
    c.status = Outcome::Pass;
    c.message = "outputs finite and shaped; " + agreeStr;
  } else {
    c.status = Outcome::Inconclusive;
    c.message = agreeStr + ": not settled";
    c.need = {{"samples", samplesToSettleAgreement(b->agreement, cfg.minTop1Agreement, confidence, b->compared)}};
  }
  return c;
}

Check contractsCheck(const std::vector<ContractResult>& contracts) {
  Check c = makeCheck("integration.contracts", "");
  std::vector<std::string> bad, missing, okKinds;
  nlohmann::json states = nlohmann::json::object();
  for (const auto& r : contracts) {
    states[r.source.kind] = toString(r.state);
    std::string line = r.source.kind + " " + toString(r.state) +
                       (r.problems.empty() ? "" : " (" + r.problems[0] + ")");
    if (r.state == ContractState::Refused || r.state == ContractState::Mismatch) bad.push_back(line);
    else if (r.state != ContractState::Ok) missing.push_back(r.source.kind);
    else okKinds.push_back(r.source.kind);
  }
  c.value = static_cast<double>(bad.size());
  c.threshold = 0;
  c.unit = "reports";
  c.detail = states;
  if (!bad.empty()) {
    c.status = Outcome::Fail;
    c.message = join(bad, "; ");
  } else if (!missing.empty()) {
    c.status = Outcome::Inconclusive;
    c.message = "cycle incomplete: " + join(missing, ", ") + " not usable";
    c.need = {{"reports", missing}};
  } else {
    c.status = Outcome::Pass;
    c.message = std::to_string(okKinds.size()) + " reports of this cycle agree on cycle, models, config and data";
  }
  return c;
}

Check riskCheck(const Scorecard* s, const IntegrationConfig& cfg, bool evidenceComplete,
                const std::vector<std::string>& missing) {
  if (!s) return noCandidate("integration.risk");
  Check c = makeCheck("integration.risk", "candidate");
  c.value = s->maxScore;
  c.threshold = cfg.blockingRisk;
  c.unit = "score";
  c.severity = s->level;
  std::string head = "risk " + s->level + " (max score " + std::to_string(s->maxScore) + ", blocking >= " +
                     std::to_string(cfg.blockingRisk) + ")";
  if (s->blocksGo) {
    c.status = Outcome::Fail;
    c.message = head + ": blocks GO: " + join(s->blockedBy, ", ");
  } else if (!evidenceComplete) {
    c.status = Outcome::Inconclusive;
    c.message = head + " on incomplete evidence: " + join(missing, ", ");
    c.need = {{"evidence", missing}};
  } else {
    c.status = Outcome::Pass;
    c.message = head + ": does not block GO";
  }
  return c;
}

}  // namespace cvgate::integration

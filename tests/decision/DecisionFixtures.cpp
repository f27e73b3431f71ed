#include "DecisionFixtures.h"

#include <fstream>
#include <random>

#include "common/Sha256.h"

namespace cvgate::decisiontest {

Check check(const std::string& id, const std::string& subject, Outcome status, std::optional<double> value,
            std::optional<double> threshold, std::optional<std::pair<double, double>> ci, const std::string& unit) {
  Check c;
  c.id = id;
  c.subject = subject;
  c.status = status;
  c.value = value;
  c.threshold = threshold;
  c.ci = ci;
  c.unit = unit;
  c.message = id + " " + subject + " " + toString(status);
  return c;
}

namespace {

Report base(const std::string& tool, const std::string& kind, const std::string& cycle, const Models& m) {
  Report r = newReport(tool, kind, cycle);
  r.subjects["current"] = Subject{"fashion-mlp-v1", m.current, ""};
  if (!m.candidate.empty()) r.subjects["candidate"] = Subject{"fashion-cnn-v2", m.candidate, ""};
  r.inputs["config_sha256"] = "0";
  return r;
}

void finish(Report& r) { r.settleStatus(); }

}  // namespace

Report envReport(const std::string& cycle, const Models& m) {
  Report r = base("verify-env", "cvgate.env", cycle, m);
  r.checks.push_back(check("env.lock", "", Outcome::Pass));
  Check drift = check("env.drift.torch", "", Outcome::Pass);
  drift.severity = "severe";
  r.checks.push_back(drift);
  r.checks.push_back(check("env.model_hash", "current", Outcome::Pass));
  if (!m.candidate.empty()) r.checks.push_back(check("env.model_hash", "candidate", Outcome::Pass));
  r.checks.push_back(check("env.determinism", "current", Outcome::Pass));
  r.checks.push_back(check("env.golden", "current", Outcome::Pass));
  r.checks.push_back(check("env.blas", "", Outcome::Pass));
  r.checks.push_back(check("env.threads", "", Outcome::Pass));
  finish(r);
  return r;
}

Report latencyReport(const std::string& cycle, const Models& m) {
  Report r = base("profile-latency", "cvgate.latency", cycle, m);
  for (const char* s : {"current", "candidate"}) {
    if (std::string(s) == "candidate" && m.candidate.empty()) continue;
    bool cand = std::string(s) == "candidate";
    double p95 = cand ? 6.0 : 4.0;
    // The counts profile-latency puts in the detail: a valid run at the operating point.
    const json counts = {{"scenario", "server"}, {"offered_rps", 100.0}, {"requests", 2000}, {"errors", 0},
                         {"at_or_over_p95_objective", 0}, {"valid", true}, {"saturated", false}};
    Check p = check("latency.p95", s, Outcome::Pass, p95, 500.0, std::make_pair(p95 - 0.5, p95 + 0.7), "ms");
    p.detail = counts;
    r.checks.push_back(p);
    Check er = check("latency.error_rate", s, Outcome::Pass, 0.0, 0.01, std::make_pair(0.0, 0.0015), "fraction");
    er.detail = counts;
    r.checks.push_back(er);
    r.checks.push_back(check("latency.throughput", s, Outcome::Pass, 150.0, 100.0, std::nullopt, "1/s"));
    r.checks.push_back(check("latency.valid", s, Outcome::Pass));
    r.results[s] = {{"requests", 2000}, {"errors", 0}, {"p95_ms", p95}};
  }
  finish(r);
  return r;
}

Report complianceReport(const std::string& cycle, const Models& m) {
  Report r = base("eval-compliance", "cvgate.compliance", cycle, m);
  r.checks.push_back(check("compliance.data", "", Outcome::Pass));
  Check er = check("compliance.error_rate", "current", Outcome::Pass, 0.0, 0.01, std::make_pair(0.0, 0.003), "fraction");
  er.detail = {{"errors", 0}, {"n", 8000}};
  r.checks.push_back(er);
  Check reg = check("compliance.regression", "current", Outcome::Pass);
  reg.detail = {{"blessed_compliant", 6240}, {"blessed_n", 8000}, {"compliant", 6240}, {"n", 8000}};
  r.checks.push_back(reg);
  if (!m.candidate.empty()) {
    r.checks.push_back(check("compliance.uplift", "candidate", Outcome::Pass, 0.055, 0.03, std::make_pair(0.04, 0.07), "fraction"));
    r.checks.push_back(check("compliance.error_rate", "candidate", Outcome::Pass, 0.0, 0.01, std::make_pair(0.0, 0.003), "fraction"));
    r.checks.push_back(check("compliance.slices", "candidate", Outcome::Pass));  // slices not gated
  }
  r.results["current"] = {{"compliance_rate", 0.78}};
  r.results["candidate"] = {{"compliance_rate", 0.823}};
  finish(r);
  return r;
}

Report integrationReport(const std::string& cycle, const Models& m) {
  Report r = base("check-integration", "cvgate.integration", cycle, m);
  r.checks.push_back(check("integration.interface", "candidate", Outcome::Pass));
  r.checks.push_back(check("integration.behaviour", "candidate", Outcome::Pass));
  r.checks.push_back(check("integration.contracts", "", Outcome::Pass));
  r.checks.push_back(check("integration.risk", "candidate", Outcome::Pass, 4.0, 15.0));
  finish(r);
  return r;
}

Report rollbackReport(const std::string& cycle, const Models& m) {
  Report r = base("simulate-rollback", "cvgate.rollback", cycle, m);
  r.checks.push_back(check("rollback.target", "", Outcome::Pass));
  r.checks.push_back(check("rollback.compatible", "", Outcome::Pass));
  r.checks.push_back(check("rollback.rto", "", Outcome::Pass, 40.0, 5000.0, std::make_pair(30.0, 55.0), "ms"));
  r.checks.push_back(check("rollback.golden", "", Outcome::Pass));
  r.checks.push_back(check("rollback.disk", "", Outcome::Pass));
  finish(r);
  return r;
}

std::vector<Report> cycleReports(const std::string& cycle, const Models& m) {
  return {envReport(cycle, m), latencyReport(cycle, m), complianceReport(cycle, m), integrationReport(cycle, m),
          rollbackReport(cycle, m)};
}

void breach(Report& r, const std::string& id) {
  for (auto& c : r.checks) {
    if (c.id != id || c.subject != "current") continue;
    c.status = Outcome::Fail;
    c.message = id + " current: breached (fixture)";
    if (id == "latency.p95") c.detail["at_or_over_p95_objective"] = 400;  // 20 % of 2000 at or over 500 ms
    if (id == "latency.error_rate") c.detail["errors"] = 100;            // 5 %
    if (id == "compliance.error_rate") c.detail["errors"] = 400;         // 5 % of 8000
    if (id == "compliance.regression") c.detail["compliant"] = 5600;     // 0.70 vs blessed 0.78
  }
  r.settleStatus();
}

void setCheck(Report& r, const std::string& id, const std::string& subject, Outcome status, const json& need,
              const std::string& message) {
  for (auto& c : r.checks)
    if (c.id == id && c.subject == subject) {
      c.status = status;
      c.need = need;
      if (!message.empty()) c.message = message;
    }
  r.settleStatus();
}

decision::PolicyInput inputFrom(const std::vector<Report>& reports, const decision::RegistryFacts& facts,
                                const std::string& cycle) {
  decision::PolicyInput in;
  in.cycleId = cycle;
  in.objectives = testObjectives();
  in.registry = facts;
  in.decision.consecutiveFailsForRollback = 3;
  in.decision.breachConfidence = 0.99;
  // A healthy error budget, as computeErrorBudget makes it from one report.
  in.budget.windowH = 24;
  in.budget.cycles = 1;
  in.budget.requests = 2000;
  in.budget.allowedErrors = 20;
  in.budget.known = true;
  for (const auto& slot : decision::reportSlots()) {
    decision::LoadedReport lr;
    lr.kind = slot.kind;
    lr.channel = slot.channel;
    lr.path = std::string("feeds/") + slot.channel + "/" + cycle + ".json";
    lr.state = decision::LoadedReport::State::Missing;
    lr.problem = std::string("no ") + slot.label + " report";
    for (const auto& r : reports)
      if (r.schema.rfind(slot.kind, 0) == 0) {
        lr.report = r;
        lr.state = decision::LoadedReport::State::Accepted;
        lr.problem.clear();
      }
    in.reports.push_back(lr);
  }
  return in;
}

decision::RegistryFacts healthyRegistry(const Models& m, const std::string& knownGood) {
  decision::RegistryFacts f;
  f.available = true;
  f.current = Entry{m.current, "fashion-mlp-v1", "1", "2026-01-01T00:00:00Z", "objects/" + m.current + ".pt", nullptr};
  f.currentVerified = true;
  if (!m.candidate.empty()) {
    f.candidate = Entry{m.candidate, "fashion-cnn-v2", "2", "2026-01-01T00:00:00Z", "objects/" + m.candidate + ".pt", nullptr};
    f.candidateVerified = true;
  }
  if (!knownGood.empty())
    f.rollbackTarget = Entry{knownGood, "fashion-mlp-v0", "0", "2025-12-01T00:00:00Z", "objects/" + knownGood + ".pt", nullptr};
  else
    f.rollbackTargetProblem = "no known-good model in the registry";
  return f;
}

Objectives testObjectives() {
  Objectives o;
  o.minComplianceUplift = 0.03;
  return o;
}

std::string writeFakeModel(const std::string& path, unsigned seed, std::size_t size) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng() & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;
  return sha256Hex(bytes);
}

}  // namespace cvgate::decisiontest

// The policy: screening of the reports and the gates of DESIGN.md section 6.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/ExitCodes.h"
#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "decision/Decision.h"
#include "stats/Stats.h"

namespace cvgate::decision {

std::string toString(Verdict v) {
  switch (v) {
    case Verdict::Go: return "GO";
    case Verdict::Pause: return "PAUSE";
    case Verdict::Rollback: return "ROLLBACK";
  }
  return "PAUSE";
}

int exitCodeFor(Verdict v) {
  switch (v) {
    case Verdict::Go: return exitcode::kGo;
    case Verdict::Pause: return exitcode::kPause;
    case Verdict::Rollback: return exitcode::kRollback;
  }
  return exitcode::kPause;
}

const std::vector<ReportSlot>& reportSlots() {
  static const std::vector<ReportSlot> s = {
      {"cvgate.env", "v1_baseline_feed", "environment"},
      {"cvgate.latency", "v1_latency_feed", "latency"},
      {"cvgate.compliance", "v1_compliance_feed", "compliance"},
      {"cvgate.integration", "v1_integration_feed", "integration"},
      {"cvgate.rollback", "v1_rollback_feed", "rollback"},
  };
  return s;
}

LoadedReport loadReport(const ReportSlot& slot, const std::string& path) {
  LoadedReport lr;
  lr.kind = slot.kind;
  lr.channel = slot.channel;
  lr.path = path;
  std::error_code ec;
  auto text = readFile(path);
  if (!text.ok()) {
    lr.state = LoadedReport::State::Missing;
    lr.problem = "no " + std::string(slot.label) + " report for this cycle ('" + path + "')";
    return lr;
  }
  lr.sha256 = sha256Hex(*text);
  auto parsed = parseJson(*text, "'" + path + "'");
  if (!parsed) {
    lr.state = LoadedReport::State::Refused;
    lr.problem = parsed.error().message();
    return lr;
  }
  const json& j = *parsed;
  auto r = reportFromJson(j, slot.kind);
  if (!r.ok()) {
    lr.state = LoadedReport::State::Refused;
    lr.problem = "'" + path + "': " + r.error().message();
    return lr;
  }
  lr.report = std::move(*r);
  lr.state = LoadedReport::State::Accepted;
  return lr;
}

namespace {

std::string shortSha(const std::string& s) { return s.empty() ? "(none)" : s.substr(0, 12); }

/// The sha256 most accepted reports give for a role ("" when none does).
std::string majoritySha(const std::vector<LoadedReport>& reports, const std::string& role) {
  std::map<std::string, int> votes;
  for (const auto& lr : reports) {
    if (!lr.report) continue;
    auto it = lr.report->subjects.find(role);
    if (it != lr.report->subjects.end() && !it->second.sha256.empty()) ++votes[it->second.sha256];
  }
  std::string best;
  int n = 0;
  for (const auto& [sha, c] : votes)
    if (c > n) best = sha, n = c;
  return best;
}

}  // namespace

void chooseSubjects(PolicyInput& in, const std::string& pinnedCurrent, const std::string& pinnedCandidate) {
  if (!pinnedCurrent.empty()) in.currentSha = pinnedCurrent;
  else if (in.registry.current) in.currentSha = in.registry.current->sha256;
  else in.currentSha = majoritySha(in.reports, "current");
  if (!pinnedCandidate.empty()) in.candidateSha = pinnedCandidate;
  else if (in.registry.candidate) in.candidateSha = in.registry.candidate->sha256;
  else in.candidateSha = majoritySha(in.reports, "candidate");
}

void screenReports(PolicyInput& in, std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  for (auto& lr : in.reports) {
    if (lr.state != LoadedReport::State::Accepted || !lr.report) continue;
    const Report& r = *lr.report;
    auto refuse = [&](const std::string& why) {
      lr.state = LoadedReport::State::Refused;
      lr.problem = lr.kind + " report '" + lr.path + "' refused: " + why;
    };
    if (r.cycleId != in.cycleId) {
      refuse("it is of cycle '" + r.cycleId + "', not '" + in.cycleId + "'");
      continue;
    }
    system_clock::time_point finished;
    if (!parseIsoUtc(r.finishedAt, &finished)) {
      refuse("finished_at '" + r.finishedAt + "' is not an ISO-8601 UTC time");
      continue;
    }
    double age = duration<double>(now - finished).count();
    if (age > in.decision.maxReportAgeS) {
      refuse("stale: finished " + fmtNum(age, 0) + " s ago, more than decision.max_report_age_s " +
             fmtNum(in.decision.maxReportAgeS, 0));
      continue;
    }
    if (age < -300) {
      refuse("finished_at " + r.finishedAt + " is in the future (clock skew > 300 s)");
      continue;
    }
    // A report that judges a model must say which bytes it judged. Only a
    // pass or a fail is a judgement: an inconclusive check about a model the
    // cycle does not have (no candidate staged) names no bytes, rightly.
    bool refused = false;
    for (const auto& c : r.checks) {
      if (c.subject != "current" && c.subject != "candidate") continue;
      if (c.status != Outcome::Pass && c.status != Outcome::Fail) continue;
      auto it = r.subjects.find(c.subject);
      if (it == r.subjects.end() || it->second.sha256.empty()) {
        refuse("its check " + c.id + " judges the " + c.subject + " model, but the report names no sha256 for it");
        refused = true;
        break;
      }
    }
    if (refused) continue;
    for (const auto& [role, want] : {std::pair<std::string, std::string>{"current", in.currentSha},
                                     std::pair<std::string, std::string>{"candidate", in.candidateSha}}) {
      auto it = r.subjects.find(role);
      if (it == r.subjects.end() || it->second.sha256.empty()) continue;
      if (want.empty() && role == "candidate") {
        refuse("it is about candidate " + shortSha(it->second.sha256) + " but no candidate is staged");
        refused = true;
        break;
      }
      if (!want.empty() && it->second.sha256 != want) {
        refuse("integrity: its " + role + " model has sha256 " + shortSha(it->second.sha256) +
               ", the cycle's " + role + " is " + shortSha(want));
        refused = true;
        break;
      }
    }
    if (refused) continue;
  }
}

namespace {

const LoadedReport* slotOf(const PolicyInput& in, const std::string& kind) {
  for (const auto& lr : in.reports)
    if (lr.kind == kind) return &lr;
  return nullptr;
}

std::string labelOf(const std::string& kind) {
  for (const auto& s : reportSlots())
    if (kind == s.kind) return s.label;
  return kind;
}

/// Why a report gives no usable evidence, or "" when it does.
std::string unusable(const LoadedReport* lr, const std::string& kind) {
  if (!lr) return "no " + labelOf(kind) + " report was read";
  if (lr->state != LoadedReport::State::Accepted) return lr->problem;
  if (lr->report->status == Outcome::Error)
    return "the " + labelOf(kind) + " report is an error report: " +
           (lr->report->error.empty() ? std::string("(no reason given)") : lr->report->error);
  return "";
}

/// Apply the config's objective to a check's interval: a check can only be
/// made stricter by this (pass -> inconclusive/fail), never laxer.
void applyObjective(Gate& g) {
  if (g.status != Outcome::Pass || !g.objective) return;
  double obj = *g.objective;
  auto downgrade = [&](Outcome o, const std::string& why) {
    g.status = o;
    g.reason = why + " (decide applies the config's objective; the tool said: " + g.reason + ")";
  };
  if (g.comparison == "<") {
    double hi = g.ci ? g.ci->second : (g.value ? *g.value : NAN);
    double lo = g.ci ? g.ci->first : hi;
    if (std::isnan(hi)) return;
    if (lo >= obj) downgrade(Outcome::Fail, "lower bound " + fmtNum(lo) + " >= objective " + fmtNum(obj));
    else if (hi >= obj) downgrade(Outcome::Inconclusive, "upper bound " + fmtNum(hi) + " not below objective " + fmtNum(obj));
  } else if (g.comparison == ">=") {
    double lo = g.ci ? g.ci->first : (g.value ? *g.value : NAN);
    double hi = g.ci ? g.ci->second : lo;
    if (std::isnan(lo)) return;
    if (hi < obj) downgrade(Outcome::Fail, "upper bound " + fmtNum(hi) + " below objective " + fmtNum(obj));
    else if (lo < obj) downgrade(Outcome::Inconclusive, "lower bound " + fmtNum(lo) + " below objective " + fmtNum(obj));
  }
}

struct GateSpec {
  const char* id;
  const char* subject;
  const char* kind;
  const char* comparison;
  double objective;   ///< NAN: take the check's threshold
  const char* unit;
};

/// A gate read from one check of one report.
Gate gateFromCheck(const PolicyInput& in, const GateSpec& spec, const std::string& group) {
  Gate g;
  g.id = spec.id;
  g.subject = spec.subject;
  g.group = group;
  g.source = spec.kind;
  g.comparison = spec.comparison;
  g.unit = spec.unit;
  if (!std::isnan(spec.objective)) g.objective = spec.objective;
  const LoadedReport* lr = slotOf(in, spec.kind);
  if (std::string why = unusable(lr, spec.kind); !why.empty()) {
    g.status = Outcome::Error;
    g.reason = why;
    return g;
  }
  const Check* c = lr->report->findCheck(spec.id, spec.subject);
  if (!c) {
    // Production gates not measured are unknown, candidate gates missing are an error.
    g.status = group == "production" ? Outcome::Inconclusive : Outcome::Error;
    g.reason = "check " + g.id + " (" + g.subject + ") is not in the " + labelOf(spec.kind) + " report";
    return g;
  }
  g.status = c->status;
  g.value = c->value;
  g.ci = c->ci;
  if (!c->unit.empty()) g.unit = c->unit;
  if (!g.objective) g.objective = c->threshold;
  g.reason = c->message.empty() ? toString(c->status) : c->message;
  g.need = c->need;
  if (group == "candidate") applyObjective(g);
  return g;
}

/// env.verified: the env report passes, or its only problems are minor drift.
Gate envGate(const PolicyInput& in) {
  Gate g;
  g.id = "env.verified";
  g.group = "candidate";
  g.source = "cvgate.env";
  const LoadedReport* lr = slotOf(in, "cvgate.env");
  if (std::string why = unusable(lr, "cvgate.env"); !why.empty()) {
    g.status = Outcome::Error;
    g.reason = why;
    return g;
  }
  Outcome o = Outcome::Pass;
  std::vector<std::string> problems, minor;
  json need = json::object();
  for (const auto& c : lr->report->checks) {
    if (c.status == Outcome::Pass) continue;
    std::string line = c.id + (c.subject.empty() ? "" : " (" + c.subject + ")") + ": " +
                       (c.message.empty() ? toString(c.status) : c.message);
    if (c.id.rfind("env.drift.", 0) == 0 && c.severity == "minor") {
      minor.push_back(line);
      continue;
    }
    o = worst(o, c.status);
    problems.push_back(line);
    if (c.need.is_object()) need.update(c.need);
  }
  if (lr->report->checks.empty()) {
    o = Outcome::Inconclusive;
    problems.push_back("the environment report has no checks");
  }
  g.status = o;
  g.value = static_cast<double>(problems.size());
  g.objective = 0;
  g.comparison = "<=";
  g.unit = "problems";
  if (o == Outcome::Pass)
    g.reason = minor.empty() ? "environment verified" : "environment verified; minor drift only: " + join(minor, "; ");
  else
    g.reason = join(problems, "; ");
  if (!need.empty()) g.need = need;
  return g;
}

/// rollback.ready: the rollback drill report passes.
Gate rollbackGate(const PolicyInput& in) {
  Gate g;
  g.id = "rollback.ready";
  g.group = "candidate";
  g.source = "cvgate.rollback";
  const LoadedReport* lr = slotOf(in, "cvgate.rollback");
  if (std::string why = unusable(lr, "cvgate.rollback"); !why.empty()) {
    g.status = Outcome::Error;
    g.reason = why;
    return g;
  }
  const Report& r = *lr->report;
  if (const Check* rto = r.findCheck("rollback.rto")) {
    g.value = rto->value;
    g.objective = rto->threshold;
    g.ci = rto->ci;
    g.unit = rto->unit.empty() ? "ms" : rto->unit;
    g.comparison = "<";
  }
  std::vector<std::string> problems;
  json need = json::object();
  Outcome o = Outcome::Pass;
  for (const auto& c : r.checks) {
    if (c.status == Outcome::Pass) continue;
    o = worst(o, c.status);
    problems.push_back(c.id + ": " + (c.message.empty() ? toString(c.status) : c.message));
    if (c.need.is_object()) need.update(c.need);
  }
  if (!r.findCheck("rollback.target")) {
    o = worst(o, Outcome::Error);
    problems.push_back("rollback.target is not in the rollback report");
  }
  g.status = o;
  g.reason = o == Outcome::Pass ? "rollback drill passed: a verified target is ready" : join(problems, "; ");
  if (!need.empty()) g.need = need;
  return g;
}

/// registry.candidate: the candidate the reports are about is staged and intact.
Gate candidateGate(const PolicyInput& in) {
  Gate g;
  g.id = "registry.candidate";
  g.subject = "candidate";
  g.group = "candidate";
  g.source = "registry";
  const auto& reg = in.registry;
  if (!reg.available) {
    g.status = Outcome::Error;
    g.reason = "registry unavailable: " + reg.error;
  } else if (!reg.candidate) {
    g.status = Outcome::Fail;
    g.reason = "no candidate is staged in the registry";
  } else if (reg.candidate->sha256 != in.candidateSha) {
    g.status = Outcome::Fail;
    g.reason = "integrity: the staged candidate is " + shortSha(reg.candidate->sha256) +
               ", the cycle is about " + shortSha(in.candidateSha);
  } else if (!reg.candidateVerified) {
    g.status = Outcome::Fail;
    g.reason = "integrity: the staged candidate's bytes do not match its sha256: " + reg.candidateProblem;
  } else {
    g.status = Outcome::Pass;
    g.reason = "candidate " + reg.candidate->name + " " + reg.candidate->version + " (" +
               shortSha(reg.candidate->sha256) + ") staged and verified";
  }
  return g;
}

/// registry.current: production's bytes are what the registry recorded.
Gate currentGate(const PolicyInput& in) {
  Gate g;
  g.id = "registry.current";
  g.subject = "current";
  g.group = "production";
  g.source = "registry";
  const auto& reg = in.registry;
  if (!reg.available) {
    g.status = Outcome::Error;
    g.reason = "registry unavailable: " + reg.error;
  } else if (!reg.current) {
    g.status = Outcome::Inconclusive;
    g.reason = "no current model in the registry";
  } else if (!reg.currentVerified) {
    g.status = Outcome::Fail;
    g.reason = "integrity: production's bytes do not match its sha256: " + reg.currentProblem;
  } else {
    g.status = Outcome::Pass;
    g.reason = "production " + reg.current->name + " " + reg.current->version + " (" +
               shortSha(reg.current->sha256) + ") verified";
  }
  return g;
}

Gate budgetGate(const PolicyInput& in) {
  Gate g;
  g.id = "error_budget";
  g.subject = "current";
  g.group = "candidate";
  g.source = "v1_latency_feed";
  g.unit = "fraction";
  g.comparison = "<";
  g.objective = 1.0;
  const auto& b = in.budget;
  if (!b.known) {
    g.status = Outcome::Inconclusive;
    g.reason = "no request counts of the current model in the last " + fmtNum(b.windowH, 1) +
               " h of the latency feed" +
               (b.invalidSkipped ? " from a valid run (" + std::to_string(b.invalidSkipped) + " invalid left out)"
                                 : std::string()) +
               ": the error budget cannot be computed";
    g.need = {{"latency_report", "a valid latency report of the current model with request counts"}};
    return g;
  }
  g.value = b.consumed;
  std::string figures = fmtNum(b.errors, 0) + " errors of " + fmtNum(b.allowedErrors, 1) +
                        " allowed in " + fmtNum(b.requests, 0) + " requests over " +
                        fmtNum(b.windowH, 1) + " h (" + std::to_string(b.cycles) +
                        " cycles" +
                        (b.invalidSkipped ? "; " + std::to_string(b.invalidSkipped) + " invalid runs left out"
                                          : std::string()) +
                        "), burn rate " + fmtNum(b.burnRate, 2);
  if (b.exhausted && in.decision.blockGoOnExhaustedBudget) {
    g.status = Outcome::Fail;
    g.reason = "error budget exhausted: " + figures;
  } else {
    g.status = Outcome::Pass;
    g.reason = (b.exhausted ? "error budget exhausted (not blocking: block_go_on_exhausted_budget = false): "
                            : "error budget " + fmtNum(100.0 * (1.0 - b.consumed), 1) + " % left: ") + figures;
  }
  return g;
}

/// A check's detail when it is an object, else an empty object.
const json& detailOf(const Check& c) {
  static const json empty = json::object();
  return c.detail.is_object() ? c.detail : empty;
}

/// A production gate: the tool's check as read, then decide's own breach
/// test on the counts the check carries, one-sided at
/// decision.breach_confidence. Only a confident breach is a fail; a check the
/// tool failed at its own (lower) confidence, but that is not a breach at
/// decide's, is inconclusive. The rollback rule builds on this: a gate must
/// breach in decision.consecutive_fails_for_rollback cycles in a row
/// (docs/checks.md says why those numbers).
Gate productionGate(const PolicyInput& in, const GateSpec& spec) {
  Gate g = gateFromCheck(in, spec, "production");
  const LoadedReport* lr = slotOf(in, spec.kind);
  if (g.status == Outcome::Error || !lr || !lr->report) return g;
  const Check* c = lr->report->findCheck(spec.id, spec.subject);
  if (!c) return g;
  const double conf = in.decision.breachConfidence;
  const std::string level = fmtNum(100.0 * conf, 0) + " %";
  const std::string toolSaid = c->message.empty() ? toString(c->status) : c->message;
  auto judge = [&](bool breach, const std::string& figures) {
    if (breach) {
      g.status = Outcome::Fail;
      g.breach = true;
      g.reason = figures + " (a breach at " + level + " one-sided)";
    } else if (g.status == Outcome::Fail) {
      g.status = Outcome::Inconclusive;
      g.reason = "not a breach at " + level + ": " + figures + " (the tool's check said: " + toolSaid + ")";
    }
  };
  auto noEvidence = [&](const std::string& why) {
    if (g.status == Outcome::Fail || g.status == Outcome::Pass) g.status = Outcome::Inconclusive;
    g.reason = why + " (the tool's check said: " + toolSaid + ")";
  };
  const std::string id = spec.id;
  if (id == "latency.p95" || id == "latency.error_rate") {
    JsonFields d(detailOf(*c), "detail");
    const auto n = d.integer("requests", -1), errors = d.integer("errors", -1),
               slow = d.integer("at_or_over_p95_objective", -1);
    const bool valid = d.boolean("valid", false);
    const auto offered = d.optNum("offered_rps");
    if (!d.ok() || n < 0 || errors < 0 || slow < 0 || errors > n || slow > n) {
      noEvidence("the check carries no request counts to test");
      return g;
    }
    if (!valid) {
      noEvidence("the run was invalid (the load generator fell behind): not evidence");
      return g;
    }
    const double rate = in.objectives.minThroughputRps;
    if (!offered || std::fabs(*offered - rate) > 1e-6 * rate) {
      noEvidence("measured at " + (offered ? fmtNum(*offered, 1) + "/s" : std::string("no offered rate")) +
                 ", not at the operating point " + fmtNum(rate, 1) + "/s");
      return g;
    }
    const auto N = static_cast<std::uint64_t>(n);
    if (id == "latency.p95") {
      // P95 >= objective  <=>  at least 5 % of requests take the objective or longer.
      const auto K = static_cast<std::uint64_t>(slow);
      const double lower = stats::clopperPearsonLower(K, N, conf);
      judge(N > 0 && lower > 0.05, std::to_string(K) + " of " + std::to_string(N) + " requests took " +
                                       fmtNum(in.objectives.p95LatencyMs, 1) + " ms or longer, lower bound " +
                                       fmtNum(100.0 * lower, 2) + " % " + (lower > 0.05 ? ">" : "<=") + " 5 %");
    } else {
      const auto K = static_cast<std::uint64_t>(errors);
      const double lower = stats::clopperPearsonLower(K, N, conf);
      judge(N > 0 && lower > in.objectives.maxErrorRate,
            std::to_string(K) + " of " + std::to_string(N) + " requests failed, lower bound " +
                fmtNum(100.0 * lower, 3) + " % " + (lower > in.objectives.maxErrorRate ? ">" : "<=") + " " +
                fmtNum(100.0 * in.objectives.maxErrorRate, 2) + " %");
    }
  } else if (id == "compliance.error_rate") {
    JsonFields d(detailOf(*c), "detail");
    const auto n = d.integer("n", -1), errors = d.integer("errors", -1);
    if (!d.ok() || n <= 0 || errors < 0 || errors > n) {
      noEvidence("the check carries no request counts to test");
      return g;
    }
    const double lower = stats::clopperPearsonLower(static_cast<std::uint64_t>(errors), static_cast<std::uint64_t>(n), conf);
    judge(lower > in.objectives.maxErrorRate,
          std::to_string(errors) + " of " + std::to_string(n) + " evaluation requests failed, lower bound " +
              fmtNum(100.0 * lower, 3) + " %");
  } else if (id == "compliance.regression") {
    JsonFields d(detailOf(*c), "detail");
    const auto k1 = d.integer("blessed_compliant", -1), n1 = d.integer("blessed_n", -1);
    const auto k2 = d.integer("compliant", -1), n2 = d.integer("n", -1);
    if (!d.ok() || n1 <= 0 || n2 <= 0 || k1 < 0 || k2 < 0 || k1 > n1 || k2 > n2) {
      if (g.status == Outcome::Fail) noEvidence("the check carries no counts of both figures to test");
      return g;
    }
    // Both figures are measurements: the difference's interval accounts for
    // the uncertainty of each (Newcombe's hybrid score interval). The blessed
    // figure is the same in every cycle of a streak, so its error does not
    // average out over the cycles the rollback rule waits for: this gate
    // tests at a tenth of the breach level's error rate (99.9 % for 99 %).
    const double regConf = 1.0 - (1.0 - conf) / 10.0;
    const auto diff = stats::proportionDifference(static_cast<std::uint64_t>(k1), static_cast<std::uint64_t>(n1),
                                                  static_cast<std::uint64_t>(k2), static_cast<std::uint64_t>(n2),
                                                  2.0 * regConf - 1.0);
    judge(std::isfinite(diff.hi) && diff.hi < 0,
          "compliance " + fmtNum(static_cast<double>(k2) / static_cast<double>(n2), 4) + " now vs blessed " +
              fmtNum(static_cast<double>(k1) / static_cast<double>(n1), 4) + ", difference upper bound " +
              fmtNum(diff.hi, 4) + " at " + fmtNum(100.0 * regConf, 1) + " %");
  } else if (id == "env.model_hash") {
    // Production's bytes are not what the registry says is deployed.
    if (g.status == Outcome::Fail) {
      g.breach = true;
      g.integrity = true;
    }
  } else if (g.status == Outcome::Fail) {
    g.breach = true;  // env.golden: outputs are compared exactly, no sampling
  }
  return g;
}

std::string gateName(const Gate& g) {
  return g.id + (g.subject.empty() ? "" : " (" + g.subject + ")");
}

std::string needText(const json& need) {
  if (!need.is_object() || need.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [k, v] : need.items())
    if (v.is_number()) parts.push_back(fmtNum(v.get<double>(), v.is_number_integer() ? 0 : 3) + " more " + k);
    else if (v.is_boolean()) parts.push_back(v.get<bool>() ? "a " + k : "no " + k);
    else parts.push_back(k + ": " + (v.is_string() ? v.get<std::string>() : v.dump()));
  return join(parts, ", ");
}

std::string changeFor(const Gate& g) {
  switch (g.status) {
    case Outcome::Pass: return "";
    case Outcome::Inconclusive: {
      std::string n = needText(g.need);
      return gateName(g) + ": more evidence" + (n.empty() ? "" : " (" + n + ")") +
             (g.objective && !g.comparison.empty() ? " settling it " + g.comparison + " " + fmtNum(*g.objective) + (g.unit.empty() ? "" : " " + g.unit) : "");
    }
    case Outcome::Fail:
      if (g.objective && !g.comparison.empty() && g.comparison != "<=")
        return gateName(g) + ": its interval must lie " + (g.comparison == "<" ? "below " : "at or above ") +
               fmtNum(*g.objective) + (g.unit.empty() ? "" : " " + g.unit) +
               (g.value ? " (now " + fmtNum(*g.value) + ")" : "");
      return gateName(g) + ": must pass (" + g.reason + ")";
    case Outcome::Error:
      return gateName(g) + ": a valid, fresh report for this cycle and models";
  }
  return "";
}

}  // namespace

namespace {

struct Specs {
  std::vector<GateSpec> candidate, production;
};

Specs specsFor(const Objectives& ob) {
  return {{
              {"latency.p95", "candidate", "cvgate.latency", "<", ob.p95LatencyMs, "ms"},
              {"latency.error_rate", "candidate", "cvgate.latency", "<", ob.maxErrorRate, "fraction"},
              {"latency.throughput", "candidate", "cvgate.latency", ">=", ob.minThroughputRps, "1/s"},
              {"latency.valid", "candidate", "cvgate.latency", "", NAN, ""},
              {"compliance.uplift", "candidate", "cvgate.compliance", ">=", ob.minComplianceUplift, "fraction"},
              {"compliance.error_rate", "candidate", "cvgate.compliance", "<", ob.maxErrorRate, "fraction"},
              {"compliance.slices", "candidate", "cvgate.compliance", "", NAN, ""},
              {"integration.risk", "candidate", "cvgate.integration", "", NAN, ""},
              {"integration.interface", "candidate", "cvgate.integration", "", NAN, ""},
              {"integration.behaviour", "candidate", "cvgate.integration", "", NAN, ""},
          },
          {
              {"latency.p95", "current", "cvgate.latency", "<", ob.p95LatencyMs, "ms"},
              {"latency.error_rate", "current", "cvgate.latency", "<", ob.maxErrorRate, "fraction"},
              {"compliance.error_rate", "current", "cvgate.compliance", "<", ob.maxErrorRate, "fraction"},
              {"compliance.regression", "current", "cvgate.compliance", "", NAN, ""},
              {"env.golden", "current", "cvgate.env", "", NAN, ""},
              {"env.model_hash", "current", "cvgate.env", "", NAN, ""},
          }};
}

}  // namespace

const std::vector<std::string>& productionGateKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& s : specsFor(Objectives{}).production) k.push_back(std::string(s.id) + "/" + s.subject);
    k.push_back("registry.current/current");
    return k;
  }();
  return keys;
}

Decision evaluatePolicy(const PolicyInput& in) {
  Decision d;
  const Specs specs = specsFor(in.objectives);

  // Candidate gates (all must pass for GO).
  d.gates.push_back(candidateGate(in));
  for (const auto& s : specs.candidate) d.gates.push_back(gateFromCheck(in, s, "candidate"));
  d.gates.push_back(envGate(in));
  d.gates.push_back(rollbackGate(in));
  d.gates.push_back(budgetGate(in));
  // Production gates (a confident fail is a breach).
  for (const auto& s : specs.production) d.gates.push_back(productionGate(in, s));
  {
    Gate cur = currentGate(in);
    if (cur.status == Outcome::Fail) cur.breach = cur.integrity = true;
    d.gates.push_back(cur);
  }

  for (const auto& lr : in.reports)
    if (std::string why = unusable(&lr, lr.kind); !why.empty()) d.cycleProblems.push_back(why);
  if (!in.registry.available) d.cycleProblems.push_back("registry unavailable: " + in.registry.error);
  d.cycleError = !d.cycleProblems.empty();

  d.goGatesPass = true;
  std::vector<const Gate*> breaches;
  for (const auto& g : d.gates) {
    if (g.group == "candidate" && g.status != Outcome::Pass) d.goGatesPass = false;
    if (g.group == "production" && g.breach) {
      breaches.push_back(&g);
      d.breaches.push_back(g.key());
      const auto it = in.history.breachStreaks.find(g.key());
      const int streak = (it == in.history.breachStreaks.end() ? 0 : it->second) + 1;
      d.breachStreaks[g.key()] = streak;
      d.breachStreak = std::max(d.breachStreak, streak);
      d.integrityBreach = d.integrityBreach || g.integrity;
    }
  }
  d.productionBreach = !breaches.empty();
  d.passStreak = d.goGatesPass ? in.history.passStreak + 1 : 0;
  const int needPasses = std::max(1, in.decision.consecutivePassesForGo);
  const int needFails = std::max(1, in.decision.consecutiveFailsForRollback);
  const bool confirmed = d.integrityBreach || d.breachStreak >= needFails;

  // Policy gates: history.
  {
    Gate h;
    h.id = "history.consecutive_passes";
    h.subject = "candidate";
    h.group = "policy";
    h.source = "verdicts";
    h.value = d.passStreak;
    h.objective = needPasses;
    h.comparison = ">=";
    h.unit = "cycles";
    h.status = d.passStreak >= needPasses ? Outcome::Pass : Outcome::Inconclusive;
    h.reason = std::to_string(d.passStreak) + " consecutive passing cycle(s) of " +
               std::to_string(needPasses) + " required";
    if (h.status != Outcome::Pass) h.need = json{{"cycles", needPasses - d.passStreak}};
    d.gates.push_back(h);
  }
  if (d.productionBreach) {
    Gate h;
    h.id = "history.consecutive_breaches";
    h.subject = "current";
    h.group = "policy";
    h.source = "verdicts";
    h.value = d.breachStreak;
    h.objective = needFails;
    h.comparison = ">=";
    h.unit = "cycles";
    h.status = confirmed ? Outcome::Fail : Outcome::Inconclusive;
    std::vector<std::string> parts;
    for (const auto& [key, n] : d.breachStreaks) parts.push_back(key + " " + std::to_string(n));
    h.reason = d.integrityBreach
                   ? "an integrity breach rolls back at once"
                   : "breaching cycles in a row, per gate: " + join(parts, ", ") + "; " + std::to_string(needFails) +
                         " in a row of the same gate, each at " + fmtNum(100.0 * in.decision.breachConfidence, 0) +
                         " %, are needed for ROLLBACK";
    if (!confirmed) h.need = json{{"cycles", needFails - d.breachStreak}};
    d.gates.push_back(h);
  }

  auto breachText = [&]() {
    std::vector<std::string> parts;
    for (const Gate* g : breaches) parts.push_back(gateName(*g) + ": " + g->reason);
    return join(parts, "; ");
  };

  if (confirmed) {
    const std::string why = d.integrityBreach ? "production's integrity is breached"
                                              : "production breaches an objective with confidence in " +
                                                    std::to_string(d.breachStreak) + " cycles in a row";
    if (in.registry.rollbackTarget) {
      d.verdict = Verdict::Rollback;
      const Entry& t = *in.registry.rollbackTarget;
      d.reasons.push_back(why + ": " + breachText());
      d.reasons.push_back("a verified known-good model exists: " + t.name + " " + t.version + " (" +
                          shortSha(t.sha256) + ")");
      d.whatWouldChange.push_back("production back within its objectives (the failing checks above pass)");
    } else {
      d.verdict = Verdict::Pause;
      d.noRollbackTarget = true;
      d.reasons.push_back("production breaching, no rollback target: " + why + ": " + breachText());
      d.reasons.push_back("no verified known-good model to roll back to: " +
                          (in.registry.rollbackTargetProblem.empty() ? std::string("registry unavailable")
                                                                     : in.registry.rollbackTargetProblem));
      d.whatWouldChange.push_back("a verified known-good model in the registry (then ROLLBACK)");
      d.whatWouldChange.push_back("production back within its objectives");
    }
    return d;
  }

  if (d.productionBreach) {
    d.reasons.push_back("production breaches an objective (" + std::to_string(d.breachStreak) + " of " +
                        std::to_string(needFails) + " cycles in a row needed for ROLLBACK): " + breachText());
    d.whatWouldChange.push_back(std::to_string(needFails - d.breachStreak) +
                                " more breaching cycle(s) of the same gate -> ROLLBACK; production back within "
                                "objectives -> no breach");
  }

  if (d.goGatesPass && d.passStreak >= needPasses && !d.productionBreach) {
    d.verdict = Verdict::Go;
    d.reasons.push_back("every gate passes with confidence for candidate " + shortSha(in.candidateSha) +
                        (needPasses > 1 ? " (" + std::to_string(d.passStreak) + " consecutive passing cycles)" : ""));
    return d;
  }

  d.verdict = Verdict::Pause;
  for (const auto& g : d.gates) {
    if (g.group == "production" || g.status == Outcome::Pass) continue;
    if (g.group == "policy" && g.id == "history.consecutive_breaches") continue;
    if (g.group == "policy" && !d.goGatesPass) continue;  // the streak is not the reason then
    std::string n = g.status == Outcome::Inconclusive ? needText(g.need) : "";
    d.reasons.push_back(gateName(g) + " " + toString(g.status) + ": " + g.reason +
                        (n.empty() ? "" : " (need " + n + ")"));
    if (std::string w = changeFor(g); !w.empty()) d.whatWouldChange.push_back(w);
  }
  if (d.goGatesPass && d.productionBreach)
    d.reasons.push_back("every candidate gate passes, but production is breaching: no GO while it does");
  if (d.reasons.empty()) d.reasons.push_back("PAUSE: not every gate passes");
  return d;
}

json historyFields(const PolicyInput& in, const Decision& d) {
  return {{"current_sha256", in.currentSha}, {"candidate_sha256", in.candidateSha},
          {"go_gates_pass", d.goGatesPass}, {"breaches", d.breaches}};
}

std::string verdictRecordProblem(const json& v) {
  if (!v.is_object()) return "not a JSON object";
  JsonFields f(v, "verdict record");
  f.require("cycle_id").require("finished_at").require("results");
  f.str("cycle_id");
  const std::string finished = f.str("finished_at");
  const json res = f.object("results");
  if (!f.ok()) return f.status().error().message();
  std::chrono::system_clock::time_point t;
  if (!parseIsoUtc(finished, &t)) return "finished_at '" + finished + "' is not an ISO-8601 UTC time";
  JsonFields r(res, "verdict record results");
  r.str("current_sha256");
  r.str("candidate_sha256");
  r.boolean("go_gates_pass");
  const json breaches = r.array("breaches");
  if (!r.ok()) return r.status().error().message();
  for (const auto& b : breaches)
    if (!b.is_string()) return "verdict record results: field 'breaches': expected strings";
  return "";
}

HistoryFacts countHistory(const std::vector<json>& verdicts, const std::string& cycleId,
                          const std::string& currentSha, const std::string& candidateSha,
                          std::chrono::system_clock::time_point now, double maxGapS) {
  using namespace std::chrono;
  HistoryFacts h;
  bool passOpen = !candidateSha.empty();
  std::set<std::string> open;
  if (!currentSha.empty())
    for (const auto& k : productionGateKeys()) open.insert(k);
  system_clock::time_point newer = now;
  for (auto it = verdicts.rbegin(); it != verdicts.rend() && (passOpen || !open.empty()); ++it) {
    const json& v = *it;
    if (!verdictRecordProblem(v).empty()) continue;  // the reader skipped and named it already
    if (v["cycle_id"].get<std::string>() == cycleId) continue;
    system_clock::time_point t;
    parseIsoUtc(v["finished_at"].get<std::string>(), &t);
    if (duration<double>(newer - t).count() > maxGapS) break;  // not in a row in time: every streak ends
    newer = t;
    JsonFields r(v["results"], "results");
    const std::string cur = r.str("current_sha256"), cand = r.str("candidate_sha256");
    if (passOpen) {
      if (cur == currentSha && cand == candidateSha && r.boolean("go_gates_pass")) ++h.passStreak;
      else passOpen = false;
    }
    std::set<std::string> breached;
    for (const auto& b : r.array("breaches")) breached.insert(b.get<std::string>());
    for (auto k = open.begin(); k != open.end();) {
      if (cur == currentSha && breached.count(*k)) {
        ++h.breachStreaks[*k];
        ++k;
      } else {
        k = open.erase(k);
      }
    }
  }
  return h;
}

std::optional<std::pair<double, double>> requestCounts(const Report& latency, const std::string& subject) {
  auto pick = [](const json& o) -> std::optional<std::pair<double, double>> {
    if (!o.is_object()) return std::nullopt;
    auto r = o.find("requests");
    auto e = o.find("errors");
    if (r == o.end() || e == o.end() || !r->is_number() || !e->is_number()) return std::nullopt;
    double req = r->get<double>(), err = e->get<double>();
    if (!(req >= 0) || !(err >= 0) || err > req) return std::nullopt;
    return std::make_pair(req, err);
  };
  if (latency.results.is_object() && latency.results.contains(subject))
    if (auto p = pick(latency.results[subject])) return p;
  // profile-latency: results.subjects.<subject>.scenarios.<scenario>.{samples, errors}, summed.
  if (latency.results.is_object() && latency.results.contains("subjects")) {
    const json& s = latency.results["subjects"];
    if (s.is_object() && s.contains(subject) && s[subject].is_object() && s[subject].contains("scenarios") &&
        s[subject]["scenarios"].is_object()) {
      double req = 0, err = 0;
      bool any = false;
      for (const auto& [name, run] : s[subject]["scenarios"].items()) {
        if (!run.is_object() || !run.contains("samples") || !run.contains("errors") || !run["samples"].is_number() ||
            !run["errors"].is_number())
          continue;
        req += run["samples"].get<double>();
        err += run["errors"].get<double>();
        any = true;
      }
      if (any && err <= req) return std::make_pair(req, err);
    }
  }
  if (const Check* c = latency.findCheck("latency.error_rate", subject)) return pick(c->detail);
  return std::nullopt;
}

ErrorBudget computeErrorBudget(const std::vector<Report>& latencyHistory, const std::string& currentSha,
                               double maxErrorRate, double windowH,
                               std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  ErrorBudget b;
  b.windowH = windowH;
  std::set<std::string> seen;
  for (const auto& r : latencyHistory) {
    if (!seen.insert(r.cycleId).second) continue;
    system_clock::time_point t;
    if (!parseIsoUtc(r.finishedAt, &t)) continue;
    double ageH = duration<double>(now - t).count() / 3600.0;
    if (ageH < -300.0 / 3600.0 || ageH > windowH) continue;
    auto it = r.subjects.find("current");
    if (!currentSha.empty() && (it == r.subjects.end() || it->second.sha256 != currentSha)) continue;
    auto counts = requestCounts(r, "current");
    if (!counts) continue;
    // An invalid run (the load generator itself fell behind) is not evidence
    // of production's errors, no more than of a breach: it spends no budget.
    if (const Check* v = r.findCheck("latency.valid", "current"); v && v->status == Outcome::Inconclusive) {
      ++b.invalidSkipped;
      continue;
    }
    b.requests += counts->first;
    b.errors += counts->second;
    ++b.cycles;
  }
  b.known = b.requests > 0;
  if (b.known) {
    b.allowedErrors = maxErrorRate * b.requests;
    b.consumed = b.errors / b.allowedErrors;
    b.burnRate = (b.errors / b.requests) / maxErrorRate;
    b.exhausted = b.errors >= b.allowedErrors;
  }
  return b;
}

}  // namespace cvgate::decision

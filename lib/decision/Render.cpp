// The views of one decision: the verdict report, deployment_verdict.md, the
// --explain text and the Prometheus textfile. All are built from DecideResult.
#include <cmath>
#include <filesystem>
#include <sstream>

#include "common/Strings.h"
#include "common/Time.h"
#include "common/Version.h"
#include "decision/Decide.h"

namespace cvgate::decision {

namespace fs = std::filesystem;

namespace {

std::string shortSha(const std::string& s) { return s.empty() ? "(none)" : s.substr(0, 12); }

const Report* usable(const PolicyInput& in, const std::string& kind) {
  for (const auto& lr : in.reports)
    if (lr.kind == kind && lr.state == LoadedReport::State::Accepted && lr.report &&
        lr.report->status != Outcome::Error)
      return &*lr.report;
  return nullptr;
}

const Check* checkOf(const PolicyInput& in, const std::string& kind, const std::string& id,
                     const std::string& subject) {
  const Report* r = usable(in, kind);
  return r ? r->findCheck(id, subject) : nullptr;
}

json numOrNull(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? json(*v) : json(nullptr);
}
json ciOrNull(const std::optional<std::pair<double, double>>& ci) {
  return ci ? json::array({ci->first, ci->second}) : json(nullptr);
}

std::string fmtValue(std::optional<double> v, const std::string& unit) {
  if (!v || !std::isfinite(*v)) return "–";
  if (unit == "fraction") return fmtNum(100.0 * *v, 2) + " %";
  if (unit == "ms") return fmtNum(*v, 1) + " ms";
  if (unit == "1/s") return fmtNum(*v, 1) + " req/s";
  if (unit == "cycles" || unit == "problems") return fmtNum(*v, 0) + " " + unit;
  return fmtNum(*v, 3) + (unit.empty() ? "" : " " + unit);
}

std::string fmtInterval(const std::optional<std::pair<double, double>>& ci, const std::string& unit) {
  if (!ci) return "–";
  if (unit == "fraction") return "[" + fmtNum(100.0 * ci->first, 2) + ", " + fmtNum(100.0 * ci->second, 2) + "] %";
  return "[" + fmtNum(ci->first, unit == "ms" || unit == "1/s" ? 1 : 3) + ", " +
         fmtNum(ci->second, unit == "ms" || unit == "1/s" ? 1 : 3) + "]" + (unit.empty() ? "" : " " + unit);
}

std::string fmtObjective(const Gate& g) {
  if (!g.objective) return g.comparison.empty() ? "pass" : "–";
  return (g.comparison.empty() ? "" : g.comparison + " ") + fmtValue(g.objective, g.unit);
}

std::string statusWord(Outcome o) {
  switch (o) {
    case Outcome::Pass: return "pass";
    case Outcome::Fail: return "FAIL";
    case Outcome::Inconclusive: return "inconclusive";
    case Outcome::Error: return "ERROR";
  }
  return "?";
}

const Gate* gateOf(const Decision& d, const std::string& id, const std::string& subject) {
  for (const auto& g : d.gates)
    if (g.id == id && g.subject == subject) return &g;
  return nullptr;
}

std::string modelName(const PolicyInput& in, const std::string& role, const std::string& sha) {
  if (sha.empty()) return "";
  const auto& reg = in.registry;
  for (const auto* e : {reg.current ? &*reg.current : nullptr, reg.candidate ? &*reg.candidate : nullptr,
                        reg.rollbackTarget ? &*reg.rollbackTarget : nullptr})
    if (e && e->sha256 == sha) return e->name;
  for (const auto& lr : in.reports) {
    if (!lr.report) continue;
    auto it = lr.report->subjects.find(role);
    if (it != lr.report->subjects.end() && it->second.sha256 == sha && !it->second.model.empty())
      return it->second.model;
  }
  return "";
}

std::string describeModel(const PolicyInput& in, const std::string& role, const std::string& sha) {
  std::string n = modelName(in, role, sha);
  return (n.empty() ? std::string("model") : n) + " (" + shortSha(sha) + ")";
}

std::string relativeTo(const std::string& path, const std::string& dir) {
  std::error_code ec;
  fs::path a = fs::absolute(path, ec), b = fs::absolute(dir, ec);
  fs::path rel = fs::path(a).lexically_relative(b);
  if (rel.empty()) return path;
  return rel.string();
}

std::string oneLine(const DecideResult& r) {
  const auto& d = r.decision;
  const auto& in = r.input;
  std::string s = toString(d.verdict);
  if (d.verdict == Verdict::Go)
    s += " — candidate " + describeModel(in, "candidate", in.candidateSha) + " passes every gate";
  else if (d.verdict == Verdict::Rollback)
    s += " — production " + describeModel(in, "current", in.currentSha) + " breaches an objective; roll back to " +
         (in.registry.rollbackTarget ? describeModel(in, "", in.registry.rollbackTarget->sha256) : "(none)");
  else {
    // One line an operator reads first: the first reason, shortened; the
    // full reasons follow in their own section.
    std::string why = d.reasons.empty() ? std::string("not every gate passes") : d.reasons.front();
    if (why.size() > 160) {
      std::size_t cut = 157;
      while (cut > 0 && (static_cast<unsigned char>(why[cut]) & 0xC0) == 0x80) --cut;  // not mid-UTF-8
      why = why.substr(0, cut) + "...";
    }
    if (d.reasons.size() > 1) why += " (+" + std::to_string(d.reasons.size() - 1) + " more)";
    s += " — production stays on " + describeModel(in, "current", in.currentSha) + ": " + why;
  }
  if (r.action.type != "none")
    s += r.action.performed ? " (" + r.action.note + ")" : r.action.ok ? " (" + r.action.note + ")" : " — ACTION FAILED: " + r.action.error;
  return s;
}

}  // namespace

json kpisFrom(const PolicyInput& in) {
  json k = json::object();
  for (const char* s : {"current", "candidate"}) {
    json o = json::object();
    if (const Check* c = checkOf(in, "cvgate.latency", "latency.p95", s)) {
      o["p95_ms"] = numOrNull(c->value);
      o["p95_ci"] = ciOrNull(c->ci);
      o["p95_status"] = toString(c->status);
    }
    if (const Check* c = checkOf(in, "cvgate.latency", "latency.error_rate", s)) {
      o["error_rate"] = numOrNull(c->value);
      o["error_rate_ci"] = ciOrNull(c->ci);
    }
    if (const Check* c = checkOf(in, "cvgate.latency", "latency.throughput", s))
      o["throughput_rps"] = numOrNull(c->value);
    if (const Check* c = checkOf(in, "cvgate.compliance", "compliance.error_rate", s))
      o["compliance_error_rate"] = numOrNull(c->value);
    if (const Report* r = usable(in, "cvgate.compliance"); r && r->results.is_object() && r->results.contains(s)) {
      const json& sj = r->results[s];
      for (const char* key : {"compliance_rate", "compliance"})
        if (sj.is_object() && sj.contains(key)) {
          const json& v = sj[key];
          if (v.is_number()) o["compliance_rate"] = v;
          else if (v.is_object() && v.contains("rate") && v["rate"].is_number()) o["compliance_rate"] = v["rate"];
          break;
        }
    }
    if (std::string(s) == "candidate")
      if (const Check* c = checkOf(in, "cvgate.compliance", "compliance.uplift", s)) {
        o["uplift"] = numOrNull(c->value);
        o["uplift_ci"] = ciOrNull(c->ci);
      }
    k[s] = o;
  }
  return k;
}

Report makeVerdictReport(const ToolContext& ctx, const DecideResult& r) {
  const auto& in = r.input;
  const auto& d = r.decision;
  Report v = startReport(ctx, "cvgate.verdict");
  if (!in.currentSha.empty()) v.subjects["current"] = Subject{modelName(in, "current", in.currentSha), in.currentSha, ""};
  if (!in.candidateSha.empty())
    v.subjects["candidate"] = Subject{modelName(in, "candidate", in.candidateSha), in.candidateSha, ""};
  json reportShas = json::object();
  json reports = json::object();
  json problems = json::array();
  for (const auto& lr : in.reports) {
    reports[lr.kind] = lr.path;
    if (!lr.sha256.empty()) reportShas[lr.kind] = lr.sha256;
    std::string st = lr.state == LoadedReport::State::Accepted ? "accepted"
                     : lr.state == LoadedReport::State::Missing ? "missing" : "refused";
    if (lr.state != LoadedReport::State::Accepted)
      problems.push_back({{"kind", lr.kind}, {"path", lr.path}, {"state", st}, {"problem", lr.problem}});
  }
  v.inputs["reports_sha256"] = reportShas;
  for (const auto& g : d.gates) {
    Check c;
    c.id = g.id;
    c.subject = g.subject;
    c.status = g.status;
    c.value = g.value;
    c.threshold = g.objective;
    c.unit = g.unit;
    c.ci = g.ci;
    c.message = g.reason;
    c.need = g.need;
    c.detail = {{"group", g.group}, {"source", g.source}};
    v.checks.push_back(std::move(c));
  }
  if (d.verdict == Verdict::Go) v.status = Outcome::Pass;
  else if (d.verdict == Verdict::Rollback) v.status = Outcome::Fail;
  else {
    bool hard = false;
    for (const auto& g : d.gates)
      if (g.status == Outcome::Fail || g.status == Outcome::Error) hard = true;
    v.status = hard ? Outcome::Fail : Outcome::Inconclusive;
  }
  json gates = json::array();
  for (const auto& g : d.gates)
    gates.push_back({{"id", g.id}, {"subject", g.subject}, {"group", g.group}, {"value", numOrNull(g.value)},
                     {"objective", numOrNull(g.objective)}, {"comparison", g.comparison}, {"unit", g.unit},
                     {"ci", ciOrNull(g.ci)}, {"status", toString(g.status)}, {"reason", g.reason},
                     {"need", g.need.is_null() ? json(nullptr) : g.need}, {"source", g.source}});
  const auto& b = in.budget;
  json budget = {{"window_h", b.windowH}, {"cycles", b.cycles}, {"known", b.known}};
  if (b.known) {
    budget["requests"] = b.requests;
    budget["errors"] = b.errors;
    budget["allowed_errors"] = b.allowedErrors;
    budget["consumed"] = b.consumed;
    budget["remaining"] = std::max(0.0, 1.0 - b.consumed);
    budget["burn_rate"] = b.burnRate;
    budget["exhausted"] = b.exhausted;
  }
  json target = nullptr;
  if (in.registry.rollbackTarget)
    target = {{"sha256", in.registry.rollbackTarget->sha256}, {"name", in.registry.rollbackTarget->name},
              {"version", in.registry.rollbackTarget->version}};
  v.results = {
      {"verdict", toString(d.verdict)},
      {"exit_code", r.exitCode},
      {"dry_run", r.dryRun},
      {"summary", oneLine(r)},
      {"gates", gates},
      {"reasons", d.reasons},
      {"what_would_change", d.whatWouldChange},
      {"action", toJson(r.action)},
      {"reports", reports},
      {"report_problems", problems},
      {"incident", r.incidentIds.empty() ? json(nullptr) : json(r.incidentIds.front())},
      {"incidents", r.incidentIds},
      {"relay", r.relayPaths},
      {"production_breach", d.productionBreach},
      {"cycle_error", d.cycleError},
      {"rebaselined", r.rebaselined},
      {"integrity_breach", d.integrityBreach},
      {"history", {{"consecutive_passes", d.passStreak}, {"required_passes", in.decision.consecutivePassesForGo},
                   {"consecutive_breaches", d.breachStreak}, {"breach_streaks", d.breachStreaks},
                   {"required_breaches", in.decision.consecutiveFailsForRollback},
                   {"breach_confidence", in.decision.breachConfidence},
                   {"max_cycle_gap_s", in.decision.maxCycleGapS},
                   {"skipped", in.history.skipped}}},
      {"error_budget", budget},
      {"rollback_target", target},
      {"kpis", kpisFrom(in)},
  };
  v.results.update(historyFields(in, d));
  v.finishedAt = nowIsoUtc();
  return v;
}

std::string renderMarkdown(const DecideResult& r, const std::string& mdDir) {
  const auto& in = r.input;
  const auto& d = r.decision;
  std::ostringstream o;
  o << "# Deployment verdict: " << toString(d.verdict) << "\n\n";
  o << "**" << oneLine(r) << "**\n\n";
  o << "Cycle `" << in.cycleId << "` · decided " << r.verdict.finishedAt << " by decide " << kVersion
    << " · production " << describeModel(in, "current", in.currentSha) << " · candidate "
    << (in.candidateSha.empty() ? std::string("none") : describeModel(in, "candidate", in.candidateSha))
    << (r.dryRun ? " · **dry run: nothing changed**" : "") << "\n\n";

  o << "## Key figures\n\n";
  o << "| KPI | Objective | Current | Candidate | Interval (candidate) | Status |\n";
  o << "|---|---|---|---|---|---|\n";
  struct Row { const char* label; const char* id; const char* subject; const char* kind; };
  const Row rows[] = {
      {"P95 latency", "latency.p95", "candidate", "cvgate.latency"},
      {"Error rate (serving)", "latency.error_rate", "candidate", "cvgate.latency"},
      {"Throughput", "latency.throughput", "candidate", "cvgate.latency"},
      {"Load generator valid", "latency.valid", "candidate", "cvgate.latency"},
      {"Compliance uplift", "compliance.uplift", "candidate", "cvgate.compliance"},
      {"Error rate (evaluation)", "compliance.error_rate", "candidate", "cvgate.compliance"},
      {"Integration risk", "integration.risk", "candidate", "cvgate.integration"},
      {"Interface", "integration.interface", "candidate", "cvgate.integration"},
      {"Environment verified", "env.verified", "", ""},
      {"Rollback drill ready", "rollback.ready", "", ""},
      {"Candidate staged", "registry.candidate", "candidate", ""},
      {"Error budget used", "error_budget", "current", ""},
  };
  for (const auto& row : rows) {
    const Gate* g = gateOf(d, row.id, row.subject);
    if (!g) continue;
    std::string cur = "–";
    if (*row.kind) {
      if (const Check* c = checkOf(in, row.kind, row.id, "current")) {
        cur = fmtValue(c->value, c->unit.empty() ? g->unit : c->unit);
        if (c->status != Outcome::Pass) cur += " (" + statusWord(c->status) + ")";
      }
    } else if (std::string(row.id) == "error_budget") {
      cur = fmtValue(g->value, g->unit);
    }
    std::string cand = std::string(row.id) == "error_budget" ? "–" : fmtValue(g->value, g->unit);
    o << "| " << row.label << " | " << markdownCell(fmtObjective(*g)) << " | " << markdownCell(cur) << " | "
      << markdownCell(cand) << " | " << markdownCell(fmtInterval(g->ci, g->unit)) << " | " << statusWord(g->status)
      << " |\n";
  }
  o << "\nProduction checks (a FAIL here is a breach):";
  for (const auto& g : d.gates)
    if (g.group == "production") o << " " << g.id << " " << statusWord(g.status) << ";";
  o << "\n\n## Reasons\n\n";
  for (const auto& s : d.reasons) o << "- " << s << "\n";
  o << "\n## What would change the verdict\n\n";
  if (d.whatWouldChange.empty()) o << "- nothing: every gate passes\n";
  for (const auto& s : d.whatWouldChange) o << "- " << s << "\n";
  o << "\n## Actions taken\n\n- " << (r.action.type == "none" ? std::string("none") : r.action.type) << ": "
    << r.action.note << (r.action.ok ? "" : " (error: " + r.action.error + ")") << "\n";
  if (!r.incidentIds.empty()) {
    o << "- incidents: ";
    std::vector<std::string> links;
    for (const auto& id : r.incidentIds)
      links.push_back("[" + id + "](" + relativeTo((fs::path(r.stateDir) / "feeds" / "incidents" / (id + ".json")).string(), mdDir) + ")");
    o << join(links, ", ") << "\n";
  }
  for (const auto& p : r.relayPaths) o << "- innovation relay: " << (p.rfind("(dry", 0) == 0 ? p : relativeTo(p, mdDir)) << "\n";
  const auto& b = in.budget;
  o << "\n## Error budget\n\n";
  if (b.known)
    o << "Current model over the last " << fmtNum(b.windowH, 1) << " h (" << b.cycles << " cycles): "
      << fmtNum(b.errors, 0) << " errors in " << fmtNum(b.requests, 0) << " requests; budget "
      << fmtNum(b.allowedErrors, 1) << " errors (" << fmtNum(100.0 * in.objectives.maxErrorRate, 2)
      << " %); consumed " << fmtNum(100.0 * b.consumed, 1) << " %, burn rate " << fmtNum(b.burnRate, 2)
      << (b.exhausted ? " — **exhausted**" : "") << ".\n";
  else
    o << "No request counts of the current model in the last " << fmtNum(b.windowH, 1) << " h.\n";
  o << "\n## Reports of this cycle\n\n";
  for (const auto& lr : in.reports) {
    std::string st = lr.state == LoadedReport::State::Accepted
                         ? (lr.report ? "status " + toString(lr.report->status) : std::string("accepted"))
                         : (lr.state == LoadedReport::State::Missing ? "MISSING" : "REFUSED") + std::string(": ") + lr.problem;
    if (lr.state == LoadedReport::State::Missing) o << "- " << lr.kind << ": " << markdownCell(st) << "\n";
    else o << "- [" << lr.kind << "](" << relativeTo(lr.path, mdDir) << ") — " << markdownCell(st) << "\n";
  }
  if (!r.verdictPath.empty()) o << "- [verdict JSON](" << relativeTo(r.verdictPath, mdDir) << ")\n";
  o << "\n## All gates\n\n| Gate | Subject | Group | Status | Value | Objective | Interval | Why |\n|---|---|---|---|---|---|---|---|\n";
  for (const auto& g : d.gates)
    o << "| " << g.id << " | " << (g.subject.empty() ? "–" : g.subject) << " | " << g.group << " | "
      << statusWord(g.status) << " | " << markdownCell(fmtValue(g.value, g.unit)) << " | " << markdownCell(fmtObjective(g))
      << " | " << markdownCell(fmtInterval(g.ci, g.unit)) << " | " << markdownCell(g.reason) << " |\n";
  return o.str();
}

std::string renderExplain(const DecideResult& r) {
  const auto& in = r.input;
  const auto& d = r.decision;
  std::ostringstream o;
  o << "decide: cycle " << in.cycleId << "\n";
  o << "  production " << describeModel(in, "current", in.currentSha) << ", candidate "
    << (in.candidateSha.empty() ? std::string("none") : describeModel(in, "candidate", in.candidateSha)) << "\n\n";
  o << "Reports:\n";
  for (const auto& lr : in.reports) {
    o << "  " << lr.kind << ": ";
    if (lr.state == LoadedReport::State::Accepted) o << "accepted, status " << toString(lr.report->status) << " (" << lr.path << ")\n";
    else o << (lr.state == LoadedReport::State::Missing ? "MISSING" : "REFUSED") << " - " << lr.problem << "\n";
  }
  auto section = [&](const char* group, const char* title) {
    o << "\n" << title << "\n";
    for (const auto& g : d.gates) {
      if (g.group != group) continue;
      o << "  [" << statusWord(g.status) << "] " << g.id << (g.subject.empty() ? "" : " (" + g.subject + ")") << "\n";
      o << "      value " << fmtValue(g.value, g.unit) << ", interval " << fmtInterval(g.ci, g.unit)
        << ", objective " << fmtObjective(g) << "\n";
      o << "      why: " << g.reason << "\n";
      if (g.need.is_object() && !g.need.empty()) o << "      more evidence needed: " << g.need.dump() << "\n";
    }
  };
  section("candidate", "Candidate gates (GO needs every one to pass):");
  section("production", "Production gates (a FAIL is a breach; ROLLBACK needs a breach and a verified known-good):");
  section("policy", "Policy:");
  o << "\nError budget: ";
  if (in.budget.known)
    o << fmtNum(in.budget.errors, 0) << " of " << fmtNum(in.budget.allowedErrors, 1) << " allowed errors used ("
      << fmtNum(100.0 * in.budget.consumed, 1) << " %), burn rate " << fmtNum(in.budget.burnRate, 2) << "\n";
  else
    o << "no request counts in the window\n";
  o << "Rollback target: "
    << (in.registry.rollbackTarget ? describeModel(in, "", in.registry.rollbackTarget->sha256)
                                   : "none (" + in.registry.rollbackTargetProblem + ")")
    << "\n\n";
  o << "Verdict: " << toString(d.verdict) << "\n";
  for (const auto& s : d.reasons) o << "  because " << s << "\n";
  if (!d.whatWouldChange.empty()) {
    o << "What would change it:\n";
    for (const auto& s : d.whatWouldChange) o << "  - " << s << "\n";
  }
  o << "Action: " << r.action.note << (r.action.ok ? "" : " (error: " + r.action.error + ")") << "\n";
  if (!r.incidentIds.empty()) o << "Incidents: " << join(r.incidentIds, ", ") << "\n";
  o << "Exit status: " << r.exitCode << "\n";
  return o.str();
}

std::string renderProm(const DecideResult& r) {
  const auto& in = r.input;
  const auto& d = r.decision;
  std::ostringstream o;
  auto head = [&](const char* name, const char* help, const char* type = "gauge") {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  auto num = [](double v) {
    if (std::isnan(v)) return std::string("NaN");
    std::ostringstream s;
    s.precision(10);
    s << v;
    return s.str();
  };
  head("cvgate_verdict", "1 for the verdict of the last decided cycle, 0 for the others");
  for (Verdict v : {Verdict::Go, Verdict::Pause, Verdict::Rollback})
    o << "cvgate_verdict{verdict=\"" << toString(v) << "\"} " << (v == d.verdict ? 1 : 0) << "\n";
  head("cvgate_decide_exit_code", "exit status of decide for the last cycle (0 GO, 10 PAUSE, 20 ROLLBACK, 1 action failed)");
  o << "cvgate_decide_exit_code " << r.exitCode << "\n";
  head("cvgate_last_decision_timestamp_seconds", "Unix time of the last decision");
  o << "cvgate_last_decision_timestamp_seconds "
    << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() << "\n";
  json k = kpisFrom(in);
  struct M { const char* name; const char* key; const char* help; };
  const M ms[] = {{"cvgate_latency_p95_ms", "p95_ms", "P95 latency, ms"},
                  {"cvgate_error_rate", "error_rate", "serving error rate under load, fraction"},
                  {"cvgate_throughput_rps", "throughput_rps", "sustained throughput at the objectives, requests/s"},
                  {"cvgate_compliance_rate", "compliance_rate", "compliance rate on the evaluation set, fraction"},
                  {"cvgate_compliance_error_rate", "compliance_error_rate", "inference error rate on the evaluation set, fraction"}};
  for (const auto& m : ms) {
    bool any = false;
    for (const char* s : {"current", "candidate"}) any = any || (k[s].contains(m.key) && k[s][m.key].is_number());
    if (!any) continue;
    head(m.name, m.help);
    for (const char* s : {"current", "candidate"})
      if (k[s].contains(m.key) && k[s][m.key].is_number())
        o << m.name << "{subject=\"" << s << "\"} " << num(k[s][m.key].get<double>()) << "\n";
  }
  if (const Check* c = checkOf(in, "cvgate.latency", "latency.p95", "current"); c && c->ci) {
    head("cvgate_latency_p95_upper_ms", "upper confidence bound of P95 latency, ms");
    for (const char* s : {"current", "candidate"})
      if (const Check* cc = checkOf(in, "cvgate.latency", "latency.p95", s); cc && cc->ci)
        o << "cvgate_latency_p95_upper_ms{subject=\"" << s << "\"} " << num(cc->ci->second) << "\n";
  }
  if (k["candidate"].contains("uplift") && k["candidate"]["uplift"].is_number()) {
    head("cvgate_compliance_uplift", "relative compliance uplift of the candidate over production, fraction");
    o << "cvgate_compliance_uplift{subject=\"candidate\"} " << num(k["candidate"]["uplift"].get<double>()) << "\n";
    if (k["candidate"]["uplift_ci"].is_array())
      o << "cvgate_compliance_uplift_lower{subject=\"candidate\"} " << num(k["candidate"]["uplift_ci"][0].get<double>()) << "\n";
  }
  head("cvgate_gate_pass", "1 when the gate passed in the last cycle, 0 otherwise");
  for (const auto& g : d.gates)
    o << "cvgate_gate_pass{gate=\"" << g.id << "\",subject=\"" << (g.subject.empty() ? "environment" : g.subject)
      << "\",status=\"" << toString(g.status) << "\"} " << (g.status == Outcome::Pass ? 1 : 0) << "\n";
  if (in.budget.known) {
    head("cvgate_error_budget_remaining", "share of the error budget left in the window (negative: overspent)");
    o << "cvgate_error_budget_remaining{subject=\"current\"} " << num(1.0 - in.budget.consumed) << "\n";
    head("cvgate_error_budget_burn_rate", "observed error rate over the allowed error rate in the window");
    o << "cvgate_error_budget_burn_rate{subject=\"current\"} " << num(in.budget.burnRate) << "\n";
  }
  head("cvgate_consecutive_passes", "consecutive cycles whose candidate gates all passed");
  o << "cvgate_consecutive_passes{subject=\"candidate\"} " << d.passStreak << "\n";
  head("cvgate_production_breach", "1 when production breached an objective in the last cycle");
  o << "cvgate_production_breach{subject=\"current\"} " << (d.productionBreach ? 1 : 0) << "\n";
  head("cvgate_action_ok", "0 when the deploy or rollback decided on failed");
  o << "cvgate_action_ok{action=\"" << r.action.type << "\"} " << (r.action.ok ? 1 : 0) << "\n";
  head("cvgate_reports_refused", "reports of the cycle that were missing or refused");
  int bad = 0;
  for (const auto& lr : in.reports) bad += lr.state != LoadedReport::State::Accepted;
  o << "cvgate_reports_refused " << bad << "\n";
  return o.str();
}

}  // namespace cvgate::decision

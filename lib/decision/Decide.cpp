#include "decision/Decide.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "common/ExitCodes.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/TestHooks.h"
#include "common/Time.h"
#include "report/Feed.h"
#include "common/Json.h"

namespace cvgate::decision {

namespace fs = std::filesystem;

json toJson(const Action& a) {
  return json{{"type", a.type},
              {"performed", a.performed},
              {"ok", a.ok},
              {"error", a.error.empty() ? json(nullptr) : json(a.error)},
              {"from", a.from.empty() ? json(nullptr) : json(a.from)},
              {"to", a.to.empty() ? json(nullptr) : json(a.to)},
              {"at", a.at.empty() ? json(nullptr) : json(a.at)},
              {"note", a.note}};
}

namespace {

std::string shortSha(const std::string& s) { return s.empty() ? "(none)" : s.substr(0, 12); }

RegistryFacts gatherRegistry(std::optional<Registry>& reg, const std::string& stateDir, double lockTimeoutS) {
  RegistryFacts f;
  RegistryOptions ro;
  ro.lockTimeout = std::chrono::milliseconds(static_cast<long>(lockTimeoutS * 1000));
  auto opened = Registry::open(stateDir, ro);
  if (!opened.ok()) {
    f.error = opened.error().message();
    spdlog::warn("registry: {}", f.error);
    return f;
  }
  reg.emplace(std::move(*opened));
  f.available = true;
  const auto& st = reg->state();
  f.current = st.current;
  f.candidate = st.candidate;
  if (f.current) {
    auto v = reg->verifyObject(f.current->sha256);
    f.currentVerified = v.ok();
    if (!v.ok()) f.currentProblem = v.error().message();
  }
  if (f.candidate) {
    auto v = reg->verifyObject(f.candidate->sha256);
    f.candidateVerified = v.ok();
    if (!v.ok()) f.candidateProblem = v.error().message();
  }
  auto t = reg->rollbackTarget();
  if (t.ok()) f.rollbackTarget = *t;
  else f.rollbackTargetProblem = t.error().message();
  return f;
}

std::vector<json> readVerdicts(const std::string& stateDir, std::vector<std::string>& skipped) {
  FeedRead fr = readFeed(stateDir, "verdicts", verdictRecordProblem);
  skipped.insert(skipped.end(), fr.skipped.begin(), fr.skipped.end());
  std::vector<json> out;
  for (auto& e : fr.entries) out.push_back(std::move(e.doc));
  return out;
}

std::vector<Report> readLatencyHistory(const std::string& stateDir, std::vector<std::string>& skipped) {
  std::vector<Report> out;
  FeedRead fr = readFeed(stateDir, "v1_latency_feed", [&](const json& j) -> std::string {
    auto r = reportFromJson(j, "cvgate.latency");
    if (!r) return r.error().message();
    out.push_back(std::move(*r));
    return "";
  });
  skipped.insert(skipped.end(), fr.skipped.begin(), fr.skipped.end());
  return out;
}

/// The blessed figures a GO records for the model it makes current: the
/// compliance report's measurement of the candidate in this very cycle
/// (results.blessing.candidate, keyed by what produced it). Null otherwise.
json blessingFor(const PolicyInput& in, Verdict v) {
  if (v != Verdict::Go) return nullptr;
  for (const auto& lr : in.reports) {
    if (lr.kind != "cvgate.compliance" || lr.state != LoadedReport::State::Accepted || !lr.report) continue;
    const json& res = lr.report->results;
    if (!res.is_object() || !res.contains("blessing") || !res["blessing"].is_object()) continue;
    const json& b = res["blessing"];
    if (!b.contains("candidate") || !b["candidate"].is_object()) continue;
    return json{{"schema", "cvgate.blessed/1"}, {"model_sha256", in.candidateSha}, {"cycle_id", in.cycleId},
                {"recorded_at", nowIsoUtc()}, {"source", lr.path}, {"compliance", b["candidate"]}};
  }
  return nullptr;
}

/// Baselines follow production: when this cycle's compliance report found no
/// blessed figure for production (adopted, deployed by hand, or measured
/// under another key), its own measurement of production becomes the blessed
/// figure. Only when production did not change this cycle. Returns what was
/// recorded (null: nothing).
json rebaseline(std::optional<Registry>& reg, const PolicyInput& in, const Action& action, bool dryRun) {
  if (dryRun || !reg || action.performed || in.currentSha.empty()) return nullptr;
  for (const auto& lr : in.reports) {
    if (lr.kind != "cvgate.compliance" || lr.state != LoadedReport::State::Accepted || !lr.report) continue;
    const Check* c = lr.report->findCheck("compliance.regression", "current");
    if (!c || !c->detail.is_object() || c->detail.value("rebaseline", false) != true) return nullptr;
    const json& res = lr.report->results;
    if (!res.is_object() || !res.contains("blessing") || !res["blessing"].is_object() ||
        !res["blessing"].contains("current") || !res["blessing"]["current"].is_object())
      return nullptr;
    json rec = {{"schema", "cvgate.blessed/1"}, {"model_sha256", in.currentSha}, {"cycle_id", in.cycleId},
                {"recorded_at", nowIsoUtc()}, {"source", lr.path}, {"compliance", res["blessing"]["current"]},
                {"why", c->detail.value("reason", std::string())}};
    if (auto st = reg->bless(in.currentSha, rec); !st.ok()) {
      spdlog::warn("could not record production's blessed compliance: {}", st.error().message());
      return nullptr;
    }
    spdlog::info("baseline: recorded this cycle's compliance of production {} as its blessed figure ({})",
                 shortSha(in.currentSha), rec["why"].get<std::string>());
    return rec;
  }
  return nullptr;
}

/// Carry out a GO or ROLLBACK as a compare-and-swap on the registry: the
/// production model the cycle's reports judged is the one replaced, and the
/// candidate they judged (or the rollback target the verdict names) the one
/// installed. Whatever happens, the action says what production is afterwards.
Action act(std::optional<Registry>& reg, Verdict v, const PolicyInput& in, bool dryRun, const json& blessed) {
  const RegistryFacts& facts = in.registry;
  Action a;
  if (v == Verdict::Pause) {
    a.note = "none: production stays as it is";
    return a;
  }
  a.type = v == Verdict::Go ? "deploy" : "rollback";
  a.from = in.currentSha;
  const std::string want = v == Verdict::Go ? in.candidateSha
                                            : (facts.rollbackTarget ? facts.rollbackTarget->sha256 : "");
  if (dryRun) {
    a.note = "dry run: would " + a.type + (v == Verdict::Go ? " candidate " : " to ") + shortSha(want);
    a.to = want;
    return a;
  }
  a.at = nowIsoUtc();
  if (!reg) {
    a.ok = false;
    a.error = "registry unavailable";
    a.note = a.type + " failed: " + a.error + "; production unchanged";
    return a;
  }
  Status done = v == Verdict::Go ? reg->deploy(in.cycleId, in.currentSha, want, blessed)
                                 : [&]() -> Status {
                                     auto e = reg->rollback(in.cycleId, in.currentSha, want);
                                     if (!e) return e.error();
                                     return okStatus();
                                   }();
  if (!done.ok()) {
    a.error = done.error().message();
    a.conflict = isRegistryConflict(done.error());
    // What is production now? Re-read (an interrupted operation is completed
    // or undone by the registry first) and say so, never assume.
    std::string now = "(unknown: the registry cannot be read)";
    if (reg->refresh().ok()) now = reg->state().current ? reg->state().current->sha256 : "";
    if (now == want) {
      a.performed = true;
      a.to = now;
      a.note = a.type + " of " + shortSha(want) + " reported an error (" + a.error +
               ") but was completed by the registry's recovery: production is now " + shortSha(now);
      spdlog::warn("{}", a.note);
      return a;
    }
    a.ok = false;
    a.to = now;
    a.note = a.type + (a.conflict ? " refused: " : " failed: ") + a.error +
             (now == a.from ? "; production unchanged (" + shortSha(now) + ")" : "; production is now " + shortSha(now));
    spdlog::error("{}", a.note);
    return a;
  }
  a.performed = true;
  const auto& st = reg->state();
  a.to = st.current ? st.current->sha256 : "";
  a.note = (v == Verdict::Go ? "deployed " : "rolled back to ") +
           (st.current ? st.current->name + " " + st.current->version + " (" + shortSha(a.to) + ")" : "(none)") +
           ", replacing " + shortSha(a.from);
  spdlog::info("{}", a.note);
  return a;
}

}  // namespace

Expected<DecideResult> runDecide(const ToolContext& ctx, const DecideOptions& opts) {
  const auto now = opts.now.value_or(std::chrono::system_clock::now());
  DecideResult r;
  r.dryRun = opts.dryRun;
  r.stateDir = ctx.stateDir;
  PolicyInput& in = r.input;
  in.cycleId = ctx.cycleId;
  in.objectives = ctx.config.objectives;
  in.decision = ctx.config.decision;

  for (const auto& [kind, file] : opts.reportFiles) {
    bool known = false;
    for (const auto& s : reportSlots()) known = known || kind == s.kind;
    if (!known) return internalError("report file for unknown kind '" + kind + "'");
    if (!fs::exists(file)) return badInput("'" + file + "': no such report file");
  }

  // 1. The cycle's reports.
  for (const auto& slot : reportSlots()) {
    auto it = opts.reportFiles.find(slot.kind);
    std::string path = it != opts.reportFiles.end() ? it->second : feedPath(ctx.stateDir, slot.channel, ctx.cycleId);
    in.reports.push_back(loadReport(slot, path));
    const auto& lr = in.reports.back();
    if (lr.state != LoadedReport::State::Accepted) spdlog::warn("{}", lr.problem);
  }

  // 2. The registry.
  std::optional<Registry> reg;
  in.registry = gatherRegistry(reg, ctx.stateDir, ctx.config.decision.registryLockTimeoutS);

  // 3. Which models the cycle is about; screen the reports against them.
  std::string pinCurrent = ctx.config.models.currentSha256, pinCandidate = ctx.config.models.candidateSha256;
  if (!ctx.options.current.empty() && pinCurrent.empty()) {
    CVGATE_TRY_ASSIGN(sha, sha256File(ctx.options.current));
    pinCurrent = sha;
  }
  if (!ctx.options.candidate.empty() && ctx.options.candidate != "none" && pinCandidate.empty()) {
    CVGATE_TRY_ASSIGN(sha, sha256File(ctx.options.candidate));
    pinCandidate = sha;
  }
  chooseSubjects(in, pinCurrent, pinCandidate);
  screenReports(in, now);
  for (const auto& lr : in.reports)
    if (lr.state == LoadedReport::State::Refused) spdlog::warn("{}", lr.problem);

  // 4. History and error budget.
  std::vector<std::string> skipped;
  in.history = countHistory(readVerdicts(ctx.stateDir, skipped), ctx.cycleId, in.currentSha, in.candidateSha, now,
                            in.decision.maxCycleGapS);
  auto latencyHistory = readLatencyHistory(ctx.stateDir, skipped);
  in.history.skipped = skipped;
  for (const auto& lr : in.reports)
    if (lr.kind == "cvgate.latency" && lr.state == LoadedReport::State::Accepted) latencyHistory.insert(latencyHistory.begin(), *lr.report);
  in.budget = computeErrorBudget(latencyHistory, in.currentSha, in.objectives.maxErrorRate,
                                 in.decision.errorBudgetWindowH, now);

  // 5. The policy.
  r.decision = evaluatePolicy(in);
  spdlog::info("verdict {} for cycle {}", toString(r.decision.verdict), ctx.cycleId);

  // 6. Act.
  testHold("decide-before-act");
  r.action = act(reg, r.decision.verdict, in, opts.dryRun, blessingFor(in, r.decision.verdict));
  if (r.action.conflict) {
    // The registry changed under this cycle (another model staged, or
    // production changed by hand): the evidence is about models that are no
    // longer the ones in question. Nothing was changed; hold.
    r.decision.verdict = Verdict::Pause;
    r.decision.reasons.insert(r.decision.reasons.begin(),
                              "the registry changed while this cycle was deciding (" + r.action.error +
                                  "); nothing was changed; the next cycle judges what the registry holds now");
    r.action.ok = true;
  }
  try {
    r.rebaselined = rebaseline(reg, in, r.action, opts.dryRun);
  } catch (const json::exception& e) {
    spdlog::warn("baseline: the compliance report's figures have a field of the wrong type: {}", e.what());
  }

  // 7. Incidents.
  {
    std::vector<IncidentUpdate> open;
    std::vector<std::string> resolved;
    const auto& d = r.decision;
    json gatesFailing = json::array();
    for (const auto& g : d.gates)
      if (g.group == "production" && g.status == Outcome::Fail)
        gatesFailing.push_back({{"gate", g.id}, {"subject", g.subject}, {"value", g.value ? json(*g.value) : json(nullptr)},
                                {"objective", g.objective ? json(*g.objective) : json(nullptr)}, {"reason", g.reason}});
    if (d.productionBreach) {
      IncidentUpdate u;
      u.key = "production-breach";
      u.what = d.noRollbackTarget ? "production breaching, no rollback target"
               : d.verdict == Verdict::Rollback ? "production breached an objective; rolled back"
                                                : "production breaches an objective";
      u.evidence = {{"cycle_id", ctx.cycleId}, {"current_sha256", in.currentSha}, {"failing", gatesFailing},
                    {"breach_streak", d.breachStreak}};
      u.action = r.action.note;
      open.push_back(u);
    } else {
      bool measured = true;
      for (const auto& g : d.gates)
        if (g.group == "production" && g.status == Outcome::Error) measured = false;
      if (measured) resolved.push_back("production-breach");
    }
    if (d.cycleError || !r.action.ok) {
      IncidentUpdate u;
      u.key = "cycle-error";
      u.what = !r.action.ok ? "the " + r.action.type + " failed" : "cycle could not be fully evaluated";
      json problems = d.cycleProblems;
      if (!r.action.ok) problems.push_back(r.action.note);
      u.evidence = {{"cycle_id", ctx.cycleId}, {"problems", problems}};
      u.action = r.action.note;
      open.push_back(u);
    } else {
      resolved.push_back("cycle-error");
    }
    CVGATE_TRY_ASSIGN(ids, updateIncidents(ctx.stateDir, ctx.cycleId, open, resolved, opts.dryRun, nowIsoUtc()));
    r.incidentIds = ids;
  }

  // 8. Innovation relay.
  {
    // The reports' results are free-form: a field of an unexpected type there
    // costs this cycle its discoveries, never its verdict.
    std::vector<Discovery> found;
    try {
      found = findDiscoveries(in, ctx.config);
    } catch (const json::exception& e) {
      spdlog::warn("innovation relay: a report's results have a field of an unexpected type ({}); no discoveries "
                   "relayed this cycle", e.what());
      in.history.skipped.push_back("discoveries: a report's results have a field of an unexpected type (" +
                                   std::string(e.what()) + ")");
    }
    CVGATE_TRY_ASSIGN(paths, publishDiscoveries(ctx.stateDir, ctx.cycleId, found, opts.dryRun));
    r.relayPaths = paths;
  }

  // 9. Exit code: the verdict's, or 1 when the action it called for failed.
  r.exitCode = r.action.ok ? exitCodeFor(r.decision.verdict) : exitcode::kInternal;

  // 10. The verdict report: feed, deployment_verdict.md, --out/--explain, --prom, --html.
  r.verdict = makeVerdictReport(ctx, r);
  if (!opts.dryRun) {
    CVGATE_TRY_ASSIGN(p, publishReport(ctx.stateDir, r.verdict));
    r.verdictPath = p;
    CVGATE_TRY(retainFeed(ctx.stateDir, "verdicts", ctx.config.feeds.retainCycles));
  }
  std::string md = opts.verdictMd.empty() ? (fs::path(ctx.stateDir) / "deployment_verdict.md").string() : opts.verdictMd;
  if (md != "-") {
    std::string dir = fs::path(md).parent_path().string();
    // Our own file in the state directory, or one the operator named.
    const std::string text = renderMarkdown(r, dir.empty() ? "." : dir);
    CVGATE_TRY(opts.verdictMd.empty() ? atomicWriteFile(md, text) : writeOutputFile(md, text));
    r.markdownPath = md;
  }
  // --explain goes to stdout in place of the JSON; with an explicit --out the
  // JSON goes there (to stdout with "--out -", and the explanation to stderr).
  const bool jsonToStdout = !opts.explain || (opts.outGiven && ctx.options.out == "-");
  if (opts.explain) (jsonToStdout ? std::cerr : std::cout) << renderExplain(r);
  if (!opts.explain || opts.outGiven) CVGATE_TRY(writeReport(ctx.options.out, r.verdict));
  if (!opts.prom.empty()) CVGATE_TRY(writeOutputFile(opts.prom, renderProm(r)));
  if (!opts.html.empty()) CVGATE_TRY(writeOutputFile(opts.html, renderDashboard(ctx.stateDir, ctx.config.objectives)));
  return r;
}

}  // namespace cvgate::decision

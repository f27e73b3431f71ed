// The policy of DESIGN.md section 6, gate by gate: what makes GO, PAUSE and
// ROLLBACK, refused reports, history streaks and the error budget.
#include <gtest/gtest.h>

#include <chrono>

#include "DecisionFixtures.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "decision/Decide.h"
#include "report/Feed.h"
#include "../core/TempDir.h"

using namespace cvgate;
using namespace cvgate::decision;
using namespace cvgate::decisiontest;

namespace {

const std::string kCycle = "20261125T2100Z-aaaa";
const Models kModels{std::string(64, 'a'), std::string(64, 'b')};
const std::string kKnownGood(64, 'c');

Decision decide(PolicyInput in, const std::string& pinCur = "", const std::string& pinCand = "") {
  chooseSubjects(in, pinCur, pinCand);
  screenReports(in, std::chrono::system_clock::now());
  return evaluatePolicy(in);
}

const Gate* gate(const Decision& d, const std::string& id, const std::string& subject) {
  for (const auto& g : d.gates)
    if (g.id == id && g.subject == subject) return &g;
  return nullptr;
}

std::string all(const std::vector<std::string>& v) { return join(v, "\n"); }

}  // namespace

TEST(Policy, AllGatesPassIsGo) {
  auto d = decide(inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Go) << all(d.reasons);
  EXPECT_TRUE(d.goGatesPass);
  EXPECT_FALSE(d.productionBreach);
  EXPECT_FALSE(d.cycleError);
  for (const char* id : {"latency.p95", "latency.error_rate", "latency.throughput", "latency.valid",
                         "compliance.uplift", "compliance.error_rate", "integration.risk", "integration.interface"}) {
    const Gate* g = gate(d, id, "candidate");
    ASSERT_NE(g, nullptr) << id;
    EXPECT_EQ(g->status, Outcome::Pass) << id;
  }
  const Gate* p95 = gate(d, "latency.p95", "candidate");
  EXPECT_DOUBLE_EQ(*p95->value, 6.0);
  EXPECT_DOUBLE_EQ(*p95->objective, 500.0);
  ASSERT_TRUE(p95->ci);
  EXPECT_DOUBLE_EQ(p95->ci->second, 6.7);
  EXPECT_EQ(gate(d, "env.verified", "")->status, Outcome::Pass);
  EXPECT_EQ(gate(d, "rollback.ready", "")->status, Outcome::Pass);
}

TEST(Policy, OneInconclusiveGateIsPauseWithTheEvidenceNeeded) {
  auto reports = cycleReports(kCycle, kModels);
  setCheck(reports[2], "compliance.uplift", "candidate", Outcome::Inconclusive, json{{"samples", 1200}},
           "uplift CI [0.01, 0.09] straddles 0.03");
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_FALSE(d.goGatesPass);
  EXPECT_NE(all(d.reasons).find("compliance.uplift (candidate) inconclusive"), std::string::npos) << all(d.reasons);
  EXPECT_NE(all(d.reasons).find("1200 more samples"), std::string::npos) << all(d.reasons);
  EXPECT_NE(all(d.whatWouldChange).find("1200 more samples"), std::string::npos) << all(d.whatWouldChange);
  EXPECT_EQ(gate(d, "compliance.uplift", "candidate")->need["samples"], 1200);
}

TEST(Policy, ACandidateFailIsPauseAndSaysWhatWouldChange) {
  auto reports = cycleReports(kCycle, kModels);
  for (auto& c : reports[1].checks)
    if (c.id == "latency.p95" && c.subject == "candidate") {
      c.status = Outcome::Fail;
      c.value = 640;
      c.ci = std::make_pair(610.0, 700.0);
    }
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_FALSE(d.productionBreach);  // the candidate being slow is not a production breach
  EXPECT_NE(all(d.whatWouldChange).find("latency.p95 (candidate): its interval must lie below 500"), std::string::npos)
      << all(d.whatWouldChange);
}

TEST(Policy, ConfigObjectiveStricterThanTheToolsThresholdDowngradesAPass) {
  auto in = inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle);
  in.objectives.p95LatencyMs = 6.5;  // candidate p95 CI [5.5, 6.7]: straddles 6.5
  auto d = decide(in);
  EXPECT_EQ(gate(d, "latency.p95", "candidate")->status, Outcome::Inconclusive);
  EXPECT_EQ(d.verdict, Verdict::Pause);
  in.objectives.p95LatencyMs = 5.0;  // lower bound 5.5 >= 5: fail
  EXPECT_EQ(gate(decide(in), "latency.p95", "candidate")->status, Outcome::Fail);
}

TEST(Policy, AConfirmedProductionBreachWithAKnownGoodIsRollback) {
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.p95");
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  in.history.breachStreaks["latency.p95/current"] = 2;  // this is the third cycle in a row
  auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Rollback) << all(d.reasons);
  EXPECT_TRUE(d.productionBreach);
  EXPECT_NE(all(d.reasons).find("400 of 2000 requests took 500.0 ms or longer"), std::string::npos) << all(d.reasons);
  EXPECT_NE(all(d.reasons).find("fashion-mlp-v0"), std::string::npos);
}

TEST(Policy, EveryProductionCheckCanTriggerRollback) {
  const std::vector<std::pair<int, std::string>> which = {{1, "latency.p95"},           {1, "latency.error_rate"},
                                                          {2, "compliance.error_rate"}, {2, "compliance.regression"},
                                                          {0, "env.golden"},            {0, "env.model_hash"}};
  for (const auto& [slot, id] : which) {
    auto reports = cycleReports(kCycle, kModels);
    breach(reports[static_cast<std::size_t>(slot)], id);
    auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
    in.history.breachStreaks[id + "/current"] = 2;
    auto d = decide(in);
    EXPECT_EQ(d.verdict, Verdict::Rollback) << id << ": " << all(d.reasons);
  }
  // Inconclusive about production is not a breach.
  auto reports = cycleReports(kCycle, kModels);
  setCheck(reports[1], "latency.p95", "current", Outcome::Inconclusive);
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_FALSE(d.productionBreach);
}

TEST(Policy, OneBreachingCycleIsNotARollback) {
  // Defect: consecutive_fails_for_rollback = 1 rolled a healthy model back
  // after one noisy hour. Now it takes 3 cycles in a row of the same gate.
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.error_rate");
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  auto first = decide(in);
  EXPECT_EQ(first.verdict, Verdict::Pause);
  EXPECT_TRUE(first.productionBreach);
  EXPECT_EQ(first.breachStreak, 1);
  EXPECT_NE(all(first.reasons).find("1 of 3 cycles in a row"), std::string::npos) << all(first.reasons);
  in.history.breachStreaks["latency.error_rate/current"] = 1;
  EXPECT_EQ(decide(in).verdict, Verdict::Pause);
  in.history.breachStreaks["latency.error_rate/current"] = 2;
  EXPECT_EQ(decide(in).verdict, Verdict::Rollback);
  // Streaks are per gate: two cycles of p95 then one of errors is no streak of 3.
  in.history.breachStreaks.clear();
  in.history.breachStreaks["latency.p95/current"] = 2;
  EXPECT_EQ(decide(in).verdict, Verdict::Pause);
}

TEST(Policy, AnIntegrityBreachRollsBackAtOnce) {
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[0], "env.model_hash");
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Rollback) << all(d.reasons);
  EXPECT_TRUE(d.integrityBreach);
}

TEST(Policy, AToolFailNotConfidentAtTheBreachLevelIsInconclusive) {
  // profile-latency fails a check at 95 %; decide rolls back only on a breach
  // at decision.breach_confidence (99 %): 28 errors of 2000 (1.4 %) has a 99 %
  // one-sided lower bound below 1 %.
  auto reports = cycleReports(kCycle, kModels);
  setCheck(reports[1], "latency.error_rate", "current", Outcome::Fail);
  for (auto& c : reports[1].checks)
    if (c.id == "latency.error_rate" && c.subject == "current") c.detail["errors"] = 28;
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  in.history.breachStreaks["latency.error_rate/current"] = 5;
  auto d = decide(in);
  EXPECT_FALSE(d.productionBreach);
  EXPECT_EQ(gate(d, "latency.error_rate", "current")->status, Outcome::Inconclusive);
  EXPECT_NE(gate(d, "latency.error_rate", "current")->reason.find("not a breach at 99 %"), std::string::npos);
  EXPECT_EQ(d.verdict, Verdict::Go);
}

TEST(Policy, AnInvalidRunIsNeverABreach) {
  // Defect: 40 requests issued 1.1 s late made latency.error_rate (current)
  // fail and decide answered ROLLBACK.
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.error_rate");
  for (auto& c : reports[1].checks)
    if (c.subject == "current" && c.id.rfind("latency.", 0) == 0) c.detail["valid"] = false;
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  in.history.breachStreaks["latency.error_rate/current"] = 2;
  auto d = decide(in);
  EXPECT_FALSE(d.productionBreach);
  EXPECT_NE(d.verdict, Verdict::Rollback);
  EXPECT_NE(gate(d, "latency.error_rate", "current")->reason.find("invalid"), std::string::npos);
}

TEST(Policy, ProductionIsJudgedOnlyAtItsOperatingPoint) {
  // Defect: production was judged at 200/s, twice the throughput objective.
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.p95");
  for (auto& c : reports[1].checks)
    if (c.subject == "current" && c.id == "latency.p95") c.detail["offered_rps"] = 200.0;
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  in.history.breachStreaks["latency.p95/current"] = 2;
  auto d = decide(in);
  EXPECT_FALSE(d.productionBreach);
  EXPECT_NE(gate(d, "latency.p95", "current")->reason.find("not at the operating point 100.0/s"), std::string::npos)
      << gate(d, "latency.p95", "current")->reason;
}

TEST(Policy, AFailedBehaviourCheckBlocksGo) {
  // Defect: a top-1 agreement drop that failed integration.behaviour scored
  // below blocking_risk and the verdict was GO.
  auto reports = cycleReports(kCycle, kModels);
  setCheck(reports[3], "integration.behaviour", "candidate", Outcome::Fail, nullptr,
           "top-1 agreement 0.70 (CI 0.64-0.76) < 0.80");
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_EQ(gate(d, "integration.behaviour", "candidate")->status, Outcome::Fail);
}

TEST(Policy, AReportNamingNoHashForASubjectItJudgesIsRefused) {
  // Defect: a report whose subjects is empty counted toward GO.
  auto reports = cycleReports(kCycle, kModels);
  reports[2].subjects.clear();
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_EQ(gate(d, "compliance.uplift", "candidate")->status, Outcome::Error);
  EXPECT_NE(all(d.reasons).find("names no sha256"), std::string::npos) << all(d.reasons);
}

TEST(Policy, AnInconclusiveCheckAboutAnAbsentCandidateIsNotRefused) {
  // Defect: with no candidate staged, the tools' inconclusive "no candidate"
  // checks made decide refuse whole reports, production's figures with them.
  auto reports = cycleReports(kCycle, kModels);
  reports[2].subjects.erase("candidate");
  for (auto& c : reports[2].checks)
    if (c.subject == "candidate") c.status = Outcome::Inconclusive;
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(all(d.reasons).find("names no sha256"), std::string::npos) << all(d.reasons);
  EXPECT_EQ(gate(d, "compliance.regression", "current")->status, Outcome::Pass) << all(d.reasons);
  EXPECT_EQ(d.verdict, Verdict::Pause);
}

TEST(Policy, NoRequestCountsMeanAnInconclusiveBudget) {
  // Defect: the error budget passed when no request counts existed.
  auto in = inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle);
  in.budget = ErrorBudget{};
  in.budget.windowH = 24;
  auto d = decide(in);
  EXPECT_EQ(gate(d, "error_budget", "current")->status, Outcome::Inconclusive);
  EXPECT_EQ(d.verdict, Verdict::Pause);
}

TEST(Policy, CorruptProductionBytesAreABreach) {
  auto facts = healthyRegistry(kModels, kKnownGood);
  facts.currentVerified = false;
  facts.currentProblem = "sha256 mismatch";
  auto d = decide(inputFrom(cycleReports(kCycle, kModels), facts, kCycle));
  EXPECT_EQ(d.verdict, Verdict::Rollback);
  EXPECT_EQ(gate(d, "registry.current", "current")->status, Outcome::Fail);
}

TEST(Policy, ProductionBreachWithoutKnownGoodIsPauseWithIncident) {
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[2], "compliance.regression");
  auto in = inputFrom(reports, healthyRegistry(kModels, ""), kCycle);
  in.history.breachStreaks["compliance.regression/current"] = 2;
  auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_TRUE(d.noRollbackTarget);
  EXPECT_NE(all(d.reasons).find("production breaching, no rollback target"), std::string::npos) << all(d.reasons);
}

TEST(Policy, ProductionBreachBlocksGoEvenWhenTheCandidatePasses) {
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.p95");
  auto in = inputFrom(reports, healthyRegistry(kModels, ""), kCycle);
  auto d = decide(in);
  EXPECT_NE(d.verdict, Verdict::Go);
}

TEST(Policy, StaleReportIsRefusedAndPauses) {
  auto reports = cycleReports(kCycle, kModels);
  reports[1].finishedAt = isoUtc(std::chrono::system_clock::now() - std::chrono::hours(3));
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_TRUE(d.cycleError);
  EXPECT_EQ(gate(d, "latency.p95", "candidate")->status, Outcome::Error);
  EXPECT_NE(all(d.reasons).find("stale"), std::string::npos) << all(d.reasons);
}

TEST(Policy, StaleProductionFailDoesNotRollBack) {
  auto reports = cycleReports(kCycle, kModels);
  breach(reports[1], "latency.p95");
  reports[1].finishedAt = isoUtc(std::chrono::system_clock::now() - std::chrono::hours(3));
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  in.history.breachStreaks["latency.p95/current"] = 2;
  auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_FALSE(d.productionBreach);
}

TEST(Policy, ReportOfAnotherCycleIsRefused) {
  auto reports = cycleReports(kCycle, kModels);
  reports[3].cycleId = "20261125T2000Z-bbbb";
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_NE(all(d.reasons).find("of cycle '20261125T2000Z-bbbb'"), std::string::npos) << all(d.reasons);
}

TEST(Policy, ReportAboutAnotherCandidateIsRefusedForIntegrity) {
  auto reports = cycleReports(kCycle, kModels);
  reports[2].subjects["candidate"].sha256 = std::string(64, 'e');
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_EQ(gate(d, "compliance.uplift", "candidate")->status, Outcome::Error);
  EXPECT_NE(all(d.reasons).find("integrity"), std::string::npos) << all(d.reasons);
}

TEST(Policy, ReportsAboutAnotherCurrentThanTheRegistrysAreRefused) {
  auto reports = cycleReports(kCycle, Models{std::string(64, 'f'), kModels.candidate});
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  for (const auto& g : d.gates)
    if (g.source.rfind("cvgate.", 0) == 0) {
      EXPECT_EQ(g.status, Outcome::Error) << g.id;
    }
}

TEST(Policy, PinnedShaOverridesTheRegistry) {
  auto d = decide(inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle), "",
                  std::string(64, '9'));
  EXPECT_EQ(d.verdict, Verdict::Pause);
}

TEST(Policy, MissingReportIsPause) {
  auto reports = cycleReports(kCycle, kModels);
  reports.erase(reports.begin() + 4);  // no rollback drill
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_EQ(gate(d, "rollback.ready", "")->status, Outcome::Error);
  EXPECT_NE(all(d.reasons).find("no rollback report"), std::string::npos) << all(d.reasons);
}

TEST(Policy, ErrorReportIsPauseWithItsReason) {
  auto reports = cycleReports(kCycle, kModels);
  reports[1] = errorReport("profile-latency", "cvgate.latency", kCycle, "killed after 300 s (timeout)");
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_TRUE(d.cycleError);
  EXPECT_NE(all(d.reasons).find("killed after 300 s"), std::string::npos) << all(d.reasons);
}

TEST(Policy, NoCandidateStagedIsPause) {
  Models noCand{kModels.current, ""};
  auto d = decide(inputFrom(cycleReports(kCycle, noCand), healthyRegistry(noCand, kKnownGood), kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_NE(all(d.reasons).find("no candidate is staged"), std::string::npos) << all(d.reasons);
}

TEST(Policy, CorruptStagedCandidateIsPause) {
  auto facts = healthyRegistry(kModels, kKnownGood);
  facts.candidateVerified = false;
  facts.candidateProblem = "bytes changed";
  auto d = decide(inputFrom(cycleReports(kCycle, kModels), facts, kCycle));
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_EQ(gate(d, "registry.candidate", "candidate")->status, Outcome::Fail);
}

TEST(Policy, MinorDriftStillVerifiesTheEnvironmentSevereDoesNot) {
  auto reports = cycleReports(kCycle, kModels);
  Check minor = check("env.drift.libc", "", Outcome::Fail);
  minor.severity = "minor";
  reports[0].checks.push_back(minor);
  reports[0].settleStatus();
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(gate(d, "env.verified", "")->status, Outcome::Pass);
  EXPECT_EQ(d.verdict, Verdict::Go);
  setCheck(reports[0], "env.drift.torch", "", Outcome::Fail);
  d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(gate(d, "env.verified", "")->status, Outcome::Fail);
  EXPECT_EQ(d.verdict, Verdict::Pause);
}

TEST(Policy, RollbackDrillNotReadyIsPause) {
  auto reports = cycleReports(kCycle, kModels);
  setCheck(reports[4], "rollback.rto", "", Outcome::Fail);
  auto d = decide(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle));
  EXPECT_EQ(gate(d, "rollback.ready", "")->status, Outcome::Fail);
  EXPECT_EQ(d.verdict, Verdict::Pause);
}

TEST(Policy, NConsecutivePassesBeforeGo) {
  auto in = inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle);
  in.decision.consecutivePassesForGo = 3;
  in.history.passStreak = 1;
  auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_TRUE(d.goGatesPass);
  EXPECT_EQ(gate(d, "history.consecutive_passes", "candidate")->need["cycles"], 1);
  in.history.passStreak = 2;
  EXPECT_EQ(decide(in).verdict, Verdict::Go);
}

TEST(Policy, HistoryCountsOnlyTheSameModelsInARowInTime) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  auto rec = [&](const std::string& cycle, int hoursAgo, const std::string& cur, const std::string& cand, bool pass,
                 std::vector<std::string> breaches) {
    return json{{"cycle_id", cycle}, {"finished_at", isoUtc(now - hours(hoursAgo))},
                {"results", {{"current_sha256", cur}, {"candidate_sha256", cand}, {"go_gates_pass", pass},
                             {"breaches", breaches}}}};
  };
  const std::string a = kModels.current, b = kModels.candidate, other(64, 'd');
  const std::string p95 = "latency.p95/current", err = "latency.error_rate/current";
  std::vector<json> v = {rec("c1", 5, a, b, true, {p95}), rec("c2", 4, a, other, true, {}),
                         rec("c3", 3, a, b, true, {p95, err}), rec("c4", 2, a, b, true, {p95}),
                         rec("c5", 1, a, b, true, {p95}), rec(kCycle, 0, a, b, false, {})};
  auto h = countHistory(v, kCycle, a, b, now, 7200);
  EXPECT_EQ(h.passStreak, 3);             // c5, c4, c3; c2 is another candidate
  EXPECT_EQ(h.breachStreaks[p95], 3);     // c5, c4, c3; c2 did not breach
  EXPECT_EQ(h.breachStreaks[err], 0);     // c5 did not breach errors
  // A gap in time ends every streak: the cycle before the last was 5 hours earlier.
  std::vector<json> gap = {rec("c1", 8, a, b, true, {p95}), rec("c2", 7, a, b, true, {p95}),
                           rec("c3", 1, a, b, true, {p95})};
  h = countHistory(gap, kCycle, a, b, now, 7200);
  EXPECT_EQ(h.breachStreaks[p95], 1);
  EXPECT_EQ(h.passStreak, 1);
  // The newest record itself too far in the past: nothing counts.
  h = countHistory(gap, kCycle, a, b, now + hours(3), 7200);
  EXPECT_EQ(h.breachStreaks[p95], 0);
}

TEST(Policy, APoisonedVerdictRecordIsNamedNotRead) {
  json bad = {{"cycle_id", 42}, {"finished_at", "2026-01-01T00:00:00Z"}, {"results", json::object()}};
  EXPECT_NE(verdictRecordProblem(bad).find("cycle_id"), std::string::npos) << verdictRecordProblem(bad);
  json badBreaches = {{"cycle_id", "c"}, {"finished_at", "2026-01-01T00:00:00Z"},
                      {"results", {{"breaches", {1, 2}}}}};
  EXPECT_NE(verdictRecordProblem(badBreaches), "");
  json good = {{"cycle_id", "c"}, {"finished_at", "2026-01-01T00:00:00Z"}, {"results", {{"breaches", {"x"}}}}};
  EXPECT_EQ(verdictRecordProblem(good), "");
  // countHistory passes over what it cannot read.
  auto h = countHistory({bad, badBreaches}, kCycle, kModels.current, kModels.candidate,
                        std::chrono::system_clock::now(), 7200);
  EXPECT_EQ(h.passStreak, 0);
}

TEST(Policy, ErrorBudgetExhaustedBlocksGo) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  std::vector<Report> history;
  for (int i = 0; i < 4; ++i) {
    Report r = latencyReport("c" + std::to_string(i), kModels);
    r.finishedAt = isoUtc(now - hours(i * 2));
    r.results["current"] = {{"requests", 1000}, {"errors", i == 1 ? 45 : 0}};
    history.push_back(r);
  }
  Report old = latencyReport("old", kModels);
  old.finishedAt = isoUtc(now - hours(30));  // outside the 24 h window
  old.results["current"] = {{"requests", 100000}, {"errors", 0}};
  history.push_back(old);
  Report otherModel = latencyReport("other", Models{std::string(64, 'd'), kModels.candidate});
  otherModel.results["current"] = {{"requests", 100000}, {"errors", 0}};
  history.push_back(otherModel);

  auto b = computeErrorBudget(history, kModels.current, 0.01, 24.0, now);
  ASSERT_TRUE(b.known);
  EXPECT_EQ(b.cycles, 4);
  EXPECT_DOUBLE_EQ(b.requests, 4000);
  EXPECT_DOUBLE_EQ(b.errors, 45);
  EXPECT_DOUBLE_EQ(b.allowedErrors, 40);
  EXPECT_TRUE(b.exhausted);
  EXPECT_NEAR(b.burnRate, 45.0 / 4000.0 / 0.01, 1e-12);

  auto in = inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle);
  in.budget = b;
  auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Pause);
  EXPECT_NE(all(d.reasons).find("error budget exhausted"), std::string::npos) << all(d.reasons);
  in.decision.blockGoOnExhaustedBudget = false;
  EXPECT_EQ(decide(in).verdict, Verdict::Go);
  in.decision.blockGoOnExhaustedBudget = true;
  in.budget = computeErrorBudget(history, kModels.current, 0.02, 24.0, now);  // 45 < 80 allowed
  EXPECT_FALSE(in.budget.exhausted);
  EXPECT_EQ(decide(in).verdict, Verdict::Go);
}

// An invalid run (the load generator fell behind on a loaded machine) is no
// more evidence of production's error rate than of a breach: seen by hand, a
// ResNet's invalid saturated run showed the budget 9975 % used and blocked GO.
TEST(Policy, AnInvalidRunSpendsNoErrorBudget) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  std::vector<Report> history;
  for (int i = 0; i < 3; ++i) {
    Report r = latencyReport("c" + std::to_string(i), kModels);
    r.finishedAt = isoUtc(now - hours(i));
    r.results["current"] = {{"requests", 1000}, {"errors", i == 0 ? 900 : 0}};
    if (i == 0)
      for (auto& c : r.checks)
        if (c.id == "latency.valid" && c.subject == "current") c.status = Outcome::Inconclusive;
    history.push_back(r);
  }
  auto b = computeErrorBudget(history, kModels.current, 0.01, 24.0, now);
  ASSERT_TRUE(b.known);
  EXPECT_EQ(b.cycles, 2);
  EXPECT_EQ(b.invalidSkipped, 1);
  EXPECT_DOUBLE_EQ(b.errors, 0);
  EXPECT_FALSE(b.exhausted);
  auto in = inputFrom(cycleReports(kCycle, kModels), healthyRegistry(kModels, kKnownGood), kCycle);
  in.budget = b;
  const auto d = decide(in);
  EXPECT_EQ(d.verdict, Verdict::Go) << all(d.reasons);
  // Only invalid runs: the budget is unknown, and says why.
  auto only = computeErrorBudget({history[0]}, kModels.current, 0.01, 24.0, now);
  EXPECT_FALSE(only.known);
  in.budget = only;
  bool said = false;
  for (const auto& g : decide(in).gates)
    if (g.id == "error_budget") said = g.reason.find("1 invalid left out") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(Policy, RequestCountsFallBackToTheErrorRateChecksDetail) {
  Report r = latencyReport(kCycle, kModels);
  r.results = json::object();
  auto c = requestCounts(r, "current");
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->first, 2000);
  r.checks.clear();
  EXPECT_FALSE(requestCounts(r, "current"));
}

TEST(Relay, DiscoveriesAreFoundAndDeduplicatedAcrossCycles) {
  cvgate::testing::TempDir tmp;
  auto reports = cycleReports(kCycle, kModels);
  reports[1].results["patch"] = {{"setting", {{"max_batch", 16}}}, {"improvement", 0.25}, {"subject", "current"}};
  reports[2].results["candidate"]["temperature"] = 1.42;
  reports[2].results["candidate"]["ece"] = 0.051;
  reports[2].results["candidate"]["ece_calibrated"] = 0.012;
  reports[2].results["per_class_delta"] = json::array(
      {{{"class", "Shirt"}, {"delta", -0.041}, {"p_holm", 0.003}}, {{"class", "Bag"}, {"delta", 0.02}, {"p_holm", 0.01}},
       {{"class", "Coat"}, {"delta", -0.01}, {"p_holm", 0.4}}});
  Check drift = check("env.drift.torch", "", Outcome::Fail);
  drift.severity = "severe";
  drift.detail = {{"locked", "2.1.0"}, {"found", "2.2.0"}};
  reports[0].checks.push_back(drift);
  Config cfg;
  auto in = inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle);
  auto found = findDiscoveries(in, cfg);
  std::vector<std::string> kinds;
  for (const auto& d : found) kinds.push_back(d.kind);
  EXPECT_EQ(join(kinds, ","), "optimisation_patch,calibration_temperature,class_regression,environment_drift");
  auto first = publishDiscoveries(tmp.path(), kCycle, found, false);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 4u);
  // The next cycle finds the same things (other measurements): nothing new.
  reports[1].results["patch"]["improvement"] = 0.31;
  auto again = findDiscoveries(inputFrom(reports, healthyRegistry(kModels, kKnownGood), "next"), cfg);
  auto second = publishDiscoveries(tmp.path(), "20261125T2200Z-bbbb", again, false);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  EXPECT_EQ(listFeed(tmp.path(), "innovation_relay").size(), 4u);
  // A small ECE gain or a patch below the margin is not news.
  reports[2].results["candidate"]["ece_calibrated"] = 0.049;
  reports[1].results["patch"]["improvement"] = 0.02;
  auto weak = findDiscoveries(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle), cfg);
  for (const auto& d : weak) EXPECT_NE(d.kind, "calibration_temperature");
  for (const auto& d : weak) EXPECT_NE(d.kind, "optimisation_patch");
}

TEST(Incidents, OpenUpdateResolve) {
  cvgate::testing::TempDir tmp;
  IncidentUpdate u{"production-breach", "production breaches an objective", json{{"cycle_id", "c1"}}, "none"};
  auto a = updateIncidents(tmp.path(), "c1", {u}, {}, false, "2026-01-01T00:00:00Z");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  auto b = updateIncidents(tmp.path(), "c2", {u}, {"cycle-error"}, false, "2026-01-01T01:00:00Z");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->front(), a->front());  // the same incident, updated
  auto all = readIncidents(tmp.path());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["cycles"], 2);
  EXPECT_EQ(all[0]["evidence"].size(), 2u);
  EXPECT_TRUE(all[0]["resolved_at"].is_null());
  auto c = updateIncidents(tmp.path(), "c3", {}, {"production-breach"}, false, "2026-01-01T02:00:00Z");
  ASSERT_TRUE(c.ok());
  all = readIncidents(tmp.path());
  EXPECT_EQ(all[0]["resolved_at"], "2026-01-01T02:00:00Z");
  EXPECT_EQ(all[0]["status"], "resolved");
  // A new breach after resolution opens a new incident.
  auto d = updateIncidents(tmp.path(), "c4", {u}, {}, false, "2026-01-01T03:00:00Z");
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->front(), a->front());
  EXPECT_EQ(readIncidents(tmp.path()).size(), 2u);
  // Dry run writes nothing.
  cvgate::testing::TempDir dry;
  ASSERT_TRUE(updateIncidents(dry.path(), "c1", {u}, {}, true, "2026-01-01T00:00:00Z").ok());
  EXPECT_TRUE(readIncidents(dry.path()).empty());
}

TEST(Policy, RequestCountsFromProfileLatencysScenarios) {
  Report r = latencyReport(kCycle, kModels);
  json scenarios = {{"server", {{"samples", 1200}, {"errors", 3}}}, {"single-stream", {{"samples", 300}, {"errors", 0}}}};
  r.results = json::object();
  r.results["subjects"]["current"]["scenarios"] = scenarios;
  auto c = requestCounts(r, "current");
  ASSERT_TRUE(c);
  EXPECT_DOUBLE_EQ(c->first, 1500);
  EXPECT_DOUBLE_EQ(c->second, 3);
}

TEST(Relay, ReadsTheToolsLayoutsAndDoesNotDoubleTheirOwnRelays) {
  cvgate::testing::TempDir tmp;
  auto reports = cycleReports(kCycle, kModels);
  reports[1].results["sweep"] = {
      {"subjects",
       {{"current",
         {{"speedup", 1.4}, {"best", "w2-b16"}, {"patch", {{"toml", "# patch (cycle X): 100/s -> 140/s\n[latency]\nmax_batch = 16\n"}}}}},
        {"candidate", {{"speedup", 1.0}, {"patch", nullptr}}}}}};
  reports[2].results["current"] = {{"temperature", 1.3}, {"ece", 0.04}, {"ece_after_temperature", 0.01}};
  reports[2].results["per_class_delta"] = json::array({{{"label", "Shirt"}, {"delta", -0.05}, {"p_holm", 0.001}}});
  Config cfg;
  auto found = findDiscoveries(inputFrom(reports, healthyRegistry(kModels, kKnownGood), kCycle), cfg);
  std::vector<std::string> kinds;
  for (const auto& d : found) kinds.push_back(d.kind + ":" + d.subject);
  EXPECT_EQ(join(kinds, ","), "optimisation_patch:current,calibration_temperature:current,class_regression:candidate");
  // The same patch measured in another cycle (other comment line) has the same key.
  auto again = reports;
  again[1].results["sweep"]["subjects"]["current"]["patch"]["toml"] = "# patch (cycle Y): 101/s -> 150/s\n[latency]\nmax_batch = 16\n";
  auto found2 = findDiscoveries(inputFrom(again, healthyRegistry(kModels, kKnownGood), kCycle), cfg);
  EXPECT_EQ(discoveryKey(found[0]), discoveryKey(found2[0]));
  // A patch its tool did not recommend is not relayed, whatever its speedup.
  auto unrecommended = reports;
  unrecommended[1].results["sweep"]["subjects"]["current"]["patch"]["recommended"] = false;
  auto found3 = findDiscoveries(inputFrom(unrecommended, healthyRegistry(kModels, kKnownGood), kCycle), cfg);
  std::vector<std::string> kinds3;
  for (const auto& d : found3) kinds3.push_back(d.kind + ":" + d.subject);
  EXPECT_EQ(join(kinds3, ","), "calibration_temperature:current,class_regression:candidate");
  // eval-compliance already relayed its temperature this cycle: decide does not repeat it.
  ASSERT_TRUE(publishJson(tmp.path(), "innovation_relay", kCycle + "-compliance-1",
                          json{{"schema", "cvgate.relay/1"}, {"kind", "calibration-temperature"}, {"cycle_id", kCycle},
                               {"subject", "current"}})
                  .ok());
  auto paths = publishDiscoveries(tmp.path(), kCycle, found, false);
  ASSERT_TRUE(paths.ok());
  EXPECT_EQ(paths->size(), 2u);
}

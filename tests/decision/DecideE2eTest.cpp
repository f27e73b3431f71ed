// decide end to end: the binary on fixture reports in the feeds and a real
// registry in a temporary state directory (fake model bytes: the registry
// never loads a model). Checks exit codes, the verdict JSON, the
// deployment_verdict.md, the registry after GO/ROLLBACK and after a dry run.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "RegistryOps.h"
#include "DecisionFixtures.h"
#include "common/Fs.h"
#include "registry/Registry.h"
#include "report/Feed.h"
#include "TempDir.h"
#include "ToolRun.h"

using namespace cvgate;
using namespace cvgate::decisiontest;
using cvgate::testing::runTool;
using cvgate::testing::schemaErrors;
using cvgate::testing::slurp;
using cvgate::testing::ToolRun;
namespace fs = std::filesystem;

namespace {


/// A state directory with a registry: current v1, known-good v0, candidate v2 staged.
class DecideE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    state = tmp.file("state");
    v0 = writeFakeModel(tmp.file("v0.pt"), 10);
    v1 = writeFakeModel(tmp.file("v1.pt"), 11);
    v2 = writeFakeModel(tmp.file("v2.pt"), 12);
    auto reg = Registry::open(state);
    ASSERT_TRUE(reg.ok()) << reg.error().message();
    ASSERT_TRUE(reg->setCurrent(tmp.file("v0.pt"), "fashion-mlp-v0", "0", nullptr, "boot").ok());
    ASSERT_TRUE(reg->stage(tmp.file("v1.pt"), "fashion-mlp-v1", "1", nullptr, "boot").ok());
    ASSERT_TRUE(::cvgate::testing::deployStaged(*reg, "boot").ok());
    ASSERT_TRUE(reg->stage(tmp.file("v2.pt"), "fashion-cnn-v2", "2", nullptr, "boot").ok());
    writeConfig("");
  }

  void writeConfig(const std::string& decisionExtra) {
    std::ofstream(tmp.file("cvgate.toml")) << "state_dir = \"" << state << "\"\n"
                                           << "[objectives]\nmin_compliance_uplift = 0.03\n"
                                           << "[decision]\n" << decisionExtra << "\n";
  }

  Models models() const { return Models{v1, v2}; }

  void publish(const std::vector<Report>& reports) {
    for (const auto& r : reports) ASSERT_TRUE(publishReport(state, r).ok());
  }

  ToolRun decide(const std::string& cycle, const std::string& extra = "") {
    return runTool("decide", "--config " + tmp.file("cvgate.toml") + " --cycle " + cycle + " " + extra, tmp.path());
  }

  RegistryState registry() {
    auto reg = Registry::open(state);
    EXPECT_TRUE(reg.ok());
    return reg->state();
  }

  cvgate::testing::TempDir tmp;
  std::string state, v0, v1, v2;
};

std::string str(const json& j) { return j.dump(); }

}  // namespace

TEST_F(DecideE2e, GoDeploysTheCandidateAndWritesTheVerdict) {
  const std::string cycle = "20261125T2100Z-0001";
  publish(cycleReports(cycle, models()));
  auto r = decide(cycle, "--html " + tmp.file("dash.html") + " --prom " + tmp.file("cvgate.prom"));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json v = r.json();
  ASSERT_FALSE(v.is_discarded()) << r.out;
  EXPECT_EQ(v["schema"], "cvgate.verdict/1");
  EXPECT_EQ(v["cycle_id"], cycle);
  EXPECT_EQ(v["results"]["verdict"], "GO");
  EXPECT_EQ(v["results"]["action"]["type"], "deploy");
  EXPECT_EQ(v["results"]["action"]["performed"], true);
  EXPECT_EQ(v["results"]["action"]["to"], v2);
  EXPECT_EQ(v["results"]["reports"]["cvgate.latency"], feedPath(state, "v1_latency_feed", cycle));
  EXPECT_EQ(v["subjects"]["candidate"]["sha256"], v2);
  // The registry now serves the candidate; the old current is known-good.
  auto st = registry();
  ASSERT_TRUE(st.current);
  EXPECT_EQ(st.current->sha256, v2);
  EXPECT_FALSE(st.candidate);
  ASSERT_FALSE(st.previous.empty());
  EXPECT_EQ(st.previous.front().sha256, v1);
  EXPECT_EQ(st.history.back().op, "deploy");
  EXPECT_EQ(st.history.back().cycleId.value_or(""), cycle);
  // The verdict is in the feed.
  EXPECT_TRUE(fs::exists(feedPath(state, "verdicts", cycle)));
  // deployment_verdict.md: one line, KPI table, reasons, actions, links.
  std::string md = slurp(state + "/deployment_verdict.md");
  EXPECT_NE(md.find("# Deployment verdict: GO"), std::string::npos) << md;
  EXPECT_NE(md.find("**GO — candidate fashion-cnn-v2"), std::string::npos) << md;
  EXPECT_NE(md.find("| KPI | Objective | Current | Candidate | Interval (candidate) | Status |"), std::string::npos);
  EXPECT_NE(md.find("| P95 latency | < 500.0 ms | 4.0 ms | 6.0 ms | [5.5, 6.7] ms | pass |"), std::string::npos) << md;
  EXPECT_NE(md.find("## What would change the verdict"), std::string::npos);
  EXPECT_NE(md.find("deployed fashion-cnn-v2 2"), std::string::npos) << md;
  EXPECT_NE(md.find("(feeds/v1_latency_feed/" + cycle + ".json)"), std::string::npos) << md;
  // Prometheus textfile.
  std::string prom = slurp(tmp.file("cvgate.prom"));
  EXPECT_NE(prom.find("# TYPE cvgate_latency_p95_ms gauge"), std::string::npos) << prom;
  EXPECT_NE(prom.find("cvgate_latency_p95_ms{subject=\"candidate\"} 6"), std::string::npos) << prom;
  EXPECT_NE(prom.find("cvgate_verdict{verdict=\"GO\"} 1"), std::string::npos) << prom;
  EXPECT_NE(prom.find("cvgate_error_budget_remaining{subject=\"current\"} 1"), std::string::npos) << prom;
  EXPECT_NE(slurp(tmp.file("dash.html")).find("<svg"), std::string::npos);
}

TEST_F(DecideE2e, DryRunLeavesRegistryAndFeedsUntouched) {
  const std::string cycle = "20261125T2100Z-0002";
  publish(cycleReports(cycle, models()));
  std::string before = slurp(state + "/registry/state.json");
  auto r = decide(cycle, "--dry-run");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["results"]["verdict"], "GO");
  EXPECT_EQ(r.json()["results"]["action"]["performed"], false);
  EXPECT_EQ(r.json()["results"]["dry_run"], true);
  EXPECT_EQ(slurp(state + "/registry/state.json"), before);
  EXPECT_EQ(registry().current->sha256, v1);
  EXPECT_FALSE(fs::exists(feedPath(state, "verdicts", cycle)));
  EXPECT_NE(slurp(state + "/deployment_verdict.md").find("dry run"), std::string::npos);
}

TEST_F(DecideE2e, ProductionBreachRollsBackToTheKnownGood) {
  writeConfig("consecutive_fails_for_rollback = 1");
  const std::string cycle = "20261125T2100Z-0003";
  auto reports = cycleReports(cycle, models());
  breach(reports[1], "latency.p95");
  publish(reports);
  auto r = decide(cycle);
  ASSERT_EQ(r.code, 20) << r.err << r.out;
  json v = r.json();
  EXPECT_EQ(v["results"]["verdict"], "ROLLBACK");
  EXPECT_EQ(v["results"]["action"]["type"], "rollback");
  EXPECT_EQ(v["results"]["action"]["to"], v0);
  EXPECT_EQ(registry().current->sha256, v0);
  EXPECT_EQ(registry().history.back().op, "rollback");
  // An incident is open and linked.
  ASSERT_TRUE(v["results"]["incident"].is_string()) << str(v["results"]);
  std::string id = v["results"]["incident"];
  json inc = json::parse(slurp(feedPath(state, "incidents", id)));
  EXPECT_TRUE(inc["resolved_at"].is_null());
  EXPECT_NE(str(inc["evidence"]).find("400 of 2000 requests took 500.0 ms or longer"), std::string::npos) << str(inc);
  EXPECT_NE(str(inc["action"]).find("rolled back to fashion-mlp-v0"), std::string::npos) << str(inc);
  std::string md = slurp(state + "/deployment_verdict.md");
  EXPECT_NE(md.find("# Deployment verdict: ROLLBACK"), std::string::npos);
  EXPECT_NE(md.find("feeds/incidents/" + id + ".json"), std::string::npos) << md;

  // Next cycle: production (now v0) is healthy, the incident is resolved.
  const std::string next = "20261125T2200Z-0004";
  publish(cycleReports(next, Models{v0, v2}));
  auto r2 = decide(next);
  EXPECT_EQ(r2.code, 0) << r2.err << r2.out;  // v2 is still staged and passes
  inc = json::parse(slurp(feedPath(state, "incidents", id)));
  EXPECT_EQ(inc["resolved_cycle"], next);
}

TEST_F(DecideE2e, ProductionBreachWithoutKnownGoodPausesAndOpensAnIncident) {
  // A registry with only a current model and a candidate.
  cvgate::testing::TempDir other;
  state = other.file("state");
  auto reg = Registry::open(state);
  ASSERT_TRUE(reg.ok());
  ASSERT_TRUE(reg->setCurrent(tmp.file("v1.pt"), "fashion-mlp-v1", "1", nullptr, "boot").ok());
  ASSERT_TRUE(reg->stage(tmp.file("v2.pt"), "fashion-cnn-v2", "2", nullptr, "boot").ok());
  writeConfig("consecutive_fails_for_rollback = 1");
  const std::string cycle = "20261125T2100Z-0005";
  auto reports = cycleReports(cycle, models());
  breach(reports[2], "compliance.regression");
  publish(reports);
  auto r = decide(cycle);
  ASSERT_EQ(r.code, 10) << r.err;
  json v = r.json();
  EXPECT_NE(str(v["results"]["reasons"]).find("production breaching, no rollback target"), std::string::npos);
  json inc = json::parse(slurp(feedPath(state, "incidents", v["results"]["incident"].get<std::string>())));
  EXPECT_EQ(inc["what"], "production breaching, no rollback target");
  EXPECT_EQ(registry().current->sha256, v1);
}

TEST_F(DecideE2e, InconclusiveIsPauseWithNeedAndExplainSaysWhy) {
  const std::string cycle = "20261125T2100Z-0006";
  auto reports = cycleReports(cycle, models());
  setCheck(reports[1], "latency.valid", "candidate", Outcome::Inconclusive, json{{"samples", 900}},
           "the load generator fell behind");
  publish(reports);
  auto r = decide(cycle, "--explain");
  ASSERT_EQ(r.code, 10) << r.err;
  EXPECT_TRUE(r.json().is_discarded()) << "--explain prints text in place of the JSON";
  EXPECT_NE(r.out.find("[inconclusive] latency.valid (candidate)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("more evidence needed: {\"samples\":900}"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Verdict: PAUSE"), std::string::npos) << r.out;
  EXPECT_EQ(registry().current->sha256, v1);
  json v = json::parse(slurp(feedPath(state, "verdicts", cycle)));
  EXPECT_NE(str(v["results"]["what_would_change"]).find("900 more samples"), std::string::npos);
  // --explain with --out: the JSON goes to the file.
  auto r2 = decide(cycle, "--explain --dry-run --out " + tmp.file("v.json"));
  EXPECT_EQ(r2.code, 10);
  EXPECT_NE(r2.out.find("Verdict: PAUSE"), std::string::npos);
  EXPECT_EQ(json::parse(slurp(tmp.file("v.json")))["results"]["verdict"], "PAUSE");
}

TEST_F(DecideE2e, MissingAndStaleReportsPauseWithReasons) {
  const std::string cycle = "20261125T2100Z-0007";
  auto reports = cycleReports(cycle, models());
  reports[3].finishedAt = "2020-01-01T00:00:00Z";
  reports.pop_back();  // no rollback report
  publish(reports);
  auto r = decide(cycle);
  ASSERT_EQ(r.code, 10) << r.err;
  std::string reasons = str(r.json()["results"]["reasons"]);
  EXPECT_NE(reasons.find("stale"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("no rollback report"), std::string::npos) << reasons;
  EXPECT_EQ(r.json()["results"]["report_problems"].size(), 2u);
  EXPECT_TRUE(r.json()["results"]["incident"].is_string());  // an errored cycle is an incident
}

TEST_F(DecideE2e, ReportFilesOnTheCommandLineAndTamperedCandidate) {
  const std::string cycle = "20261125T2100Z-0008";
  auto reports = cycleReports(cycle, Models{v1, std::string(64, '7')});  // measured another candidate
  std::string args;
  const char* flags[] = {"--env-report", "--latency-report", "--compliance-report", "--integration-report",
                         "--rollback-report"};
  for (std::size_t i = 0; i < 5; ++i) {
    std::string p = tmp.file("r" + std::to_string(i) + ".json");
    ASSERT_TRUE(writeReport(p, reports[i]).ok());
    args += std::string(" ") + flags[i] + " " + p;
  }
  auto r = decide(cycle, args);
  ASSERT_EQ(r.code, 10) << r.err;
  EXPECT_NE(str(r.json()["results"]["reasons"]).find("integrity"), std::string::npos);
  EXPECT_EQ(r.json()["results"]["reports"]["cvgate.env"], tmp.file("r0.json"));
  EXPECT_EQ(registry().current->sha256, v1);
}

TEST_F(DecideE2e, ConsecutivePassesAreCountedFromTheVerdictsFeed) {
  writeConfig("consecutive_passes_for_go = 2");
  const std::string c1 = "20261125T2100Z-0009", c2 = "20261125T2200Z-0010";
  publish(cycleReports(c1, models()));
  auto r1 = decide(c1);
  ASSERT_EQ(r1.code, 10) << r1.err;
  EXPECT_NE(str(r1.json()["results"]["reasons"]).find("1 consecutive passing cycle(s) of 2"), std::string::npos);
  publish(cycleReports(c2, models()));
  auto r2 = decide(c2);
  ASSERT_EQ(r2.code, 0) << r2.out;
  EXPECT_EQ(registry().current->sha256, v2);
}

TEST_F(DecideE2e, BadUsageIsExit2WithOneLine) {
  auto r = decide("20261125T2100Z-0011", "--latency-report " + tmp.file("nope.json"));
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "decide: error: '" + tmp.file("nope.json") + "': no such report file\n");
  auto r2 = decide("bad/cycle");
  EXPECT_EQ(r2.code, 2);
  EXPECT_NE(r2.err.find("decide: error: cycle id 'bad/cycle'"), std::string::npos) << r2.err;
  auto r3 = decide("x", "--no-such-flag");
  EXPECT_EQ(r3.code, 2);
}

TEST_F(DecideE2e, BusyRegistryIsPauseAndTheVerdictIsStillWritten) {
  writeConfig("registry_lock_timeout_s = 0");
  const std::string cycle = "20261125T2100Z-0012";
  publish(cycleReports(cycle, models()));
  // Another process (this one) holds the registry lock: decide cannot act, so no GO.
  std::string lock = state + "/registry/registry.lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto r = decide(cycle);
  ::flock(fd, LOCK_UN);
  ::close(fd);
  ASSERT_EQ(r.code, 10) << r.err << r.out;
  json v = r.json();
  EXPECT_EQ(v["results"]["verdict"], "PAUSE");
  EXPECT_NE(str(v["results"]["reasons"]).find("registry unavailable"), std::string::npos) << str(v["results"]);
  EXPECT_TRUE(fs::exists(feedPath(state, "verdicts", cycle)));
  EXPECT_EQ(registry().current->sha256, v1);
}

TEST_F(DecideE2e, OutputsValidateAgainstTheirJsonSchemas) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  if (std::system("/usr/bin/python3 -c 'import jsonschema' 2>/dev/null") != 0) GTEST_SKIP() << "no jsonschema";
  writeConfig("consecutive_fails_for_rollback = 1");
  const std::string cycle = "20261125T2100Z-0013";
  auto reports = cycleReports(cycle, models());
  breach(reports[1], "latency.p95");
  reports[2].results["candidate"]["temperature"] = 1.5;
  publish(reports);
  auto r = decide(cycle);
  ASSERT_EQ(r.code, 20) << r.err;
  std::ofstream(tmp.file("v.json")) << r.out;
  auto validate = [](const std::string& kind, const std::string& file) { return schemaErrors(kind, file); };
  EXPECT_EQ(validate("cvgate.verdict", tmp.file("v.json")), "");
  std::string inc = feedPath(state, "incidents", r.json()["results"]["incident"].get<std::string>());
  EXPECT_EQ(validate("cvgate.incident", inc), "");
  auto relay = listFeed(state, "innovation_relay");
  ASSERT_FALSE(relay.empty());
  EXPECT_EQ(validate("cvgate.relay", feedPath(state, "innovation_relay", relay[0])), "");
  // And a schema that is wrong for the record fails (the check can fail).
  EXPECT_NE(validate("cvgate.incident", tmp.file("v.json")), "");
}

TEST_F(DecideE2e, OnlyABreachInThreeCyclesInARowRollsBack) {
  // Defect: one noisy hour rolled production back. Three decide runs read
  // each other's verdicts from the feed: the first two PAUSE, the third
  // rolls back; a fourth after a gap in time would start again.
  const char* cycles[] = {"20261125T2100Z-0101", "20261125T2200Z-0102", "20261125T2300Z-0103"};
  for (int i = 0; i < 3; ++i) {
    auto reports = cycleReports(cycles[i], models());
    breach(reports[1], "latency.error_rate");
    publish(reports);
    auto r = decide(cycles[i]);
    const json v = r.json();
    EXPECT_EQ(v["results"]["history"]["breach_streaks"]["latency.error_rate/current"], i + 1) << str(v["results"]);
    if (i < 2) {
      EXPECT_EQ(r.code, 10) << r.err;
      EXPECT_EQ(registry().current->sha256, v1);
    } else {
      EXPECT_EQ(r.code, 20) << r.err;
      EXPECT_EQ(registry().current->sha256, v0);
    }
  }
}

TEST_F(DecideE2e, ACandidateStagedWhileDecideRunsIsNotDeployed) {
  // Defect: decide deployed whatever candidate was staged when it acted, not
  // the one its reports evaluated. Deterministic interleaving: decide holds
  // after judging and before acting while the test stages another model.
  const std::string cycle = "20261125T2100Z-0201";
  publish(cycleReports(cycle, models()));
  const std::string hold = tmp.file("hold");
  fs::create_directories(hold);
  const std::string cmd = "CVGATE_TEST_HOLD=decide-before-act CVGATE_TEST_HOLD_DIR='" + hold + "' '" +
                          cvgate::testing::binDir() + "/decide' --config " + tmp.file("cvgate.toml") + " --cycle " +
                          cycle + " >'" + tmp.file("d.out") + "' 2>'" + tmp.file("d.err") + "'; echo $? >'" +
                          tmp.file("d.rc") + "'";
  ASSERT_EQ(std::system(("( " + cmd + " ) &").c_str()), 0);
  auto waitFor = [](const std::string& p) {
    for (int i = 0; i < 12000 && !fs::exists(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return fs::exists(p);
  };
  ASSERT_TRUE(waitFor(hold + "/decide-before-act.reached"));
  const std::string v3 = writeFakeModel(tmp.file("v3.pt"), 13);
  {
    auto reg = Registry::open(state);
    ASSERT_TRUE(reg.ok());
    ASSERT_TRUE(reg->stage(tmp.file("v3.pt"), "fashion-cnn-v3", "3", nullptr, "by-hand").ok());
  }
  std::ofstream(hold + "/decide-before-act.go") << "go\n";
  ASSERT_TRUE(waitFor(tmp.file("d.rc")));
  EXPECT_EQ(std::stoi(slurp(tmp.file("d.rc"))), 10) << slurp(tmp.file("d.err"));
  const json v = json::parse(slurp(tmp.file("d.out")));
  EXPECT_EQ(v["results"]["verdict"], "PAUSE");
  EXPECT_EQ(v["results"]["action"]["performed"], false);
  EXPECT_NE(str(v["results"]["reasons"]).find("the registry changed while this cycle was deciding"), std::string::npos)
      << str(v["results"]["reasons"]);
  auto st = registry();
  EXPECT_EQ(st.current->sha256, v1);      // production unchanged
  EXPECT_EQ(st.candidate->sha256, v3);    // the newly staged model waits for its own cycle
  EXPECT_EQ(std::count_if(st.history.begin(), st.history.end(), [](const HistoryRecord& h) { return h.op == "deploy"; }),
            1)
      << "only the set-up's deploy";
}

TEST_F(DecideE2e, APoisonedHistoryNeverStopsTheGate) {
  // Defect: a deeply nested or wrong-typed entry in an old feed crashed
  // every later decide (SIGSEGV, or exit 1 with nlohmann's type_error).
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "[";
  cvgate::testing::writeText(feedPath(state, "verdicts", "20261125T1900Z-dead"), deep);
  cvgate::testing::writeText(feedPath(state, "verdicts", "20261125T1901Z-dead"),
                             R"({"schema":"cvgate.verdict/1","cycle_id":7,"finished_at":"x","results":{}})");
  cvgate::testing::writeText(feedPath(state, "v1_latency_feed", "20261125T1902Z-dead"),
                             R"({"schema":"cvgate.latency/1","tool":"x","cycle_id":"c","status":"pass",)"
                             R"("tool_version":5,"checks":[]})");
  const std::string cycle = "20261125T2100Z-0301";
  publish(cycleReports(cycle, models()));
  auto r = decide(cycle);
  ASSERT_EQ(r.code, 0) << r.err;
  const json skipped = r.json()["results"]["history"]["skipped"];
  ASSERT_EQ(skipped.size(), 3u) << skipped.dump(2);
  EXPECT_NE(skipped.dump().find("nested deeper than"), std::string::npos) << skipped.dump();
  EXPECT_NE(skipped.dump().find("field 'cycle_id': expected a string"), std::string::npos) << skipped.dump();
  EXPECT_NE(skipped.dump().find("field 'tool_version': expected a string"), std::string::npos) << skipped.dump();
}

TEST_F(DecideE2e, AFailedDeploySaysWhatProductionIsAfterwards) {
  const std::string cycle = "20261125T2100Z-0401";
  publish(cycleReports(cycle, models()));
  auto r = runTool("decide", "--config " + tmp.file("cvgate.toml") + " --cycle " + cycle,
                   tmp.path(), "", "CVGATE_REGISTRY_FAIL_AT=state-write");
  EXPECT_EQ(r.code, 1) << r.err;
  const json v = r.json();
  EXPECT_EQ(v["results"]["action"]["performed"], false);
  EXPECT_NE(v["results"]["action"]["note"].get<std::string>().find("production unchanged"), std::string::npos)
      << v["results"]["action"].dump();
  EXPECT_EQ(registry().current->sha256, v1);
  EXPECT_EQ(slurp(state + "/registry/current.pt").size(), slurp(tmp.file("v1.pt")).size());
}

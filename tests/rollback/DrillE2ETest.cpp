// simulate-rollback end to end: the drill on a registry with V1 known-good and
// V2 current passes with RTO figures and leaves production untouched; the
// first-deployment case targets the current model; no target fails; an empty
// registry is inconclusive; incompatible or drifting targets fail; the report
// validates against its JSON Schema; --format md writes the runbook.
#include <cctype>
#include <filesystem>
#include <fstream>

#include "E2EFixture.h"
#include "FixtureModels.h"
#include "common/Sha256.h"

namespace cvgate::rbtest {
namespace {

namespace fs = std::filesystem;

const nlohmann::json* check(const nlohmann::json& rep, const std::string& id) {
  for (const auto& c : rep["checks"])
    if (c["id"] == id) return &c;
  return nullptr;
}

std::string status(const nlohmann::json& rep, const std::string& id) {
  auto* c = check(rep, id);
  return c ? (*c)["status"].get<std::string>() : "absent";
}

std::string message(const nlohmann::json& rep, const std::string& id) {
  auto* c = check(rep, id);
  return c ? (*c)["message"].get<std::string>() : "";
}

TEST_F(E2E, DrillOnV1KnownGoodV2CurrentPassesWithRtoFigures) {
  deployV2OverV1();
  const std::string s1 = *sha256File(v1());
  const std::string before = fullFingerprint(reg());
  auto d = drill("--publish");
  ASSERT_EQ(d.code, 0) << d.err << d.out;
  auto rep = d.json();
  EXPECT_EQ(rep["schema"], "cvgate.rollback/1");
  EXPECT_EQ(rep["status"], "pass");
  for (const char* id : {"rollback.target", "rollback.compatible", "rollback.rto", "rollback.golden", "rollback.disk"})
    EXPECT_EQ(status(rep, id), "pass") << id << ": " << message(rep, id);
  const auto& res = rep["results"];
  EXPECT_EQ(res["scenario"], "rollback");
  EXPECT_EQ(res["target"]["sha256"], s1);
  EXPECT_EQ(res["target"]["name"], "fx-v1");
  ASSERT_EQ(res["rto_ms"]["samples"].size(), 60u);
  for (const auto& s : res["rto_ms"]["samples"]) EXPECT_GT(s.get<double>(), 0.0);
  const double p95 = res["rto_ms"]["p95"].get<double>();
  EXPECT_GE(p95, res["rto_ms"]["median"].get<double>());
  EXPECT_LE(p95, res["rto_ms"]["max"].get<double>());
  const auto& rto = *check(rep, "rollback.rto");
  EXPECT_DOUBLE_EQ(rto["value"].get<double>(), p95);
  // The pass rests on the p95's upper confidence bound (60 drills: the max).
  EXPECT_DOUBLE_EQ(rto["ci"][1].get<double>(), res["rto_ms"]["max"].get<double>());
  double sum = 0;
  for (const char* s : {"choose", "verify", "load", "warmup", "first_answer", "golden", "flip"}) {
    ASSERT_TRUE(res["steps_ms"][s].is_number()) << s;
    EXPECT_GE(res["steps_ms"][s].get<double>(), 0.0);
    sum += res["steps_share"][s].get<double>();
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(res["golden"]["n"], 8);
  EXPECT_TRUE(res["golden"]["bit_identical"].get<bool>());
  EXPECT_TRUE(res["first_answer"]["correct"].get<bool>());
  EXPECT_TRUE(res["real_state_intact"].get<bool>());
  EXPECT_EQ(res["faults"], nlohmann::json::array());
  EXPECT_EQ(rep["subjects"]["current"]["sha256"], *sha256File(v2()));
  // Production untouched, sandboxes removed, report published.
  EXPECT_EQ(fullFingerprint(reg()), before);
  EXPECT_TRUE(fs::is_empty(dir() + "/sandboxes"));
  EXPECT_TRUE(fs::exists(state() + "/feeds/v1_rollback_feed/drill-1.json"));
  // The JSON Schema accepts the real report.
  { std::ofstream(dir() + "/report.json") << d.out; }
  auto v = run("/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), "
               "json.load(open(sys.argv[1]))); print(\"ok\")' " +
                   std::string(CVGATE_SOURCE_DIR) + "/schemas/cvgate.rollback.schema.json " + dir() + "/report.json",
               dir());
  EXPECT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.out, "ok\n");
}

TEST_F(E2E, FirstDeploymentTargetsTheCurrentModel) {
  setup("init", v1());
  setup("stage", v2());
  const std::string before = fullFingerprint(reg());
  auto d = drill();
  ASSERT_EQ(d.code, 0) << d.err << d.out;
  auto rep = d.json();
  EXPECT_EQ(rep["results"]["scenario"], "after-go");
  EXPECT_EQ(rep["results"]["target"]["sha256"], *sha256File(v1()));
  EXPECT_EQ(rep["results"]["pipeline"]["sha256"], *sha256File(v2()));
  EXPECT_NE(message(rep, "rollback.target").find("no known-good model yet"), std::string::npos);
  EXPECT_EQ(fullFingerprint(reg()), before);
}

TEST_F(E2E, NoKnownGoodAndNoCandidateFails) {
  setup("init", v1());
  auto d = drill();
  EXPECT_EQ(d.code, 10) << d.err;
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.target"), "fail");
  EXPECT_NE(message(rep, "rollback.target").find("no known-good model to roll back to"), std::string::npos);
  EXPECT_EQ(status(rep, "rollback.rto"), "inconclusive");
}

TEST_F(E2E, EmptyRegistryIsInconclusiveWithTheInitCommand) {
  auto d = drill();
  EXPECT_EQ(d.code, 11) << d.err;
  auto rep = d.json();
  EXPECT_EQ(rep["status"], "inconclusive");
  EXPECT_EQ(status(rep, "rollback.target"), "inconclusive");
  EXPECT_NE(message(rep, "rollback.target").find("model-registry init --config " + cfg_ + " --state-dir " + state() +
                                                 " " + v1()),
            std::string::npos)
      << message(rep, "rollback.target");
  EXPECT_EQ((*check(rep, "rollback.target"))["need"]["current_model"], 1);
  EXPECT_TRUE(rep["results"]["registry_empty"].get<bool>());
  EXPECT_FALSE(fs::exists(reg()));  // the drill created nothing in production
}

TEST_F(E2E, IncompatibleTargetFails) {
  testing::FixtureSpec s;
  s.name = "fx-other";
  s.labels = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  ASSERT_TRUE(testing::writeFixtureModel(s, dir() + "/other.pt").ok());
  setup("init", dir() + "/other.pt");
  setup("stage", v2());
  setup("deploy");
  auto d = drill();
  EXPECT_EQ(d.code, 10);
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.compatible"), "fail");
  EXPECT_NE(message(rep, "rollback.compatible").find("label 0 'a' vs 'c0'"), std::string::npos)
      << message(rep, "rollback.compatible");
  EXPECT_EQ(status(rep, "rollback.target"), "pass");
}

TEST_F(E2E, GoldenDriftFails) {
  deployV2OverV1();
  const std::string g = reg() + "/objects/" + *sha256File(v1()) + ".golden.json";
  auto j = nlohmann::json::parse(slurp(g));
  j["probs"][3][0] = j["probs"][3][0].get<double>() + 0.01;
  { std::ofstream(g) << j.dump(); }
  auto d = drill();
  EXPECT_EQ(d.code, 10);
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.golden"), "fail");
  EXPECT_NEAR((*check(rep, "rollback.golden"))["value"].get<double>(), 0.01, 1e-3);
}

TEST_F(E2E, DiskGuardrailFailsWhenTheMarginCannotBeMet) {
  deployV2OverV1();
  auto cfg = writeConfig(dir(), "min_free_bytes = 9000000000000000000");
  auto d = drill("", cfg);
  EXPECT_EQ(d.code, 10);
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.disk"), "fail");
  EXPECT_EQ(status(rep, "rollback.rto"), "pass");
}

TEST_F(E2E, RtoObjectiveIsEnforced) {
  deployV2OverV1();
  auto cfg = writeConfig(dir(), "rto_objective_ms = 0.001");
  auto d = drill("--repeats 2", cfg);
  EXPECT_EQ(d.code, 10);
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.rto"), "fail");
  EXPECT_EQ(rep["results"]["rto_ms"]["samples"].size(), 2u);
}

TEST_F(E2E, MarkdownRunbookHasTheCommandsAndTheRto) {
  deployV2OverV1();
  const std::string s1 = *sha256File(v1());
  auto d = drill("--format md --publish");
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("# Rollback runbook"), std::string::npos);
  EXPECT_NE(d.out.find("model-registry rollback --config " + cfg_ + " --state-dir " + state()), std::string::npos);
  EXPECT_NE(d.out.find("--to " + s1), std::string::npos);
  EXPECT_NE(d.out.find("sha256 `" + s1 + "`"), std::string::npos);
  EXPECT_NE(d.out.find("median **"), std::string::npos);
  EXPECT_NE(d.out.find("| first_answer |"), std::string::npos);
  EXPECT_TRUE(fs::exists(state() + "/feeds/v1_rollback_feed/drill-1.json"));  // the JSON still goes to the feed
}

TEST_F(E2E, HelpOptionsAreInTheManPages) {
  for (const std::string tool : {"simulate-rollback", "model-registry"}) {
    auto h = run(bin(tool) + " --help", dir());
    ASSERT_EQ(h.code, 0) << tool;
    std::string man = slurp(std::string(CVGATE_SOURCE_DIR) + "/man/" + tool + ".1");
    ASSERT_FALSE(man.empty()) << tool;
    std::string help = h.out;
    if (tool == "model-registry")
      for (const char* sub : {"rollback", "prune"}) help += run(bin(tool) + " " + sub + " --help", dir()).out;
    std::size_t pos = 0;
    while ((pos = help.find("--", pos)) != std::string::npos) {
      std::size_t end = pos + 2;
      while (end < help.size() && (std::isalnum(static_cast<unsigned char>(help[end])) || help[end] == '-')) ++end;
      std::string opt = help.substr(pos, end - pos);
      pos = end;
      if (opt.size() <= 2) continue;
      std::string roff = "\\-\\-" + opt.substr(2);
      std::string escaped;
      for (char c : opt.substr(2)) escaped += c == '-' ? std::string("\\-") : std::string(1, c);
      EXPECT_TRUE(man.find("\\-\\-" + escaped) != std::string::npos || man.find(opt) != std::string::npos)
          << tool << ": " << opt << " not in the man page";
    }
  }
}

TEST_F(E2E, ReferenceModelsRollBackWithinTheObjective) {
  const std::string src = CVGATE_SOURCE_DIR;
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(src + "/models/fashion-mlp-v1.pt") || !fs::exists(data + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "reference models or Fashion-MNIST not installed";
  std::string cfg = dir() + "/ref.toml";
  {
    std::ofstream f(cfg);
    f << "state_dir = \"" << dir() << "/var\"\n[models]\ncurrent = \"" << src << "/models/fashion-mlp-v1.pt\"\n"
      << "candidate = \"" << src << "/models/fashion-cnn-v2.pt\"\n[dataset]\nformat = \"idx\"\nimages = \"" << data
      << "/t10k-images-idx3-ubyte.gz\"\nlabels = \"" << data << "/t10k-labels-idx1-ubyte.gz\"\nlimit = 64\n"
      << "[golden]\ncount = 32\n[runtime]\nintra_op_threads = 1\n[rollback]\ndrill_repeats = 60\n";
  }
  setup("init", src + "/models/fashion-mlp-v1.pt", cfg);
  setup("stage", src + "/models/fashion-cnn-v2.pt", cfg);
  setup("deploy", "", cfg);
  auto d = drill("", cfg);
  ASSERT_EQ(d.code, 0) << d.err << d.out;
  auto rep = d.json();
  EXPECT_EQ(rep["results"]["target"]["name"], "fashion-mlp-v1");
  EXPECT_LT(rep["results"]["rto_ms"]["p95"].get<double>(), 5000.0);
}

TEST_F(E2E, AFewDrillsCannotPassTheRtoObjective) {
  // Defect: rollback.rto passed on the maximum of 5 drills; a p95 needs 59
  // for a one-sided 95 % upper bound. Fewer: inconclusive, saying how many.
  deployV2OverV1();
  auto d = drill("--repeats 5");
  auto rep = d.json();
  EXPECT_EQ(status(rep, "rollback.rto"), "inconclusive") << message(rep, "rollback.rto");
  EXPECT_EQ((*check(rep, "rollback.rto"))["need"]["drills"], 59);
  EXPECT_EQ(d.code, 11);
}

// The drills keep to the time budget ([rollback] time_budget_s; by default
// 80 % of the heartbeat's step timeout) instead of being killed with it: a
// 45 MB ResNet took ~20 s a drill on a loaded 2-core machine, and 60 of them
// are 20 minutes. Fewer drills: the RTO is inconclusive, saying why.
TEST_F(E2E, DrillsStopAtTheTimeBudgetAndSaySo) {
  deployV2OverV1();
  writeConfig(dir(), "time_budget_s = 0.05\n");
  auto d = drill();
  ASSERT_EQ(d.code, 11) << d.err << d.out;
  auto rep = d.json();
  const auto& dr = rep["results"]["drills"];
  EXPECT_EQ(dr["planned"], 60);
  EXPECT_GE(dr["run"].get<int>(), 1);
  EXPECT_LT(dr["run"].get<int>(), 60) << dr.dump();
  EXPECT_EQ(dr["stopped_by"], "time");
  EXPECT_EQ(rep["results"]["rto_ms"]["n"], dr["run"]);
  EXPECT_EQ(status(rep, "rollback.rto"), "inconclusive") << message(rep, "rollback.rto");
  EXPECT_NE(message(rep, "rollback.rto").find("60 planned, stopped by the"), std::string::npos)
      << message(rep, "rollback.rto");
  EXPECT_NE(message(rep, "rollback.rto").find("[rollback] time_budget_s"), std::string::npos);
  EXPECT_EQ(status(rep, "rollback.target"), "pass");
  // The default budget (80 % of 180 s) does not cut the fixture's 60 drills.
  writeConfig(dir());
  auto full = drill();
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.json()["results"]["drills"]["run"], 60);
  EXPECT_TRUE(full.json()["results"]["drills"]["stopped_by"].is_null());
}

}  // namespace
}  // namespace cvgate::rbtest

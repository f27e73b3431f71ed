// eval-compliance against the verify-env lock (compliance.regression: pass,
// fail, inconclusive without a figure) and with --publish (the report in its
// feed; a temperature patch relayed to innovation_relay only when it lowers
// ECE by the margin, and only with --publish).
#include <gtest/gtest.h>

#include <filesystem>

#include "E2eHelpers.h"

using namespace cvgate;
using namespace cvgate::testing;
namespace fs = std::filesystem;

namespace {

/// Current: a very overconfident fixture (std 0.02) on data it gets right half the time.
void setup(const TempDir& t) {
  FixtureSpec s;
  s.behaviour = "scaled-mean";
  s.labels = {"a", "b", "c"};
  s.stdv = 0.02;
  ASSERT_TRUE(writeFixtureModel(s, t.file("cur.pt")).ok());
  std::vector<std::uint8_t> values, labels;
  for (int i = 0; i < 90; ++i) {
    values.push_back(i % 2 ? 255 : 0);
    labels.push_back(static_cast<std::uint8_t>(i % 3));
  }
  writeIdx(t.file("images.idx"), t.file("labels.idx"), values, labels);
}

nlohmann::json check(const nlohmann::json& report, const std::string& id) {
  for (const auto& c : report["checks"]) if (c["id"] == id) return c;
  return nullptr;
}

}  // namespace

TEST(EvalComplianceLock, RegressionAgainstTheBlessedFigure) {
  TempDir t;
  setup(t);
  std::string cfg = writeConfig(t);
  auto none = runTool(t, "--config '" + cfg + "' --candidate none");
  ASSERT_TRUE(none.report.is_object()) << none.err;
  auto c = check(none.report, "compliance.regression");
  EXPECT_EQ(c["status"], "inconclusive");
  EXPECT_NE(c["message"].get<std::string>().find("no env lock"), std::string::npos);
  double today = none.report["results"]["current"]["compliance"];

  fs::create_directories(t.file("state"));
  std::ofstream(t.file("state/env.lock.json")) << "{\"baseline_kpis\": {\"compliance\": " << std::min(1.0, today + 0.4) << "}}";
  c = check(runTool(t, "--config '" + cfg + "' --candidate none").report, "compliance.regression");
  EXPECT_EQ(c["status"], "fail") << c.dump();

  std::ofstream(t.file("state/env.lock.json")) << "{\"baseline_kpis\": {\"compliance\": " << today << "}}";
  c = check(runTool(t, "--config '" + cfg + "' --candidate none").report, "compliance.regression");
  EXPECT_EQ(c["status"], "pass") << c.dump();

  std::ofstream(t.file("state/env.lock.json")) << "{\"env\": {}}";
  c = check(runTool(t, "--config '" + cfg + "' --candidate none").report, "compliance.regression");
  EXPECT_EQ(c["status"], "inconclusive");
  EXPECT_NE(c["message"].get<std::string>().find("baseline_kpis.compliance"), std::string::npos);

  std::ofstream(t.file("state/env.lock.json")) << "not json {";
  c = check(runTool(t, "--config '" + cfg + "' --candidate none").report, "compliance.regression");
  EXPECT_EQ(c["status"], "inconclusive");
}

TEST(EvalComplianceRelay, TemperaturePatchIsRecommendedAndLeftToDecideToRelay) {
  TempDir t;
  setup(t);
  std::string cfg = writeConfig(t, "temperature_margin = 0.05\n");
  auto pub = runTool(t, "--config '" + cfg + "' --candidate none --cycle c-2 --publish");
  ASSERT_TRUE(pub.report.is_object()) << pub.err;
  const auto& patches = pub.report["results"]["temperature_patches"];
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_TRUE(patches[0]["recommended"].get<bool>()) << patches.dump();
  EXPECT_GT(patches[0]["temperature"].get<double>(), 1.0);  // overconfident: soften
  EXPECT_LT(patches[0]["ece_after"].get<double>() + 0.05, patches[0]["ece_before"].get<double>() + 1e-12);
  EXPECT_TRUE(fs::exists(t.file("state/feeds/v1_compliance_feed/c-2.json")));
  // decide owns the relay feed (deduplicated across cycles); the tool writes none.
  EXPECT_FALSE(fs::exists(t.file("state/feeds/innovation_relay")));

  // A margin no temperature can meet: not recommended.
  std::string strict = writeConfig(t, "temperature_margin = 0.99\n");
  auto none = runTool(t, "--config '" + strict + "' --candidate none --cycle c-3");
  ASSERT_TRUE(none.report.is_object()) << none.err;
  EXPECT_FALSE(none.report["results"]["temperature_patches"][0]["recommended"].get<bool>());
}

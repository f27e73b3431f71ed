// eval-compliance against production's blessed figure in the registry
// (compliance.regression: pass, fail, inconclusive without a figure or with
// another key) and with --publish (the report in its
// feed; a temperature patch relayed to innovation_relay only when it lowers
// ECE by the margin, and only with --publish).
#include <gtest/gtest.h>

#include <filesystem>

#include "E2eHelpers.h"

using namespace cvgate;
using namespace cvgate::testing;
namespace fs = std::filesystem;
using json = nlohmann::json;

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
  EXPECT_NE(c["message"].get<std::string>().find("no blessed compliance figure"), std::string::npos) << c.dump();
  EXPECT_EQ(c["detail"]["rebaseline"], true);
  // The figure this cycle offers as production's blessed one, keyed.
  const json offered = none.report["results"]["blessing"]["current"];
  ASSERT_TRUE(offered.is_object()) << none.report["results"].dump();
  const std::string sha = none.report["subjects"]["current"]["sha256"];
  const std::string rec = t.file("state/registry/objects/" + sha + ".blessed.json");
  fs::create_directories(t.file("state/registry/objects"));
  auto bless = [&](const json& compliance) {
    std::ofstream(rec) << json{{"schema", "cvgate.blessed/1"}, {"compliance", compliance}}.dump();
  };
  auto regression = [&] {
    return check(runTool(t, "--config '" + cfg + "' --candidate none").report, "compliance.regression");
  };
  bless(offered);  // the same figure: no drop
  c = regression();
  EXPECT_EQ(c["status"], "pass") << c.dump();
  EXPECT_EQ(c["detail"]["blessed_n"], offered["n"]);

  json higher = offered;  // blessed far above today: a significant drop
  const auto n = offered["n"].get<std::uint64_t>();
  higher["compliant"] = std::min<std::uint64_t>(n, offered["compliant"].get<std::uint64_t>() + n * 4 / 10);
  bless(higher);
  EXPECT_EQ(regression()["status"], "fail");

  json otherThreshold = higher;  // measured at another threshold: not comparable
  otherThreshold["key"]["threshold"] = 0.123;
  bless(otherThreshold);
  c = regression();
  EXPECT_EQ(c["status"], "inconclusive");
  EXPECT_NE(c["message"].get<std::string>().find("key mismatch"), std::string::npos) << c.dump();

  std::ofstream(rec) << "not json {";
  c = regression();
  EXPECT_EQ(c["status"], "inconclusive");
  EXPECT_NE(c["message"].get<std::string>().find("cannot be read"), std::string::npos) << c.dump();
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

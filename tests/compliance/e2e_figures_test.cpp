// eval-compliance end to end: on fixture models with outputs known in closed
// form, the report's compliance, conflict, abstain, McNemar pairs, uplift and
// regressions equal the figures computed here, and the report fits its schema.
#include <gtest/gtest.h>

#include "E2eHelpers.h"
#include "compliance/Metrics.h"

using namespace cvgate;
using namespace cvgate::testing;

namespace {

struct Said {
  std::string top1;
  double confidence;
};

Said said(std::uint8_t v, double stdv, const std::vector<std::string>& names) {
  auto p = scaledMeanProbs(v, 0.5, stdv, 3);
  auto k = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  return {names[k], p[k]};
}

}  // namespace

TEST(EvalComplianceE2e, FiguresMatchTheModelsKnownOutputs) {
  TempDir t;
  FixtureSpec cur;
  cur.name = "fixture-current";
  cur.behaviour = "scaled-mean";
  cur.labels = {"a", "b", "c"};
  ASSERT_TRUE(writeFixtureModel(cur, t.file("cur.pt")).ok());
  FixtureSpec cand = cur;
  cand.name = "fixture-candidate";
  cand.stdv = 0.1;                 // sharper
  cand.labels = {"c", "b", "a"};   // same names, other order: remapped by name
  ASSERT_TRUE(writeFixtureModel(cand, t.file("cand.pt")).ok());

  const std::vector<std::uint8_t> vals = {0, 40, 90, 100, 160, 215, 255};
  const std::vector<std::string> names = {"a", "b", "c"};
  std::vector<std::uint8_t> values, labels;
  const std::size_t n = 150;
  for (std::size_t i = 0; i < n; ++i) {
    values.push_back(vals[i % 7]);
    labels.push_back(static_cast<std::uint8_t>((i / 7) % 3));
  }
  writeIdx(t.file("images.idx"), t.file("labels.idx"), values, labels);
  std::string cfg = writeConfig(t);

  // Expected, from the closed form and the split.
  // IDX keys are the indices; the split is by key and seed.
  std::vector<std::string> keys;
  std::vector<std::size_t> every;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(std::to_string(i)), every.push_back(i);
  auto split = compliance::makeSplit(keys, every, 0.25, 3);
  std::size_t cc = 0, cf = 0, ab = 0, kc = 0, b = 0, c = 0, regs = 0;
  for (std::size_t i : split.evaluation) {
    Said s0 = said(values[i], 0.25, {"a", "b", "c"});
    Said s1 = said(values[i], 0.1, {"c", "b", "a"});
    ASSERT_GT(std::fabs(s0.confidence - 0.7), 1e-3);
    ASSERT_GT(std::fabs(s1.confidence - 0.7), 1e-3);
    const std::string& y = names[labels[i]];
    bool comply0 = s0.top1 == y && s0.confidence >= 0.7;
    bool comply1 = s1.top1 == y && s1.confidence >= 0.7;
    cc += comply0;
    cf += s0.top1 != y && s0.confidence >= 0.7;
    ab += s0.confidence < 0.7;
    kc += comply1;
    b += comply0 && !comply1;
    c += comply1 && !comply0;
    regs += s0.top1 == y && s1.top1 != y && s1.confidence >= 0.7;
  }
  const double ne = static_cast<double>(split.evaluation.size());

  auto r = runTool(t, "--config '" + cfg + "' --cycle e2e-1 --out report.json");
  ASSERT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.code << "\n" << r.err;
  nlohmann::json j = nlohmann::json::parse(slurp(t.file("report.json")));
  const auto& res = j["results"];
  EXPECT_EQ(j["schema"], "cvgate.compliance/1");
  EXPECT_EQ(j["cycle_id"], "e2e-1");
  EXPECT_EQ(res["dataset"]["n_eval"], split.evaluation.size());
  EXPECT_EQ(res["dataset"]["n_calibration"], split.calibration.size());
  EXPECT_EQ(j["inputs"]["dataset_sha256"], res["dataset"]["sha256"]);
  EXPECT_EQ(j["subjects"]["candidate"]["model"], "fixture-candidate");
  EXPECT_NEAR(res["current"]["compliance"].get<double>(), cc / ne, 1e-12);
  EXPECT_NEAR(res["current"]["conflict"].get<double>(), cf / ne, 1e-12);
  EXPECT_NEAR(res["current"]["abstain"].get<double>(), ab / ne, 1e-12);
  EXPECT_NEAR(res["candidate"]["compliance"].get<double>(), kc / ne, 1e-12);
  EXPECT_EQ(res["current"]["errors"], 0);
  EXPECT_EQ(res["mcnemar"]["b"], b);
  EXPECT_EQ(res["mcnemar"]["c"], c);
  EXPECT_NEAR(res["uplift"]["uplift"].get<double>(), (double(kc) - double(cc)) / double(cc), 1e-12);
  EXPECT_EQ(res["regressions_total"], regs);
  ASSERT_GT(regs, 0u);
  ASSERT_FALSE(res["regressions"].empty());
  const auto& first = res["regressions"][0];
  // Every listed id is an evaluation image that the closed form calls a regression.
  for (const auto& reg : res["regressions"]) {
    std::string id = reg["id"];
    ASSERT_NE(id.rfind(':'), std::string::npos) << id;
    std::size_t i = std::stoul(id.substr(id.rfind(':') + 1));
    ASSERT_LT(i, n);
    EXPECT_NE(std::find(split.evaluation.begin(), split.evaluation.end(), i), split.evaluation.end()) << id;
    EXPECT_EQ(reg["key"], std::to_string(i)) << id;
    Said s0 = said(values[i], 0.25, {"a", "b", "c"});
    Said s1 = said(values[i], 0.1, {"c", "b", "a"});
    EXPECT_EQ(s0.top1, names[labels[i]]) << id;
    EXPECT_EQ(reg["candidate_top1"], s1.top1) << id;
    EXPECT_NEAR(reg["candidate_confidence"].get<double>(), s1.confidence, 1e-5) << id;
  }
  EXPECT_NE(first["candidate_top1"], first["label"]);
  EXPECT_EQ(first["baseline_top1"], first["label"]);
  EXPECT_GE(first["candidate_confidence"].get<double>(), 0.7);
  EXPECT_EQ(res["current"]["confusion"].size(), 3u);
  EXPECT_EQ(res["current"]["reliability"].size(), 15u);
  EXPECT_TRUE(res["current"]["temperature"].is_number());

  // The uplift check agrees with its interval; the status with the checks.
  const nlohmann::json* up = nullptr;
  for (const auto& ch : j["checks"]) if (ch["id"] == "compliance.uplift") up = &ch;
  ASSERT_TRUE(up);
  double lo = res["uplift"]["lo"], hi = res["uplift"]["hi"];
  std::string want = lo >= 0.10 ? "pass" : hi < 0.10 ? "fail" : "inconclusive";
  EXPECT_EQ((*up)["status"], want);
  std::string status = j["status"];
  EXPECT_EQ(r.code, status == "pass" ? 0 : status == "fail" ? 10 : 11);
  for (const char* id : {"compliance.data", "compliance.error_rate", "compliance.regression"}) {
    bool found = false;
    for (const auto& ch : j["checks"]) found |= ch["id"] == id;
    EXPECT_TRUE(found) << id;
  }

  std::string v = validateSchema(t.file("report.json"));
  if (v == "skip") GTEST_SKIP() << "python3-jsonschema not installed";
  EXPECT_EQ(v, "");
}

TEST(EvalComplianceE2e, NoCandidateStillEvaluatesCurrent) {
  TempDir t;
  FixtureSpec cur;
  cur.behaviour = "scaled-mean";
  cur.labels = {"a", "b", "c"};
  ASSERT_TRUE(writeFixtureModel(cur, t.file("cur.pt")).ok());
  std::vector<std::uint8_t> values, labels;
  for (int i = 0; i < 60; ++i) {
    values.push_back(i % 2 ? 255 : 0);
    labels.push_back(static_cast<std::uint8_t>(i % 2 ? 2 : 0));
  }
  labels[1] = 1;  // every class present
  writeIdx(t.file("images.idx"), t.file("labels.idx"), values, labels);
  auto r = runTool(t, "--config '" + writeConfig(t) + "' --candidate none");
  ASSERT_EQ(r.code, 11) << r.err;
  ASSERT_TRUE(r.report.is_object());
  EXPECT_TRUE(r.report["results"]["candidate"].is_null());
  EXPECT_GT(r.report["results"]["current"]["compliance"].get<double>(), 0.9);
  bool found = false;
  for (const auto& ch : r.report["checks"])
    if (ch["id"] == "compliance.uplift") {
      found = true;
      EXPECT_EQ(ch["status"], "inconclusive");
      EXPECT_NE(ch["message"].get<std::string>().find("no candidate staged"), std::string::npos);
    }
  EXPECT_TRUE(found);
  std::ofstream(t.file("r.json")) << r.out;
  std::string v = validateSchema(t.file("r.json"));
  if (v != "skip") {
    EXPECT_EQ(v, "");
  }
}

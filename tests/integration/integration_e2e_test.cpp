// check-integration end to end: fixture candidates that differ from the
// current model in one way each (input size, label order, number of classes,
// NaN output) give the expected matrix entry and risk level; a clean pair
// passes; missing, stale and unknown-version reports are findings; --format md,
// --publish, bad input, and the JSON Schema agree with what the tool writes.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "FixtureModels.h"
#include "TempDir.h"
#include "ToolRun.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "config/Config.h"
#include "report/Feed.h"
#include "report/Report.h"
#include "runtime/Golden.h"

using namespace cvgate;
using namespace cvgate::testing;

namespace {

std::string be32(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  return s;
}

/// A run of check-integration, with its stdout parsed.
struct IntegrationRun : ToolRun {
  nlohmann::json j;  ///< stdout parsed, when it is JSON
};

const std::string kCycle = "20261125T2100Z-e2e1";

/// A temp dir with a small IDX data set, a current model, a config, and
/// helpers to stage a candidate, publish the cycle's reports and run the tool.
class Cycle {
 public:
  Cycle() {
    // 40 grey 28x28 images with a seeded pattern, labels 0..9.
    const std::uint32_t n = 40;
    std::string img = be32(0x803) + be32(n) + be32(28) + be32(28), lab = be32(0x801) + be32(n);
    std::uint32_t x = 12345;
    for (std::uint32_t i = 0; i < n; ++i) {
      for (int p = 0; p < 28 * 28; ++p) {
        x = x * 1103515245u + 12345u;
        img.push_back(static_cast<char>((x >> 16) & 0xFF));
      }
      lab.push_back(static_cast<char>(i % 10));
    }
    std::ofstream(t.file("images.idx"), std::ios::binary) << img;
    std::ofstream(t.file("labels.idx"), std::ios::binary) << lab;
    FixtureSpec cur;
    cur.name = "prod";
    EXPECT_TRUE(writeFixtureModel(cur, t.file("cur.pt")).ok());
    writeConfig("");
  }

  void writeConfig(const std::string& extra) {
    std::ofstream(t.file("c.toml")) << "state_dir = \"state\"\n"
                                       "[models]\ncurrent = \"cur.pt\"\ncandidate = \"cand.pt\"\n"
                                       "[dataset]\nformat = \"idx\"\nimages = \"images.idx\"\nlabels = \"labels.idx\"\n"
                                       "[runtime]\nintra_op_threads = 1\nbatch_size = 16\n"
                                       "[golden]\ncount = 32\n"
                                    << extra;
  }

  /// The candidate: the current model's spec with one change.
  void stage(FixtureSpec cand) { ASSERT_TRUE(writeFixtureModel(cand, t.file("cand.pt")).ok()); }
  static FixtureSpec clean() {
    FixtureSpec s;
    s.name = "cand";
    s.version = "2";
    return s;
  }

  std::string sha(const std::string& f) const { return *sha256File(t.file(f)); }
  std::string configSha() const { return sha256Hex(*readFile(t.file("c.toml"))); }
  std::string datasetSha() const {
    auto cfg = loadConfig(t.file("c.toml"));
    EXPECT_TRUE(cfg.ok());
    auto ds = openDataset(cfg->dataset);
    EXPECT_TRUE(ds.ok());
    return (*ds)->sha256();
  }

  /// A report of this cycle about these models, config and data.
  Report report(const std::string& kind, const std::string& tool, bool withCandidate = true) const {
    Report r = newReport(tool, kind, kCycle);
    r.subjects["current"] = {"prod", sha("cur.pt"), t.file("cur.pt")};
    if (withCandidate) r.subjects["candidate"] = {"cand", sha("cand.pt"), t.file("cand.pt")};
    r.inputs = {{"config_sha256", configSha()}, {"dataset_sha256", datasetSha()}};
    Check c;
    c.id = kind.substr(7) + ".fixture";
    c.status = Outcome::Pass;
    r.checks.push_back(c);
    r.status = Outcome::Pass;
    return r;
  }

  Report latency(bool withCandidate = true) const {
    Report r = report("cvgate.latency", "profile-latency", withCandidate);
    auto p95 = [](const std::string& s, double v, double lo, double hi) {
      Check c;
      c.id = "latency.p95";
      c.subject = s;
      c.status = Outcome::Pass;
      c.value = v;
      c.ci = std::make_pair(lo, hi);
      c.unit = "ms";
      return c;
    };
    r.checks.push_back(p95("current", 3.0, 2.8, 3.2));
    if (withCandidate) r.checks.push_back(p95("candidate", 3.1, 2.9, 3.3));
    return r;
  }

  Report compliance(bool regressShirt = false) const {
    Report r = report("cvgate.compliance", "eval-compliance");
    r.results = json::parse(R"({
      "current":   {"accuracy": 0.84, "compliance": 0.70, "conflict": 0.06, "abstain": 0.24,
                    "per_class": [{"label": "c6", "n": 100, "precision": 0.6, "recall": 0.5, "compliance": 0.40}]},
      "candidate": {"accuracy": 0.89, "compliance": 0.80, "conflict": 0.04, "abstain": 0.16,
                    "per_class": [{"label": "c6", "n": 100, "precision": 0.6, "recall": 0.5, "compliance": 0.45}]},
      "uplift": {"uplift": 0.1428, "lo": 0.08, "hi": 0.20},
      "per_class_delta": [{"label": "c6", "delta": 0.05, "p_value": 0.3, "p_holm": 0.6}]})");
    if (regressShirt) {
      r.results["candidate"]["per_class"][0]["compliance"] = 0.30;
      r.results["per_class_delta"][0] = {{"label", "c6"}, {"delta", -0.10}, {"p_value", 0.001}, {"p_holm", 0.002}};
    }
    return r;
  }

  void publish(const Report& r) const { ASSERT_TRUE(publishReport(t.file("state"), r).ok()); }
  void publishAll(bool withCandidate = true) const {
    publish(report("cvgate.env", "verify-env", withCandidate));
    publish(latency(withCandidate));
    if (withCandidate) publish(compliance());
    else {
      Report c = report("cvgate.compliance", "eval-compliance", false);
      publish(c);
    }
  }

  IntegrationRun run(const std::string& args) const {
    IntegrationRun r{runTool("check-integration", "--config c.toml --cycle " + kCycle + " " + args, t.path(), t.path()), {}};
    r.j = r.json();
    return r;
  }

  TempDir t;
};

const json* check(const json& j, const std::string& id) {
  for (const auto& c : j["checks"])
    if (c["id"] == id) return &c;
  return nullptr;
}
std::string status(const json& j, const std::string& id) {
  const json* c = check(j, id);
  return c ? (*c)["status"].get<std::string>() : "absent";
}
json matrixEntry(const json& j, const std::string& aspect) {
  for (const auto& e : j["results"]["compatibility_matrix"])
    if (e["aspect"] == aspect) return e;
  return nullptr;
}
bool hasFinding(const json& j, const std::string& id) {
  for (const auto& f : j["results"]["risk"]["findings"])
    if (f["id"] == id) return true;
  return false;
}

/// Validate a report file against schemas/cvgate.integration.schema.json with
/// the Debian python's jsonschema. Returns "" or the validator's message.
std::string validate(const std::string& reportPath) { return schemaErrors("cvgate.integration", reportPath); }

}  // namespace

TEST(CheckIntegrationE2E, CleanPairPasses) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publishAll();
  IntegrationRun r = c.run("");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_TRUE(r.j.is_object());
  EXPECT_EQ(r.j["schema"], "cvgate.integration/1");
  EXPECT_EQ(r.j["status"], "pass");
  for (const char* id : {"integration.interface", "integration.behaviour", "integration.contracts", "integration.risk"})
    EXPECT_EQ(status(r.j, id), "pass") << id << ": " << (check(r.j, id) ? (*check(r.j, id))["message"] : json());
  EXPECT_EQ((*check(r.j, "integration.contracts"))["subject"], "");
  const json& res = r.j["results"];
  EXPECT_EQ(res["interface_summary"]["breaking"], 0);
  EXPECT_EQ(res["behaviour"]["n"], 32);
  EXPECT_EQ(res["behaviour"]["top1_agreement"], 1.0);
  EXPECT_EQ(res["risk"]["level"], "low");
  EXPECT_EQ(res["risk"]["blocks_go"], false);
  for (const auto& k : res["contracts"]) EXPECT_EQ(k["state"], "ok") << k.dump();
  EXPECT_EQ(r.j["subjects"]["candidate"]["sha256"], c.sha("cand.pt"));
  EXPECT_EQ(r.j["inputs"]["dataset_sha256"], c.datasetSha());
  // The regression summary carries the compliance and latency deltas.
  bool sawUplift = false, sawP95 = false;
  for (const auto& row : res["regression_summary"]) {
    if (row["metric"] == "compliance.uplift") {
      sawUplift = true;
      EXPECT_EQ(row["significance"], "significant");
      EXPECT_EQ(row["delta_ci"][0], 0.08);
    }
    if (row["metric"] == "latency.p95") {
      sawP95 = true;
      EXPECT_NEAR(row["delta"].get<double>(), 0.1, 1e-9);
      EXPECT_EQ(row["significance"], "not significant");
    }
  }
  EXPECT_TRUE(sawUplift && sawP95) << res["regression_summary"].dump(2);
  std::ofstream(c.t.file("report.json")) << r.out;
  EXPECT_EQ(validate(c.t.file("report.json")), "");
}

TEST(CheckIntegrationE2E, InputSizeIsABreakingHighRisk) {
  Cycle c;
  FixtureSpec s = Cycle::clean();
  s.height = s.width = 32;
  c.stage(s);
  c.publishAll();
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 10) << r.err;
  json e = matrixEntry(r.j, "input.shape");
  EXPECT_EQ(e["class"], "breaking");
  EXPECT_EQ(e["current"], "[1, 28, 28]");
  EXPECT_EQ(e["candidate"], "[1, 32, 32]");
  EXPECT_EQ(matrixEntry(r.j, "preprocess.resize")["class"], "risky");
  EXPECT_EQ(status(r.j, "integration.interface"), "fail");
  EXPECT_EQ(r.j["results"]["risk"]["level"], "high");
  EXPECT_EQ(r.j["results"]["risk"]["blocks_go"], true);
  EXPECT_EQ(status(r.j, "integration.risk"), "fail");
  EXPECT_TRUE(hasFinding(r.j, "interface.input.shape"));
}

TEST(CheckIntegrationE2E, ReorderedLabelsAreBreakingWithEqualCount) {
  Cycle c;
  FixtureSpec s = Cycle::clean();
  for (int i = 9; i >= 0; --i) s.labels.push_back("c" + std::to_string(i));
  c.stage(s);
  c.publishAll();
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 10) << r.err;
  EXPECT_EQ(matrixEntry(r.j, "labels.order")["class"], "breaking");
  EXPECT_EQ(matrixEntry(r.j, "labels.set")["class"], "compatible");
  EXPECT_EQ(matrixEntry(r.j, "output.arity")["class"], "compatible");
  EXPECT_EQ(r.j["results"]["risk"]["level"], "high");
  // Same weights, other names: top-1 compared by name disagrees everywhere.
  EXPECT_EQ(r.j["results"]["behaviour"]["top1_agreement"], 0.0);
  EXPECT_EQ(status(r.j, "integration.behaviour"), "fail");
}

TEST(CheckIntegrationE2E, MoreClassesBreakArity) {
  Cycle c;
  FixtureSpec s = Cycle::clean();
  for (int i = 0; i < 12; ++i) s.labels.push_back("c" + std::to_string(i));
  c.stage(s);
  c.publishAll();
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 10) << r.err;
  EXPECT_EQ(matrixEntry(r.j, "output.arity")["class"], "breaking");
  EXPECT_EQ(matrixEntry(r.j, "output.arity")["candidate"], "12");
  EXPECT_EQ(matrixEntry(r.j, "labels.set")["class"], "breaking");
  EXPECT_EQ(r.j["results"]["behaviour"]["candidate"]["output_width"], 12);
  EXPECT_EQ(r.j["results"]["risk"]["level"], "high");
  EXPECT_EQ(status(r.j, "integration.risk"), "fail");
}

TEST(CheckIntegrationE2E, NanOutputFailsBehaviourNotInterface) {
  Cycle c;
  FixtureSpec s = Cycle::clean();
  s.behaviour = "nan";
  c.stage(s);
  c.publishAll();
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 10) << r.err;
  EXPECT_EQ(status(r.j, "integration.interface"), "pass");
  EXPECT_EQ(status(r.j, "integration.behaviour"), "fail");
  EXPECT_EQ(r.j["results"]["behaviour"]["candidate"]["non_finite"], 32);
  EXPECT_EQ(r.j["results"]["behaviour"]["current"]["failed"], 0);
  EXPECT_TRUE(hasFinding(r.j, "behaviour.failures"));
  EXPECT_EQ(r.j["results"]["risk"]["max_score"], 25);
  EXPECT_EQ(r.j["results"]["risk"]["level"], "high");
  EXPECT_EQ(r.j["results"]["risk"]["blocks_go"], true);
  std::ofstream(c.t.file("report.json")) << r.out;
  EXPECT_EQ(validate(c.t.file("report.json")), "");
}

TEST(CheckIntegrationE2E, NoCandidateIsInconclusive) {
  Cycle c;
  c.stage(Cycle::clean());  // reports are about no candidate
  c.publishAll(/*withCandidate=*/false);
  IntegrationRun r = c.run("--candidate none");
  EXPECT_EQ(r.code, 11) << r.err;
  for (const char* id : {"integration.interface", "integration.behaviour", "integration.risk"}) {
    EXPECT_EQ(status(r.j, id), "inconclusive") << id;
    EXPECT_EQ((*check(r.j, id))["message"], "no candidate staged");
  }
  EXPECT_EQ(status(r.j, "integration.contracts"), "pass") << (*check(r.j, "integration.contracts"))["message"];
  EXPECT_TRUE(r.j["results"]["behaviour"].is_null());
  EXPECT_FALSE(r.j["subjects"].contains("candidate"));
  std::ofstream(c.t.file("report.json")) << r.out;
  EXPECT_EQ(validate(c.t.file("report.json")), "");
}

TEST(CheckIntegrationE2E, MissingReportsLeaveTheCycleIncomplete) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publish(c.report("cvgate.env", "verify-env"));
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 11) << r.err;
  EXPECT_EQ(status(r.j, "integration.contracts"), "inconclusive");
  const json& need = (*check(r.j, "integration.contracts"))["need"]["reports"];
  EXPECT_EQ(need, json::parse(R"(["cvgate.latency", "cvgate.compliance"])"));
  EXPECT_EQ(status(r.j, "integration.risk"), "inconclusive");
  EXPECT_TRUE(hasFinding(r.j, "contracts.cvgate.latency"));
  EXPECT_EQ(r.j["results"]["regression_summary"][0]["note"], "report missing");
  std::ofstream(c.t.file("report.json")) << r.out;
  EXPECT_EQ(validate(c.t.file("report.json")), "");
}

TEST(CheckIntegrationE2E, StaleReportIsAFindingAndNotUsed) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publishAll();
  Report stale = c.latency();
  stale.subjects["candidate"].sha256 = std::string(64, 'e');  // about other candidate bytes
  c.publish(stale);
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 10) << r.err;
  EXPECT_EQ(status(r.j, "integration.contracts"), "fail");
  EXPECT_NE((*check(r.j, "integration.contracts"))["message"].get<std::string>().find("stale"), std::string::npos);
  EXPECT_TRUE(hasFinding(r.j, "contracts.cvgate.latency"));
  EXPECT_EQ(r.j["results"]["risk"]["blocks_go"], true);
  for (const auto& row : r.j["results"]["regression_summary"])
    if (row["metric"].get<std::string>().rfind("latency", 0) == 0) {
      EXPECT_EQ(row["note"], "report stale or mismatched: not used");
      EXPECT_TRUE(row["delta"].is_null());
    }
}

TEST(CheckIntegrationE2E, UnknownSchemaVersionsAreRefusedClearly) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publishAll();
  for (const char* version : {"cvgate.latency/0", "cvgate.latency/99"}) {
    json j = toJson(c.latency());
    j["schema"] = version;
    std::ofstream(c.t.file("lat.json")) << j.dump();
    IntegrationRun r = c.run("--latency-report lat.json");
    EXPECT_EQ(r.code, 10) << r.err;
    EXPECT_EQ(status(r.j, "integration.contracts"), "fail");
    const json& k = r.j["results"]["contracts"][1];
    EXPECT_EQ(k["source"], "file");
    EXPECT_EQ(k["state"], "refused");
    EXPECT_EQ(k["schema"], version);
    std::string msg = k["problems"][0];
    if (std::string(version).back() == '0')
      EXPECT_NE(msg.find("unknown schema 'cvgate.latency/0'"), std::string::npos) << msg;
    else
      EXPECT_NE(msg.find("newer than this cvgate reads (cvgate.latency/1); upgrade cvgate"), std::string::npos) << msg;
  }
}

TEST(CheckIntegrationE2E, LockOfAnUnknownVersionIsAFinding) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publishAll();
  std::ofstream(c.t.file("state/env.lock.json")) << R"({"schema": "cvgate.envlock/0"})";
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 0) << r.err;  // medium: verify-env is the one that needs the lock
  EXPECT_EQ(r.j["results"]["lock"]["state"], "refused");
  EXPECT_TRUE(hasFinding(r.j, "contracts.lock"));
  EXPECT_EQ(r.j["results"]["risk"]["level"], "medium");
  EXPECT_NE(r.err.find("unknown schema 'cvgate.envlock/0'"), std::string::npos) << r.err;
}

TEST(CheckIntegrationE2E, SignificantClassRegressionIsInTheSummaryAndScorecard) {
  Cycle c;
  c.stage(Cycle::clean());
  c.publishAll();
  c.publish(c.compliance(/*regressShirt=*/true));
  IntegrationRun r = c.run("");
  EXPECT_EQ(r.code, 0) << r.out << r.err;  // high, but below the blocking score
  bool saw = false;
  for (const auto& row : r.j["results"]["regression_summary"])
    if (row["metric"] == "compliance" && row["scope"] == "c6") {
      saw = true;
      EXPECT_EQ(row["significance"], "significant");
      EXPECT_EQ(row["direction"], "worse");
      EXPECT_EQ(row["p_value"], 0.002);
    }
  EXPECT_TRUE(saw);
  EXPECT_TRUE(hasFinding(r.j, "regression.compliance.c6"));
  EXPECT_EQ(r.j["results"]["risk"]["level"], "high");
  EXPECT_EQ(r.j["results"]["risk"]["blocks_go"], false);
  EXPECT_EQ(status(r.j, "integration.risk"), "pass");
}

TEST(CheckIntegrationE2E, MarkdownRenderingAndPublishedJson) {
  Cycle c;
  FixtureSpec s = Cycle::clean();
  for (int i = 9; i >= 0; --i) s.labels.push_back("c" + std::to_string(i));
  c.stage(s);
  c.publishAll();
  IntegrationRun r = c.run("--format md --publish");
  EXPECT_EQ(r.code, 10) << r.err;
  EXPECT_TRUE(r.j.is_discarded()) << "stdout should be Markdown";
  EXPECT_NE(r.out.find("# Integration: prod -> cand"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("## Compatibility matrix"), std::string::npos);
  EXPECT_NE(r.out.find("| labels.order "), std::string::npos);
  EXPECT_NE(r.out.find("## Risk scorecard"), std::string::npos);
  EXPECT_NE(r.out.find("**Overall: high risk, blocks GO.**"), std::string::npos);
  std::string feed = feedPath(c.t.file("state"), "v1_integration_feed", kCycle);
  auto pub = readReport(feed, "cvgate.integration");
  ASSERT_TRUE(pub.ok()) << pub.error().message();
  EXPECT_EQ(pub->status, Outcome::Fail);
  EXPECT_EQ(pub->results["risk"]["level"], "high");
  EXPECT_EQ(validate(feed), "");
}

TEST(CheckIntegrationE2E, BadInputIsOneLineAndExit2) {
  Cycle c;
  c.stage(Cycle::clean());
  IntegrationRun r = c.run("--env-report nope.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "check-integration: error: 'nope.json' (--env-report): expected an existing report file\n");
  EXPECT_TRUE(r.out.empty());
  r = c.run("--format html");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("check-integration: error: "), std::string::npos);
  c.writeConfig("[integration]\nblocking_risk = 40\n");
  r = c.run("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("integration.blocking_risk': expected a score in 1..25"), std::string::npos) << r.err;
  r = c.run("--candidate missing.pt");
  EXPECT_EQ(r.code, 2) << r.err;
}

TEST(CheckIntegrationE2E, HelpOptionsAreInTheManPage) {
  Cycle c;
  IntegrationRun r = c.run("--help");
  ASSERT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Exit status: 0 pass, 10 fail, 11 inconclusive"), std::string::npos);
  auto man = readFile(std::string(CVGATE_SOURCE_DIR) + "/man/check-integration.1");
  ASSERT_TRUE(man.ok());
  std::istringstream in(r.out);
  std::string word;
  int seen = 0;
  while (in >> word) {
    auto p = word.find("--");
    if (p == std::string::npos || (p != 0 && word[p - 1] != ',')) continue;
    std::string opt = "--";
    for (std::size_t i = p + 2; i < word.size() && (std::isalnum(static_cast<unsigned char>(word[i])) || word[i] == '-'); ++i)
      opt += word[i];
    if (opt.size() < 4) continue;
    ++seen;
    // roff escapes '-' as '\-'.
    std::string roff;
    for (char ch : opt) roff += ch == '-' ? std::string("\\-") : std::string(1, ch);
    EXPECT_NE(man->find(roff), std::string::npos) << opt << " is not in man/check-integration.1";
  }
  EXPECT_GE(seen, 15);
}

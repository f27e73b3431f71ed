// check-integration's library without models: the compatibility matrix,
// behaviour comparison, report contracts (stale, missing, old and new schema
// versions), regression summary, risk scoring, checks and the Markdown view.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "TempDir.h"
#include "common/Fs.h"
#include "config/Config.h"
#include "integration/Integration.h"
#include "report/Feed.h"
#include "stats/Stats.h"

using namespace cvgate;
using namespace cvgate::integration;
using cvgate::testing::TempDir;

namespace {

Manifest baseManifest() {
  Manifest m;
  m.name = "cur";
  m.inputShape = {1, 28, 28};
  m.resizeH = 28;
  m.resizeW = 28;
  m.mean = {0.5};
  m.std = {0.25};
  for (int i = 0; i < 10; ++i) m.labels.push_back("c" + std::to_string(i));
  return m;
}

const MatrixEntry& entry(const std::vector<MatrixEntry>& m, const std::string& aspect) {
  for (const auto& e : m)
    if (e.aspect == aspect) return e;
  static MatrixEntry none;
  ADD_FAILURE() << "no matrix entry " << aspect;
  return none;
}

std::vector<MatrixEntry> diff(const Manifest& cand, std::vector<std::string> methods = {"forward"}) {
  return compatibilityMatrix({baseManifest(), {"forward"}}, {cand, std::move(methods)});
}

}  // namespace

TEST(Matrix, IdenticalInterfaceIsCompatibleEverywhere) {
  Manifest b = baseManifest();
  b.name = "cand";
  b.version = "2";
  auto m = diff(b);
  ASSERT_GE(m.size(), 15u);
  for (const auto& e : m) EXPECT_EQ(e.cls, Compat::Compatible) << e.aspect << ": " << e.note;
  EXPECT_FALSE(entry(m, "model.name").same);
  EXPECT_TRUE(entry(m, "labels.order").same);
  EXPECT_TRUE(interfaceFindings(m).empty());
}

TEST(Matrix, ReorderedLabelsAreBreakingEvenWithTheSameCount) {
  Manifest b = baseManifest();
  std::swap(b.labels[2], b.labels[7]);
  auto m = diff(b);
  EXPECT_EQ(entry(m, "labels.order").cls, Compat::Breaking);
  EXPECT_NE(entry(m, "labels.order").note.find("2,7"), std::string::npos) << entry(m, "labels.order").note;
  EXPECT_EQ(entry(m, "labels.set").cls, Compat::Compatible);
  EXPECT_EQ(entry(m, "output.arity").cls, Compat::Compatible);
  auto f = interfaceFindings(m);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "interface.labels.order");
  EXPECT_TRUE(f[0].breaking);
  EXPECT_EQ(f[0].score(), 25);
}

TEST(Matrix, MoreClassesBreakArityAndLabelSet) {
  Manifest b = baseManifest();
  b.labels.push_back("c10");
  b.labels.push_back("c11");
  auto m = diff(b);
  EXPECT_EQ(entry(m, "output.arity").cls, Compat::Breaking);
  EXPECT_EQ(entry(m, "output.arity").candidate, "12");
  EXPECT_EQ(entry(m, "labels.set").cls, Compat::Breaking);
  EXPECT_NE(entry(m, "labels.set").note.find("added c10,c11"), std::string::npos);
}

TEST(Matrix, EachAspectHasItsClass) {
  Manifest b = baseManifest();
  b.inputShape = {1, 32, 32};
  b.resizeH = b.resizeW = 32;
  EXPECT_EQ(entry(diff(b), "input.shape").cls, Compat::Breaking);
  EXPECT_EQ(entry(diff(b), "preprocess.resize").cls, Compat::Risky);

  b = baseManifest();
  b.colour = "rgb";
  b.inputShape = {3, 28, 28};
  EXPECT_EQ(entry(diff(b), "input.colour").cls, Compat::Breaking);

  b = baseManifest();
  b.antialias = true;  // the same size, resampled otherwise
  EXPECT_EQ(entry(diff(b), "preprocess.resize").cls, Compat::Risky);
  EXPECT_EQ(entry(diff(b), "preprocess.resize").candidate, "28x28, bilinear, antialias");

  b = baseManifest();
  b.colour = "rgb";
  b.inputShape = {3, 28, 28};
  b.channelOrder = "bgr";
  EXPECT_EQ(entry(diff(b), "preprocess.channel_order").cls, Compat::Breaking);

  b = baseManifest();
  b.mean = {0.4};
  EXPECT_EQ(entry(diff(b), "preprocess.mean").cls, Compat::Risky);
  EXPECT_EQ(entry(diff(b), "preprocess.std").cls, Compat::Compatible);

  b = baseManifest();
  b.output = "probabilities";
  EXPECT_EQ(entry(diff(b), "output.kind").cls, Compat::Risky);

  b = baseManifest();
  b.schema = "cvgate.manifest/2";
  EXPECT_EQ(entry(diff(b), "manifest.schema").cls, Compat::Risky);

  auto m = compatibilityMatrix({baseManifest(), {"forward", "embed"}}, {baseManifest(), {"forward"}});
  EXPECT_EQ(entry(m, "module.methods").cls, Compat::Breaking);
  m = compatibilityMatrix({baseManifest(), {"forward"}}, {baseManifest(), {"forward", "embed"}});
  EXPECT_EQ(entry(m, "module.methods").cls, Compat::Compatible);
  m = compatibilityMatrix({baseManifest(), {"forward"}}, {baseManifest(), {"predict"}});
  EXPECT_EQ(entry(m, "module.methods").cls, Compat::Breaking);
}

// ---------------------------------------------------------------------------

namespace {

GoldenRecord record(const std::vector<int>& top1, std::size_t classes, const std::string& failAt = "") {
  GoldenRecord g;
  g.model = "m";
  for (std::size_t i = 0; i < top1.size(); ++i) {
    g.ids.push_back("s" + std::to_string(i));
    if (top1[i] < 0) {
      g.top1.push_back(-1);
      g.probs.emplace_back();
      g.errors.push_back(failAt.empty() ? "non-finite output" : failAt);
      continue;
    }
    std::vector<float> p(classes, 0.0f);
    p[static_cast<std::size_t>(top1[i])] = 1.0f;
    g.top1.push_back(top1[i]);
    g.probs.push_back(p);
    g.errors.emplace_back();
  }
  return g;
}

std::vector<std::string> labels10() {
  std::vector<std::string> l;
  for (int i = 0; i < 10; ++i) l.push_back("c" + std::to_string(i));
  return l;
}

}  // namespace

TEST(Behaviour, AgreementAndFlipsPerClassByLabelName) {
  // 8 samples, true classes 0,0,0,0,1,1,1,1; the candidate flips two of class 1.
  auto cur = record({0, 0, 0, 0, 1, 1, 1, 1}, 10);
  auto cand = record({0, 0, 0, 0, 1, 1, 2, 3}, 10);
  auto b = compareBehaviour(cur, labels10(), cand, labels10(), {0, 0, 0, 0, 1, 1, 1, 1}, 0.95);
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(b->compared, 8u);
  EXPECT_EQ(b->agree, 6u);
  EXPECT_DOUBLE_EQ(b->agreement, 0.75);
  EXPECT_LT(b->agreementCi.first, 0.75);
  EXPECT_GT(b->agreementCi.second, 0.75);
  ASSERT_EQ(b->perClass.size(), 2u);
  EXPECT_EQ(b->perClass[0].label, "c0");
  EXPECT_EQ(b->perClass[0].flips, 0u);
  EXPECT_EQ(b->perClass[1].label, "c1");
  EXPECT_EQ(b->perClass[1].flips, 2u);
  EXPECT_EQ(b->candidate.outputWidth, 10);
  EXPECT_NEAR(b->candidate.probSumMaxDev, 0.0, 1e-9);
}

TEST(Behaviour, ReorderedLabelsDisagreeEvenWithEqualIndices) {
  auto cur = record({0, 1, 2, 3}, 10);
  auto cand = record({0, 1, 2, 3}, 10);
  auto rev = labels10();
  std::reverse(rev.begin(), rev.end());
  auto b = compareBehaviour(cur, labels10(), cand, rev, {0, 1, 2, 3}, 0.95);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->agree, 0u);
}

TEST(Behaviour, FailedCandidateRequestsAreCountedAndFail) {
  auto cur = record({0, 1, 2, 3}, 10);
  auto cand = record({-1, -1, 2, 3}, 10);
  auto b = compareBehaviour(cur, labels10(), cand, labels10(), {0, 1, 2, 3}, 0.95);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->candidate.failed, 2u);
  EXPECT_EQ(b->candidate.nonFinite, 2u);
  EXPECT_EQ(b->agree, 2u);
  IntegrationConfig cfg;
  Check c = behaviourCheck(&*b, cfg, 0.95);
  EXPECT_EQ(c.status, Outcome::Fail);
  EXPECT_NE(c.message.find("2/4 requests failed"), std::string::npos) << c.message;
  auto f = behaviourFindings(*b, cfg, 0.95);
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f[0].id, "behaviour.failures");
  EXPECT_EQ(f[0].score(), 25);
}

TEST(Behaviour, ProbabilitySumsOffAreADefect) {
  auto cur = record({0, 1}, 10);
  auto cand = record({0, 1}, 10);
  cand.probs[1][5] = 0.5f;  // sums to 1.5
  auto b = compareBehaviour(cur, labels10(), cand, labels10(), {0, 1}, 0.95);
  ASSERT_TRUE(b.ok());
  EXPECT_NEAR(b->candidate.probSumMaxDev, 0.5, 1e-6);
  IntegrationConfig cfg;
  EXPECT_EQ(behaviourCheck(&*b, cfg, 0.95).status, Outcome::Fail);
}

TEST(Behaviour, AgreementIsThreeValued) {
  IntegrationConfig cfg;  // minimum 0.80
  // 40/40: CP lower 0.91 -> pass.
  std::vector<int> same(40, 1), truth(40, 1);
  auto b = compareBehaviour(record(same, 10), labels10(), record(same, 10), labels10(), truth, 0.95);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(behaviourCheck(&*b, cfg, 0.95).status, Outcome::Pass);
  // 34/40 = 0.85: CI straddles 0.80 -> inconclusive with a sample count that would settle it.
  std::vector<int> some = same;
  for (int i = 0; i < 6; ++i) some[static_cast<std::size_t>(i)] = 2;
  b = compareBehaviour(record(same, 10), labels10(), record(some, 10), labels10(), truth, 0.95);
  ASSERT_TRUE(b.ok());
  Check c = behaviourCheck(&*b, cfg, 0.95);
  EXPECT_EQ(c.status, Outcome::Inconclusive) << c.message;
  ASSERT_TRUE(c.need.contains("samples"));
  auto need = c.need["samples"].get<std::size_t>();
  EXPECT_GT(need, 40u);
  auto ci = stats::clopperPearson(static_cast<std::uint64_t>(std::llround(0.85 * static_cast<double>(need))), need, 0.95);
  EXPECT_GE(ci.lo, 0.80);
  // 10/40: CP upper far below 0.80 -> fail.
  for (int i = 0; i < 30; ++i) some[static_cast<std::size_t>(i)] = 2;
  b = compareBehaviour(record(same, 10), labels10(), record(some, 10), labels10(), truth, 0.95);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(behaviourCheck(&*b, cfg, 0.95).status, Outcome::Fail);
  // No candidate: inconclusive, said so.
  c = behaviourCheck(nullptr, cfg, 0.95);
  EXPECT_EQ(c.status, Outcome::Inconclusive);
  EXPECT_EQ(c.message, "no candidate staged");
}

// ---------------------------------------------------------------------------

namespace {

const char* kCur = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const char* kCand = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

ContractExpectations expectations() {
  return {"cycle-1", kCur, kCand, "cfgsha", "datasha"};
}

Report fixtureReport(const std::string& kind, const std::string& tool) {
  Report r = newReport(tool, kind, "cycle-1");
  r.subjects["current"] = {"cur", kCur, ""};
  r.subjects["candidate"] = {"cand", kCand, ""};
  r.inputs = {{"config_sha256", "cfgsha"}, {"dataset_sha256", "datasha"}};
  r.status = Outcome::Pass;
  return r;
}

std::string write(const TempDir& t, const std::string& name, const json& j) {
  std::string p = t.file(name);
  std::ofstream(p) << j.dump(2);
  return p;
}

ContractResult check(const TempDir& t, const Report& r, const std::string& kind = "cvgate.latency") {
  return checkContract({kind, write(t, "r.json", toJson(r)), false}, expectations());
}

bool mentions(const ContractResult& c, const std::string& s) {
  for (const auto& p : c.problems)
    if (p.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Contracts, AMatchingReportIsOk) {
  TempDir t;
  auto c = check(t, fixtureReport("cvgate.latency", "profile-latency"));
  EXPECT_EQ(c.state, ContractState::Ok);
  EXPECT_TRUE(c.problems.empty());
  EXPECT_TRUE(c.usable());
  EXPECT_EQ(c.schema, "cvgate.latency/1");
}

TEST(Contracts, AMissingReportMeansAnIncompleteCycle) {
  TempDir t;
  auto c = checkContract({"cvgate.env", t.file("nope.json"), true}, expectations());
  EXPECT_EQ(c.state, ContractState::Missing);
  EXPECT_FALSE(c.usable());
  Check ck = contractsCheck({c});
  EXPECT_EQ(ck.status, Outcome::Inconclusive);
  EXPECT_EQ(ck.need["reports"][0], "cvgate.env");
}

TEST(Contracts, StaleOrMismatchedReportsAreFindingsNotUsed) {
  TempDir t;
  Report r = fixtureReport("cvgate.latency", "profile-latency");
  r.cycleId = "cycle-0";
  auto c = check(t, r);
  EXPECT_EQ(c.state, ContractState::Mismatch);
  EXPECT_TRUE(mentions(c, "cycle_id 'cycle-0': expected 'cycle-1'"));
  EXPECT_FALSE(c.usable());

  r = fixtureReport("cvgate.latency", "profile-latency");
  r.subjects["candidate"].sha256 = std::string(64, 'c');
  c = check(t, r);
  EXPECT_EQ(c.state, ContractState::Mismatch);
  EXPECT_TRUE(mentions(c, "subjects.candidate.sha256 cccccccccccc"));

  r = fixtureReport("cvgate.latency", "profile-latency");
  r.inputs["config_sha256"] = "other";
  EXPECT_TRUE(mentions(check(t, r), "inputs.config_sha256 other"));
  r = fixtureReport("cvgate.latency", "profile-latency");
  r.inputs["dataset_sha256"] = "other";
  EXPECT_EQ(check(t, r).state, ContractState::Mismatch);
  r = fixtureReport("cvgate.latency", "profile-latency");
  r.inputs.erase("dataset_sha256");  // absent: not checked
  EXPECT_EQ(check(t, r).state, ContractState::Ok);

  // A report about a candidate while none is staged is stale too.
  r = fixtureReport("cvgate.latency", "profile-latency");
  auto want = expectations();
  want.candidateSha256.clear();
  c = checkContract({"cvgate.latency", write(t, "x.json", toJson(r)), false}, want);
  EXPECT_EQ(c.state, ContractState::Mismatch);
  EXPECT_TRUE(mentions(c, "no candidate model is staged"));

  Check ck = contractsCheck({c});
  EXPECT_EQ(ck.status, Outcome::Fail);
  auto f = contractFindings({c});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].score(), 20);
}

TEST(Contracts, UncoveredCandidateAndErrorReportsAreNotEvidence) {
  TempDir t;
  Report r = fixtureReport("cvgate.compliance", "eval-compliance");
  r.subjects.erase("candidate");
  auto c = check(t, r, "cvgate.compliance");
  EXPECT_EQ(c.state, ContractState::Incomplete);
  EXPECT_TRUE(c.usable());
  r = fixtureReport("cvgate.compliance", "eval-compliance");
  r.status = Outcome::Error;
  r.error = "dataset unreadable";
  c = check(t, r, "cvgate.compliance");
  EXPECT_EQ(c.state, ContractState::Failed);
  EXPECT_TRUE(mentions(c, "status error: dataset unreadable"));
}

TEST(Contracts, UnknownSchemaVersionsAreRefusedWithAClearMessage) {
  TempDir t;
  json j = toJson(fixtureReport("cvgate.latency", "profile-latency"));
  j["schema"] = "cvgate.latency/0";
  auto c = checkContract({"cvgate.latency", write(t, "old.json", j), false}, expectations());
  EXPECT_EQ(c.state, ContractState::Refused);
  EXPECT_EQ(c.schema, "cvgate.latency/0");
  EXPECT_TRUE(mentions(c, "unknown schema 'cvgate.latency/0'")) << c.problems[0];

  j["schema"] = "cvgate.latency/99";
  c = checkContract({"cvgate.latency", write(t, "new.json", j), false}, expectations());
  EXPECT_EQ(c.state, ContractState::Refused);
  EXPECT_TRUE(mentions(c, "newer than this cvgate reads (cvgate.latency/1); upgrade cvgate")) << c.problems[0];
  EXPECT_EQ(contractsCheck({c}).status, Outcome::Fail);

  // The current version written by an older tool (fields it did not know
  // yet, e.g. no results) is still read.
  j["schema"] = "cvgate.latency/1";
  j.erase("results");
  j.erase("inputs");
  c = checkContract({"cvgate.latency", write(t, "v1.json", j), false}, expectations());
  EXPECT_EQ(c.state, ContractState::Ok);

  // Another kind, or not a report at all.
  c = checkContract({"cvgate.compliance", write(t, "v1.json", j), false}, expectations());
  EXPECT_EQ(c.state, ContractState::Refused);
  EXPECT_TRUE(mentions(c, "expected a cvgate.compliance/1 report"));
  std::ofstream(t.file("junk.json")) << "{not json";
  c = checkContract({"cvgate.env", t.file("junk.json"), false}, expectations());
  EXPECT_EQ(c.state, ContractState::Refused);
  EXPECT_TRUE(mentions(c, "not valid JSON"));
}

TEST(Contracts, LockSchemaVersionsAreReadOrRefusedClearly) {
  TempDir t;
  EXPECT_EQ(checkLockSchema(t.file("env.lock.json")).state, "missing");
  auto lock = [&](const std::string& schema) {
    std::ofstream(t.file("env.lock.json")) << json{{"schema", schema}, {"recorded_at", "x"}}.dump();
    return checkLockSchema(t.file("env.lock.json"));
  };
  EXPECT_EQ(lock("cvgate.envlock/1").state, "ok");
  auto l = lock("cvgate.envlock/0");
  EXPECT_EQ(l.state, "refused");
  EXPECT_NE(l.problem.find("unknown schema 'cvgate.envlock/0' (this cvgate reads cvgate.envlock/1); re-record it"),
            std::string::npos) << l.problem;
  l = lock("cvgate.envlock/99");
  EXPECT_EQ(l.state, "refused");
  EXPECT_NE(l.problem.find("is newer than this cvgate reads (cvgate.envlock/1); upgrade cvgate"), std::string::npos);
  auto f = contractFindings({}, &l);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "contracts.lock");
  std::ofstream(t.file("env.lock.json")) << "garbage";
  EXPECT_EQ(checkLockSchema(t.file("env.lock.json")).state, "refused");
}

// ---------------------------------------------------------------------------

namespace {

ContractResult usable(Report r) {
  ContractResult c;
  c.source = {r.schema.substr(0, r.schema.find('/')), "x", false};
  c.state = ContractState::Ok;
  c.report = std::move(r);
  return c;
}

const RegressionRow* findRow(const std::vector<RegressionRow>& rows, const std::string& metric,
                             const std::string& scope) {
  for (const auto& r : rows)
    if (r.metric == metric && r.scope == scope) return &r;
  return nullptr;
}

Report complianceReport() {
  Report r = fixtureReport("cvgate.compliance", "eval-compliance");
  r.results = json::parse(R"({
    "current":   {"accuracy": 0.84, "compliance": 0.70, "conflict": 0.06, "abstain": 0.24,
                  "per_class": [{"label": "Shirt", "n": 100, "precision": 0.6, "recall": 0.5, "compliance": 0.40},
                                {"label": "Bag",   "n": 100, "precision": 0.9, "recall": 0.9, "compliance": 0.90}]},
    "candidate": {"accuracy": 0.89, "compliance": 0.80, "conflict": 0.04, "abstain": 0.16,
                  "per_class": [{"label": "Shirt", "n": 100, "precision": 0.6, "recall": 0.5, "compliance": 0.30},
                                {"label": "Bag",   "n": 100, "precision": 0.9, "recall": 0.9, "compliance": 0.95}]},
    "uplift": {"uplift": 0.1428, "lo": 0.08, "hi": 0.20},
    "per_class_delta": [{"label": "Shirt", "delta": -0.10, "p_value": 0.001, "p_holm": 0.002},
                        {"label": "Bag",   "delta": 0.05,  "p_value": 0.2,   "p_holm": 0.2}]})");
  return r;
}

}  // namespace

TEST(Regression, ComplianceRowsCarryDeltasAndSignificance) {
  auto c = usable(complianceReport());
  auto rows = complianceRegression(&c, 0.05);
  const auto* overall = findRow(rows, "compliance", "overall");
  ASSERT_TRUE(overall);
  EXPECT_NEAR(*overall->delta, 0.10, 1e-9);
  EXPECT_EQ(overall->significance, "significant");
  EXPECT_EQ(overall->direction, "better");
  const auto* uplift = findRow(rows, "compliance.uplift", "overall");
  ASSERT_TRUE(uplift && uplift->deltaCi);
  EXPECT_DOUBLE_EQ(uplift->deltaCi->first, 0.08);
  const auto* conflict = findRow(rows, "conflict", "overall");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->direction, "better");  // lower is better
  EXPECT_EQ(conflict->significance, "not tested");
  const auto* shirt = findRow(rows, "compliance", "Shirt");
  ASSERT_TRUE(shirt);
  EXPECT_NEAR(*shirt->delta, -0.10, 1e-9);
  EXPECT_NEAR(*shirt->pValue, 0.002, 1e-12);
  EXPECT_EQ(shirt->significance, "significant");
  EXPECT_EQ(shirt->direction, "worse");
  EXPECT_EQ(findRow(rows, "compliance", "Bag")->significance, "not significant");

  auto f = regressionFindings(rows, 500);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, "regression.compliance.Shirt");
  EXPECT_EQ(f[0].score(), 12);
}

TEST(Regression, AbsentFieldsSayNotReported) {
  Report r = fixtureReport("cvgate.compliance", "eval-compliance");
  r.results = {{"current", {{"accuracy", 0.8}}}};
  auto c = usable(r);
  auto rows = complianceRegression(&c, 0.05);
  const auto* acc = findRow(rows, "accuracy", "overall");
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->significance, "not reported");
  EXPECT_EQ(acc->note, "candidate not reported");
  EXPECT_EQ(findRow(rows, "compliance", "overall")->note, "not reported");
  EXPECT_EQ(findRow(rows, "compliance.uplift", "overall")->significance, "not reported");
  ASSERT_TRUE(findRow(rows, "compliance", "per class"));

  // An unusable report gives one row that says why.
  ContractResult stale = usable(complianceReport());
  stale.state = ContractState::Mismatch;
  rows = complianceRegression(&stale, 0.05);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].note, "report stale or mismatched: not used");
  EXPECT_FALSE(rows[0].delta);
  ContractResult missing;
  missing.state = ContractState::Missing;
  EXPECT_EQ(latencyRegression(&missing)[0].note, "report missing");
}

TEST(Regression, LatencyFromChecksWithIntervals) {
  Report r = fixtureReport("cvgate.latency", "profile-latency");
  auto p95 = [](const std::string& subject, double v, double lo, double hi) {
    Check c;
    c.id = "latency.p95";
    c.subject = subject;
    c.status = Outcome::Pass;
    c.value = v;
    c.ci = std::make_pair(lo, hi);
    c.unit = "ms";
    return c;
  };
  r.checks = {p95("current", 3.0, 2.8, 3.2), p95("candidate", 5.0, 4.7, 5.4)};
  r.results = {{"candidate", {{"throughput_rps", 400.0}}}, {"current", {{"throughput_rps", 500.0}}}};
  auto c = usable(r);
  auto rows = latencyRegression(&c);
  const auto* row = findRow(rows, "latency.p95", "overall");
  ASSERT_TRUE(row);
  EXPECT_NEAR(*row->delta, 2.0, 1e-9);
  EXPECT_EQ(row->significance, "significant");
  EXPECT_EQ(row->direction, "worse");
  const auto* tp = findRow(rows, "latency.throughput", "overall");
  ASSERT_TRUE(tp);
  EXPECT_NEAR(*tp->delta, -100.0, 1e-9);
  EXPECT_EQ(tp->significance, "not tested");
  EXPECT_EQ(findRow(rows, "latency.error_rate", "overall")->significance, "not reported");
  auto f = regressionFindings(rows, 500);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].impact, 2);  // far below the objective
  EXPECT_EQ(regressionFindings(rows, 5.0)[0].impact, 5);  // at the objective

  r.checks = {p95("current", 3.0, 2.8, 3.2), p95("candidate", 3.1, 2.9, 3.3)};
  c = usable(r);
  auto rows1 = latencyRegression(&c);
  ASSERT_TRUE(findRow(rows1, "latency.p95", "overall"));
  EXPECT_EQ(findRow(rows1, "latency.p95", "overall")->significance, "not significant");

  // An inconclusive throughput check's value 0 is a placeholder, not a measurement.
  Check tp0;
  tp0.id = "latency.throughput";
  tp0.subject = "candidate";
  tp0.status = Outcome::Inconclusive;
  tp0.value = 0.0;
  r.checks.push_back(tp0);
  c = usable(r);
  auto rows0 = latencyRegression(&c);
  const auto* t0 = findRow(rows0, "latency.throughput", "overall");
  ASSERT_TRUE(t0);
  EXPECT_FALSE(t0->candidate);
  EXPECT_FALSE(t0->delta);
  EXPECT_EQ(t0->note, "latency.throughput inconclusive for candidate: no value");
}

// ---------------------------------------------------------------------------

TEST(Risk, LevelsAndBlockingFollowTheConfig) {
  IntegrationConfig cfg;  // medium 5, high 10, blocking 15
  auto f = [](int l, int i, bool breaking = false) {
    Finding x;
    x.id = "f" + std::to_string(l * i);
    x.likelihood = l;
    x.impact = i;
    x.breaking = breaking;
    return x;
  };
  EXPECT_EQ(scoreFindings({}, cfg).level, "low");
  EXPECT_EQ(scoreFindings({f(2, 2)}, cfg).level, "low");
  EXPECT_EQ(scoreFindings({f(3, 2)}, cfg).level, "medium");
  auto s = scoreFindings({f(2, 2), f(3, 4)}, cfg);
  EXPECT_EQ(s.level, "high");
  EXPECT_FALSE(s.blocksGo);
  EXPECT_EQ(s.findings[0].score(), 12);  // highest first
  s = scoreFindings({f(3, 5)}, cfg);
  EXPECT_TRUE(s.blocksGo);
  EXPECT_EQ(s.blockedBy, std::vector<std::string>{"f15"});
  // A breaking difference blocks whatever its score.
  s = scoreFindings({f(1, 1, true)}, cfg);
  EXPECT_EQ(s.level, "low");
  EXPECT_TRUE(s.blocksGo);
  cfg.blockingRisk = 25;
  EXPECT_FALSE(scoreFindings({f(4, 5)}, cfg).blocksGo);

  Check c = riskCheck(&s, cfg, true, {});
  EXPECT_EQ(c.status, Outcome::Fail);
  auto ok = scoreFindings({f(2, 2)}, cfg);
  EXPECT_EQ(riskCheck(&ok, cfg, true, {}).status, Outcome::Pass);
  c = riskCheck(&ok, cfg, false, {"cvgate.latency report missing"});
  EXPECT_EQ(c.status, Outcome::Inconclusive);
  EXPECT_EQ(c.need["evidence"][0], "cvgate.latency report missing");
  EXPECT_EQ(riskCheck(nullptr, cfg, true, {}).message, "no candidate staged");
}

TEST(Config, IntegrationKeysAreReadAndChecked) {
  auto c = parseConfig("[integration]\nbehaviour_samples = 500\nprob_sum_tolerance = 0.01\nmedium_risk = 4\n", "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->integration.behaviourSamples, 500);
  EXPECT_DOUBLE_EQ(c->integration.probSumTolerance, 0.01);
  EXPECT_EQ(c->integration.mediumRisk, 4);
  auto bad = parseConfig("[integration]\nmin_top1_agreement = 1.5\n", "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("integration.min_top1_agreement"), std::string::npos);
  bad = parseConfig("[integration]\nmedium_risk = 12\n", "t.toml");
  ASSERT_FALSE(bad.ok());
}

// ---------------------------------------------------------------------------

TEST(Markdown, RendersAlignedTablesFromTheJson) {
  Report r = newReport(kTool, kKind, "cycle-1");
  r.subjects["current"] = {"cur", kCur, ""};
  r.subjects["candidate"] = {"cand", kCand, ""};
  Manifest b = baseManifest();
  std::swap(b.labels[0], b.labels[1]);
  auto m = diff(b);
  IntegrationConfig cfg;
  auto card = scoreFindings(interfaceFindings(m), cfg);
  r.checks.push_back(interfaceCheck(&m));
  json mj = json::array();
  for (const auto& e : m) mj.push_back(toJson(e));
  r.results = {{"candidate_staged", true}, {"compatibility_matrix", mj}, {"risk", toJson(card, cfg)},
               {"contracts", json::array()}, {"regression_summary", json::array()}};
  r.settleStatus();
  std::string md = renderMarkdown(r);
  EXPECT_NE(md.find("# Integration: cur -> cand"), std::string::npos) << md;
  EXPECT_NE(md.find("status: **FAIL**"), std::string::npos);
  EXPECT_NE(md.find("## Compatibility matrix"), std::string::npos);
  EXPECT_NE(md.find("**breaking**"), std::string::npos);
  EXPECT_NE(md.find("| interface.labels.order |"), std::string::npos) << md;
  EXPECT_NE(md.find("**Overall: high risk, blocks GO.**"), std::string::npos);
  // Every table line of a table has the same width (padded for terminals).
  std::istringstream in(md);
  std::string line;
  std::size_t tableWidth = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] != '|') {
      tableWidth = 0;
      continue;
    }
    if (tableWidth == 0) tableWidth = line.size();
    EXPECT_EQ(line.size(), tableWidth) << line;
  }
}

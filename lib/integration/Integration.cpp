// runIntegration: load, compare, read the cycle's reports, score; and the
// finishing step that writes JSON or Markdown.
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>

#include "common/Fs.h"
#include "common/Time.h"
#include "integration/Integration.h"
#include "report/Feed.h"
#include "runtime/Runtime.h"

namespace cvgate::integration {

namespace {

struct Wanted {
  const char* kind;
  const char* channel;
  const char* flag;
  const std::string* path;
};

}  // namespace

Expected<Report> runIntegration(const ToolContext& ctx, const IntegrationOptions& o) {
  const Config& cfg = ctx.config;
  const IntegrationConfig& icfg = cfg.integration;
  Report r = startReport(ctx, kKind);

  const Wanted wanted[] = {
      {"cvgate.env", "v1_baseline_feed", "--env-report", &o.envReport},
      {"cvgate.latency", "v1_latency_feed", "--latency-report", &o.latencyReport},
      {"cvgate.compliance", "v1_compliance_feed", "--compliance-report", &o.complianceReport}};
  for (const auto& w : wanted) {
    std::error_code ec;
    if (!w.path->empty() && !std::filesystem::is_regular_file(*w.path, ec))
      return badInput("'" + *w.path + "' (" + w.flag + "): expected an existing report file");
  }

  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));
  CVGATE_TRY_ASSIGN(cur, loadSubject(cfg.models.current, cfg.models.currentSha256, "current", r));
  std::shared_ptr<Model> cand;
  if (!cfg.models.candidate.empty()) {
    CVGATE_TRY_ASSIGN(c, loadSubject(cfg.models.candidate, cfg.models.candidateSha256, "candidate", r));
    cand = c;
  }
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  r.inputs["dataset_sha256"] = ds->sha256();
  GoldenConfig golden = cfg.golden;
  if (icfg.behaviourSamples > 0) golden.count = icfg.behaviourSamples;
  CVGATE_TRY_ASSIGN(samples, goldenSamples(*ds, golden));
  const double confidence = cfg.objectives.confidence;

  json results = json::object();
  results["candidate_staged"] = static_cast<bool>(cand);
  results["golden"] = {{"offset", golden.offset}, {"count", golden.count}, {"dataset", ds->describe()}};

  // Interface and behaviour: only with a candidate.
  std::vector<MatrixEntry> matrix;
  std::optional<BehaviourResult> behaviour;
  std::vector<Finding> findings;
  if (cand) {
    matrix = compatibilityMatrix({cur->manifest(), cur->methods()}, {cand->manifest(), cand->methods()});
    spdlog::info("golden set: {} samples from {} through both models", samples.size(), ds->describe());
    GoldenRecord gc = recordGolden(*cur, samples, cfg.runtime.batchSize);
    GoldenRecord gk = recordGolden(*cand, samples, cfg.runtime.batchSize);
    std::vector<int> truth;
    for (const auto& s : samples) truth.push_back(s.label);
    CVGATE_TRY_ASSIGN(b, compareBehaviour(gc, cur->manifest().labels, gk, cand->manifest().labels, truth,
                                          confidence));
    behaviour = std::move(b);
    auto fi = interfaceFindings(matrix);
    auto fb = behaviourFindings(*behaviour, icfg, confidence);
    findings.insert(findings.end(), fi.begin(), fi.end());
    findings.insert(findings.end(), fb.begin(), fb.end());
  }
  json mj = json::array();
  std::size_t nb = 0, nr = 0, nc = 0;
  for (const auto& e : matrix) {
    mj.push_back(toJson(e));
    (e.cls == Compat::Breaking ? nb : e.cls == Compat::Risky ? nr : nc)++;
  }
  results["compatibility_matrix"] = mj;
  results["interface_summary"] = cand ? json{{"breaking", nb}, {"risky", nr}, {"compatible", nc}} : json(nullptr);
  results["behaviour"] = behaviour ? toJson(*behaviour) : json(nullptr);

  // Contracts of the cycle's reports.
  ContractExpectations want{ctx.cycleId, cur->sha256(), cand ? cand->sha256() : "", cfg.sha256, ds->sha256()};
  std::vector<ContractResult> contracts;
  json reportPaths = json::object();
  for (const auto& w : wanted) {
    ReportSource src{w.kind, w.path->empty() ? feedPath(ctx.stateDir, w.channel, ctx.cycleId) : *w.path,
                     w.path->empty()};
    reportPaths[w.kind] = src.path;
    contracts.push_back(checkContract(src, want));
    if (contracts.back().state != ContractState::Ok)
      spdlog::warn("{} report {}: {}", w.kind, toString(contracts.back().state),
                   contracts.back().problems.empty() ? "" : contracts.back().problems[0]);
  }
  r.inputs["reports"] = reportPaths;
  json cj = json::array();
  for (const auto& c : contracts) cj.push_back(toJson(c));
  results["contracts"] = cj;

  // Regression summary from the usable reports.
  const double alpha = 1.0 - confidence;
  auto rows = complianceRegression(&contracts[2], alpha);
  auto lrows = latencyRegression(&contracts[1]);
  rows.insert(rows.end(), lrows.begin(), lrows.end());
  json rj = json::array();
  for (const auto& row : rows) rj.push_back(toJson(row));
  results["regression_summary"] = rj;

  // The environment lock's schema version (verify-env compares against it).
  std::string lockPath = cfg.env.lockFile;
  if (!lockPath.empty() && std::filesystem::path(lockPath).is_relative())
    lockPath = (std::filesystem::path(ctx.stateDir) / lockPath).string();
  LockCheck lock = checkLockSchema(lockPath);
  if (lock.state == "refused") spdlog::warn("{}", lock.problem);
  results["lock"] = toJson(lock);

  auto fc = contractFindings(contracts, &lock);
  auto fr = regressionFindings(rows, cfg.objectives.p95LatencyMs);
  findings.insert(findings.end(), fc.begin(), fc.end());
  findings.insert(findings.end(), fr.begin(), fr.end());
  Scorecard card = scoreFindings(findings, icfg);
  results["risk"] = toJson(card, icfg);

  // Checks.
  r.checks.push_back(interfaceCheck(cand ? &matrix : nullptr));
  Check bc = behaviourCheck(behaviour ? &*behaviour : nullptr, icfg, confidence);
  r.checks.push_back(bc);
  r.checks.push_back(contractsCheck(contracts));
  std::vector<std::string> missing;
  for (const auto& c : contracts)
    if (c.state != ContractState::Ok) missing.push_back(c.source.kind + " report " + toString(c.state));
  if (cand && bc.status == Outcome::Inconclusive) missing.push_back("behaviour not settled");
  r.checks.push_back(riskCheck(cand ? &card : nullptr, icfg, missing.empty(), missing));

  results["thresholds"] = {{"min_top1_agreement", icfg.minTop1Agreement},
                           {"prob_sum_tolerance", icfg.probSumTolerance},
                           {"confidence", confidence},
                           {"alpha", alpha},
                           {"medium_risk", icfg.mediumRisk},
                           {"high_risk", icfg.highRisk},
                           {"blocking_risk", icfg.blockingRisk}};
  r.results = std::move(results);
  return r;
}

Expected<int> finishIntegration(const ToolContext& ctx, Report& r, const std::string& format) {
  if (format == "json") return finishReport(ctx, r);
  if (format != "md") return badInput("--format '" + format + "': expected json or md");
  return finishReport(ctx, r, renderMarkdown);
}

}  // namespace cvgate::integration

// check-integration: is the candidate a drop-in replacement for the current
// model, and is the evidence of this cycle consistent? Four parts, each a
// plain function over plain data so that tests need no models:
//   - the compatibility matrix of the two manifests and modules,
//   - behaviour of both models on the golden set,
//   - the contracts of the cycle's other reports (env, latency, compliance),
//   - the regression summary and the risk scorecard built from all of it.
// runIntegration() loads the models and data and puts them together into a
// cvgate.integration/1 report; renderMarkdown() is a second view of it.
// Torch-free header.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/Error.h"
#include "config/Config.h"
#include "model/Manifest.h"
#include "report/Report.h"
#include "report/ToolContext.h"
#include "runtime/Golden.h"

namespace cvgate::integration {

inline constexpr const char* kTool = "check-integration";
inline constexpr const char* kKind = "cvgate.integration";

// ---------------------------------------------------------------------------
// Compatibility matrix
// ---------------------------------------------------------------------------

/// How a difference between current and candidate affects what uses the model.
enum class Compat {
  Compatible,  ///< same, or different in a way no consumer notices
  Risky,       ///< works through cvgate's pipeline, may break a consumer that hard-codes it
  Breaking,    ///< a consumer of the current model gets wrong answers or errors
};
std::string toString(Compat c);

/// What the matrix compares: the manifest and the TorchScript method names.
struct InterfaceSide {
  Manifest manifest;
  std::vector<std::string> methods;  ///< e.g. {"forward"}
};

/// One row of the matrix.
struct MatrixEntry {
  std::string aspect;     ///< "input.shape", "labels.order", ...
  std::string current;    ///< the current model's value, rendered
  std::string candidate;  ///< the candidate's value, rendered
  bool same = true;       ///< values equal
  Compat cls = Compat::Compatible;
  std::string note;       ///< why this class, for a person
};

/// Every aspect, in a fixed order, one row each (identical ones too).
std::vector<MatrixEntry> compatibilityMatrix(const InterfaceSide& current,
                                             const InterfaceSide& candidate);
nlohmann::json toJson(const MatrixEntry& e);

// ---------------------------------------------------------------------------
// Behaviour on the golden set
// ---------------------------------------------------------------------------

/// Flips of one true class: samples whose candidate top-1 label differs from
/// the current one (a failed candidate request counts as a flip).
struct ClassFlips {
  std::string label;      ///< true class name (from the current manifest)
  std::size_t n = 0;      ///< samples of this class the current model answered
  std::size_t flips = 0;
};

/// Per-side facts measured on the golden records.
struct SideBehaviour {
  std::size_t failed = 0;            ///< failed requests
  std::size_t nonFinite = 0;         ///< of them: non-finite output
  std::size_t wrongShape = 0;        ///< of them: wrong output shape
  std::vector<std::string> errors;   ///< distinct error messages, at most 5
  int outputWidth = -1;              ///< probabilities per answer (-1: none answered)
  std::size_t expectedWidth = 0;     ///< the manifest's label count
  double probSumMaxDev = 0;          ///< max |sum(probs) - 1| over answers (NaN if none)
};

struct BehaviourResult {
  std::size_t n = 0;                 ///< golden samples
  SideBehaviour current, candidate;
  std::size_t compared = 0;          ///< samples the current model answered
  std::size_t agree = 0;             ///< of them: same top-1 label name
  double agreement = 0;              ///< agree / compared (NaN if compared == 0)
  std::pair<double, double> agreementCi{0, 1}; ///< Clopper-Pearson at the confidence
  std::vector<ClassFlips> perClass;  ///< by true class, in label order
};

/// Compare two recordings of the same golden samples. Top-1 answers are
/// compared by label NAME, so a reordered label list shows as disagreement.
/// `trueLabels[i]` is sample i's label index (named via currentLabels).
Expected<BehaviourResult> compareBehaviour(const GoldenRecord& current,
                                           const std::vector<std::string>& currentLabels,
                                           const GoldenRecord& candidate,
                                           const std::vector<std::string>& candidateLabels,
                                           const std::vector<int>& trueLabels, double confidence);
nlohmann::json toJson(const BehaviourResult& b);

/// Total sample count at which an agreement observed at `rate` would settle
/// "agreement >= minimum" (CP lower >= min) or "< minimum" (CP upper < min);
/// stats::kSampleCap when it would not.
std::size_t samplesToSettleAgreement(double rate, double minimum, double confidence,
                                     std::size_t from);

// ---------------------------------------------------------------------------
// Report contracts
// ---------------------------------------------------------------------------

/// Where to find one of the cycle's reports.
struct ReportSource {
  std::string kind;       ///< "cvgate.latency"
  std::string path;       ///< file to read
  bool fromFeed = true;   ///< false: given on the command line
};

/// What every report of the cycle must refer to.
struct ContractExpectations {
  std::string cycleId;
  std::string currentSha256;
  std::string candidateSha256;  ///< empty: no candidate staged
  std::string configSha256;
  std::string datasetSha256;    ///< empty: not checked
};

/// State of one report, worst first.
enum class ContractState {
  Refused,     ///< unreadable, not JSON, unknown or newer schema, wrong kind
  Mismatch,    ///< another cycle, other model bytes, config or data: stale
  Missing,     ///< not there: the cycle is incomplete
  Failed,      ///< status error: the tool made no evidence
  Incomplete,  ///< does not cover a model staged now
  Ok,
};
std::string toString(ContractState s);

struct ContractResult {
  ReportSource source;
  ContractState state = ContractState::Missing;
  std::string schema;                 ///< as written in the report ("" if unread)
  std::string status;                 ///< the report's own status
  std::vector<std::string> problems;  ///< one line each
  std::optional<Report> report;       ///< parsed, when it parsed
  /// The report's numbers may be used (it is of this cycle and these models).
  bool usable() const { return state == ContractState::Ok || state == ContractState::Incomplete; }
};

/// Read and check one report. Never fails: every problem is in the result.
ContractResult checkContract(const ReportSource& src, const ContractExpectations& want);
nlohmann::json toJson(const ContractResult& c);

/// The environment lock (verify-env's, "cvgate.envlock/1") as far as this
/// tool needs it: is its schema version one this cvgate reads?
struct LockCheck {
  std::string path;
  std::string state = "missing";    ///< "ok", "missing", "refused"
  std::string schema;               ///< as written ("" if unread)
  std::string problem;              ///< why refused
};
LockCheck checkLockSchema(const std::string& path);
nlohmann::json toJson(const LockCheck& l);

// ---------------------------------------------------------------------------
// Regression summary
// ---------------------------------------------------------------------------

/// One row: a metric of current and candidate, their delta and its significance.
struct RegressionRow {
  std::string metric;     ///< "compliance", "accuracy", "latency.p95", ...
  std::string scope;      ///< "overall" or a class label
  std::string unit;       ///< "fraction", "ms", "1/s"
  std::optional<double> current, candidate, delta;
  std::optional<std::pair<double, double>> currentCi, candidateCi, deltaCi;
  std::optional<double> pValue;       ///< adjusted (Holm) where the source gives it
  std::string significance;           ///< "significant", "not significant", "not tested", "not reported"
  std::string direction;              ///< "better", "worse", "same", "changed", "" (unknown)
  std::string source;                 ///< "cvgate.compliance/1 results.uplift", ...
  std::string note;                   ///< e.g. "not reported", "report stale: not used"
};
nlohmann::json toJson(const RegressionRow& r);

/// Rows from the compliance report (null/unusable: rows say why). `alpha`:
/// the significance level (1 - confidence).
std::vector<RegressionRow> complianceRegression(const ContractResult* compliance, double alpha);
/// Rows from the latency report (p95, error rate, throughput per subject).
std::vector<RegressionRow> latencyRegression(const ContractResult* latency);

// ---------------------------------------------------------------------------
// Risk scorecard
// ---------------------------------------------------------------------------

/// One finding: likelihood and impact on 1..5, score their product.
struct Finding {
  std::string id;         ///< "interface.labels.order", "contracts.cvgate.latency", ...
  std::string area;       ///< "interface", "behaviour", "contracts", "regression"
  std::string title;      ///< one line
  int likelihood = 1;     ///< 1 rare .. 5 observed
  int impact = 1;         ///< 1 cosmetic .. 5 wrong answers in production
  bool breaking = false;  ///< a breaking interface difference (blocks GO whatever its score)
  int score() const { return likelihood * impact; }
};

struct Scorecard {
  std::vector<Finding> findings;      ///< highest score first
  int maxScore = 0;
  std::string level = "low";          ///< "low", "medium", "high"
  bool blocksGo = false;
  std::vector<std::string> blockedBy; ///< ids of the blocking findings
};

/// Level and blocking from the config's thresholds.
Scorecard scoreFindings(std::vector<Finding> findings, const IntegrationConfig& cfg);
nlohmann::json toJson(const Scorecard& s, const IntegrationConfig& cfg);

/// Findings from each part.
std::vector<Finding> interfaceFindings(const std::vector<MatrixEntry>& matrix);
std::vector<Finding> behaviourFindings(const BehaviourResult& b, const IntegrationConfig& cfg,
                                       double confidence);
std::vector<Finding> contractFindings(const std::vector<ContractResult>& contracts,
                                      const LockCheck* lock = nullptr);
std::vector<Finding> regressionFindings(const std::vector<RegressionRow>& rows,
                                        double p95ObjectiveMs);

// ---------------------------------------------------------------------------
// Checks and the whole run
// ---------------------------------------------------------------------------

Check interfaceCheck(const std::vector<MatrixEntry>* matrix);   ///< null: no candidate
Check behaviourCheck(const BehaviourResult* b, const IntegrationConfig& cfg, double confidence);
Check contractsCheck(const std::vector<ContractResult>& contracts);
/// `evidenceComplete`: every report usable and the behaviour settled.
Check riskCheck(const Scorecard* s, const IntegrationConfig& cfg, bool evidenceComplete,
                const std::vector<std::string>& missing);

/// Options of one run (flags).
struct IntegrationOptions {
  std::string envReport;         ///< --env-report; empty: the cycle's v1_baseline_feed entry
  std::string latencyReport;     ///< --latency-report; empty: v1_latency_feed
  std::string complianceReport;  ///< --compliance-report; empty: v1_compliance_feed
  std::string format = "json";   ///< "json" or "md" for --out / stdout
};

/// The whole check: load models and data, compare, read the cycle's reports,
/// score. Bad input (unreadable model, data, a named report file that does not
/// exist) is an Error; everything found is in the report.
Expected<Report> runIntegration(const ToolContext& ctx, const IntegrationOptions& opts);

/// Markdown view of a cvgate.integration report (from its JSON): checks,
/// matrix, behaviour, contracts, regression summary, scorecard. Tables are
/// padded so they read in a terminal and render on a code-review page.
std::string renderMarkdown(const Report& r);

/// Like finishReport, but writes `format` ("json" or "md") to --out; the
/// feed (--publish) always gets JSON. Returns the exit code.
Expected<int> finishIntegration(const ToolContext& ctx, Report& r, const std::string& format);

}  // namespace cvgate::integration

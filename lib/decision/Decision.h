// The deployment decision of DESIGN.md section 6: from the cycle's five
// reports, the registry and the history of the feeds to GO, PAUSE or ROLLBACK.
//
// The policy itself (evaluatePolicy) is a pure function of a PolicyInput, so
// that every combination of gates can be unit-tested without files. Loading
// the reports, reading the history and acting on the registry live in
// Decide.cpp (runDecide), the outputs (verdict JSON, deployment_verdict.md,
// --explain, Prometheus, dashboard) in Render.cpp and Dashboard.cpp.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/Error.h"
#include "config/Config.h"
#include "registry/Registry.h"
#include "report/Report.h"

namespace cvgate::decision {

enum class Verdict { Go, Pause, Rollback };
std::string toString(Verdict v);
/// 0 GO, 10 PAUSE, 20 ROLLBACK.
int exitCodeFor(Verdict v);

/// The five reports a cycle needs, in the order decide reads them.
struct ReportSlot {
  const char* kind;     ///< "cvgate.latency"
  const char* channel;  ///< "v1_latency_feed"
  const char* label;    ///< "latency" (short name for people)
};
const std::vector<ReportSlot>& reportSlots();

/// One report as decide found it.
struct LoadedReport {
  enum class State {
    Accepted,  ///< parsed, this cycle, fresh, same models
    Missing,   ///< no file
    Refused,   ///< unreadable, unknown schema, other cycle, stale, other models
  };
  std::string kind;                ///< "cvgate.latency"
  std::string channel;             ///< feed channel
  std::string path;                ///< where it was (to be) read
  State state = State::Missing;
  std::string problem;             ///< Missing/Refused: why, one line
  std::optional<Report> report;    ///< parsed (also when refused for staleness etc.)
  std::string sha256;              ///< sha256 of the file's bytes (empty when missing)
};

/// What the registry says, gathered before the policy runs.
struct RegistryFacts {
  bool available = false;          ///< the registry could be opened
  std::string error;               ///< why not
  std::optional<Entry> current;
  std::optional<Entry> candidate;
  bool currentVerified = false;    ///< current object's bytes match its sha256
  std::string currentProblem;
  bool candidateVerified = false;  ///< candidate object's bytes match its sha256
  std::string candidateProblem;
  std::optional<Entry> rollbackTarget; ///< Registry::rollbackTarget() when it succeeds
  std::string rollbackTargetProblem;   ///< its error otherwise
};

/// Counted from the verdicts feed (earlier cycles only). "Consecutive" means
/// in a row in time: a cycle further from the next than
/// decision.max_cycle_gap_s ends every streak.
struct HistoryFacts {
  int passStreak = 0;              ///< previous consecutive cycles whose GO gates all passed, same models
  /// Per production gate ("latency.p95/current"): previous consecutive cycles
  /// in which it breached, same current model.
  std::map<std::string, int> breachStreaks;
  std::vector<std::string> skipped;///< verdict records that could not be read (file: why)
};

/// Error budget of the current model over decision.error_budget_window_h,
/// from the request and error counts of the latency feed's history.
struct ErrorBudget {
  double windowH = 0;              ///< window length, hours
  int cycles = 0;                  ///< latency reports in the window that carried counts
  int invalidSkipped = 0;          ///< of those, left out: production's run was invalid (not evidence)
  double requests = 0;             ///< requests of the current model in the window
  double errors = 0;               ///< failed requests of the current model in the window
  double allowedErrors = 0;        ///< objectives.max_error_rate * requests
  double consumed = 0;             ///< errors / allowedErrors (1 = used up)
  double burnRate = 0;             ///< (errors / requests) / max_error_rate
  bool known = false;              ///< requests > 0
  bool exhausted = false;          ///< known && errors >= allowedErrors
};

/// One gate of DESIGN.md section 6.
struct Gate {
  std::string id;                  ///< "latency.p95", "env.verified", ...
  std::string subject;             ///< "candidate", "current", ""
  std::string group;               ///< "candidate" (GO), "production" (ROLLBACK), "policy"
  Outcome status = Outcome::Error;
  std::optional<double> value;
  std::optional<double> objective;
  std::string comparison;          ///< how value/interval must relate to the objective: "<", ">=", ""
  std::string unit;
  std::optional<std::pair<double, double>> ci;
  std::string reason;              ///< one line for a person
  json need;                       ///< inconclusive: how much more evidence
  std::string source;              ///< "cvgate.latency", "registry", "verdicts", ...
  bool breach = false;             ///< production: a confident breach this cycle (status fail)
  bool integrity = false;          ///< production: a breach of integrity, which rolls back at once
  /// "id/subject": the gate's identity across cycles (history, streaks).
  std::string key() const { return id + "/" + subject; }
};

/// Everything the policy looks at.
struct PolicyInput {
  std::string cycleId;
  Objectives objectives;
  DecisionConfig decision;
  std::vector<LoadedReport> reports;  ///< screened (see screenReports)
  RegistryFacts registry;
  HistoryFacts history;
  ErrorBudget budget;
  std::string currentSha;          ///< the production model the cycle is about ("" unknown)
  std::string candidateSha;        ///< the candidate the cycle is about ("" none)
};

/// The outcome of the policy.
struct Decision {
  Verdict verdict = Verdict::Pause;
  std::vector<Gate> gates;
  std::vector<std::string> reasons;
  std::vector<std::string> whatWouldChange;
  bool goGatesPass = false;        ///< every candidate gate passed this cycle (history counts these)
  bool productionBreach = false;   ///< a production gate breached with confidence this cycle
  bool cycleError = false;         ///< a report missing, refused or an error report; registry unavailable
  int passStreak = 0;              ///< including this cycle
  int breachStreak = 0;            ///< the longest per-gate breach streak, including this cycle
  std::vector<std::string> breaches;         ///< keys of the production gates breaching this cycle
  std::map<std::string, int> breachStreaks;  ///< per breaching gate, including this cycle
  bool integrityBreach = false;    ///< production's bytes are not what the registry recorded
  bool noRollbackTarget = false;   ///< breach confirmed but nothing verified to roll back to
  std::vector<std::string> cycleProblems; ///< what made the cycle an errored one
};

/// Which models the cycle is about: pins first, else the registry, else the
/// sha256 most reports name. Fills in.currentSha / in.candidateSha.
void chooseSubjects(PolicyInput& in, const std::string& pinnedCurrent, const std::string& pinnedCandidate);

/// Refuse reports of another cycle, older than max_report_age_s (or dated in
/// the future), or naming other models than in.currentSha / in.candidateSha.
/// Missing and unreadable reports stay as they were.
void screenReports(PolicyInput& in, std::chrono::system_clock::time_point now);

/// The policy: gates, verdict, reasons, what would change it.
Decision evaluatePolicy(const PolicyInput& in);

/// Read one report file for a slot: Missing when absent, Refused when it does
/// not parse or is another kind (the problem says why). Not screened yet.
LoadedReport loadReport(const ReportSlot& slot, const std::string& path);

/// Why a verdict record cannot be used as history ("" when it can): its
/// fields must have the types countHistory reads.
std::string verdictRecordProblem(const json& record);

/// From earlier verdict records (oldest first, each accepted by
/// verdictRecordProblem; this cycle's own skipped): the pass streak for
/// (current, candidate) and the per-gate breach streaks for current, counting
/// only cycles in a row in time (each within maxGapS of the next, the newest
/// within maxGapS of `now`).
HistoryFacts countHistory(const std::vector<json>& verdicts, const std::string& cycleId,
                          const std::string& currentSha, const std::string& candidateSha,
                          std::chrono::system_clock::time_point now, double maxGapS);

/// The fields of a verdict record's results that countHistory reads in later
/// cycles: current_sha256, candidate_sha256, go_gates_pass, breaches.
json historyFields(const PolicyInput& in, const Decision& d);

/// The production gates' keys, in the order the policy evaluates them.
const std::vector<std::string>& productionGateKeys();

/// Request and error counts a latency report carries for `subject`:
/// results.<subject>.requests / results.<subject>.errors, else the sum over
/// results.subjects.<subject>.scenarios.*.samples / .errors (profile-latency's
/// layout), else the latency.error_rate check's detail.requests / detail.errors.
std::optional<std::pair<double, double>> requestCounts(const Report& latency,
                                                       const std::string& subject);

/// Error budget from latency reports (any order; duplicates by cycle counted
/// once) finished within the window before `now`, for the current model.
ErrorBudget computeErrorBudget(const std::vector<Report>& latencyHistory, const std::string& currentSha,
                               double maxErrorRate, double windowH,
                               std::chrono::system_clock::time_point now);

}  // namespace cvgate::decision

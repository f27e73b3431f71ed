// decide's work from flags to files: load the cycle's reports, gather the
// registry facts and the history, run the policy, act on the registry, and
// write the verdict, deployment_verdict.md, incidents, relay records, the
// Prometheus textfile and the dashboard.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"
#include "decision/Decision.h"
#include "report/ToolContext.h"

namespace cvgate::decision {

/// Flags of decide beyond the common ones.
struct DecideOptions {
  bool dryRun = false;             ///< --dry-run: decide, but change neither the registry nor the feeds
  bool explain = false;            ///< --explain: a person's account of every gate
  std::string html;                ///< --html FILE: monitoring dashboard
  std::string prom;                ///< --prom FILE: Prometheus textfile
  std::string verdictMd;           ///< --verdict-md FILE (default <state_dir>/deployment_verdict.md; "-" none)
  std::map<std::string, std::string> reportFiles; ///< kind -> file given on the command line
  bool outGiven = false;           ///< --out was given explicitly
  /// The clock (tests move it); default: now.
  std::optional<std::chrono::system_clock::time_point> now;
};

/// What was done about the verdict.
struct Action {
  std::string type = "none";       ///< "deploy", "rollback", "none"
  bool performed = false;          ///< the registry was changed
  bool ok = true;                  ///< false when the registry refused or failed
  std::string error;               ///< why it failed
  std::string from;                ///< sha256 of current before
  std::string to;                  ///< sha256 of current after
  std::string at;                  ///< ISO time
  std::string note;                ///< one line for a person
  bool conflict = false;           ///< refused: the registry no longer held what the cycle judged
};
json toJson(const Action& a);

/// The whole result of one decide run.
struct DecideResult {
  PolicyInput input;
  Decision decision;
  Action action;
  Report verdict;                  ///< the cvgate.verdict/1 report
  std::vector<std::string> incidentIds; ///< incidents opened, updated or resolved by this cycle
  std::vector<std::string> relayPaths;  ///< new innovation_relay records
  std::string verdictPath;         ///< verdicts feed path ("" in dry-run)
  std::string markdownPath;        ///< deployment_verdict.md written ("" none)
  int exitCode = 0;
  bool dryRun = false;             ///< --dry-run was given
  std::string stateDir;            ///< the state directory used
  json rebaselined;                ///< production's blessed figure recorded this cycle (null: none)
};

/// Run decide for the context's cycle. Bad flags or config are errors; missing
/// or bad reports are reasons in the verdict, not errors.
Expected<DecideResult> runDecide(const ToolContext& ctx, const DecideOptions& opts);

// ---- pieces, exposed for tests and for the tool's main --------------------

/// The verdict report (envelope, checks = gates, results) for a decision.
Report makeVerdictReport(const ToolContext& ctx, const DecideResult& r);

/// deployment_verdict.md; report links are made relative to `mdDir`.
std::string renderMarkdown(const DecideResult& r, const std::string& mdDir);

/// The --explain text.
std::string renderExplain(const DecideResult& r);

/// Prometheus text exposition of the cycle's key figures.
std::string renderProm(const DecideResult& r);

/// The monitoring dashboard over the feed history of `stateDir`.
std::string renderDashboard(const std::string& stateDir, const Objectives& objectives);

/// Key figures per subject for the verdict's results.kpis (and the dashboard).
json kpisFrom(const PolicyInput& in);

// ---- innovation relay and incidents ---------------------------------------

/// One discovery worth research's attention.
struct Discovery {
  std::string kind;                ///< optimisation_patch | calibration_temperature | class_regression | environment_drift
  std::string subject;             ///< current | candidate | ""
  std::string modelSha;            ///< the model it is about ("" for the environment)
  std::string essence;             ///< what makes it the same discovery in another cycle
  std::string summary;             ///< one line
  json evidence;                   ///< figures
  std::string source;              ///< report kind
};
/// The discoveries in a cycle's accepted reports.
std::vector<Discovery> findDiscoveries(const PolicyInput& in, const Config& config);
/// Stable key of a discovery: 16 hex of sha256(kind|subject|model|essence).
std::string discoveryKey(const Discovery& d);
/// Publish the discoveries not yet in innovation_relay; returns the paths written.
Expected<std::vector<std::string>> publishDiscoveries(const std::string& stateDir, const std::string& cycleId,
                                                      const std::vector<Discovery>& found, bool dryRun);

/// An incident record (cvgate.incident/1).
struct IncidentUpdate {
  std::string key;                 ///< "production-breach" or "cycle-error"
  std::string what;                ///< one line
  json evidence;                   ///< this cycle's figures
  std::string action;              ///< action taken this cycle
};
/// Open, update or resolve incidents for this cycle; returns the ids touched,
/// the one linked from the verdict first. In dry-run nothing is written.
Expected<std::vector<std::string>> updateIncidents(const std::string& stateDir, const std::string& cycleId,
                                                   const std::vector<IncidentUpdate>& open,
                                                   const std::vector<std::string>& resolvedKeys, bool dryRun,
                                                   const std::string& now);
/// The incident records of the feed (parsed JSON), oldest first.
std::vector<json> readIncidents(const std::string& stateDir);

}  // namespace cvgate::decision

// eval-compliance's work: both models on the same labelled images, the
// metrics of DESIGN.md section 7, the checks decide reads (docs/checks.md),
// the temperature patch relay and the HTML dashboard.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/Error.h"
#include "report/Report.h"
#include "report/ToolContext.h"

namespace cvgate::compliance {

inline constexpr const char* kTool = "eval-compliance";
inline constexpr const char* kKind = "cvgate.compliance";

/// What the command line adds to the config.
struct ComplianceOptions {
  std::string html;                ///< --html FILE: also write the dashboard here; empty: none
  std::string shard;               ///< --shard K/N: evaluate shard K of N only; empty: all
  std::string outcomesOut;         ///< --outcomes-out FILE: where a shard writes its outcomes
  std::vector<std::string> merge;  ///< --merge PATH...: outcome files (or directories of them) to merge
};

/// Evaluate the configured models on the configured data set and fill
/// `report` (subjects, inputs, checks, results). With ctx.options.publish,
/// relays each temperature patch that lowers ECE by at least
/// compliance.temperature_margin to innovation_relay. Errors: bad data set,
/// labels that do not fit the models, unloadable models (BadInput).
/// The single-machine run: evaluate every planned position on the grid of
/// batches (lib/compliance/Outcomes.h), then score the outcomes.
Status runCompliance(const ToolContext& ctx, const ComplianceOptions& opts, Report& report);

/// --shard K/N: evaluate shard K's grid batches and write their per-sample
/// outcomes to opts.outcomesOut (docs/outcomes.md); no report. [runtime]
/// layout "auto" runs contiguous here (every shard the same layout).
Status runShard(const ToolContext& ctx, const ComplianceOptions& opts);

/// --merge: read the shards' outcome files, refuse a missing, duplicated,
/// overlapping, mismatched, truncated or corrupted one (naming it), and
/// score the outcomes as runCompliance does: the same checks and results,
/// fields of timingFields() aside.
Status runMerge(const ToolContext& ctx, const ComplianceOptions& opts, Report& report);

/// The dashboard: one self-contained HTML page (inline SVG, no network) of a
/// cvgate.compliance report's JSON. `thumbnails` maps a regression's sample
/// id to a data: URI of its image (optional).
std::string renderDashboard(const nlohmann::json& report,
                            const std::map<std::string, std::string>& thumbnails = {});

}  // namespace cvgate::compliance

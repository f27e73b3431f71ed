// What a report-writing tool sets up before its work and does after it:
// config, state directory, cycle id, and writing/publishing the report.
#pragma once

#include <functional>
#include <string>

#include "common/Cli.h"
#include "common/Error.h"
#include "config/Config.h"
#include "report/Report.h"

namespace cvgate {

struct ToolContext {
  std::string tool;                ///< e.g. "profile-latency"
  Config config;                   ///< with --current/--candidate/--state-dir applied
  std::string cycleId;             ///< --cycle, $CVGATE_CYCLE_ID or new
  std::string stateDir;            ///< --state-dir, $CVGATE_STATE_DIR or config
  CommonOptions options;           ///< the flags as given
};

/// Load the config named by the flags and apply the flag overrides
/// (models, pins, state dir, cycle id). Errors: bad config, bad cycle id.
Expected<ToolContext> openToolContext(const std::string& tool, const CommonOptions& opts);

/// A new report for this tool and cycle, with inputs.config_sha256 filled in.
Report startReport(const ToolContext& ctx, const std::string& kind);

/// Finish a report: finished_at, status from its checks (unless error);
/// write it to --out (stdout by default), and to its feed with --publish.
/// Returns the tool's exit code for the report's status.
Expected<int> finishReport(const ToolContext& ctx, Report& r);

/// A view of a finished report for people (Markdown, a text table).
using ReportRenderer = std::function<std::string(const Report&)>;

/// As finishReport, but --out gets `render(r)` instead of the JSON; the
/// feed (--publish) always gets the JSON, the one form readers parse.
Expected<int> finishReport(const ToolContext& ctx, Report& r, const ReportRenderer& render);

}  // namespace cvgate

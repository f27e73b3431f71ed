// simulate-rollback's library: the rollback drill. In a sandbox copy of the
// registry it performs the rollback a ROLLBACK verdict would perform (choose
// the target, verify its hash, load it, warm it up, answer, check its golden
// outputs, flip the pointer), times each step, repeats, injects faults on
// request, and turns it all into the cvgate.rollback report.
#pragma once

#include <string>
#include <vector>

#include "common/Error.h"
#include "report/Report.h"
#include "report/ToolContext.h"

namespace cvgate {

inline constexpr const char* kRollbackKind = "cvgate.rollback";

/// The faults the drill can inject into its sandbox.
const std::vector<std::string>& rollbackFaults();

/// How to run the drill (flags; config [rollback] gives the defaults).
struct DrillOptions {
  std::string format = "json";     ///< json: the report; md: the rollback runbook
  std::string injectFault;         ///< "" : [rollback] inject_fault; "none" or a rollbackFaults() name
  int repeats = 0;                 ///< 0: [rollback] drill_repeats
};

/// The drill's steps, in order; results.steps_ms uses these keys.
const std::vector<std::string>& drillSteps();

/// Run the drill and make its report (not yet finished). A busy registry is
/// the error isRegistryBusy() recognises; bad config is a BadInput error.
Expected<Report> runDrill(const ToolContext& ctx, const DrillOptions& opts);

/// The rollback runbook (Markdown) for this deployment, from a drill report.
std::string renderPlaybook(const ToolContext& ctx, const Report& r);

/// Finish the report like finishReport (status, --publish) and write it to
/// --out as JSON, or the runbook as Markdown. Returns the exit code.
Expected<int> finishDrill(const ToolContext& ctx, Report& r, const DrillOptions& opts);

}  // namespace cvgate

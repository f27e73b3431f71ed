// eval-compliance's work: both models on the same labelled images, the
// metrics of DESIGN.md section 7, the checks decide reads (docs/checks.md),
// the temperature patch relay and the HTML dashboard.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "common/Error.h"
#include "report/Report.h"
#include "report/ToolContext.h"

namespace cvgate::compliance {

inline constexpr const char* kTool = "eval-compliance";
inline constexpr const char* kKind = "cvgate.compliance";

/// What the command line adds to the config.
struct ComplianceOptions {
  std::string html;                ///< --html FILE: also write the dashboard here; empty: none
};

/// Evaluate the configured models on the configured data set and fill
/// `report` (subjects, inputs, checks, results). With ctx.options.publish,
/// relays each temperature patch that lowers ECE by at least
/// compliance.temperature_margin to innovation_relay. Errors: bad data set,
/// labels that do not fit the models, unloadable models (BadInput).
Status runCompliance(const ToolContext& ctx, const ComplianceOptions& opts, Report& report);

/// The dashboard: one self-contained HTML page (inline SVG, no network) of a
/// cvgate.compliance report's JSON. `thumbnails` maps a regression's sample
/// id to a data: URI of its image (optional).
std::string renderDashboard(const nlohmann::json& report,
                            const std::map<std::string, std::string>& thumbnails = {});

}  // namespace cvgate::compliance

// check-integration: compatibility matrix, behaviour on the golden set,
// report contracts, regression summary and risk scorecard of one cycle.
#include "common/Cli.h"
#include "integration/Integration.h"
#include "report/ToolContext.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = integration::kTool;
  CLI::App app{
      "Decide whether the candidate model is a drop-in replacement for the current one, and\n"
      "whether this cycle's evidence is consistent. Compares the two manifests and TorchScript\n"
      "modules (compatibility matrix: input shape, dtype, colour, preprocessing, output kind and\n"
      "arity, label set and order, methods, manifest schema; each difference breaking, risky or\n"
      "compatible), runs both models on the golden set (finite, shaped outputs, probability sums,\n"
      "top-1 agreement, flip rate per class), reads the cycle's env, latency and compliance\n"
      "reports and checks that they parse and refer to this cycle, these model bytes, this config\n"
      "and data (a stale or missing report is a finding), summarises the regressions they report,\n"
      "and scores every finding by likelihood x impact. Checks: integration.interface,\n"
      "integration.behaviour, integration.contracts, integration.risk. Writes a\n"
      "cvgate.integration/1 report (JSON, or Markdown with --format md).",
      tool};
  CommonOptions common;
  addCommonOptions(app, common);
  addModelOptions(app, common);
  integration::IntegrationOptions o;
  app.add_option("--env-report", o.envReport,
                 "verify-env report to check (default: feeds/v1_baseline_feed/<cycle>.json in the state directory)");
  app.add_option("--latency-report", o.latencyReport,
                 "profile-latency report (default: feeds/v1_latency_feed/<cycle>.json)");
  app.add_option("--compliance-report", o.complianceReport,
                 "eval-compliance report (default: feeds/v1_compliance_feed/<cycle>.json)");
  app.add_option("--format", o.format,
                 "rendering on stdout/--out: json (the report) or md (matrix and scorecard as Markdown); "
                 "--publish always writes JSON")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "md"}));
  app.footer(exitStatusHelp(false) +
             "\nExample: check-integration --cycle \"$CVGATE_CYCLE_ID\" --publish\n"
             "         check-integration --cycle c1 --latency-report lat.json --format md");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    CVGATE_TRY_ASSIGN(report, integration::runIntegration(ctx, o));
    return integration::finishIntegration(ctx, report, o.format);
  });
}

// decide: GO, PAUSE or ROLLBACK for one cycle, from its five reports, the
// registry and the history of the feeds; acts on the registry unless --dry-run.
#include "common/Cli.h"
#include "decision/Decide.h"
#include "report/ToolContext.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "decide";
  CLI::App app{
      "Decide whether the staged candidate model goes to production (GO), production stays as it is\n"
      "(PAUSE), or production is rolled back to the newest verified known-good model (ROLLBACK).\n"
      "Reads the cycle's five reports (verify-env, profile-latency, eval-compliance, check-integration,\n"
      "simulate-rollback) from the feeds or from files, refuses stale or mismatched ones, applies the\n"
      "gates of the [objectives] and [decision] config sections with their confidence intervals, and,\n"
      "unless --dry-run, deploys or rolls back through the registry. Writes the verdict JSON (stdout,\n"
      "or --out) and to the verdicts feed, deployment_verdict.md, incidents and innovation-relay records.\n"
      "Inconclusive evidence is never a GO.",
      tool};
  CommonOptions common;
  addCommonOptions(app, common, /*withReport=*/false);
  addModelOptions(app, common);
  decision::DecideOptions o;
  app.add_option("--cycle", common.cycle, "cycle id whose reports to decide on (default: $CVGATE_CYCLE_ID or a new one)");
  auto* out = app.add_option("-o,--out", common.out, "write the verdict JSON here instead of stdout")->capture_default_str();
  app.add_flag("--dry-run", o.dryRun,
               "decide and write the verdict and views, but change neither the registry nor the feeds");
  app.add_flag("--explain", o.explain,
               "print each gate's figures and why, for a person (on stdout in place of the JSON unless --out is given)");
  app.add_option("--html", o.html, "write the monitoring dashboard (self-contained HTML) to FILE");
  app.add_option("--prom", o.prom, "write the cycle's key figures in Prometheus text format to FILE (atomically)");
  app.add_option("--verdict-md", o.verdictMd,
                 "where to write the verdict in Markdown (default: <state_dir>/deployment_verdict.md; '-' for none)");
  std::string envReport, latencyReport, complianceReport, integrationReport, rollbackReport;
  app.add_option("--env-report", envReport, "read the cvgate.env report from FILE instead of the v1_baseline_feed");
  app.add_option("--latency-report", latencyReport, "read the cvgate.latency report from FILE instead of the v1_latency_feed");
  app.add_option("--compliance-report", complianceReport,
                 "read the cvgate.compliance report from FILE instead of the v1_compliance_feed");
  app.add_option("--integration-report", integrationReport,
                 "read the cvgate.integration report from FILE instead of the v1_integration_feed");
  app.add_option("--rollback-report", rollbackReport,
                 "read the cvgate.rollback report from FILE instead of the v1_rollback_feed");
  app.footer(exitStatusHelp(true) +
             " A GO or ROLLBACK whose registry action failed exits 1; its verdict is still written.\n"
             "Example: decide --config configs/cvgate.toml --cycle 20261125T2100Z-3f2a --explain");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    const std::pair<const char*, std::string*> files[] = {{"cvgate.env", &envReport},
                                                          {"cvgate.latency", &latencyReport},
                                                          {"cvgate.compliance", &complianceReport},
                                                          {"cvgate.integration", &integrationReport},
                                                          {"cvgate.rollback", &rollbackReport}};
    for (const auto& [kind, file] : files)
      if (!file->empty()) o.reportFiles[kind] = *file;
    o.outGiven = out->count() > 0;
    CVGATE_TRY_ASSIGN(result, decision::runDecide(ctx, o));
    return result.exitCode;
  });
}

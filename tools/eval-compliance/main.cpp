// eval-compliance: compliance, conflict and calibration of the current and the
// candidate model on the same labelled images, with paired uplift statistics.
#include "common/Cli.h"
#include "compliance/Compliance.h"
#include "report/ToolContext.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = compliance::kTool;
  CLI::App app{
      "Evaluate the current (production) and the candidate model on the same labelled images\n"
      "(the configured data set: IDX, ImageFolder or a CSV/JSON Lines list; minus a calibration\n"
      "split drawn from each sample's key and the seed; within the sample and time budgets) and\n"
      "report, for each:\n"
      "compliance (top-1 right with confidence >= [compliance] threshold), conflict (top-1\n"
      "wrong and confident), abstain, accuracy, per-class precision/recall/compliance, the\n"
      "confusion matrix, calibration (ECE, Brier, NLL, reliability curve) before and after a\n"
      "temperature fitted on the calibration split, and inference errors. Then the candidate\n"
      "against the baseline, paired: relative compliance uplift with a bootstrap CI, exact\n"
      "McNemar, per-class deltas with Holm, and regressions (candidate confidently wrong where\n"
      "the baseline was right); the same per slice of a list (its slice column). Checks:\n"
      "compliance.uplift, compliance.error_rate, compliance.regression, compliance.data,\n"
      "compliance.class.<label>, compliance.slice.<slice>, compliance.slices.",
      tool};
  CommonOptions common;
  addCommonOptions(app, common);
  addModelOptions(app, common);
  compliance::ComplianceOptions opts;
  app.add_option("--html", opts.html,
                 "also write a self-contained HTML dashboard (reliability diagrams, per-class bars, "
                 "uplift, slices, regressions) to this file");
  app.footer(exitStatusHelp(false) +
             "\nExample: eval-compliance --config configs/cvgate.toml --html compliance.html "
             "| jq .results.uplift");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    Report report = startReport(ctx, compliance::kKind);
    CVGATE_TRY(compliance::runCompliance(ctx, opts, report));
    return finishReport(ctx, report);
  });
}

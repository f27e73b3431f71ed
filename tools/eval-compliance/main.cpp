// eval-compliance: compliance, conflict and calibration of the current and the
// candidate model on the same labelled images, with paired uplift statistics.
#include <spdlog/spdlog.h>

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
  auto* shard = app.add_option("--shard", opts.shard,
                               "evaluate only shard K of N (K/N, K from 0): whole batches of the evaluation "
                               "order, written per sample to --outcomes-out; no report")
                    ->type_name("K/N");
  auto* outcomes = app.add_option("--outcomes-out", opts.outcomesOut,
                                  "with --shard: write the shard's outcome file here (\"-\": stdout)")
                       ->type_name("FILE");
  auto* merge = app.add_option("--merge", opts.merge,
                               "make the report from the outcome files of all N shards (files, or a "
                               "directory: every file in it whose name contains '.outcomes'); refuses a "
                               "missing, duplicated, overlapping or mismatched shard")
                    ->type_name("PATH")
                    ->expected(1, -1);
  outcomes->needs(shard);
  shard->excludes(merge);
  app.footer(exitStatusHelp(false) +
             "\nExample: eval-compliance --config configs/cvgate.toml --html compliance.html "
             "| jq .results.uplift\n"
             "Sharded (3 shards, e.g. on 3 machines; the same config and models; then one merge):\n"
             "  for k in 0 1 2; do eval-compliance --shard $k/3 --outcomes-out out/$k.outcomes.jsonl; done\n"
             "  eval-compliance --merge out/ --out compliance.json --publish\n"
             "The merged checks and results equal a single run's, clock-measured fields aside "
             "(docs/outcomes.md).");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    if (!opts.shard.empty()) {
      if (opts.outcomesOut.empty())
        return badInput("--shard " + opts.shard + ": expected --outcomes-out FILE (where the shard's outcomes go)");
      if (common.publish) return badInput("--shard: --publish is for the merged report (--merge)");
      if (!opts.html.empty()) return badInput("--shard: --html is for the merged report (--merge)");
      if (common.out != "-") spdlog::warn("--shard: no report is made, --out {} is not written", common.out);
    }
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    if (!opts.shard.empty()) {
      CVGATE_TRY(compliance::runShard(ctx, opts));
      return 0;
    }
    Report report = startReport(ctx, compliance::kKind);
    if (!opts.merge.empty()) {
      CVGATE_TRY(compliance::runMerge(ctx, opts, report));
    } else {
      CVGATE_TRY(compliance::runCompliance(ctx, opts, report));
    }
    return finishReport(ctx, report);
  });
}

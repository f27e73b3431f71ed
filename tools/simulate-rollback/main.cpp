// simulate-rollback: rehearse the rollback a ROLLBACK verdict would perform, in
// a sandbox copy of the registry, and report whether it is ready (target,
// compatibility, RTO, golden outputs, disk) as a cvgate.rollback report.
#include <iostream>

#include "common/Cli.h"
#include "common/ExitCodes.h"
#include "registry/Registry.h"
#include "report/ToolContext.h"
#include "rollback/Drill.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "simulate-rollback";
  CLI::App app{"Rehearse a rollback in a sandbox copy of the model registry (production's state.json,\n"
               "current.pt and objects are only read): choose the target a ROLLBACK would restore, verify\n"
               "its sha256, load it, warm it up, answer the golden set and compare with its recorded golden\n"
               "outputs, flip the sandbox's pointer. Times each step, repeats, and reports the RTO (median,\n"
               "p95) and the guardrails rollback.target, rollback.compatible, rollback.rto, rollback.golden,\n"
               "rollback.disk. With no known-good model yet, the target is the current model (what a rollback\n"
               "right after deploying the staged candidate would restore). --format md writes the runbook.",
               tool};
  CommonOptions common;
  addCommonOptions(app, common);
  addModelOptions(app, common);
  DrillOptions o;
  app.add_option("--format", o.format, "json: the report; md: the rollback runbook (the report still goes to the feed with --publish)")
      ->capture_default_str()->check(CLI::IsMember({"json", "md"}));
  app.add_option("--inject-fault", o.injectFault,
                 "inject a fault into the sandbox: none, corrupt-target, missing-target, truncated-state, "
                 "crash-between-steps (default: [rollback] inject_fault)");
  app.add_option("--repeats", o.repeats, "drills for the RTO statistics (default: [rollback] drill_repeats)")
      ->check(CLI::Range(1, 1000));
  app.footer(exitStatusHelp(false) + " 75: the registry is busy (another process holds its lock)." +
             "\nExample: simulate-rollback --config configs/cvgate.toml --cycle 20261125T2100Z-3f2a --publish");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    auto report = runDrill(ctx, o);
    if (!report && isRegistryBusy(report.error())) {
      std::cerr << tool << ": error: " << report.error().message() << "\n";
      return exitcode::kBusy;
    }
    if (!report) return report.error();
    return finishDrill(ctx, *report, o);
  });
}

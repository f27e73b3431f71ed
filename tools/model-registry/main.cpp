// model-registry: the operator's command line over the model registry
// (DESIGN.md section 5): status, init, stage, deploy, rollback, prune, verify.
#include <iostream>

#include "common/Cli.h"
#include "common/ExitCodes.h"
#include "registry/Registry.h"
#include "report/ToolContext.h"
#include "rollback/Operator.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "model-registry";
  CLI::App app{"Inspect and change the model registry under <state_dir>/registry: the content-addressed\n"
               "store, state.json (current, known-good stack, candidate, history) and the current.pt symlink\n"
               "production loads. Every change is crash-safe and taken under the registry's lock; a model\n"
               "whose bytes do not match its sha256 is never made current. init and stage record the model's\n"
               "golden outputs on the configured golden set for rollback drills.",
               tool};
  app.require_subcommand(1);
  app.fallthrough();
  CommonOptions common;
  addCommonOptions(app, common, /*withReport=*/false);
  app.add_option("--cycle", common.cycle, "cycle id recorded in the history (default: $CVGATE_CYCLE_ID or a new one)");
  RegistryCommand c;
  app.add_option("--format", c.format, "output: json (state and message) or text")
      ->capture_default_str()->check(CLI::IsMember({"json", "text"}));

  auto* status = app.add_subcommand("status", "show current, candidate, known-good models and history");
  auto* init = app.add_subcommand("init", "adopt MODEL as the first current model (only when there is none; "
                                          "a no-op when it is current already)");
  init->add_option("MODEL", c.model, "TorchScript archive with an embedded manifest")->required();
  auto* stage = app.add_subcommand("stage", "stage MODEL as the candidate (a no-op when it is current or "
                                            "staged already)");
  stage->add_option("MODEL", c.model, "TorchScript archive with an embedded manifest")->required();
  auto* deploy = app.add_subcommand("deploy", "make the candidate current; the old current becomes known-good "
                                              "(compare-and-swap: refused if the registry changed)");
  deploy->add_option("--expect-current", c.expectCurrent,
                     "refuse unless the current model is this (sha256, unique prefix, or none; default: as found)");
  deploy->add_option("--sha", c.installSha,
                     "refuse unless the staged candidate is this (sha256 or unique prefix; default: as found)");
  auto* rollback = app.add_subcommand("rollback", "make the newest verified known-good model current "
                                                  "(compare-and-swap: refused if the registry changed)");
  rollback->add_option("--to", c.toSha, "roll back to this known-good model instead (sha256 or a unique prefix)");
  rollback->add_option("--expect-current", c.expectCurrent,
                       "refuse unless the current model is this (sha256 or unique prefix; default: as found)");
  auto* prune = app.add_subcommand("prune", "keep the newest K known-good models, delete unreferenced objects");
  prune->add_option("--keep", c.keep, "known-good models to keep (default: [rollback] keep_known_good)")
      ->check(CLI::Range(0, 1000));
  auto* verify = app.add_subcommand("verify", "hash every object, parse every golden record, check current.pt; "
                                              "exit 10 on problems");
  (void)status, (void)deploy, (void)verify;

  app.footer("Exit status: 0 done (or nothing to do), 10 verify found problems, 2 bad usage, bad input or a "
             "refused operation, 1 internal error, 75 the registry is busy (another process holds its lock).\n"
             "Example: model-registry --config configs/cvgate.toml stage models/fashion-cnn-v2.pt");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    for (auto* sub : app.get_subcommands()) c.name = sub->get_name();
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    auto r = runRegistryCommand(ctx, c);
    if (!r && isRegistryBusy(r.error())) {
      std::cerr << tool << ": error: " << r.error().message() << "\n";
      return exitcode::kBusy;
    }
    if (!r) return r.error();
    if (c.format == "text") std::cout << r->text;
    else std::cout << r->out.dump(2) << "\n";
    return r->exitCode;
  });
}

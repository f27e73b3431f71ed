// model-registry: the operator's command line over the model registry
// (DESIGN.md section 5): status, init, stage, deploy, rollback, prune, verify;
// and two helpers for models exported by plain PyTorch: embed, manifest.
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
  const char* modelHelp = "TorchScript archive with its manifest embedded, or beside it as <model>.manifest.json "
                          "(then embedded in the stored copy)";
  auto* init = app.add_subcommand("init", "adopt MODEL as the first current model (only when there is none; "
                                          "a no-op when it is current already)");
  init->add_option("MODEL", c.model, modelHelp)->required();
  auto* stage = app.add_subcommand("stage", "stage MODEL as the candidate (a no-op when it is current or "
                                            "staged already, the same archive and sidecar included)");
  stage->add_option("MODEL", c.model, modelHelp)->required();
  auto* embed = app.add_subcommand("embed", "write MODEL with MANIFEST embedded as its extra file cvgate.json "
                                            "(every other record copied as it is)");
  embed->add_option("MODEL", c.model, "TorchScript archive")->required();
  embed->add_option("MANIFEST", c.manifest, "cvgate manifest (JSON, docs/manifest.md)")->required();
  embed->add_option("-o,--out", c.out, "write the archive here (\"-\": stdout)")->required();
  auto* manifest = app.add_subcommand("manifest", "write a manifest from a torchvision transform description");
  manifest->add_option("--transform", c.transform,
                       "the evaluation transform, e.g. \"Resize(256), CenterCrop(224), ToTensor(), "
                       "Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])\"")->required();
  manifest->add_option("--labels", c.labelsFile, "class names in output order: one a line, or a JSON array")->required();
  manifest->add_option("--input", c.input, "the model's input CxHxW, e.g. 3x224x224 (C 1: grey, 3: RGB)")->required();
  manifest->add_option("--name", c.modelName, "the model's name")->required();
  manifest->add_option("--model-version", c.modelVersion, "the model's version")->capture_default_str();
  manifest->add_option("--output", c.outputKind, "what forward returns: logits or probabilities")
      ->capture_default_str()->check(CLI::IsMember({"logits", "probabilities"}));
  manifest->add_option("--output-index", c.outputIndex,
                       "forward returns a tuple or list: the element with the class scores")->check(CLI::Range(0, 1023));
  manifest->add_option("--output-key", c.outputKey, "forward returns a dict: the entry with the class scores");
  manifest->add_option("-o,--out", c.out, "write the manifest here (\"-\": stdout)")->capture_default_str();
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
  (void)status, (void)deploy, (void)verify, (void)embed, (void)manifest;

  app.footer("Exit status: 0 done (or nothing to do), 10 verify found problems, 2 bad usage, bad input or a "
             "refused operation, 1 internal error, 75 the registry is busy (another process holds its lock).\n"
             "Example: model-registry --config configs/cvgate.toml stage models/fashion-cnn-v2.pt\n"
             "Example: model-registry stage resnet18.pt    # with resnet18.manifest.json beside it");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    for (auto* sub : app.get_subcommands()) c.name = sub->get_name();
    // embed and manifest write files from files: no config, no registry.
    const bool standalone = c.name == "embed" || c.name == "manifest";
    ToolContext ctx;
    if (!standalone) {
      CVGATE_TRY_ASSIGN(opened, openToolContext(tool, common));
      ctx = std::move(opened);
    }
    auto r = runRegistryCommand(ctx, c);
    if (!r && isRegistryBusy(r.error())) {
      std::cerr << tool << ": error: " << r.error().message() << "\n";
      return exitcode::kBusy;
    }
    if (!r) return r.error();
    if (r->wroteStdout) std::cerr << r->text;  // stdout holds the file written
    else if (c.format == "text") std::cout << r->text;
    else std::cout << r->out.dump(2) << "\n";
    return r->exitCode;
  });
}

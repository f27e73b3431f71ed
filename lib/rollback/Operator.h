// model-registry's library: the operator's command line over the registry
// (status, init, stage, deploy, rollback, prune, verify). init and stage load
// the model to read its manifest and record its golden outputs on the
// configured golden set, so that rollback drills can check a restored model.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/Error.h"
#include "registry/Registry.h"
#include "report/ToolContext.h"

namespace cvgate {

/// One model-registry invocation.
struct RegistryCommand {
  std::string name;                ///< status | init | stage | deploy | rollback | prune | verify
  std::string model;               ///< init, stage: the model archive
  std::string toSha;               ///< rollback --to: sha256 (or unique prefix) of a known-good model
  std::string expectCurrent;       ///< deploy/rollback --expect-current: refuse unless current is this ("none": no current)
  std::string installSha;          ///< deploy --sha: refuse unless the staged candidate is this
  int keep = -1;                   ///< prune --keep; -1: [rollback] keep_known_good
  std::string format = "json";     ///< json or text
  std::string manifest;            ///< embed: the manifest file to embed
  std::string out = "-";           ///< embed, manifest: where to write ("-": stdout)
  std::string transform;           ///< manifest --transform: the torchvision transform, as text
  std::string labelsFile;          ///< manifest --labels: class names, one a line (or a JSON array)
  std::string input;               ///< manifest --input: CxHxW
  std::string modelName;           ///< manifest --name
  std::string modelVersion = "1";  ///< manifest --model-version
  std::string outputKind = "logits"; ///< manifest --output: logits or probabilities
  int outputIndex = -1;            ///< manifest --output-index
  std::string outputKey;           ///< manifest --output-key
};

/// What a command did: JSON for machines, one or more lines for people.
struct CommandResult {
  nlohmann::json out;
  std::string text;
  int exitCode = 0;                ///< 0 ok (or nothing to do); verify: 10 when it found problems
  bool wroteStdout = false;        ///< embed/manifest wrote their file to stdout: print nothing more there
};

/// The bytes the registry stores for the model file at `path`: the archive as
/// it is when its manifest is embedded; an archive with a sidecar manifest
/// (<model>.manifest.json) is rewritten with the sidecar embedded as the extra
/// file cvgate.json (runtime/Embed.h), so its sha256 covers the manifest, and
/// `origin` records both files and their sha256 (the source identity).
Expected<ModelBytes> modelBytesForRegistry(const std::string& path);

/// Run one command against <state_dir>/registry. Errors: BadInput for a
/// refused operation or a bad model; a busy registry is recognised by
/// isRegistryBusy().
Expected<CommandResult> runRegistryCommand(const ToolContext& ctx, const RegistryCommand& c);

}  // namespace cvgate

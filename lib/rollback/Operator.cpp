#include "rollback/Operator.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/TestHooks.h"
#include "common/Strings.h"
#include "registry/Registry.h"
#include "model/Manifest.h"
#include "runtime/Embed.h"
#include "runtime/Golden.h"
#include "runtime/Runtime.h"

namespace cvgate {

namespace fs = std::filesystem;

namespace {

std::string shortSha(const std::string& s) { return s.substr(0, 12); }
std::string describe(const Entry& e) { return e.name + " " + e.version + " (" + shortSha(e.sha256) + ")"; }

std::string entryText(const std::optional<Entry>& e) {
  if (!e) return "none";
  return e->name + " " + e->version + "  sha256 " + e->sha256 + "  staged " + e->stagedAt;
}

std::string stateText(const Registry& reg) {
  const auto& s = reg.state();
  std::string t = "registry:  " + reg.registryDir() + "\n";
  t += "current:   " + entryText(s.current) + "\n";
  t += "candidate: " + entryText(s.candidate) + "\n";
  t += "known-good (newest first, rollback targets):";
  if (s.previous.empty()) t += " none";
  t += "\n";
  for (std::size_t i = 0; i < s.previous.size(); ++i)
    t += "  " + std::to_string(i + 1) + ". " + entryText(s.previous[i]) + "\n";
  t += "history (oldest first):\n";
  for (const auto& h : s.history)
    t += "  " + h.at + "  " + h.op + (h.cycleId ? "  [" + *h.cycleId + "]" : std::string()) + "  " + h.note + "\n";
  return t;
}

CommandResult result(const Registry& reg, const std::string& cmd, bool changed, const std::string& message,
                     const std::string& format) {
  CommandResult r;
  r.out = {{"command", cmd}, {"changed", changed}, {"message", message}, {"registry", reg.registryDir()},
           {"state", toJson(reg.state())}};
  r.text = format == "text" && cmd == "status" ? stateText(reg) : message + "\n";
  return r;
}

/// Load a model for the registry from the bytes that will be stored: its
/// manifest travels inside them (modelBytesForRegistry embedded a sidecar),
/// since the registry stores the archive alone and drills read it from there.
Expected<std::shared_ptr<Model>> loadForRegistry(const ModelBytes& bytes) {
  const std::string& path = bytes.source;
  CVGATE_TRY_ASSIGN(m, Model::fromBytes(bytes.bytes, path));
  if (m->manifestSource() != "embedded")
    return internalError("'" + path + "': the bytes to store read their manifest from '" + m->manifestSource() +
                         "', not from the archive");
  return m;
}

/// The same model as an entry, by its bytes or by the files they were made from.
bool sameModel(const std::optional<Entry>& e, const ModelBytes& b) {
  if (!e) return false;
  if (e->sha256 == b.sha256) return true;
  return b.origin.is_object() && e->source.is_object() &&
         e->source.value("archive_sha256", "") == b.origin.value("archive_sha256", "-") &&
         e->source.value("manifest_sha256", "") == b.origin.value("manifest_sha256", "-");
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

/// Class names for `model-registry manifest --labels`: a JSON array, or one a line.
Expected<std::vector<std::string>> readLabels(const std::string& path) {
  CVGATE_TRY_ASSIGN(text, readFile(path));
  const auto first = text.find_first_not_of(" \t\r\n");
  std::vector<std::string> labels;
  if (first != std::string::npos && text[first] == '[') {
    CVGATE_TRY_ASSIGN(j, parseJson(text, "'" + path + "'"));
    for (const auto& l : j) {
      if (!l.is_string()) return badInput("'" + path + "': expected a JSON array of class names (strings)");
      labels.push_back(l.get<std::string>());
    }
  } else {
    std::size_t start = 0;
    while (start < text.size()) {
      std::size_t end = text.find('\n', start);
      std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? text.size() : end + 1;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      const auto lead = line.find_first_not_of(" \t");
      if (lead == std::string::npos) continue;
      labels.push_back(line.substr(lead));
    }
  }
  if (labels.size() < 2) return badInput("'" + path + "': expected at least 2 class names (one a line, or a JSON array)");
  return labels;
}

/// model-registry embed MODEL MANIFEST -o OUT: the archive rewritten with the
/// manifest embedded, checked (it loads and answers one request) before it is written.
Expected<CommandResult> embedCommand(const RegistryCommand& c) {
  if (c.model.empty() || c.manifest.empty()) return badInput("embed: expected MODEL and MANIFEST");
  CVGATE_TRY_ASSIGN(archive, readModelBytes(c.model));
  CVGATE_TRY_ASSIGN(text, readFile(c.manifest));
  CVGATE_TRY_ASSIGN(man, parseManifest(text, c.manifest));
  CVGATE_TRY_ASSIGN(had, hasEmbeddedManifest(archive.bytes, c.model));
  CVGATE_TRY_ASSIGN(bytes, embedManifest(archive.bytes, text, c.model));
  const std::string what = c.out == "-" ? c.model + " with " + c.manifest : c.out;
  CVGATE_TRY_ASSIGN(model, Model::fromBytes(bytes, what));
  std::vector<float> zeros(man.inputSize(), 0.f);
  auto answer = model->forward({zeros.data()});
  if (answer.empty() || !answer[0].ok)
    return badInput("'" + c.model + "' with manifest '" + c.manifest + "': a request on a blank input failed: " +
                    (answer.empty() ? std::string("no answer") : answer[0].error));
  CVGATE_TRY(writeOutputFile(c.out, bytes));
  CommandResult r;
  r.wroteStdout = c.out == "-";
  const std::string sha = sha256Hex(bytes);
  r.out = {{"command", "embed"}, {"changed", true}, {"out", c.out}, {"sha256", sha},
           {"source", {{"archive", absolute(c.model)}, {"archive_sha256", archive.sha256},
                       {"manifest", absolute(c.manifest)}, {"manifest_sha256", sha256Hex(text)}}},
           {"model", man.name}, {"version", man.version}};
  r.out["message"] = "wrote '" + c.out + "' (" + shortSha(sha) + "): '" + c.model + "' with '" + c.manifest +
                     "' embedded as extra/cvgate.json" + (had ? ", replacing the manifest it had" : "");
  r.text = r.out["message"].get<std::string>() + "\n";
  return r;
}

/// model-registry manifest --transform ... -o OUT.
Expected<CommandResult> manifestCommand(const RegistryCommand& c) {
  if (c.transform.empty()) return badInput("manifest: expected --transform");
  if (c.modelName.empty()) return badInput("manifest: expected --name");
  TransformManifestOptions o;
  o.name = c.modelName;
  o.version = c.modelVersion;
  CVGATE_TRY_ASSIGN(shape, parseInputShape(c.input));
  o.inputShape = shape;
  CVGATE_TRY_ASSIGN(labels, readLabels(c.labelsFile));
  o.labels = labels;
  o.output = c.outputKind;
  o.outputIndex = c.outputIndex;
  o.outputKey = c.outputKey;
  CVGATE_TRY_ASSIGN(m, manifestFromTransform(c.transform, o));
  const std::string text = toJson(m).dump(2) + "\n";
  CVGATE_TRY(writeOutputFile(c.out, text));
  CommandResult r;
  r.wroteStdout = c.out == "-";
  r.out = {{"command", "manifest"}, {"changed", true}, {"out", c.out}, {"manifest", toJson(m)}};
  r.out["message"] = "wrote the manifest of " + m.name + " " + m.version + " (" + std::to_string(m.labels.size()) +
                     " labels, input " + std::to_string(m.inputShape[0]) + "x" + std::to_string(m.inputShape[1]) +
                     "x" + std::to_string(m.inputShape[2]) + ", resize " + resizeSummary(m) + ") to '" + c.out + "'";
  r.text = r.out["message"].get<std::string>() + "\n";
  return r;
}

/// The model's outputs on the configured golden set, as stored beside its object.
Expected<nlohmann::json> goldenFor(const ToolContext& ctx, const Model& m) {
  const auto& cfg = ctx.config;
  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  CVGATE_TRY_ASSIGN(samples, goldenSamples(*ds, cfg.golden));
  spdlog::info("recording golden outputs of {} on {} samples of {}", m.manifest().name, samples.size(), ds->describe());
  GoldenRecord g = recordGolden(m, samples, cfg.runtime.batchSize);
  g.datasetSha256 = ds->sha256();
  // A model that cannot answer its golden set (an exception, a wrong output
  // shape, non-finite outputs) cannot be served: refused, never staged.
  std::size_t failed = 0;
  std::string first;
  for (const auto& e : g.errors)
    if (!e.empty()) {
      if (!failed) first = e;
      ++failed;
    }
  if (failed)
    return badInput("'" + m.path() + "': " + std::to_string(failed) + " of " + std::to_string(samples.size()) +
                    " golden requests failed (" + first + "); a model must answer every golden request to be "
                    "registered");
  return toJson(g);
}

}  // namespace

namespace {

/// A full sha256 from "none", a full sha or a unique prefix of a model the
/// registry holds (current, candidate or known-good).
Expected<std::string> resolveSha(const RegistryState& s, const std::string& given, const char* flag) {
  if (given == "none") return std::string();
  std::vector<std::string> all;
  if (s.current) all.push_back(s.current->sha256);
  if (s.candidate) all.push_back(s.candidate->sha256);
  for (const auto& e : s.previous) all.push_back(e.sha256);
  std::vector<std::string> hits;
  for (const auto& sha : all)
    if (!given.empty() && sha.compare(0, given.size(), given) == 0 &&
        std::find(hits.begin(), hits.end(), sha) == hits.end())
      hits.push_back(sha);
  if (hits.size() == 1) return hits[0];
  return badInput(std::string(flag) + " '" + given + "': " +
                  (hits.empty() ? "not a model of the registry" : "an ambiguous prefix") +
                  " (see model-registry status)");
}

}  // namespace

Expected<ModelBytes> modelBytesForRegistry(const std::string& path) {
  CVGATE_TRY_ASSIGN(archive, readModelBytes(path));
  CVGATE_TRY_ASSIGN(embedded, hasEmbeddedManifest(archive.bytes, path));
  const std::string side = findSidecarManifest(path);
  if (embedded) {
    if (!side.empty())
      spdlog::warn("'{}': has an embedded manifest; the sidecar '{}' beside it is ignored", path, side);
    return archive;
  }
  if (side.empty())
    return badInput("'" + path + "': no manifest: expected an embedded extra file '" + std::string(kManifestExtraFile) +
                    "' or a sidecar '" + sidecarManifestName(path) + "'");
  CVGATE_TRY_ASSIGN(text, readFile(side));
  CVGATE_TRY(parseManifest(text, side));  // a bad field is named in the sidecar, before anything is written
  CVGATE_TRY_ASSIGN(bytes, embedManifest(archive.bytes, text, path));
  ModelBytes m;
  m.sha256 = sha256Hex(bytes);
  m.bytes = std::move(bytes);
  m.source = path;
  m.origin = {{"archive", absolute(path)}, {"archive_sha256", archive.sha256},
              {"manifest", absolute(side)}, {"manifest_sha256", sha256Hex(text)}};
  spdlog::info("'{}': embedding its sidecar manifest '{}' (archive {}, manifest {}; stored as {})", path, side,
               shortSha(archive.sha256), shortSha(m.origin["manifest_sha256"].get<std::string>()), shortSha(m.sha256));
  return m;
}

Expected<CommandResult> runRegistryCommand(const ToolContext& ctx, const RegistryCommand& c) {
  if (c.name == "embed") return embedCommand(c);
  if (c.name == "manifest") return manifestCommand(c);
  RegistryOptions ro;
  ro.lockTimeout = std::chrono::milliseconds(ctx.config.rollback.lockTimeoutMs);
  const std::string& cycle = ctx.cycleId;

  if (c.name == "init" || c.name == "stage") {
    // The model is read once, validated (loaded, its golden set answered)
    // from those bytes, and exactly those bytes are stored. Nothing in the
    // state directory changes before the model has passed.
    // A sidecar manifest is embedded here: what is validated and stored is
    // the archive with its manifest inside, one sha256 for both.
    if (c.model.empty()) return badInput(c.name + ": expected a MODEL archive");
    CVGATE_TRY_ASSIGN(bytes, modelBytesForRegistry(c.model));
    std::error_code ec;
    if (fs::exists(fs::path(ctx.stateDir) / "registry" / "state.json", ec)) {
      CVGATE_TRY_ASSIGN(peek, Registry::open(ctx.stateDir, ro));
      const auto& s = peek.state();
      if (c.name == "init" && s.current) {
        if (sameModel(s.current, bytes))
          return result(peek, c.name, false, "'" + c.model + "' is the current model already (" +
                                                 describe(*s.current) + "); nothing to do", c.format);
        return badInput("'" + peek.registryDir() + "': already has a current model, " + describe(*s.current) +
                        "; stage and deploy '" + c.model + "' instead");
      }
      if (c.name == "stage") {
        if (sameModel(s.current, bytes))
          return result(peek, c.name, false, "'" + c.model + "' is the current model already (" +
                                                 describe(*s.current) + "); nothing to stage", c.format);
        if (sameModel(s.candidate, bytes))
          return result(peek, c.name, false, "'" + c.model + "' is staged already (" + describe(*s.candidate) +
                                                 "); nothing to do", c.format);
      }
    }
    CVGATE_TRY_ASSIGN(model, loadForRegistry(bytes));
    CVGATE_TRY_ASSIGN(golden, goldenFor(ctx, *model));
    testHold("stage-validated");
    const auto& man = model->manifest();
    const std::string embedded =
        bytes.origin.is_object() ? " (sidecar '" + bytes.origin["manifest"].get<std::string>() + "' embedded)" : "";
    CVGATE_TRY_ASSIGN(reg, Registry::open(ctx.stateDir, ro));
    if (c.name == "init") {
      CVGATE_TRY(reg.setCurrent(bytes, man.name, man.version, golden, cycle));
      return result(reg, c.name, true, "adopted " + describe(*reg.state().current) + " as the current model" + embedded,
                    c.format);
    }
    const auto before = reg.state().candidate;
    CVGATE_TRY_ASSIGN(e, reg.stage(bytes, man.name, man.version, golden, cycle));
    return result(reg, c.name, true,
                  "staged " + describe(e) + " as candidate" + embedded + (before ? ", replacing " + describe(*before) : ""),
                  c.format);
  }

  CVGATE_TRY_ASSIGN(reg, Registry::open(ctx.stateDir, ro));

  if (c.name == "status") {
    const auto& s = reg.state();
    std::string msg = s.current ? "current " + describe(*s.current) + ", " + std::to_string(s.previous.size()) +
                                      " known-good, candidate " + (s.candidate ? describe(*s.candidate) : "none")
                                : "empty registry: no current model";
    return result(reg, "status", false, msg, c.format);
  }

  // deploy and rollback are compare-and-swap: they name the model they expect
  // to replace (default: the current model as this command found it).
  const auto& st = reg.state();
  std::string expect = st.current ? st.current->sha256 : "";
  if (!c.expectCurrent.empty()) {
    CVGATE_TRY_ASSIGN(e, resolveSha(st, c.expectCurrent, "--expect-current"));
    expect = e;
  }

  if (c.name == "deploy") {
    const auto before = st.current;
    std::string install = st.candidate ? st.candidate->sha256 : "";
    if (!c.installSha.empty()) {
      CVGATE_TRY_ASSIGN(i, resolveSha(st, c.installSha, "--sha"));
      install = i;
    }
    CVGATE_TRY(reg.deploy(cycle, expect, install));
    return result(reg, c.name, true,
                  "deployed " + describe(*reg.state().current) + (before ? " over " + describe(*before) : ""), c.format);
  }

  if (c.name == "rollback") {
    const auto before = st.current;
    CVGATE_TRY_ASSIGN(e, reg.rollback(cycle, expect, c.toSha));
    return result(reg, c.name, true,
                  "rolled back " + (before ? "from " + describe(*before) + " " : std::string()) + "to " + describe(e),
                  c.format);
  }

  if (c.name == "prune") {
    const int keep = c.keep >= 0 ? c.keep : ctx.config.rollback.keepKnownGood;
    const auto n = reg.state().history.size();
    CVGATE_TRY(reg.prune(keep, cycle));
    const bool changed = reg.state().history.size() != n;
    return result(reg, c.name, changed,
                  changed ? reg.state().history.back().note : "nothing to prune (keeping " + std::to_string(keep) + " known-good)",
                  c.format);
  }

  if (c.name == "verify") {
    CVGATE_TRY_ASSIGN(v, reg.verify());
    // Beyond verify(): every golden file is a golden record of its own model.
    int golden = 0;
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(reg.registryDir() + "/objects", ec)) {
      const std::string f = de.path().filename().string();
      const std::string suffix = ".golden.json";
      if (f.size() != 64 + suffix.size() || f.compare(64, suffix.size(), suffix) != 0) continue;
      const std::string sha = f.substr(0, 64);
      auto j = reg.golden(sha);
      if (!j) continue;  // verify() reported it
      ++golden;
      auto g = goldenFromJson(*j);
      if (!g) v.problems.push_back("'" + de.path().string() + "': " + g.error().message());
      else if (g->sha256 != sha)
        v.problems.push_back("'" + de.path().string() + "': golden outputs of model " + shortSha(g->sha256) +
                             ", not of " + shortSha(sha));
    }
    v.ok = v.problems.empty();
    CommandResult r;
    r.out = toJson(v);
    r.out["golden_checked"] = golden;
    r.out["registry"] = reg.registryDir();
    r.exitCode = v.ok ? 0 : 10;
    r.text = v.ok ? "registry '" + reg.registryDir() + "' verifies: " + std::to_string(v.objectsChecked) +
                        " model objects hashed, " + std::to_string(golden) + " golden records parsed\n"
                  : "registry '" + reg.registryDir() + "' has " + std::to_string(v.problems.size()) +
                        " problem(s):\n  " + join(v.problems, "\n  ") + "\n";
    return r;
  }
  return badInput("'" + c.name + "': unknown command");
}

}  // namespace cvgate

#include "rollback/Operator.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/Sha256.h"
#include "common/Strings.h"
#include "registry/Registry.h"
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

/// Load a model for the registry: its manifest must travel inside the archive,
/// since the registry stores the archive alone.
Expected<std::shared_ptr<Model>> loadForRegistry(const std::string& path) {
  CVGATE_TRY_ASSIGN(m, Model::load(path));
  if (m->manifestSource() != "embedded")
    return badInput("'" + path + "': its manifest is a sidecar file ('" + m->manifestSource() +
                    "'); the registry stores the archive alone, so a rollback could not read it; embed the "
                    "manifest as the extra file 'cvgate.json' first");
  return m;
}

/// The model's outputs on the configured golden set, as stored beside its object.
Expected<nlohmann::json> goldenFor(const ToolContext& ctx, const Model& m) {
  const auto& cfg = ctx.config;
  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  CVGATE_TRY_ASSIGN(samples, goldenSamples(*ds, cfg.golden));
  spdlog::info("recording golden outputs of {} on {} samples of {}", m.manifest().name, samples.size(), ds->describe());
  GoldenRecord g = recordGolden(m, samples, cfg.runtime.batchSize);
  std::size_t failed = 0;
  for (const auto& e : g.errors) failed += e.empty() ? 0 : 1;
  if (failed)
    spdlog::warn("{} of {} golden requests failed for {}; recorded as failures", failed, samples.size(),
                 m.manifest().name);
  return toJson(g);
}

}  // namespace

Expected<CommandResult> runRegistryCommand(const ToolContext& ctx, const RegistryCommand& c) {
  RegistryOptions ro;
  ro.lockTimeout = std::chrono::milliseconds(ctx.config.rollback.lockTimeoutMs);
  CVGATE_TRY_ASSIGN(reg, Registry::open(ctx.stateDir, ro));
  const std::string& cycle = ctx.cycleId;

  if (c.name == "status") {
    const auto& s = reg.state();
    std::string msg = s.current ? "current " + describe(*s.current) + ", " + std::to_string(s.previous.size()) +
                                      " known-good, candidate " + (s.candidate ? describe(*s.candidate) : "none")
                                : "empty registry: no current model";
    return result(reg, "status", false, msg, c.format);
  }

  if (c.name == "init" || c.name == "stage") {
    if (c.model.empty()) return badInput(c.name + ": expected a MODEL archive");
    CVGATE_TRY_ASSIGN(sha, sha256File(c.model));
    const auto& s = reg.state();
    if (c.name == "init" && s.current) {
      if (s.current->sha256 == sha)
        return result(reg, c.name, false, "'" + c.model + "' is the current model already (" + describe(*s.current) +
                                              "); nothing to do", c.format);
      return badInput("'" + reg.registryDir() + "': already has a current model, " + describe(*s.current) +
                      "; stage and deploy '" + c.model + "' instead");
    }
    if (c.name == "stage") {
      if (s.current && s.current->sha256 == sha)
        return result(reg, c.name, false, "'" + c.model + "' is the current model already (" + describe(*s.current) +
                                              "); nothing to stage", c.format);
      if (s.candidate && s.candidate->sha256 == sha)
        return result(reg, c.name, false, "'" + c.model + "' is staged already (" + describe(*s.candidate) +
                                              "); nothing to do", c.format);
    }
    CVGATE_TRY_ASSIGN(model, loadForRegistry(c.model));
    if (model->sha256() != sha)
      return badInput("'" + c.model + "': changed while being read (sha256 " + shortSha(sha) + " then " +
                      shortSha(model->sha256()) + ")");
    CVGATE_TRY_ASSIGN(golden, goldenFor(ctx, *model));
    const auto& man = model->manifest();
    if (c.name == "init") {
      CVGATE_TRY(reg.setCurrent(c.model, man.name, man.version, golden, cycle));
      return result(reg, c.name, true, "adopted " + describe(*reg.state().current) + " as the current model", c.format);
    }
    const auto before = reg.state().candidate;
    CVGATE_TRY_ASSIGN(e, reg.stage(c.model, man.name, man.version, golden, cycle));
    return result(reg, c.name, true,
                  "staged " + describe(e) + " as candidate" + (before ? ", replacing " + describe(*before) : ""),
                  c.format);
  }

  if (c.name == "deploy") {
    const auto before = reg.state().current;
    CVGATE_TRY(reg.deploy(cycle));
    return result(reg, c.name, true,
                  "deployed " + describe(*reg.state().current) + (before ? " over " + describe(*before) : ""), c.format);
  }

  if (c.name == "rollback") {
    const auto before = reg.state().current;
    CVGATE_TRY_ASSIGN(e, reg.rollback(cycle, c.toSha));
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

#include "rollback/Operator.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/Sha256.h"
#include "common/TestHooks.h"
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

/// Load a model for the registry from the bytes that will be stored: its
/// manifest must travel inside the archive, since the registry stores the
/// archive alone.
Expected<std::shared_ptr<Model>> loadForRegistry(const ModelBytes& bytes) {
  const std::string& path = bytes.source;
  CVGATE_TRY_ASSIGN(m, Model::fromBytes(bytes.bytes, path));
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

Expected<CommandResult> runRegistryCommand(const ToolContext& ctx, const RegistryCommand& c) {
  RegistryOptions ro;
  ro.lockTimeout = std::chrono::milliseconds(ctx.config.rollback.lockTimeoutMs);
  const std::string& cycle = ctx.cycleId;

  if (c.name == "init" || c.name == "stage") {
    // The model is read once, validated (loaded, its golden set answered)
    // from those bytes, and exactly those bytes are stored. Nothing in the
    // state directory changes before the model has passed.
    if (c.model.empty()) return badInput(c.name + ": expected a MODEL archive");
    CVGATE_TRY_ASSIGN(bytes, readModelBytes(c.model));
    const std::string& sha = bytes.sha256;
    std::error_code ec;
    if (fs::exists(fs::path(ctx.stateDir) / "registry" / "state.json", ec)) {
      CVGATE_TRY_ASSIGN(peek, Registry::open(ctx.stateDir, ro));
      const auto& s = peek.state();
      if (c.name == "init" && s.current) {
        if (s.current->sha256 == sha)
          return result(peek, c.name, false, "'" + c.model + "' is the current model already (" +
                                                 describe(*s.current) + "); nothing to do", c.format);
        return badInput("'" + peek.registryDir() + "': already has a current model, " + describe(*s.current) +
                        "; stage and deploy '" + c.model + "' instead");
      }
      if (c.name == "stage") {
        if (s.current && s.current->sha256 == sha)
          return result(peek, c.name, false, "'" + c.model + "' is the current model already (" +
                                                 describe(*s.current) + "); nothing to stage", c.format);
        if (s.candidate && s.candidate->sha256 == sha)
          return result(peek, c.name, false, "'" + c.model + "' is staged already (" + describe(*s.candidate) +
                                                 "); nothing to do", c.format);
      }
    }
    CVGATE_TRY_ASSIGN(model, loadForRegistry(bytes));
    CVGATE_TRY_ASSIGN(golden, goldenFor(ctx, *model));
    testHold("stage-validated");
    const auto& man = model->manifest();
    CVGATE_TRY_ASSIGN(reg, Registry::open(ctx.stateDir, ro));
    if (c.name == "init") {
      CVGATE_TRY(reg.setCurrent(bytes, man.name, man.version, golden, cycle));
      return result(reg, c.name, true, "adopted " + describe(*reg.state().current) + " as the current model", c.format);
    }
    const auto before = reg.state().candidate;
    CVGATE_TRY_ASSIGN(e, reg.stage(bytes, man.name, man.version, golden, cycle));
    return result(reg, c.name, true,
                  "staged " + describe(e) + " as candidate" + (before ? ", replacing " + describe(*before) : ""),
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

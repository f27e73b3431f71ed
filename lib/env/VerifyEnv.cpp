#include "env/VerifyEnv.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "common/Version.h"
#include "registry/Registry.h"
#include "report/Feed.h"
#include "runtime/Golden.h"
#include "runtime/Runtime.h"

namespace cvgate {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string shortSha(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) + "…" : s; }

/// A short rendering of a part's value for a one-line message.
std::string brief(const json& v) {
  std::string s;
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_null()) s = "(absent)";
  else if (v.is_object() && v.contains("provider")) s = v["provider"].get<std::string>() + " " + v.value("path", "");
  else if (v.is_object() && v.contains("sha256") && v.contains("path")) s = v["path"].get<std::string>() + " " + shortSha(v["sha256"].get<std::string>());
  else s = v.dump();
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

/// What one run found about one model file.
struct ModelEvidence {
  std::string path;
  std::string sha256;              ///< of the bytes on disk
  std::string model;               ///< manifest name ("" when it did not load)
  std::shared_ptr<Model> loaded;   ///< null when it did not load
  std::string loadError;
};

Expected<ModelEvidence> examineModel(const std::string& path, const std::string& role) {
  ModelEvidence e;
  e.path = path;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return badInput(role + " model '" + path + "': no such file (set [models] " + role + " or --" + role + ")");
  CVGATE_TRY_ASSIGN(sha, sha256File(path));
  e.sha256 = sha;
  auto m = Model::load(path);
  if (m.ok()) {
    e.loaded = *m;
    e.model = (*m)->manifest().name;
    if ((*m)->sha256() != e.sha256)  // the file changed between the two reads
      e.loadError = "the file changed while it was read";
  } else {
    e.loadError = m.error().message();
  }
  return e;
}

json registryTargets(const std::string& stateDir, std::vector<std::string>& notes) {
  json out = json::array();
  fs::path statePath = fs::path(stateDir) / "registry" / "state.json";
  std::error_code ec;
  if (!fs::exists(statePath, ec)) return out;
  auto j = readJsonFile(statePath.string());
  auto st = j ? registryStateFromJson(*j) : Expected<RegistryState>(j.error());
  if (!st.ok()) {
    notes.push_back("rollback targets: '" + statePath.string() + "': " + st.error().message());
    return out;
  }
  for (const auto& e : st->previous) {
    std::string object = (fs::path(stateDir) / "registry" / e.path).string();
    auto sha = sha256File(object);
    out.push_back({{"model", e.name}, {"version", e.version}, {"sha256", e.sha256},
                   {"verified", sha.ok() && *sha == e.sha256}});
  }
  return out;
}

/// What the registry says production is: the sha256 state.json names as
/// current, and the golden outputs recorded for it. Read without the lock
/// (both files are written atomically); absent when there is no registry or
/// no current model in it.
struct RegistryProduction {
  std::string sha256;
  std::string statePath;
  std::optional<GoldenRecord> golden;
  std::string goldenProblem;       ///< why there is no usable golden record
};

std::optional<RegistryProduction> registryProduction(const std::string& stateDir, std::vector<std::string>& notes) {
  const fs::path statePath = fs::path(stateDir) / "registry" / "state.json";
  std::error_code ec;
  if (!fs::exists(statePath, ec)) return std::nullopt;
  auto j = readJsonFile(statePath.string());
  auto st = j ? registryStateFromJson(*j) : Expected<RegistryState>(j.error());
  if (!st.ok()) {
    notes.push_back("registry: '" + statePath.string() + "': " + st.error().message());
    return std::nullopt;
  }
  if (!st->current) return std::nullopt;
  RegistryProduction p;
  p.sha256 = st->current->sha256;
  p.statePath = statePath.string();
  const std::string goldenPath =
      (fs::path(stateDir) / "registry" / "objects" / (p.sha256 + ".golden.json")).string();
  if (!fs::exists(goldenPath, ec)) {
    p.goldenProblem = "the registry has no golden outputs for production " + p.sha256.substr(0, 12);
    return p;
  }
  auto gj = readJsonFile(goldenPath);
  auto g = gj ? goldenFromJson(*gj) : Expected<GoldenRecord>(gj.error());
  if (!g) p.goldenProblem = "'" + goldenPath + "': " + g.error().message();
  else p.golden = std::move(*g);
  return p;
}

Check makeCheck(const std::string& id, const std::string& subject, Outcome status,
                const std::string& message) {
  Check c;
  c.id = id;
  c.subject = subject;
  c.status = status;
  c.message = message;
  return c;
}

}  // namespace

std::string lockPath(const Config& config, const std::string& stateDir) {
  fs::path p(config.env.lockFile);
  if (p.is_absolute()) return p.string();
  return (fs::path(stateDir) / p).lexically_normal().string();
}

std::string recordCommand(const ToolContext& ctx) {
  auto abs = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  std::string cmd = "verify-env --config " + abs(ctx.config.path) + " --state-dir " + abs(ctx.stateDir);
  if (!ctx.options.current.empty()) cmd += " --current " + abs(ctx.options.current);
  if (!ctx.options.candidate.empty())
    cmd += " --candidate " + (ctx.options.candidate == "none" ? std::string("none") : abs(ctx.options.candidate));
  return cmd + " --record";
}

Check driftCheck(const std::string& part, const json& before, const json& after,
                 DriftSeverity severity) {
  Check c;
  c.id = "env.drift." + part;
  c.subject = "";
  if (before == after) {
    c.status = Outcome::Pass;
    c.message = part + ": as locked (" + brief(after) + ")";
    return c;
  }
  c.severity = toString(severity);
  c.detail = {{"before", before}, {"after", after}};
  if (severity == DriftSeverity::Severe) {
    c.status = Outcome::Fail;
    c.message = part + " drifted (severe, can change outputs): " + brief(before) + " -> " + brief(after);
  } else {
    c.status = Outcome::Pass;
    c.message = part + " drifted (minor, does not block): " + brief(before) + " -> " + brief(after);
  }
  return c;
}

std::vector<Check> driftChecks(const Fingerprint& now, const json& lockParts) {
  std::vector<Check> out;
  for (const auto& p : now.parts) {
    json before = lockParts.is_object() && lockParts.contains(p.name) ? lockParts[p.name] : json(nullptr);
    out.push_back(driftCheck(p.name, before, p.value, p.severity));
  }
  // A part the lock has and this build no longer computes is reported, not hidden.
  if (lockParts.is_object())
    for (const auto& [name, v] : lockParts.items())
      if (!now.find(name)) out.push_back(driftCheck(name, v, nullptr, DriftSeverity::Minor));
  return out;
}

Check blasCheck(const Fingerprint& fp) {
  const FingerprintPart* b = fp.find("blas");
  std::string provider = b && b->value.is_object() ? b->value.value("provider", "none") : "none";
  std::string path = b && b->value.is_object() ? b->value.value("path", "") : "";
  Check c = makeCheck("env.blas", "", Outcome::Pass, "");
  c.detail = {{"provider", provider}, {"path", path}};
  if (provider == "reference") {
    c.status = Outcome::Fail;
    c.severity = "performance";
    c.message = "reference (netlib) BLAS loaded from '" + path +
                "': 10-100x slower matrix products; select OpenBLAS with update-alternatives";
  } else if (provider == "none" || provider == "unknown") {
    c.status = Outcome::Inconclusive;
    c.message = provider == "none" ? "no BLAS library found in /proc/self/maps (statically linked?)"
                                   : "BLAS '" + path + "' is not one this tool recognises";
    c.need = {{"blas", "an identifiable BLAS library (openblas, mkl, blis, atlas, reference)"}};
  } else {
    c.message = "optimised BLAS: " + provider + " (" + path + ")";
  }
  return c;
}

Check threadsCheck(int intraOpThreads, int cores) {
  Check c = makeCheck("env.threads", "", Outcome::Pass, "");
  c.value = intraOpThreads;
  c.threshold = cores;
  c.unit = "threads";
  if (cores <= 0) {
    c.status = Outcome::Inconclusive;
    c.message = "the number of usable cores could not be read";
    c.need = {{"cores", "sched_getaffinity"}};
  } else if (intraOpThreads > cores) {
    c.status = Outcome::Fail;
    c.severity = "performance";
    c.message = std::to_string(intraOpThreads) + " intra-op threads > " + std::to_string(cores) +
                " usable cores: oversubscribed (set [runtime] intra_op_threads <= cores)";
  } else {
    c.message = std::to_string(intraOpThreads) + " intra-op threads <= " + std::to_string(cores) + " cores";
  }
  return c;
}

Expected<Report> verifyEnv(const ToolContext& ctx, const VerifyEnvOptions& options) {
  const auto tStart = Clock::now();
  const Config& cfg = ctx.config;
  Report r = startReport(ctx, kEnvKind);
  json timing = json::object();
  std::vector<std::string> notes;

  CVGATE_TRY(applyThreadSettings(ThreadSettings{cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));

  // A corrupt lock is bad input: say so before any work.
  const std::string lockFile = lockPath(cfg, ctx.stateDir);
  std::optional<EnvLock> maybeLock;
  auto readAndCheckLock = [&]() -> Status {
    CVGATE_TRY_ASSIGN(l, readLock(lockFile));
    if (l) {
      auto g = goldenFromJson(l->golden);
      if (!g.ok()) return g.error().context("lock '" + lockFile + "'");
    }
    maybeLock = std::move(l);
    return okStatus();
  };
  if (!options.record) CVGATE_TRY(readAndCheckLock());

  // Models: bytes first (integrity is evidence), then load.
  auto t0 = Clock::now();
  if (cfg.models.current.empty())
    return badInput("no current model: set [models] current or --current");
  CVGATE_TRY_ASSIGN(current, examineModel(cfg.models.current, "current"));
  std::optional<ModelEvidence> candidate;
  if (!cfg.models.candidate.empty()) {
    CVGATE_TRY_ASSIGN(cand, examineModel(cfg.models.candidate, "candidate"));
    candidate = std::move(cand);
  }
  timing["models"] = msSince(t0);

  // Data set and golden samples.
  t0 = Clock::now();
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  CVGATE_TRY_ASSIGN(samples, goldenSamples(*ds, cfg.golden));
  timing["dataset"] = msSince(t0);
  spdlog::info("data set {}, golden set [{}, {})", ds->describe(), cfg.golden.offset,
               cfg.golden.offset + cfg.golden.count);

  // The golden set, twice in-process.
  t0 = Clock::now();
  std::optional<GoldenRecord> run1, run2;
  if (current.loaded) {
    run1 = recordGolden(*current.loaded, samples, cfg.runtime.batchSize);
    if (cfg.env.determinism) run2 = recordGolden(*current.loaded, samples, cfg.runtime.batchSize);
  } else {
    spdlog::warn("current model '{}' does not load: {}", current.path, current.loadError);
  }
  timing["golden"] = msSince(t0);

  if (run1) run1->datasetSha256 = ds->sha256();
  // What the registry says production is (its bytes' sha256 and golden
  // outputs): whoever changes production changes this in the same
  // crash-safe operation, so production's baselines follow it.
  std::optional<RegistryProduction> production = registryProduction(ctx.stateDir, notes);

  // Fingerprint after a forward, so a lazily loaded BLAS is mapped too.
  t0 = Clock::now();
  Fingerprint fp = computeFingerprint();
  timing["fingerprint"] = msSince(t0);
  r.inputs["dataset_sha256"] = ds->sha256();
  r.inputs["env_hash"] = fp.envHash;

  bool recorded = false;
  if (options.record) {
    if (!current.loaded)
      return badInput("cannot record a lock: current model '" + current.path + "': " + current.loadError);
    EnvLock lock;
    lock.recordedAt = nowIsoUtc();
    lock.cycleId = ctx.cycleId;
    lock.toolVersion = kVersion;
    lock.envHash = fp.envHash;
    lock.hashedParts = fp.hashedParts;
    lock.parts = fp.partsJson();
    lock.models["current"] = LockedModel{current.model, current.sha256, current.path};
    if (candidate) lock.models["candidate"] = LockedModel{candidate->model, candidate->sha256, candidate->path};
    lock.configPath = cfg.path;
    lock.configSha256 = cfg.sha256;
    lock.datasetSha256 = ds->sha256();
    lock.dataset = ds->describe();
    ThreadSettings th = currentThreadSettings();
    lock.intraOpThreads = th.intraOp;
    lock.interOpThreads = th.interOp;
    lock.goldenOffset = cfg.golden.offset;
    lock.goldenCount = cfg.golden.count;
    lock.golden = toJson(*run1);
    lock.baseline = collectBaseline(ctx.stateDir, current.sha256);
    for (const auto& n : lock.baseline.notes) spdlog::info("baseline: {}", n);
    CVGATE_TRY(writeLock(lockFile, lock));
    recorded = true;
    // The registry's production gets its golden outputs re-recorded on this
    // golden set when they are missing or were recorded on another one.
    if (production && production->sha256 == current.sha256) {
      bool same = false;
      if (production->golden && production->golden->datasetSha256 == run1->datasetSha256) {
        auto cmp = compareGolden(*production->golden, *run1);
        same = cmp.ok();
      }
      if (!same) {
        CVGATE_TRY_ASSIGN(reg, Registry::open(ctx.stateDir));
        CVGATE_TRY(reg.setGolden(current.sha256, toJson(*run1)));
        spdlog::info("re-recorded the registry's golden outputs of production {}", shortSha(current.sha256));
        production = registryProduction(ctx.stateDir, notes);
      }
    }
    spdlog::info("recorded lock {} (env_hash {})", lockFile, shortSha(fp.envHash));
  }

  if (options.record) CVGATE_TRY(readAndCheckLock());  // what was written, read back
  std::optional<GoldenRecord> lockGolden;
  if (maybeLock) lockGolden = *goldenFromJson(maybeLock->golden);

  // Subjects.
  r.subjects["current"] = Subject{current.model, current.sha256, current.path};
  if (candidate) r.subjects["candidate"] = Subject{candidate->model, candidate->sha256, candidate->path};
  if (maybeLock) {
    auto fill = [&](const std::string& role) {
      auto s = r.subjects.find(role);
      auto l = maybeLock->models.find(role);
      if (s != r.subjects.end() && s->second.model.empty() && l != maybeLock->models.end())
        s->second.model = l->second.model;  // name from the lock when the bytes no longer load
    };
    fill("current");
    fill("candidate");
  }

  // env.lock
  const std::string cmd = recordCommand(ctx);
  int drifted = 0, severe = 0;
  std::vector<Check> drift;
  if (!maybeLock) {
    Check c = makeCheck("env.lock", "", Outcome::Inconclusive,
                        "no lock at '" + lockFile + "': record the blessed environment with: " + cmd);
    c.need = {{"lock", lockFile}, {"command", cmd}};
    r.checks.push_back(c);
  } else {
    drift = driftChecks(fp, maybeLock->parts);
    drift.push_back(driftCheck("config", maybeLock->configSha256, cfg.sha256, DriftSeverity::Severe));
    drift.push_back(driftCheck("dataset", maybeLock->datasetSha256, ds->sha256(), DriftSeverity::Severe));
    for (const auto& d : drift)
      if (!d.severity.empty()) {
        ++drifted;
        if (d.severity == "severe") ++severe;
      }
    Check c = makeCheck("env.lock", "", Outcome::Pass,
                        "compared with the lock '" + lockFile + "' recorded " + maybeLock->recordedAt +
                            ": " + std::to_string(drift.size()) + " parts, " + std::to_string(drifted) +
                            " drifted (" + std::to_string(severe) + " severe); env_hash " +
                            shortSha(maybeLock->envHash) + " -> " + shortSha(fp.envHash));
    c.detail = {{"path", lockFile}, {"recorded_at", maybeLock->recordedAt},
                {"env_hash_before", maybeLock->envHash}, {"env_hash_after", fp.envHash}};
    r.checks.push_back(c);
  }
  for (auto& d : drift) r.checks.push_back(std::move(d));

  // env.model_hash
  auto modelHashCheck = [&](const std::string& role, const ModelEvidence& m, const std::string& pin) {
    Check c = makeCheck("env.model_hash", role, Outcome::Pass, "");
    // Production is held to the blessed lock; a candidate is new by nature
    // (each cycle may stage another), so it is held to its pin only.
    // With a registry, production is what its state.json says is deployed;
    // without one (a run by hand), what the lock recorded.
    std::string locked;
    const bool fromRegistry = role == "current" && production.has_value();
    if (fromRegistry) locked = production->sha256;
    else if (maybeLock && role == "current")
      if (auto it = maybeLock->models.find(role); it != maybeLock->models.end()) locked = it->second.sha256;
    c.detail = {{"before", locked.empty() ? json(nullptr) : json(locked)}, {"after", m.sha256},
                {"pin", pin.empty() ? json(nullptr) : json(pin)}, {"path", m.path}};
    std::vector<std::string> why;
    if (!pin.empty() && pin != m.sha256) why.push_back("does not match the pin " + shortSha(pin));
    if (!locked.empty() && locked != m.sha256)
      why.push_back(fromRegistry ? "differs from " + shortSha(locked) + ", what the registry says is deployed ('" +
                                       production->statePath + "'): production's bytes are not the deployed model's"
                                 : "differs from the lock's " + shortSha(locked) +
                                       " (tampered, or replaced without re-recording)");
    if (!why.empty()) {
      c.status = Outcome::Fail;
      c.severity = "severe";
      c.message = "'" + m.path + "' sha256 " + shortSha(m.sha256) + " " + join(why, "; ");
    } else if (pin.empty() && locked.empty() && role == "candidate") {
      c.message = "'" + m.path + "' sha256 " + shortSha(m.sha256) +
                  ": a candidate is new by nature and no pin was given, so its bytes are recorded, not verified "
                  "(the heartbeat pins it to the registry's hash)";
    } else if (pin.empty() && locked.empty()) {
      c.status = Outcome::Inconclusive;
      c.message = "'" + m.path + "' sha256 " + shortSha(m.sha256) +
                  ": nothing to compare with (no lock entry, no pin)";
      c.need = {{"lock", cmd}};
    } else {
      const std::string ref = fromRegistry ? "registry's deployed model" : "lock";
      c.message = "'" + m.path + "' sha256 " + shortSha(m.sha256) + " matches the " +
                  (locked.empty() ? "pin" : pin.empty() ? ref : ref + " and the pin");
    }
    if (!m.loadError.empty()) c.message += "; it does not load: " + m.loadError;
    r.checks.push_back(c);
  };
  modelHashCheck("current", current, cfg.models.currentSha256);
  if (candidate) modelHashCheck("candidate", *candidate, cfg.models.candidateSha256);

  // env.determinism
  json determinism = nullptr;
  if (cfg.env.determinism) {
    Check c = makeCheck("env.determinism", "current", Outcome::Inconclusive, "");
    if (!run1 || !run2) {
      c.message = "current model does not load, the golden set could not be run: " + current.loadError;
      c.need = {{"model", "a loadable current model"}};
    } else {
      auto cmp = compareGolden(*run1, *run2);
      if (!cmp.ok()) return cmp.error();
      determinism = toJson(*cmp);
      c.value = std::isfinite(cmp->maxAbsDiff) ? cmp->maxAbsDiff : std::numeric_limits<double>::infinity();
      c.threshold = 0.0;
      c.unit = "probability";
      c.detail = determinism;
      if (cmp->bitIdentical) {
        c.status = Outcome::Pass;
        c.message = "two in-process runs of " + std::to_string(cmp->n) + " golden images are bit-identical";
      } else {
        c.status = Outcome::Fail;
        c.severity = "severe";
        c.message = "two in-process runs of " + std::to_string(cmp->n) +
                    " golden images differ: max abs diff " + fmtNum(cmp->maxAbsDiff, 9) +
                    ", top-1 agreement " + fmtNum(cmp->top1Agreement, 4);
      }
    }
    r.checks.push_back(c);
  }

  // env.golden
  json golden = nullptr;
  {
    Check c = makeCheck("env.golden", "current", Outcome::Inconclusive, "");
    c.threshold = cfg.golden.tolerance;
    c.unit = "probability";
    // The blessed outputs: the registry's for production when there is a
    // registry, else the lock's.
    const GoldenRecord* ref = nullptr;
    std::string refName = "the lock";
    if (production && production->sha256 == current.sha256) {
      if (production->golden) ref = &*production->golden;
      refName = "the registry's record";
    } else if (!production && lockGolden) {
      ref = &*lockGolden;
    }
    if (!run1) {
      c.status = Outcome::Fail;
      c.severity = "severe";
      c.message = "current model does not load, so it cannot reproduce its blessed outputs: " + current.loadError;
    } else if (production && production->sha256 != current.sha256) {
      c.message = "the current model is not the registry's deployed model (see env.model_hash): no blessed "
                  "outputs of it to compare with";
      c.need = {{"model", "the registry's deployed model"}};
    } else if (!ref) {
      c.message = production ? production->goldenProblem + " (" + cmd + " records them)"
                             : "no lock: no blessed golden outputs to compare with (" + cmd + ")";
      c.need = {{"lock", cmd}};
    } else if (!ref->datasetSha256.empty() && ref->datasetSha256 != run1->datasetSha256) {
      c.message = "the golden outputs in " + refName + " were recorded on another data set (" +
                  shortSha(ref->datasetSha256) + ", now " + shortSha(run1->datasetSha256) + "); re-record: " + cmd;
      c.need = {{"lock", cmd}};
    } else {
      auto cmp = compareGolden(*ref, *run1);
      if (!cmp.ok()) {
        c.message = "the golden set differs from " + refName + "'s ([golden] offset/count changed; re-record: " +
                    cmd + "): " + cmp.error().message();
        c.need = {{"lock", cmd}};
      } else {
        golden = toJson(*cmp);
        c.detail = golden;
        c.detail["tolerance"] = cfg.golden.tolerance;
        c.value = std::isfinite(cmp->maxAbsDiff) ? cmp->maxAbsDiff : std::numeric_limits<double>::infinity();
        bool ok = cmp->n > 0 && cmp->maxAbsDiff <= cfg.golden.tolerance && cmp->top1Agreement == 1.0;
        std::string what = std::to_string(cmp->n) + " golden images vs " + refName + ": max abs diff " +
                           (std::isfinite(cmp->maxAbsDiff) ? fmtNum(cmp->maxAbsDiff, 9) : std::string("inf")) +
                           " (tolerance " + fmtNum(cfg.golden.tolerance, 9) + "), top-1 agreement " +
                           fmtNum(cmp->top1Agreement, 4);
        if (ok) {
          c.status = Outcome::Pass;
          c.message = what;
        } else {
          c.status = Outcome::Fail;
          c.severity = "severe";
          c.message = "the current model no longer reproduces its blessed outputs: " + what;
        }
      }
    }
    r.checks.push_back(c);
  }

  // Performance risks.
  const int cores = fp.find("cores") && fp.find("cores")->value.is_number_integer()
                        ? fp.find("cores")->value.get<int>() : 0;
  ThreadSettings threads = currentThreadSettings();
  r.checks.push_back(blasCheck(fp));
  r.checks.push_back(threadsCheck(threads.intraOp, cores));
  json risks = json::array();
  for (const auto& c : r.checks)
    if ((c.id == "env.blas" || c.id == "env.threads") && c.status != Outcome::Pass) risks.push_back(c.message);
  if (const auto* g = fp.find("cpu_governor"); g && g->value.is_string()) {
    std::string gov = g->value.get<std::string>();
    if (gov == "powersave" || gov == "conservative" || gov == "ondemand")
      risks.push_back("cpu governor '" + gov + "': clock scales with load, latency varies (prefer 'performance')");
  }

  // Baseline KPIs: blessed (lock) next to the newest reports of today's current model.
  BaselineKpis latest = collectBaseline(ctx.stateDir, current.sha256);
  json kpis = json::array();
  auto kpi = [&](const char* name, const char* unit, const std::optional<double>& blessed,
                 const std::optional<double>& now) {
    kpis.push_back({{"kpi", name}, {"unit", unit},
                    {"blessed", blessed ? json(*blessed) : json(nullptr)},
                    {"latest", now ? json(*now) : json(nullptr)}});
  };
  BaselineKpis blessed = maybeLock ? maybeLock->baseline : BaselineKpis{};
  kpi("accuracy", "fraction", blessed.accuracy, latest.accuracy);
  kpi("compliance", "fraction", blessed.compliance, latest.compliance);
  kpi("p95", "ms", blessed.p95Ms, latest.p95Ms);

  json models = json::object();
  models["current"] = {{"path", current.path}, {"sha256", current.sha256}, {"model", current.model},
                       {"loads", current.loaded != nullptr}};
  if (!current.loadError.empty()) models["current"]["load_error"] = current.loadError;
  if (candidate) {
    models["candidate"] = {{"path", candidate->path}, {"sha256", candidate->sha256},
                           {"model", candidate->model}, {"loads", candidate->loaded != nullptr}};
    if (!candidate->loadError.empty()) models["candidate"]["load_error"] = candidate->loadError;
  }
  models["rollback_targets"] = registryTargets(ctx.stateDir, notes);

  json parts = json::array();
  for (const auto& p : fp.parts)
    parts.push_back({{"name", p.name}, {"severity", toString(p.severity)},
                     {"hashed", p.severity == DriftSeverity::Severe}, {"value", p.value},
                     {"description", p.description}});
  json lockJson = {{"path", lockFile}, {"present", maybeLock.has_value()}, {"recorded", recorded},
                   {"record_command", cmd}};
  if (maybeLock) {
    lockJson["recorded_at"] = maybeLock->recordedAt;
    lockJson["env_hash"] = maybeLock->envHash;
  }
  for (const auto& n : fp.notes) notes.push_back(n);

  r.results = {
      {"env_hash", fp.envHash},
      {"hashed_parts", fp.hashedParts},
      {"fingerprint", parts},
      {"lock", lockJson},
      {"drift", {{"parts", static_cast<int>(drift.size())},
                 {"drifted", drifted}, {"severe", severe}}},
      {"models", models},
      {"config", {{"path", cfg.path}, {"sha256", cfg.sha256}}},
      {"dataset", {{"describe", ds->describe()}, {"sha256", ds->sha256()}}},
      {"threads", {{"intra_op", threads.intraOp}, {"inter_op", threads.interOp}, {"cores", cores}}},
      {"golden_set", {{"offset", cfg.golden.offset}, {"count", cfg.golden.count},
                      {"tolerance", cfg.golden.tolerance}}},
      {"determinism", determinism},
      {"golden", golden},
      {"baseline", {{"kpis", kpis}, {"blessed", toJson(blessed)}, {"latest", toJson(latest)}}},
      {"risks", risks},
      {"torch_build_config", fp.torchBuildConfig},
      {"notes", notes},
  };
  timing["total"] = msSince(tStart);
  r.results["timing_ms"] = timing;
  return r;
}

Expected<int> finishEnvReport(const ToolContext& ctx, Report& r, const std::string& format) {
  if (format == "json") return finishReport(ctx, r);
  return finishReport(ctx, r, renderText);
}

}  // namespace cvgate

#include "rollback/Drill.h"

#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "common/Fs.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "registry/Registry.h"
#include "report/Feed.h"
#include "rollback/Sandbox.h"
#include "runtime/Golden.h"
#include "runtime/Runtime.h"
#include "stats/Stats.h"

namespace cvgate {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::vector<std::string>& rollbackFaults() {
  static const std::vector<std::string> f = {"corrupt-target", "missing-target", "truncated-state",
                                             "crash-between-steps"};
  return f;
}

const std::vector<std::string>& drillSteps() {
  static const std::vector<std::string> s = {"choose", "verify", "load", "warmup", "first_answer", "golden", "flip"};
  return s;
}

namespace {

std::string shortSha(const std::string& s) { return s.substr(0, 12); }
std::string describe(const Entry& e) { return e.name + " " + e.version + " (" + shortSha(e.sha256) + ")"; }

/// Nearest-rank quantile of a sample (q in (0, 1]).
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}
double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

/// One rehearsal of the rollback in one sandbox.
struct RunResult {
  bool completed = false;          ///< every step succeeded (the answer may still be wrong)
  std::string failedStep;          ///< first step that failed
  std::string message;             ///< why
  std::map<std::string, double> steps;
  double rtoMs = 0, firstAnswerMs = 0;
  std::optional<Entry> target;
  std::optional<Manifest> targetManifest;
  bool goldenRecorded = false;     ///< golden outputs were recorded for the target
  std::string goldenProblem;       ///< recorded outputs unreadable or of other samples
  std::optional<GoldenComparison> cmp;
  bool goldenWithin = false;       ///< cmp within tolerance, no failed request
  bool firstAnswerChecked = false, firstAnswerCorrect = false;
  int firstTop1 = -1, expectedTop1 = -1;
  int childExit = -1;              ///< crash fault: the child's exit code
};

struct RunInputs {
  const std::vector<Sample>* samples = nullptr;
  int batchSize = 8;
  int warmupRuns = 3;
  double tolerance = 1e-4;
  std::string cycleId;
  bool crashAtFlip = false;        ///< crash-between-steps: flip in a child that dies after the symlink
};

RunResult runOnce(const std::string& stateDir, const RunInputs& in) {
  RunResult rr;
  auto fail = [&](const std::string& step, const std::string& why) {
    rr.failedStep = step;
    rr.message = why;
    return rr;
  };
  const auto& samples = *in.samples;

  // Decision taken: from here on the clock runs.
  auto t = Clock::now();
  auto reg = Registry::open(stateDir);
  if (!reg) return fail("choose", "cannot open the registry: " + reg.error().message());
  auto target = reg->rollbackTarget();
  rr.steps["choose"] = msSince(t);
  if (!target) return fail("choose", target.error().message());
  rr.target = *target;
  const std::string sha = target->sha256;

  t = Clock::now();
  Status v = reg->verifyObject(sha);
  std::optional<GoldenRecord> recorded;
  if (v) {
    auto g = reg->golden(sha);
    if (!g) {
      rr.goldenProblem = g.error().message();
    } else if (!g->is_null()) {
      rr.goldenRecorded = true;
      auto rec = goldenFromJson(*g);
      if (rec) recorded = std::move(*rec);
      else rr.goldenProblem = "'" + reg->goldenPath(sha) + "': " + rec.error().message();
    }
  }
  rr.steps["verify"] = msSince(t);
  if (!v) return fail("verify", v.error().message());

  t = Clock::now();
  auto model = Model::load(reg->objectPath(sha), sha);
  rr.steps["load"] = msSince(t);
  if (!model) return fail("load", model.error().message());
  rr.targetManifest = (*model)->manifest();

  t = Clock::now();
  std::vector<const Image*> batch;
  for (std::size_t i = 0; i < samples.size() && batch.size() < static_cast<std::size_t>(in.batchSize); ++i)
    batch.push_back(&samples[i].image);
  for (int i = 0; i < in.warmupRuns; ++i) (void)runPipeline(**model, batch, in.batchSize);
  rr.steps["warmup"] = msSince(t);

  t = Clock::now();
  auto first = runPipeline(**model, {&samples[0].image}, 1);
  rr.steps["first_answer"] = msSince(t);
  if (first.empty() || !first[0].ok)
    return fail("first_answer", "the first request failed: " + (first.empty() ? std::string("no answer") : first[0].error));
  rr.firstTop1 = first[0].top1;
  if (recorded && !recorded->ids.empty() && recorded->ids[0] == samples[0].id) {
    rr.firstAnswerChecked = true;
    rr.expectedTop1 = recorded->top1[0];
    double d = 0;
    const auto& want = recorded->probs[0];
    if (want.size() != first[0].probs.size()) d = std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < want.size() && k < first[0].probs.size(); ++k)
      d = std::max(d, std::fabs(static_cast<double>(want[k]) - static_cast<double>(first[0].probs[k])));
    rr.firstAnswerCorrect = rr.firstTop1 == rr.expectedTop1 && d <= in.tolerance;
  }

  t = Clock::now();
  GoldenRecord now = recordGolden(**model, samples, in.batchSize);
  if (recorded) {
    auto cmp = compareGolden(*recorded, now);
    if (cmp) {
      rr.cmp = *cmp;
      rr.goldenWithin = cmp->failedB == 0 && cmp->failedA == 0 && cmp->maxAbsDiff <= in.tolerance;
    } else {
      rr.goldenProblem = cmp.error().message();
    }
  }
  rr.steps["golden"] = msSince(t);

  t = Clock::now();
  if (in.crashAtFlip) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("CVGATE_REGISTRY_CRASH_AT", "after-symlink", 1);
      auto child = Registry::open(stateDir);
      if (!child) ::_exit(3);
      const auto& cs = child->state();
      auto e = child->rollback(in.cycleId, cs.current ? cs.current->sha256 : "", sha);
      ::_exit(e ? 0 : 4);
    }
    if (pid < 0) return fail("flip", "fork failed");
    int st = 0;
    ::waitpid(pid, &st, 0);
    rr.childExit = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    rr.steps["flip"] = msSince(t);
    return fail("flip", "the rollback process died between the current.pt flip and the state.json write (exit " +
                            std::to_string(rr.childExit) + ")");
  }
  const std::string from = reg->state().current ? reg->state().current->sha256 : "";
  auto flipped = reg->rollback(in.cycleId, from, sha);
  rr.steps["flip"] = msSince(t);
  if (!flipped) return fail("flip", flipped.error().message());
  const std::string link = readLinkText(reg->currentLinkPath());
  if (link != "objects/" + sha + ".pt" || !reg->state().current || reg->state().current->sha256 != sha)
    return fail("flip", "after the rollback, current.pt points at '" + link + "', not the target " + shortSha(sha));

  rr.completed = true;
  for (const auto& s : drillSteps()) rr.rtoMs += rr.steps[s];
  rr.firstAnswerMs = rr.steps["choose"] + rr.steps["verify"] + rr.steps["load"] + rr.steps["warmup"] +
                     rr.steps["first_answer"];
  return rr;
}

nlohmann::json runJson(const RunResult& r) {
  nlohmann::json steps = nlohmann::json::object();
  for (const auto& [k, v] : r.steps) steps[k] = v;
  nlohmann::json j{{"completed", r.completed}, {"steps_ms", steps}};
  if (r.completed) j["rto_ms"] = r.rtoMs;
  if (!r.failedStep.empty()) {
    j["failed_step"] = r.failedStep;
    j["message"] = r.message;
  }
  if (r.target) j["target_sha256"] = r.target->sha256;
  return j;
}

/// Interface differences that would break the pipeline around the model.
std::vector<std::string> manifestDifferences(const Manifest& pipe, const Manifest& tgt) {
  std::vector<std::string> d;
  auto shape = [](const std::vector<std::int64_t>& s) {
    std::vector<std::string> p;
    for (auto x : s) p.push_back(std::to_string(x));
    return "[" + join(p, ", ") + "]";
  };
  if (pipe.task != tgt.task) d.push_back("task " + tgt.task + " vs " + pipe.task);
  if (pipe.inputShape != tgt.inputShape) d.push_back("input shape " + shape(tgt.inputShape) + " vs " + shape(pipe.inputShape));
  if (pipe.dtype != tgt.dtype) d.push_back("input dtype " + tgt.dtype + " vs " + pipe.dtype);
  if (pipe.colour != tgt.colour) d.push_back("colour " + tgt.colour + " vs " + pipe.colour);
  if (pipe.labels.size() != tgt.labels.size()) {
    d.push_back(std::to_string(tgt.labels.size()) + " labels vs " + std::to_string(pipe.labels.size()));
  } else {
    for (std::size_t i = 0; i < pipe.labels.size(); ++i)
      if (pipe.labels[i] != tgt.labels[i]) {
        d.push_back("label " + std::to_string(i) + " '" + tgt.labels[i] + "' vs '" + pipe.labels[i] + "'");
        break;
      }
  }
  return d;
}

Check makeCheck(const std::string& id, Outcome s, const std::string& msg) {
  Check c;
  c.id = id;
  c.subject = "";
  c.status = s;
  c.message = msg;
  return c;
}

void setCheck(Report& r, const Check& c) {
  for (auto& x : r.checks)
    if (x.id == c.id && x.subject == c.subject) {
      x = c;
      return;
    }
  r.checks.push_back(c);
}

Check* findCheckMut(Report& r, const std::string& id) {
  for (auto& x : r.checks)
    if (x.id == id) return &x;
  return nullptr;
}

/// Every guardrail inconclusive (or the one given failing) when no drill could run.
void notMeasured(Report& r, const std::string& why, Outcome targetOutcome, const std::string& targetMsg,
                 const nlohmann::json& need) {
  Check t = makeCheck("rollback.target", targetOutcome, targetMsg);
  if (targetOutcome == Outcome::Inconclusive) t.need = need;
  setCheck(r, t);
  for (const char* id : {"rollback.compatible", "rollback.rto", "rollback.golden", "rollback.disk"}) {
    Check c = makeCheck(id, Outcome::Inconclusive, "not measured: " + why);
    c.need = need.is_null() ? nlohmann::json{{"rollback_target", 1}} : need;
    setCheck(r, c);
  }
}

std::string cmdPrefix(const ToolContext& ctx) {
  // Absolute paths: the runbook's commands must work from any directory.
  std::error_code ec;
  auto abs = [&](const std::string& p) {
    auto a = fs::absolute(p, ec);
    return ec ? p : a.lexically_normal().string();
  };
  return "--config " + abs(ctx.config.path) + " --state-dir " + abs(ctx.stateDir);
}

struct DiskInfo {
  bool ok = false;
  std::string path;
  double freeBytes = 0, needBytes = 0;
  std::string error;
};

DiskInfo diskFor(const std::string& stateDir, const std::string& registryDir, std::int64_t minFree,
                 std::uintmax_t targetSize) {
  DiskInfo d;
  std::error_code ec;
  d.path = fs::is_directory(registryDir, ec) ? registryDir : stateDir;
  struct statvfs sv {};
  if (::statvfs(d.path.c_str(), &sv) != 0) {
    d.error = "'" + d.path + "': statvfs failed: " + std::strerror(errno);
    return d;
  }
  d.ok = true;
  d.freeBytes = static_cast<double>(sv.f_bavail) * static_cast<double>(sv.f_frsize);
  d.needBytes = static_cast<double>(minFree) + static_cast<double>(targetSize);
  return d;
}

std::string fmtBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return fmtNum(b, u ? 1 : 0) + " " + units[u];
}

/// Apply a fault to a sandbox before its run. Returns a note of what was done.
Expected<std::string> applyFault(const std::string& fault, const std::string& stateDir, const std::string& sha) {
  const std::string reg = stateDir + "/registry";
  const std::string obj = reg + "/objects/" + sha + ".pt";
  std::error_code ec;
  if (fault == "corrupt-target") {
    fs::permissions(obj, fs::perms::owner_read | fs::perms::owner_write, ec);
    std::fstream f(obj, std::ios::in | std::ios::out | std::ios::binary);
    if (!f) return internalError("'" + obj + "': cannot open the sandbox copy to corrupt it");
    f.seekg(0, std::ios::end);
    auto size = static_cast<std::streamoff>(f.tellg());
    if (size <= 0) return internalError("'" + obj + "': empty object");
    std::streamoff at = size / 2;
    char c = 0;
    f.seekg(at);
    f.get(c);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.put(c);
    f.close();
    fs::permissions(obj, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read, ec);
    return "flipped a byte at offset " + std::to_string(at) + " of the target's object";
  }
  if (fault == "missing-target") {
    if (!fs::remove(obj, ec)) return internalError("'" + obj + "': cannot delete the sandbox copy");
    return std::string("deleted the target's object");
  }
  if (fault == "truncated-state") {
    const std::string st = reg + "/state.json";
    auto size = fs::file_size(st, ec);
    if (ec) return internalError("'" + st + "': cannot stat");
    fs::resize_file(st, size / 2, ec);
    if (ec) return internalError("'" + st + "': cannot truncate");
    return "truncated state.json from " + std::to_string(size) + " to " + std::to_string(size / 2) + " bytes";
  }
  return std::string("the flip runs in a child process that dies at the registry's 'after-symlink' step");
}

struct FaultResult {
  std::string fault;
  bool detected = false;
  std::optional<bool> recovered;
  std::string message;
  std::string check;               ///< the guardrail it belongs to
};

FaultResult runFault(const std::string& fault, const Snapshot& snap, const Entry& intended, RunInputs in) {
  FaultResult fr;
  fr.fault = fault;
  fr.check = fault == "crash-between-steps" ? "rollback.fault" : "rollback.target";
  auto dir = cloneSandbox(snap, "fault-" + fault, true);
  if (!dir) {
    fr.message = "could not make the fault sandbox: " + dir.error().message();
    return fr;
  }
  auto what = applyFault(fault, *dir, intended.sha256);
  if (!what) {
    fr.message = "could not inject the fault: " + what.error().message();
    return fr;
  }
  in.crashAtFlip = fault == "crash-between-steps";
  RunResult rr = runOnce(*dir, in);
  const std::string prefix = "injected fault '" + fault + "' (" + *what + "): ";
  if (fault == "corrupt-target" || fault == "missing-target") {
    std::string why;
    auto reg = Registry::open(*dir);
    if (reg) {
      Status s = reg->verifyObject(intended.sha256);
      if (!s) why = s.error().message();
    }
    if (rr.failedStep == "choose" || rr.failedStep == "verify") {
      fr.detected = true;
      fr.message = prefix + "detected: known-good " + describe(intended) + " failed verification" +
                   (why.empty() ? "" : " (" + why + ")") + "; no rollback possible: " + rr.message;
    } else if (rr.target && rr.target->sha256 != intended.sha256) {
      fr.detected = true;
      fr.message = prefix + "detected: known-good " + describe(intended) + " failed verification" +
                   (why.empty() ? "" : " (" + why + ")") + "; a rollback would skip it and restore " +
                   describe(*rr.target) + " instead";
    } else {
      fr.message = prefix + "NOT detected: the drill " +
                   (rr.completed ? "rolled back to the damaged target" : "failed at " + rr.failedStep + ": " + rr.message);
    }
  } else if (fault == "truncated-state") {
    if (rr.failedStep == "choose") {
      fr.detected = true;
      fr.message = prefix + "detected: " + rr.message;
    } else {
      fr.message = prefix + "NOT detected: the drill " + (rr.completed ? "completed" : "failed at " + rr.failedStep);
    }
  } else {  // crash-between-steps
    const std::string reg = *dir + "/registry";
    std::error_code ec;
    const bool journal = fs::exists(reg + "/journal.json", ec);
    const std::string link = readLinkText(reg + "/current.pt");
    if (rr.failedStep != "flip" || rr.childExit != kCrashExitCode || !journal) {
      fr.message = prefix + "NOT detected: " +
                   (rr.failedStep != "flip" ? "the drill stopped at " + rr.failedStep + ": " + rr.message
                                            : "child exit " + std::to_string(rr.childExit) +
                                                  (journal ? "" : ", no pending journal"));
    } else {
      fr.detected = true;
      auto reopened = Registry::open(*dir);  // recovery finishes or undoes the interrupted rollback
      std::string outcome;
      bool ok = false;
      if (!reopened) {
        outcome = "recovery failed: " + reopened.error().message();
      } else {
        auto v = reopened->verify();
        const auto& cur = reopened->state().current;
        const bool forward = cur && cur->sha256 == intended.sha256;
        if (!v) outcome = "verify failed: " + v.error().message();
        else if (!v->ok) outcome = "after recovery the sandbox does not verify: " + join(v->problems, "; ");
        else {
          ok = true;
          outcome = std::string("the next open found the journal and ") +
                    (forward ? "rolled the rollback forward to " + describe(intended)
                             : "undid it (current stays " + (cur ? describe(*cur) : std::string("none")) + ")") +
                    "; the sandbox verifies";
        }
      }
      fr.recovered = ok;
      fr.message = prefix + "detected: the rollback died with current.pt -> '" + link +
                   "' and state.json not yet written (journal pending); " + outcome;
    }
  }
  return fr;
}

}  // namespace

Expected<Report> runDrill(const ToolContext& ctx, const DrillOptions& opts) {
  const auto& cfg = ctx.config;
  std::string fault = opts.injectFault.empty() ? cfg.rollback.injectFault : opts.injectFault;
  if (fault == "none") fault.clear();
  if (!fault.empty() && std::find(rollbackFaults().begin(), rollbackFaults().end(), fault) == rollbackFaults().end())
    return badInput("fault '" + fault + "': expected none, " + join(rollbackFaults(), ", ") +
                    didYouMean(fault, rollbackFaults()));
  const int repeats = opts.repeats > 0 ? opts.repeats : cfg.rollback.drillRepeats;
  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));

  Report r = startReport(ctx, kRollbackKind);
  nlohmann::json& res = r.results;
  res["state_dir"] = ctx.stateDir;
  res["fault_injected"] = fault.empty() ? nlohmann::json(nullptr) : nlohmann::json(fault);
  res["faults"] = nlohmann::json::array();

  spdlog::info("copying the registry of '{}' into a sandbox", ctx.stateDir);
  CVGATE_TRY_ASSIGN(snap, snapshotRegistry(ctx.stateDir, cfg.rollback.sandboxDir,
                                           std::chrono::milliseconds(cfg.rollback.lockTimeoutMs)));
  res["journal_pending"] = snap.journalPending;
  auto finishIntact = [&] {
    RegistryFingerprint after = fingerprintRegistry(snap.realRegistryDir);
    bool intact = after == snap.before;
    res["real_state_intact"] = intact;
    if (!intact) {
      res["real_state"] = {{"before", toJson(snap.before)}, {"after", toJson(after)}};
      Check c = makeCheck("rollback.isolation", Outcome::Fail,
                          "the production registry changed during the drill (by the drill or another process): "
                          "state.json " + shortSha(snap.before.stateSha256) + " -> " + shortSha(after.stateSha256) +
                          ", current.pt '" + snap.before.linkText + "' -> '" + after.linkText + "'");
      setCheck(r, c);
    }
  };
  const std::string initCmd = "model-registry init " + cmdPrefix(ctx) + " " +
                              (cfg.models.current.empty() ? std::string("MODEL") : cfg.models.current);
  if (snap.empty) {
    res["registry_empty"] = true;
    notMeasured(r, "the registry is empty",
                Outcome::Inconclusive,
                "registry '" + snap.realRegistryDir + "' is empty: no current model, so there is nothing to roll back "
                "from or to; adopt the production model with: " + initCmd,
                {{"current_model", 1}});
    finishIntact();
    return r;
  }

  // The base copy: recover an interrupted operation (in the copy only) and read the state.
  auto base = Registry::open(snap.baseStateDir());
  if (!base) {
    notMeasured(r, "the registry state is unreadable", Outcome::Fail,
                "cannot read the production registry's state (a copy of it): " + base.error().message() +
                "; check it with: model-registry verify " + cmdPrefix(ctx), nullptr);
    finishIntact();
    return r;
  }
  RegistryState S = base->state();
  nlohmann::json prev = nlohmann::json::array();
  for (const auto& e : S.previous) prev.push_back(toJson(e));
  res["registry"] = {{"current", S.current ? toJson(*S.current) : nlohmann::json(nullptr)},
                     {"candidate", S.candidate ? toJson(*S.candidate) : nlohmann::json(nullptr)},
                     {"previous", prev},
                     {"missing_objects", snap.missingObjects}};
  if (S.current)
    r.subjects["current"] = Subject{S.current->name, S.current->sha256, snap.realRegistryDir + "/" + S.current->path};
  if (S.candidate)
    r.subjects["candidate"] =
        Subject{S.candidate->name, S.candidate->sha256, snap.realRegistryDir + "/" + S.candidate->path};
  if (!S.current) {
    res["registry_empty"] = true;
    notMeasured(r, "the registry has no current model", Outcome::Inconclusive,
                "registry '" + snap.realRegistryDir + "' has no current model, so there is nothing to roll back "
                "from or to; adopt the production model with: " + initCmd,
                {{"current_model", 1}});
    finishIntact();
    return r;
  }
  res["registry_empty"] = false;

  // What a rollback would restore: the newest known-good; with none yet, the
  // current model, which is what a rollback right after deploying the staged
  // candidate (GO) would restore.
  std::string scenario = "rollback";
  Entry pipelineEntry = *S.current;
  if (S.previous.empty()) {
    if (!S.candidate) {
      notMeasured(r, "no rollback target", Outcome::Fail,
                  "no known-good model to roll back to: the registry has a current model (" + describe(*S.current) +
                  ") but no previous one and no staged candidate; a ROLLBACK could not be performed", nullptr);
      res["scenario"] = "none";
      finishIntact();
      return r;
    }
    scenario = "after-go";
    pipelineEntry = *S.candidate;
    CVGATE_TRY(simulateGo(base->registryDir(), S));
    CVGATE_TRY(base->refresh());
  }
  res["scenario"] = scenario;
  res["pipeline"] = {{"sha256", pipelineEntry.sha256}, {"name", pipelineEntry.name}, {"version", pipelineEntry.version}};

  // Untimed setup: the golden set (a production service has its inputs already).
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  r.inputs["dataset_sha256"] = ds->sha256();
  CVGATE_TRY_ASSIGN(samples, goldenSamples(*ds, cfg.golden));

  RunInputs in;
  in.samples = &samples;
  in.batchSize = cfg.runtime.batchSize;
  in.warmupRuns = cfg.rollback.warmupRuns;
  in.tolerance = cfg.golden.tolerance;
  in.cycleId = ctx.cycleId;

  // The drills stop when the next one (at the slowest pace seen) would not
  // fit the time budget; at least one always runs. Fewer drills give a wider
  // bound on the RTO p95, which the check says (inconclusive, with how many
  // more would settle it), never a guess.
  const double budgetS = toolBudgetS(cfg.rollback.timeBudgetS, cfg.heartbeat.simulateRollbackTimeoutS);
  const auto tDrills = Clock::now();
  double slowestDrillS = 0;
  bool stoppedByTime = false;
  std::vector<RunResult> runs;
  for (int i = 0; i < repeats; ++i) {
    if (i > 0 && secondsSince(tDrills) + slowestDrillS > budgetS) {
      stoppedByTime = true;
      spdlog::warn("drills stop after {} of {}: the next would not fit the time budget of {} s "
                   "([rollback] time_budget_s)", i, repeats, fmtNum(budgetS, 0));
      break;
    }
    const double before = secondsSince(tDrills);
    CVGATE_TRY_ASSIGN(dir, cloneSandbox(snap, "run-" + std::to_string(i), false));
    runs.push_back(runOnce(dir, in));
    std::error_code ec;
    fs::remove_all(dir, ec);
    const auto& rr = runs.back();
    if (rr.completed)
      spdlog::info("drill {}/{}: rolled back to {} in {} ms", i + 1, repeats, describe(*rr.target), fmtNum(rr.rtoMs, 1));
    else
      spdlog::warn("drill {}/{}: failed at {}: {}", i + 1, repeats, rr.failedStep, rr.message);
    slowestDrillS = std::max(slowestDrillS, secondsSince(tDrills) - before);
  }
  const int drillsRun = static_cast<int>(runs.size());
  res["drills"] = {{"planned", repeats}, {"run", drillsRun}, {"time_budget_s", budgetS},
                   {"seconds", secondsSince(tDrills)}, {"stopped_by", stoppedByTime ? nlohmann::json("time") : nlohmann::json(nullptr)}};
  nlohmann::json runsJson = nlohmann::json::array();
  for (const auto& rr : runs) runsJson.push_back(runJson(rr));
  res["runs"] = runsJson;

  // rollback.target
  const RunResult* firstWithTarget = nullptr;
  const RunResult* firstFailedEarly = nullptr;
  for (const auto& rr : runs) {
    if (rr.target && !firstWithTarget && rr.failedStep != "verify") firstWithTarget = &rr;
    if ((rr.failedStep == "choose" || rr.failedStep == "verify") && !firstFailedEarly) firstFailedEarly = &rr;
  }
  std::optional<Entry> target;
  if (firstWithTarget) target = firstWithTarget->target;
  if (target) res["target"] = {{"sha256", target->sha256}, {"name", target->name}, {"version", target->version},
                               {"staged_at", target->stagedAt}};
  else res["target"] = nullptr;
  const std::string afterGoNote =
      scenario == "after-go"
          ? " (no known-good model yet: the target is the current model, which a rollback right after deploying "
            "the staged candidate " + describe(*S.candidate) + " would restore)"
          : "";
  if (firstFailedEarly) {
    setCheck(r, makeCheck("rollback.target", Outcome::Fail,
                          "no verified rollback target: " + firstFailedEarly->message + afterGoNote));
  } else if (target) {
    setCheck(r, makeCheck("rollback.target", Outcome::Pass,
                          "verified known-good target " + describe(*target) + ", staged " + target->stagedAt +
                              afterGoNote));
  } else {
    setCheck(r, makeCheck("rollback.target", Outcome::Fail, "no rollback target found"));
  }

  // rollback.compatible
  {
    const RunResult* loaded = nullptr;
    for (const auto& rr : runs)
      if (rr.targetManifest) { loaded = &rr; break; }
    auto pipeModel = Model::load(base->objectPath(pipelineEntry.sha256), pipelineEntry.sha256);
    if (!loaded) {
      Check c = makeCheck("rollback.compatible", Outcome::Inconclusive, "not measured: the target could not be loaded");
      c.need = {{"loadable_target", 1}};
      setCheck(r, c);
    } else if (!pipeModel) {
      Check c = makeCheck("rollback.compatible", Outcome::Inconclusive,
                          "cannot read the manifest of the model the target replaces (" + describe(pipelineEntry) +
                              "): " + pipeModel.error().message());
      c.need = {{"pipeline_manifest", 1}};
      setCheck(r, c);
    } else {
      auto diffs = manifestDifferences((*pipeModel)->manifest(), *loaded->targetManifest);
      res["compatibility"] = {{"compatible", diffs.empty()}, {"differences", diffs}};
      setCheck(r, makeCheck("rollback.compatible", diffs.empty() ? Outcome::Pass : Outcome::Fail,
                            diffs.empty()
                                ? "target " + describe(*target) + " takes the same input (shape, dtype, colour) and "
                                  "gives the same labels as " + describe(pipelineEntry)
                                : "target " + describe(*target) + " is incompatible with " + describe(pipelineEntry) +
                                  " (target vs now): " + join(diffs, "; ")));
    }
  }

  // rollback.rto
  std::vector<double> rto, firstAns;
  std::map<std::string, std::vector<double>> steps;
  const RunResult* failedLate = nullptr;
  for (const auto& rr : runs) {
    if (rr.completed) {
      rto.push_back(rr.rtoMs);
      firstAns.push_back(rr.firstAnswerMs);
      for (const auto& [k, v] : rr.steps) steps[k].push_back(v);
    } else if (!failedLate && rr.failedStep != "choose" && rr.failedStep != "verify") {
      failedLate = &rr;
    }
  }
  const double objective = cfg.rollback.rtoObjectiveMs;
  {
    nlohmann::json samplesJ = rto;
    double med = median(rto), p95 = quantile(rto, 0.95);
    res["rto_ms"] = {{"median", num(med)}, {"p95", num(p95)},
                     {"min", num(rto.empty() ? NAN : *std::min_element(rto.begin(), rto.end()))},
                     {"max", num(rto.empty() ? NAN : *std::max_element(rto.begin(), rto.end()))},
                     {"samples", samplesJ}, {"n", rto.size()}, {"objective", objective},
                     {"definition", "decision to the restored model's first answer checked against its golden "
                                    "outputs, with the pointer flipped: the sum of the seven steps"},
                     {"p95_method", "nearest rank; with fewer than 20 samples p95 is the maximum"}};
    res["time_to_first_answer_ms"] = {{"median", num(median(firstAns))}, {"samples", firstAns}};
    nlohmann::json stepMed = nlohmann::json::object(), share = nlohmann::json::object();
    double sum = 0;
    for (const auto& s : drillSteps()) sum += steps.count(s) ? median(steps[s]) : 0;
    for (const auto& s : drillSteps()) {
      double m = steps.count(s) ? median(steps[s]) : NAN;
      stepMed[s] = num(m);
      share[s] = std::isfinite(m) && sum > 0 ? nlohmann::json(m / sum) : nlohmann::json(nullptr);
    }
    res["steps_ms"] = stepMed;
    res["steps_share"] = share;
    Check c;
    c.id = "rollback.rto";
    c.threshold = objective;
    c.unit = "ms";
    if (failedLate) {
      c.status = Outcome::Fail;
      c.message = "the rollback failed at step " + failedLate->failedStep + ": " + failedLate->message;
    } else if (rto.empty()) {
      c.status = Outcome::Inconclusive;
      c.message = "not measured: no rollback target could be restored";
      c.need = {{"completed_drills", drillsRun}};
    } else {
      // The claim is "RTO p95 < objective": judged on the p95's one-sided
      // upper confidence bound (an order statistic), not on a few drills' max.
      std::vector<double> sorted = rto;
      std::sort(sorted.begin(), sorted.end());
      const double conf = cfg.objectives.confidence;
      const auto q = stats::quantileCI(sorted, 0.95, 2.0 * conf - 1.0);
      c.value = p95;
      if (std::isfinite(q.lo) || std::isfinite(q.hi)) c.ci = std::make_pair(q.lo, q.hi);
      const std::string bound = std::isfinite(q.hi) ? fmtNum(q.hi, 1) + " ms" : std::string("none yet");
      const std::string fig = "RTO p95 " + fmtNum(p95, 1) + " ms (median " + fmtNum(med, 1) + " ms, " +
                              std::to_string(rto.size()) + " drills" +
                              (stoppedByTime ? " of " + std::to_string(repeats) + " planned, stopped by the " +
                                                   fmtNum(budgetS, 0) + " s time budget"
                                             : std::string()) +
                              "; one-sided " + fmtNum(100 * conf, 0) + " % upper bound " + bound + ")";
      if (rto.size() < static_cast<std::size_t>(drillsRun)) {
        c.status = Outcome::Fail;
        c.message = fig + "; but " + std::to_string(static_cast<std::size_t>(drillsRun) - rto.size()) + " of " +
                    std::to_string(drillsRun) + " drills did not complete";
      } else if (std::isfinite(q.hi) && q.hi < objective) {
        c.status = Outcome::Pass;
        c.message = fig + " < " + fmtNum(objective, 0) + " ms objective";
      } else if (std::isfinite(q.lo) && q.lo >= objective) {
        c.status = Outcome::Fail;
        c.message = fig + ": even its lower bound " + fmtNum(q.lo, 1) + " ms >= " + fmtNum(objective, 0) + " ms objective";
      } else {
        c.status = Outcome::Inconclusive;
        const std::size_t need = std::isfinite(q.hi) ? stats::samplesToDecide(sorted, 0.95, 2.0 * conf - 1.0, objective)
                                                     : stats::samplesForUpperBound(0.95, 2.0 * conf - 1.0);
        c.need = {{"drills", need}};
        c.message = fig + ": not settled against the " + fmtNum(objective, 0) + " ms objective; about " +
                    std::to_string(need) + " drills would settle it ([rollback] drill_repeats" +
                    (stoppedByTime ? ", and a time budget that fits them: [rollback] time_budget_s" : "") + ")";
      }
    }
    setCheck(r, c);
  }

  // rollback.golden
  {
    Check c;
    c.id = "rollback.golden";
    c.threshold = cfg.golden.tolerance;
    c.unit = "max abs diff";
    const RunResult* worst = nullptr;
    bool anyCmp = false, allWithin = true, firstOk = true;
    std::string problem;
    bool recordedMissing = false;
    for (const auto& rr : runs) {
      if (!rr.target || rr.failedStep == "choose" || rr.failedStep == "verify" || rr.failedStep == "load") continue;
      if (!rr.goldenRecorded) recordedMissing = true;
      if (!rr.goldenProblem.empty() && problem.empty()) problem = rr.goldenProblem;
      if (rr.cmp) {
        anyCmp = true;
        if (!worst || !worst->cmp || !(rr.cmp->maxAbsDiff <= worst->cmp->maxAbsDiff)) worst = &rr;
        if (!rr.goldenWithin) allWithin = false;
      }
      if (rr.firstAnswerChecked && !rr.firstAnswerCorrect) firstOk = false;
    }
    if (worst) {
      res["golden"] = toJson(*worst->cmp);
      res["first_answer"] = {{"correct", worst->firstAnswerCorrect}, {"top1", worst->firstTop1},
                             {"expected_top1", worst->expectedTop1}};
    } else {
      res["golden"] = nullptr;
    }
    res["golden_tolerance"] = cfg.golden.tolerance;
    if (anyCmp && std::isfinite(worst->cmp->maxAbsDiff)) c.value = worst->cmp->maxAbsDiff;
    if (!anyCmp && recordedMissing) {
      c.status = Outcome::Inconclusive;
      c.message = "no golden outputs recorded for the target; record them by staging it again with model-registry stage";
      c.need = {{"golden_outputs", 1}};
    } else if (!anyCmp && !problem.empty()) {
      c.status = Outcome::Inconclusive;
      c.message = "cannot compare with the recorded golden outputs: " + problem;
      c.need = {{"golden_outputs", 1}};
    } else if (!anyCmp) {
      c.status = Outcome::Inconclusive;
      c.message = "not measured: no rollback target could be loaded";
      c.need = {{"loadable_target", 1}};
    } else {
      const auto& cm = *worst->cmp;
      const std::string fig = std::to_string(cm.n) + " golden samples: max abs diff " +
                              (std::isfinite(cm.maxAbsDiff) ? fmtNum(cm.maxAbsDiff, 6) : std::string("inf")) +
                              ", top-1 agreement " + fmtNum(cm.top1Agreement, 3) +
                              (cm.bitIdentical ? ", bit-identical" : "");
      if (allWithin && firstOk) {
        c.status = Outcome::Pass;
        c.message = "restored target reproduces its golden outputs: " + fig + " <= tolerance " +
                    fmtNum(cfg.golden.tolerance, 6);
      } else {
        c.status = Outcome::Fail;
        c.message = "restored target does NOT reproduce its golden outputs: " + fig + " (tolerance " +
                    fmtNum(cfg.golden.tolerance, 6) + ", failed requests " + std::to_string(cm.failedB) + ")" +
                    (firstOk ? "" : "; its first answer was wrong");
      }
    }
    setCheck(r, c);
  }

  // rollback.disk
  {
    std::uintmax_t size = 0;
    std::error_code ec;
    if (target) size = fs::file_size(base->objectPath(target->sha256), ec);
    if (ec) size = 0;
    DiskInfo d = diskFor(ctx.stateDir, snap.realRegistryDir, cfg.rollback.minFreeBytes, size);
    Check c;
    c.id = "rollback.disk";
    c.unit = "bytes";
    if (!d.ok) {
      c.status = Outcome::Inconclusive;
      c.message = d.error;
      c.need = {{"statvfs", 1}};
    } else {
      c.value = d.freeBytes;
      c.threshold = d.needBytes;
      c.status = d.freeBytes >= d.needBytes ? Outcome::Pass : Outcome::Fail;
      c.message = fmtBytes(d.freeBytes) + " free on '" + d.path + "' " + (c.status == Outcome::Pass ? ">=" : "<") +
                  " " + fmtBytes(d.needBytes) + " needed (min_free_bytes " + fmtBytes(double(cfg.rollback.minFreeBytes)) +
                  " + target " + fmtBytes(double(size)) + ")";
      res["disk"] = {{"path", d.path}, {"free_bytes", d.freeBytes}, {"need_bytes", d.needBytes}};
    }
    setCheck(r, c);
  }

  // Fault injection: one more run in its own sandbox, with the fault.
  if (!fault.empty()) {
    std::optional<Entry> intended = target;
    if (!intended) {
      auto t = base->rollbackTarget();
      if (t) intended = *t;
    }
    FaultResult fr;
    if (!intended) {
      fr.fault = fault;
      fr.check = "rollback.fault";
      fr.message = "injected fault '" + fault + "': not applied: there is no rollback target to damage";
    } else {
      spdlog::info("drill with injected fault '{}'", fault);
      fr = runFault(fault, snap, *intended, in);
    }
    nlohmann::json fj{{"fault", fr.fault}, {"detected", fr.detected}, {"message", fr.message}};
    if (fr.recovered) fj["recovered"] = *fr.recovered;
    res["faults"].push_back(fj);
    if (fr.check == "rollback.target") {
      Check* t = findCheckMut(r, "rollback.target");
      if (t) {
        t->status = Outcome::Fail;
        t->message = fr.message;
      }
    }
    setCheck(r, makeCheck("rollback.fault", Outcome::Fail,
                          fr.message + (fr.detected ? "" : " -- the drill missed an injected fault") +
                              " (a drill with an injected fault never passes; unset inject_fault for readiness)"));
  }
  finishIntact();
  return r;
}

std::string renderPlaybook(const ToolContext& ctx, const Report& r) {
  const auto& res = r.results;
  const std::string pre = cmdPrefix(ctx);
  auto entryLine = [](const nlohmann::json& e) {
    if (!e.is_object()) return std::string("none");
    return "`" + e.value("name", std::string()) + "` " + e.value("version", std::string()) + " — sha256 `" +
           e.value("sha256", std::string()) + "`, staged " + e.value("staged_at", std::string());
  };
  std::string md;
  md += "# Rollback runbook\n\n";
  md += "Generated by simulate-rollback for cycle `" + r.cycleId + "` at " + r.finishedAt +
        " from the registry in `" + ctx.stateDir + "/registry`. Drill status: **" + toString(r.status) + "**.\n\n";
  md += "## Deployment now\n\n";
  const auto& reg = res.contains("registry") ? res["registry"] : nlohmann::json();
  if (!reg.is_object()) {
    md += "The registry is empty: there is no current model. Adopt the production model first:\n\n"
          "```sh\nmodel-registry init " + pre + " " +
          (ctx.config.models.current.empty() ? std::string("MODEL") : ctx.config.models.current) + "\n```\n\n";
  } else {
    md += "- Current (what `current.pt` points at): " + entryLine(reg["current"]) + "\n";
    md += "- Staged candidate: " + entryLine(reg["candidate"]) + "\n";
    md += "- Known-good models, newest first (rollback targets):\n";
    if (reg["previous"].empty()) md += "  - none yet\n";
    for (const auto& e : reg["previous"]) md += "  - " + entryLine(e) + "\n";
    md += "\n";
  }
  md += "## Roll back by hand\n\n";
  const auto& tgt = res.contains("target") ? res["target"] : nlohmann::json();
  if (res.value("scenario", std::string()) == "after-go")
    md += "There is no known-good model yet. After the staged candidate is deployed (GO), the model to roll back to "
          "is today's current model, and these commands restore it.\n\n";
  md += "1. Check the registry and see which model a rollback will restore:\n\n```sh\nmodel-registry status " + pre +
        " --format text\nmodel-registry verify " + pre + "\n```\n\n";
  md += "2. Roll back to the newest verified known-good model (the registry refuses a target whose bytes do not "
        "match its sha256):\n\n```sh\nmodel-registry rollback " + pre + " --cycle manual-$(date -u +%Y%m%dT%H%MZ)\n```\n\n";
  if (tgt.is_object())
    md += "   or name the target explicitly:\n\n```sh\nmodel-registry rollback " + pre + " --to " +
          tgt.value("sha256", std::string()) + "\n```\n\n";
  md += "   Exit 75 means another process holds the registry lock: wait and run it again.\n\n";
  md += "3. Restart or reload the service so that it loads `" + ctx.stateDir + "/registry/current.pt`.\n\n";
  md += "4. Verify: `model-registry verify " + pre + "` exits 0, `model-registry status " + pre +
        " --format text` shows the target as current, and `readlink " + ctx.stateDir +
        "/registry/current.pt` names its object. Re-run the drill: `simulate-rollback " + pre + "`.\n\n";
  md += "5. If the rollback was interrupted (crash, kill), any `model-registry` command finishes or undoes it first; "
        "`model-registry status` then shows a `recover` entry in the history.\n\n";
  md += "## Measured recovery time\n\n";
  if (res.contains("rto_ms") && res["rto_ms"]["n"].get<int>() > 0) {
    const auto& rto = res["rto_ms"];
    md += "RTO (decision to the restored model's first golden-checked answer, pointer flipped), " +
          std::to_string(rto["n"].get<int>()) + " sandbox drills: median **" +
          fmtNum(rto["median"].get<double>(), 1) + " ms**, p95 **" + fmtNum(rto["p95"].get<double>(), 1) +
          " ms** (objective " + fmtNum(rto["objective"].get<double>(), 0) + " ms; " +
          rto["p95_method"].get<std::string>() + ").\n\n| step | median ms | share |\n|---|---:|---:|\n";
    for (const auto& s : drillSteps()) {
      const auto& m = res["steps_ms"][s];
      const auto& sh = res["steps_share"][s];
      md += "| " + s + " | " + (m.is_number() ? fmtNum(m.get<double>(), 2) : "-") + " | " +
            (sh.is_number() ? fmtNum(100 * sh.get<double>(), 1) + " %" : "-") + " |\n";
    }
    md += "\n";
  } else {
    md += "Not measured: no drill completed (see the checks below).\n\n";
  }
  md += "## Guardrails\n\n| check | status | message |\n|---|---|---|\n";
  for (const auto& c : r.checks) {
    std::string msg = c.message;
    std::replace(msg.begin(), msg.end(), '|', '/');
    md += "| " + c.id + " | " + toString(c.status) + " | " + msg + " |\n";
  }
  return md;
}

Expected<int> finishDrill(const ToolContext& ctx, Report& r, const DrillOptions& opts) {
  if (opts.format != "md") return finishReport(ctx, r);
  return finishReport(ctx, r, [&ctx](const Report& rep) { return renderPlaybook(ctx, rep); });
}

}  // namespace cvgate

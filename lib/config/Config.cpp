#include "config/Config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <type_traits>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "common/Fs.h"
#include "common/Install.h"
#include "common/Sha256.h"
#include "common/Strings.h"

namespace cvgate {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDataDirVar = "${datadir}";

std::string where(const std::string& file, const toml::source_region& src) {
  return "'" + file + "' line " + std::to_string(src.begin.line);
}

/// Binds the keys of one table to struct fields and remembers the first error.
class Section {
 public:
  Section(const toml::table* t, const std::string& file, std::string name, std::string baseDir,
          std::optional<Error>* err)
      : t_(t), file_(file), name_(std::move(name)), baseDir_(std::move(baseDir)), err_(err) {}

  template <class T>
  Section& get(const char* key, T& out) {
    known_.push_back(key);
    const toml::node* n = t_ ? t_->get(key) : nullptr;
    if (!n || *err_) return *this;
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = n->value_exact<bool>()) out = *v; else fail(*n, key, "a boolean");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = n->value_exact<std::string>()) out = *v; else fail(*n, key, "a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      // nan and inf are TOML numbers, but no setting of cvgate means them: an
      // objective of nan can neither pass nor fail, an infinite wait never ends.
      if (!n->is_number()) fail(*n, key, "a number");
      else if (!std::isfinite(*n->value<double>())) fail(*n, key, "a finite number (not nan or inf)");
      else out = static_cast<T>(*n->value<double>());
    } else {
      static_assert(std::is_integral_v<T>);
      auto v = n->value_exact<std::int64_t>();
      if (!v) fail(*n, key, "an integer");
      else if (*v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
               (*v > 0 && static_cast<std::uint64_t>(*v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
        fail(*n, key, "an integer in range");
      else out = static_cast<T>(*v);
    }
    return *this;
  }

  /// An array of strings (an absent key leaves `out` as it is).
  Section& strings(const char* key, std::vector<std::string>& out) {
    known_.push_back(key);
    const toml::node* n = t_ ? t_->get(key) : nullptr;
    if (!n || *err_) return *this;
    const toml::array* a = n->as_array();
    if (!a) { fail(*n, key, "an array of strings"); return *this; }
    std::vector<std::string> v;
    for (const auto& e : *a) {
      auto str = e.value_exact<std::string>();
      if (!str) { fail(e, key, "an array of strings"); return *this; }
      v.push_back(*str);
    }
    out = std::move(v);
    return *this;
  }

  /// A path: resolved against the config file's directory when relative, and
  /// against the installation's data directory when it starts with ${datadir}.
  /// Control characters (a newline would split a line-based reader's values)
  /// are refused.
  Section& path(const char* key, std::string& out) {
    std::string before = out;
    get(key, out);
    if (out != before && std::any_of(out.begin(), out.end(), [](char ch) {
          return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
        })) {
      require(key, false, "a path without control characters (newline, tab, ...)");
      out = before;
      return *this;
    }
    if (out != before && out.rfind("${", 0) == 0) {
      // ${datadir}: the data directory of the running tool's installation,
      // so that the installed config names the installed models wherever
      // the install was put (lib/common/Install.h).
      if (out.rfind(kDataDirVar, 0) != 0 || (out.size() > kDataDirVar.size() && out[kDataDirVar.size()] != '/')) {
        require(key, false, "a path, or one that starts with " + std::string(kDataDirVar) + "/");
        out = before;
        return *this;
      }
      out = fs::path(installLayout().dataDir + out.substr(kDataDirVar.size())).lexically_normal().string();
    }
    if (!out.empty() && out != before && fs::path(out).is_relative())
      out = (fs::path(baseDir_) / out).lexically_normal().string();
    return *this;
  }

  /// A constraint on a value already read.
  Section& require(const char* key, bool ok, const std::string& expected) {
    if (!ok && !*err_) {
      const toml::node* n = t_ ? t_->get(key) : nullptr;
      std::string loc = n ? where(file_, n->source()) : "'" + file_ + "'";
      *err_ = badInput(loc + ": key '" + qualified(key) + "': expected " + expected);
    }
    return *this;
  }

  /// Any key in the table that no get() asked for is an error.
  void finish() {
    if (!t_ || *err_) return;
    for (const auto& [k, v] : *t_) {
      std::string key(k.str());
      if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        *err_ = badInput(where(file_, v.source()) + ": unknown key '" + qualified(key) + "'" +
                         didYouMean(key, known_));
        return;
      }
    }
  }

 private:
  std::string qualified(const std::string& key) const {
    return name_.empty() ? key : name_ + "." + key;
  }
  void fail(const toml::node& n, const char* key, const char* expected) {
    *err_ = badInput(where(file_, n.source()) + ": key '" + qualified(key) + "': expected " +
                     expected);
  }

  const toml::table* t_;
  const std::string& file_;
  std::string name_;
  std::string baseDir_;
  std::optional<Error>* err_;
  std::vector<std::string> known_;
};

/// A partition or account name: one sbatch argument, no option, no spaces.
bool isSbatchWord(const std::string& s) {
  if (!s.empty() && s[0] == '-') return false;
  return std::none_of(s.begin(), s.end(), [](char ch) {
    return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f;
  });
}

/// Why an [engine] sbatch_options element cannot be passed to sbatch ("" if
/// it can): not an option, a control character, or an option the heartbeat
/// sets itself for each job of the graph.
std::string sbatchOptionProblem(const std::string& o) {
  if (o.size() < 2 || o[0] != '-') return "is not an option (write an option and its value as one string)";
  if (std::any_of(o.begin(), o.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
    return "has a control character";
  static const std::set<std::string> owned = {
      "--array", "--dependency", "--job-name", "--output", "--error", "--time", "--parsable", "--wait",
      "--wrap", "--chdir", "--kill-on-invalid-dep", "--requeue", "--no-requeue",
      "-a", "-d", "-J", "-o", "-e", "-t", "-W", "-D"};
  std::string name = o[1] == '-' ? o.substr(0, o.find('=')) : o.substr(0, 2);
  if (owned.count(name)) return "is set by the heartbeat for each job";
  return "";
}

Expected<Config> parseConfigText(const std::string& text, const std::string& path);

}  // namespace

Expected<Config> parseConfig(const std::string& text, const std::string& path) {
  // Every refusal is one line: a quoted TOML key or value can hold a newline
  // (an escaped "\n" in "key\nname" = 1), and messages quote keys and values.
  auto c = parseConfigText(text, path);
  if (!c.ok()) return Error(oneLine(c.error().message()), c.error().kind());
  return c;
}

namespace {

Expected<Config> parseConfigText(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return badInput("'" + path + "' line " + std::to_string(e.source().begin.line) + ": " +
                    oneLine(std::string(e.description())));
  }
  Config c;
  c.path = path;
  c.sha256 = sha256Hex(text);
  // Relative paths in the file are anchored at the file's own directory,
  // made absolute so that they mean the same from any working directory.
  std::error_code ec;
  std::string base = fs::absolute(fs::path(path), ec).parent_path().lexically_normal().string();
  if (ec || base.empty()) base = ".";
  c.stateDir = (fs::path(base) / ".." / "var").lexically_normal().string();

  std::optional<Error> err;
  const std::vector<std::string> sections = {"objectives", "models", "dataset", "calibration", "runtime",
                                             "golden", "latency", "compliance", "env",
                                             "integration", "rollback", "decision",
                                             "heartbeat", "engine", "feeds", "limits"};
  // Top level: state_dir and the section tables.
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (key == "state_dir") continue;
    if (std::find(sections.begin(), sections.end(), key) == sections.end()) {
      std::vector<std::string> all = sections;
      all.push_back("state_dir");
      return badInput(where(path, v.source()) + ": unknown key '" + key + "'" +
                      didYouMean(key, all));
    }
    if (!v.is_table())
      return badInput(where(path, v.source()) + ": key '" + key + "': expected a table [" + key + "]");
  }
  Section(&root, path, "", base, &err).path("state_dir", c.stateDir);
  auto tbl = [&](const char* name) { return root.get_as<toml::table>(name); };

  {
    auto& o = c.objectives;
    Section s(tbl("objectives"), path, "objectives", base, &err);
    s.get("p95_latency_ms", o.p95LatencyMs).require("p95_latency_ms", o.p95LatencyMs > 0, "a positive number of ms")
     .get("max_error_rate", o.maxErrorRate).require("max_error_rate", o.maxErrorRate > 0 && o.maxErrorRate < 1, "a fraction in (0, 1)")
     .get("min_compliance_uplift", o.minComplianceUplift)
     .get("min_throughput_rps", o.minThroughputRps).require("min_throughput_rps", o.minThroughputRps > 0, "a positive rate")
     .get("confidence", o.confidence).require("confidence", o.confidence > 0.5 && o.confidence < 1, "a level in (0.5, 1)");
    s.finish();
  }
  {
    auto& m = c.models;
    Section s(tbl("models"), path, "models", base, &err);
    s.path("current", m.current).path("candidate", m.candidate)
     .get("current_sha256", m.currentSha256).get("candidate_sha256", m.candidateSha256);
    s.finish();
  }
  {
    auto& d = c.dataset;
    Section s(tbl("dataset"), path, "dataset", base, &err);
    s.get("format", d.format).require("format", d.format == "idx" || d.format == "imagefolder" || d.format == "list",
                                      "\"idx\", \"imagefolder\" or \"list\"")
     .path("images", d.images).path("labels", d.labels).path("root", d.root).path("list", d.list)
     .require("list", d.format != "list" || !d.list.empty(), "the list file for format = \"list\"")
     .get("limit", d.limit).require("limit", d.limit >= 0, "a count >= 0");
    s.finish();
  }
  if (const toml::table* t = tbl("calibration")) {
    auto& k = c.calibration;
    k.enabled = true;
    auto& d = k.data;
    Section s(t, path, "calibration", base, &err);
    s.get("format", d.format).require("format", d.format == "idx" || d.format == "imagefolder" || d.format == "list",
                                      "\"idx\", \"imagefolder\" or \"list\"")
     .path("images", d.images).path("labels", d.labels).path("root", d.root).path("list", d.list)
     .require("list", d.format != "list" || !d.list.empty(), "the list file for format = \"list\"")
     .get("limit", d.limit).require("limit", d.limit >= 0, "a count >= 0")
     .get("count", k.count).require("count", k.count >= 1, "at least 1")
     .get("held_out", k.heldOut).require("held_out", k.heldOut >= 1, "at least 1");
    s.finish();
  }
  {
    auto& r = c.runtime;
    Section s(tbl("runtime"), path, "runtime", base, &err);
    s.get("intra_op_threads", r.intraOpThreads).require("intra_op_threads", r.intraOpThreads >= 1, "at least 1")
     .get("inter_op_threads", r.interOpThreads).require("inter_op_threads", r.interOpThreads >= 1, "at least 1")
     .get("batch_size", r.batchSize).require("batch_size", r.batchSize >= 1, "at least 1")
     .get("top_k", r.topK).require("top_k", r.topK >= 1, "at least 1")
     .get("layout", r.layout).require("layout", r.layout == "auto" || r.layout == "contiguous" || r.layout == "channels-last",
                                      "\"auto\", \"contiguous\" or \"channels-last\"");
    s.finish();
  }
  {
    auto& g = c.golden;
    Section s(tbl("golden"), path, "golden", base, &err);
    s.get("offset", g.offset).require("offset", g.offset >= 0, "an index >= 0")
     .get("count", g.count).require("count", g.count >= 1, "at least 1")
     .get("tolerance", g.tolerance).require("tolerance", g.tolerance >= 0, "a number >= 0");
    s.finish();
  }
  {
    auto& l = c.latency;
    Section s(tbl("latency"), path, "latency", base, &err);
    s.get("scenario", l.scenario)
     .require("scenario", l.scenario == "single-stream" || l.scenario == "server" || l.scenario == "offline" || l.scenario == "all",
              "one of \"single-stream\", \"server\", \"offline\", \"all\"")
     .get("offered_rps", l.offeredRps).require("offered_rps", l.offeredRps >= 0, "a rate >= 0 (0: the throughput objective)")
     .get("duration_s", l.durationS).require("duration_s", l.durationS > 0, "a positive number of seconds")
     .get("min_samples", l.minSamples).require("min_samples", l.minSamples >= 1, "at least 1")
     .get("search_min_samples", l.searchMinSamples).require("search_min_samples", l.searchMinSamples >= 1, "at least 1")
     .get("workers", l.workers).require("workers", l.workers >= 1, "at least 1")
     .get("max_batch", l.maxBatch).require("max_batch", l.maxBatch >= 1, "at least 1")
     .get("batch_window_ms", l.batchWindowMs).require("batch_window_ms", l.batchWindowMs >= 0, "a number >= 0")
     .get("deadline_ms", l.deadlineMs).require("deadline_ms", l.deadlineMs > 0, "a positive number of ms")
     .get("warmup_max_s", l.warmupMaxS).require("warmup_max_s", l.warmupMaxS >= 0, "a number >= 0")
     .get("search_throughput", l.searchThroughput)
     .get("sweep", l.sweep)
     .get("profile_operators", l.profileOperators)
     .path("chrome_trace", l.chromeTrace)
     .get("patch_margin", l.patchMargin).require("patch_margin", l.patchMargin >= 0, "a fraction >= 0")
     .get("seed", l.seed)
     .get("max_issue_delay_ms", l.maxIssueDelayMs).require("max_issue_delay_ms", l.maxIssueDelayMs > 0, "a positive number of ms")
     .get("search_duration_s", l.searchDurationS).require("search_duration_s", l.searchDurationS > 0, "a positive number of seconds")
     .get("search_steps", l.searchSteps).require("search_steps", l.searchSteps >= 0 && l.searchSteps <= 20, "a count in 0..20")
     .get("bisect_steps", l.bisectSteps).require("bisect_steps", l.bisectSteps >= 0 && l.bisectSteps <= 20, "a count in 0..20")
     .get("search_resolution", l.searchResolution)
     .require("search_resolution", l.searchResolution >= 1.01 && l.searchResolution <= 2.0,
              "a ratio in 1.01..2 (the bisection stops when the capacity bracket's top over its bottom is at most this)")
     .get("search_repeats", l.searchRepeats).require("search_repeats", l.searchRepeats >= 0 && l.searchRepeats <= 5, "a count in 0..5")
     .get("inputs", l.inputs).require("inputs", l.inputs >= 1, "at least 1")
     .get("min_variant_agreement", l.minVariantAgreement).require("min_variant_agreement", l.minVariantAgreement >= 0 && l.minVariantAgreement <= 1, "a fraction in [0, 1]")
     .get("top_operators", l.topOperators).require("top_operators", l.topOperators >= 1, "at least 1")
     .get("profile_iterations", l.profileIterations).require("profile_iterations", l.profileIterations >= 1, "at least 1")
     .get("time_budget_s", l.timeBudgetS).require("time_budget_s", l.timeBudgetS >= 0, "seconds >= 0 (0: 80 % of [heartbeat] profile_latency_timeout_s)");
    s.finish();
  }
  {
    auto& m = c.compliance;
    Section s(tbl("compliance"), path, "compliance", base, &err);
    s.get("threshold", m.threshold).require("threshold", m.threshold >= 0 && m.threshold <= 1, "a confidence in [0, 1]")
     .get("ece_bins", m.eceBins).require("ece_bins", m.eceBins >= 1, "at least 1")
     .get("bootstrap_resamples", m.bootstrapResamples).require("bootstrap_resamples", m.bootstrapResamples >= 100, "at least 100")
     .get("seed", m.seed)
     .get("calibration_fraction", m.calibrationFraction).require("calibration_fraction", m.calibrationFraction > 0 && m.calibrationFraction < 1, "a fraction in (0, 1)")
     .get("min_per_class", m.minPerClass).require("min_per_class", m.minPerClass >= 1, "at least 1")
     .get("temperature_margin", m.temperatureMargin).require("temperature_margin", m.temperatureMargin >= 0, "a number >= 0")
     .get("batch_size", m.batchSize).require("batch_size", m.batchSize >= 1, "at least 1")
     .get("regressions_listed", m.regressionsListed).require("regressions_listed", m.regressionsListed >= 0, "a count >= 0")
     .get("max_samples", m.maxSamples).require("max_samples", m.maxSamples >= 0, "a count >= 0 (0: all)")
     .get("time_budget_s", m.timeBudgetS).require("time_budget_s", m.timeBudgetS >= 0, "seconds >= 0 (0: 80 % of [heartbeat] eval_compliance_timeout_s)")
     .get("slice_gate", m.sliceGate)
     .get("slice_min_samples", m.sliceMinSamples).require("slice_min_samples", m.sliceMinSamples >= 1, "at least 1")
     .get("slice_min_uplift", m.sliceMinUplift).require("slice_min_uplift", m.sliceMinUplift > -1, "a relative uplift > -1");
    s.finish();
  }
  {
    auto& e = c.env;
    Section s(tbl("env"), path, "env", base, &err);
    s.get("lock_file", e.lockFile).get("determinism", e.determinism);
    s.finish();
  }
  {
    auto& i = c.integration;
    Section s(tbl("integration"), path, "integration", base, &err);
    s.get("blocking_risk", i.blockingRisk).require("blocking_risk", i.blockingRisk >= 1 && i.blockingRisk <= 25, "a score in 1..25")
     .get("high_risk", i.highRisk).get("medium_risk", i.mediumRisk)
     .get("min_top1_agreement", i.minTop1Agreement)
     .require("high_risk", i.highRisk >= 1 && i.highRisk <= 25, "a score in 1..25")
     .require("medium_risk", i.mediumRisk >= 1 && i.mediumRisk <= i.highRisk, "a score in 1..high_risk")
     .require("min_top1_agreement", i.minTop1Agreement >= 0 && i.minTop1Agreement <= 1, "a fraction in [0, 1]")
     .get("behaviour_samples", i.behaviourSamples).require("behaviour_samples", i.behaviourSamples >= 0, "a count >= 0 (0: the golden set)")
     .get("prob_sum_tolerance", i.probSumTolerance).require("prob_sum_tolerance", i.probSumTolerance > 0, "a positive number");
    s.finish();
  }
  {
    auto& r = c.rollback;
    Section s(tbl("rollback"), path, "rollback", base, &err);
    s.get("keep_known_good", r.keepKnownGood).require("keep_known_good", r.keepKnownGood >= 1, "at least 1")
     .get("drill_repeats", r.drillRepeats).require("drill_repeats", r.drillRepeats >= 1, "at least 1")
     .get("time_budget_s", r.timeBudgetS).require("time_budget_s", r.timeBudgetS >= 0, "seconds >= 0 (0: 80 % of [heartbeat] simulate_rollback_timeout_s)")
     .get("rto_objective_ms", r.rtoObjectiveMs).require("rto_objective_ms", r.rtoObjectiveMs > 0, "a positive number of ms")
     .get("inject_fault", r.injectFault)
     .require("inject_fault", r.injectFault.empty() || r.injectFault == "none" || r.injectFault == "corrupt-target" ||
                                  r.injectFault == "missing-target" || r.injectFault == "truncated-state" ||
                                  r.injectFault == "crash-between-steps",
              "none, corrupt-target, missing-target, truncated-state or crash-between-steps")
     .get("min_free_bytes", r.minFreeBytes).require("min_free_bytes", r.minFreeBytes >= 0, "a number of bytes >= 0")
     .get("warmup_runs", r.warmupRuns).require("warmup_runs", r.warmupRuns >= 0, "a count >= 0")
     .path("sandbox_dir", r.sandboxDir)
     .get("lock_timeout_ms", r.lockTimeoutMs).require("lock_timeout_ms", r.lockTimeoutMs >= 0, "a number of ms >= 0");
    s.finish();
  }
  {
    auto& d = c.decision;
    Section s(tbl("decision"), path, "decision", base, &err);
    s.get("consecutive_passes_for_go", d.consecutivePassesForGo).require("consecutive_passes_for_go", d.consecutivePassesForGo >= 1, "at least 1")
     .get("consecutive_fails_for_rollback", d.consecutiveFailsForRollback).require("consecutive_fails_for_rollback", d.consecutiveFailsForRollback >= 1, "at least 1")
     .get("breach_confidence", d.breachConfidence).require("breach_confidence", d.breachConfidence >= 0.5 && d.breachConfidence < 1, "a level in [0.5, 1)")
     .get("max_cycle_gap_s", d.maxCycleGapS).require("max_cycle_gap_s", d.maxCycleGapS > 0, "a positive number of seconds")
     .get("error_budget_window_h", d.errorBudgetWindowH).require("error_budget_window_h", d.errorBudgetWindowH > 0, "a positive number of hours")
     .get("block_go_on_exhausted_budget", d.blockGoOnExhaustedBudget)
     .get("max_report_age_s", d.maxReportAgeS).require("max_report_age_s", d.maxReportAgeS > 0, "a positive number of seconds")
     .get("registry_lock_timeout_s", d.registryLockTimeoutS).require("registry_lock_timeout_s", d.registryLockTimeoutS >= 0, "a number of seconds >= 0");
    s.finish();
  }
  {
    auto& h = c.heartbeat;
    Section s(tbl("heartbeat"), path, "heartbeat", base, &err);
    const char* positive = "a positive number of seconds (0 would mean no timeout)";
    s.get("verify_env_timeout_s", h.verifyEnvTimeoutS).require("verify_env_timeout_s", h.verifyEnvTimeoutS >= 1, positive)
     .get("profile_latency_timeout_s", h.profileLatencyTimeoutS).require("profile_latency_timeout_s", h.profileLatencyTimeoutS >= 1, positive)
     .get("eval_compliance_timeout_s", h.evalComplianceTimeoutS).require("eval_compliance_timeout_s", h.evalComplianceTimeoutS >= 1, positive)
     .get("check_integration_timeout_s", h.checkIntegrationTimeoutS).require("check_integration_timeout_s", h.checkIntegrationTimeoutS >= 1, positive)
     .get("simulate_rollback_timeout_s", h.simulateRollbackTimeoutS).require("simulate_rollback_timeout_s", h.simulateRollbackTimeoutS >= 1, positive)
     .get("decide_timeout_s", h.decideTimeoutS).require("decide_timeout_s", h.decideTimeoutS >= 1, positive)
     .get("registry_timeout_s", h.registryTimeoutS).require("registry_timeout_s", h.registryTimeoutS >= 1, positive)
     .get("lock_stale_s", h.lockStaleS).require("lock_stale_s", h.lockStaleS >= 1, positive);
    s.finish();
  }
  {
    auto& e = c.engine;
    Section s(tbl("engine"), path, "engine", base, &err);
    s.get("kind", e.kind).require("kind", e.kind == "local" || e.kind == "slurm", "\"local\" or \"slurm\"")
     .get("partition", e.partition).require("partition", isSbatchWord(e.partition), "a partition name without spaces or control characters")
     .get("account", e.account).require("account", isSbatchWord(e.account), "an account name without spaces or control characters")
     .get("shards", e.shards).require("shards", e.shards >= 1 && e.shards <= 1000, "a shard count in 1..1000")
     .strings("sbatch_options", e.sbatchOptions)
     .get("queue_wait_s", e.queueWaitS).require("queue_wait_s", e.queueWaitS >= 0, "a number of seconds >= 0");
    for (std::size_t i = 0; i < e.sbatchOptions.size(); ++i) {
      std::string why = sbatchOptionProblem(e.sbatchOptions[i]);
      s.require("sbatch_options", why.empty(),
                "sbatch options, one a string (\"--qos=high\"): element " + std::to_string(i + 1) + " '" +
                    oneLine(e.sbatchOptions[i]) + "' " + why);
    }
    s.finish();
  }
  {
    Section s(tbl("feeds"), path, "feeds", base, &err);
    s.get("retain_cycles", c.feeds.retainCycles).require("retain_cycles", c.feeds.retainCycles >= 0, "a count >= 0");
    s.finish();
  }
  {
    auto& l = c.limits;
    double fileMb = static_cast<double>(l.maxFileBytes >> 20), jsonMb = static_cast<double>(l.maxJsonBytes >> 20);
    double mpx = static_cast<double>(l.maxImagePixels >> 20), dataGb = static_cast<double>(l.maxDataBytes >> 30);
    double modelMb = static_cast<double>(l.maxModelBytes >> 20);
    Section s(tbl("limits"), path, "limits", base, &err);
    s.get("max_file_mb", fileMb).require("max_file_mb", fileMb >= 1 && fileMb <= 1 << 20, "MiB in 1..1048576")
     .get("max_json_mb", jsonMb).require("max_json_mb", jsonMb >= 1 && jsonMb <= 1 << 16, "MiB in 1..65536")
     .get("max_json_depth", l.maxJsonDepth).require("max_json_depth", l.maxJsonDepth >= 8 && l.maxJsonDepth <= 10000, "a depth in 8..10000")
     .get("max_image_megapixels", mpx).require("max_image_megapixels", mpx > 0 && mpx <= 4096, "megapixels in (0, 4096]")
     .get("max_data_gb", dataGb).require("max_data_gb", dataGb > 0 && dataGb <= 1024, "GiB in (0, 1024]")
     .get("max_model_mb", modelMb).require("max_model_mb", modelMb >= 1 && modelMb <= 1 << 20, "MiB in 1..1048576")
     .get("model_timeout_s", l.modelTimeoutS).require("model_timeout_s", l.modelTimeoutS > 0 && l.modelTimeoutS <= 86400, "seconds in (0, 86400]");
    s.finish();
    // Only values the checks above accepted are converted: a refused one
    // (negative, say) has no unsigned value, and converting it is undefined.
    if (!err) {
      l.maxFileBytes = static_cast<std::uint64_t>(fileMb * (1 << 20));
      l.maxJsonBytes = static_cast<std::uint64_t>(jsonMb * (1 << 20));
      l.maxImagePixels = static_cast<std::uint64_t>(mpx * (1 << 20));
      l.maxDataBytes = static_cast<std::uint64_t>(dataGb * (1ull << 30));
      l.maxModelBytes = static_cast<std::uint64_t>(modelMb * (1 << 20));
    }
  }
  if (err) return *err;
  if (const char* env = std::getenv("CVGATE_STATE_DIR"); env && *env) c.stateDir = env;
  return c;
}

}  // namespace

Expected<Config> loadConfig(const std::string& path) {
  // The config is read under a fixed cap: [limits] is in it.
  auto text = readFile(path, 4u << 20);
  if (!text.ok()) return text.error().context("config");
  return parseConfig(*text, path);
}

}  // namespace cvgate

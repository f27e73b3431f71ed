// The one TOML configuration of cvgate, parsed into plain structs with their
// defaults in the declaration. Unknown keys and wrong types are errors that
// name the file, line and key. Relative paths in the file are resolved
// against the directory of the file itself; a path that starts with
// ${datadir} against the data directory of the running tool's installation
// (<prefix>/share/cvgate, lib/common/Install.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/Error.h"
#include "common/Limits.h"

namespace cvgate {

/// Service-level objectives (DESIGN.md section 8).
struct Objectives {
  double p95LatencyMs = 500.0;     ///< P95 latency must be below this
  double maxErrorRate = 0.01;      ///< error rate must be below this (fraction)
  double minComplianceUplift = 0.10;///< relative uplift of candidate over baseline, at least
  double minThroughputRps = 100.0; ///< sustained requests/s at the latency objective, at least
  double confidence = 0.95;        ///< confidence level of every interval the gates use
};

/// Which models a cycle looks at.
struct ModelsConfig {
  std::string current;             ///< production model archive (V1)
  std::string candidate;           ///< candidate archive (V2); empty: none staged
  std::string currentSha256;       ///< expected sha256 of current; empty: not pinned
  std::string candidateSha256;     ///< expected sha256 of candidate; empty: not pinned
};

/// The labelled evaluation data.
struct DatasetConfig {
  std::string format = "idx";      ///< "idx", "imagefolder" or "list"
  std::string images;              ///< idx: images file (.gz or plain)
  std::string labels;              ///< idx: labels file (.gz or plain)
  std::string root;                ///< imagefolder: root/<class>/<image>
  std::string list;                ///< list: a CSV or JSON Lines file of path, label[, id][, slice]
  std::int64_t limit = 0;          ///< use only the first N samples; 0 = all
};

/// [calibration]: the data static int8 quantisation calibrates on, never the
/// evaluation data ([dataset]): its first `count` samples calibrate, the next
/// `held_out` judge the quantised model against the float one. Absent: the
/// sweep's int8-static variant is unavailable and says why.
struct CalibrationConfig {
  bool enabled = false;            ///< the section is present
  DatasetConfig data;              ///< format, images, labels, root, list, limit (as [dataset])
  std::int64_t count = 512;        ///< calibration samples
  std::int64_t heldOut = 2000;     ///< held-out samples after them
};

/// How the pipeline runs inside every tool.
struct RuntimeConfig {
  int intraOpThreads = 2;          ///< torch intra-op threads
  int interOpThreads = 1;          ///< torch inter-op threads
  int batchSize = 8;               ///< batch size for batched evaluation
  int topK = 3;                    ///< how many labels postprocess keeps
  std::string layout = "auto";     ///< evaluation input layout: "auto" (timed), "contiguous", "channels-last"
};

/// The golden set: a small fixed subset of the evaluation data.
struct GoldenConfig {
  std::int64_t offset = 0;         ///< first sample index of the golden set
  std::int64_t count = 64;         ///< number of samples
  double tolerance = 1e-4;         ///< max abs diff of probabilities still "the same"
};

struct LatencyConfig {
  std::string scenario = "server"; ///< single-stream | server | offline | all
  double offeredRps = 0.0;         ///< server scenario: offered rate of the gate run; 0: objectives.min_throughput_rps
  double durationS = 4.0;          ///< seconds per measured run
  std::int64_t minSamples = 2000;  ///< the gate run never stops before this many requests (at 100/s: 20 s)
  std::int64_t searchMinSamples = 600; ///< a throughput-search run never stops before this many
  int workers = 2;                 ///< server scenario: worker threads
  int maxBatch = 8;                ///< server scenario: dynamic batching, largest batch
  double batchWindowMs = 2.0;      ///< server scenario: how long a worker waits to fill a batch
  double deadlineMs = 1000.0;      ///< a request slower than this counts as an error
  double warmupMaxS = 3.0;         ///< warm-up ends when latency settles, or after this
  bool searchThroughput = true;    ///< search for the highest rate that meets the objectives
  bool sweep = false;              ///< run the optimisation sweep
  bool profileOperators = true;    ///< operator-level profile of the forward pass
  std::string chromeTrace;         ///< write a Chrome trace here; empty: none
  double patchMargin = 0.10;       ///< relay a patch that beats current by this fraction
  std::uint64_t seed = 1;          ///< seed of the arrival process
  double maxIssueDelayMs = 10.0;   ///< server: generator issue-delay p99 above this makes a run invalid
  double searchDurationS = 1.0;    ///< each throughput-search run: max(min_samples, rate * this) requests
  int searchSteps = 10;            ///< throughput search: at most this many doublings/halvings
  int searchRepeats = 2;           ///< throughput search: repeats of an invalid or inconclusive run
  int bisectSteps = 3;             ///< throughput search: then at most this many bisections
  double searchResolution = 1.1;   ///< throughput search: bisect until the capacity bracket's ends are at most this ratio apart
  std::int64_t inputs = 256;       ///< decoded images held in memory as request inputs
  double minVariantAgreement = 0.99; ///< sweep: a variant must agree on top-1 this often on the golden set
  int topOperators = 10;           ///< operator profile: how many operators to list
  int profileIterations = 20;      ///< operator profile: forward passes profiled
  double timeBudgetS = 0;          ///< the whole tool's time, s (0: 80 % of [heartbeat] profile_latency_timeout_s)
};

struct ComplianceConfig {
  double threshold = 0.5;          ///< operating confidence threshold
  int eceBins = 15;                ///< bins of the expected calibration error
  std::int64_t bootstrapResamples = 2000; ///< paired bootstrap resamples
  std::uint64_t seed = 7;          ///< bootstrap and split seed
  double calibrationFraction = 0.2;///< share of the data held out to fit the temperature
  std::int64_t minPerClass = 30;   ///< fewer images in a class: its results are inconclusive
  double temperatureMargin = 0.01; ///< relay a temperature that lowers ECE by this much
  int batchSize = 256;             ///< evaluation batch size (the larger of this and runtime.batch_size)
  std::int64_t regressionsListed = 50; ///< regressions listed by id in the report (all are counted)
  std::int64_t maxSamples = 0;     ///< sample budget: evaluate at most this many images (0: all)
  double timeBudgetS = 0;          ///< time budget, s (0: 80 % of [heartbeat] eval_compliance_timeout_s)
  bool sliceGate = false;          ///< judge each slice of the data set (compliance.slices gates GO)
  std::int64_t sliceMinSamples = 200; ///< evaluation images a slice needs to be judged
  double sliceMinUplift = -0.05;   ///< per slice, the uplift's CI lower end must reach this (a bounded drop)
};

struct EnvConfig {
  std::string lockFile = "env.lock.json"; ///< relative to the state directory
  bool determinism = true;         ///< run the golden set twice and compare bit for bit
};

struct IntegrationConfig {
  int blockingRisk = 15;           ///< a finding with likelihood*impact >= this blocks GO
  int highRisk = 10;               ///< overall level "high" from this score
  int mediumRisk = 5;              ///< overall level "medium" from this score
  double minTop1Agreement = 0.80;  ///< candidate vs current on the golden set
  std::int64_t behaviourSamples = 0; ///< samples of the behaviour comparison from [golden] offset; 0: [golden] count
  double probSumTolerance = 1e-3;  ///< |sum of output probabilities - 1| above this is a defect
};

struct RollbackConfig {
  int keepKnownGood = 3;           ///< known-good models kept in the registry
  int drillRepeats = 60;           ///< drill repetitions: 59 give the RTO p95 a one-sided 95 % upper bound
  double rtoObjectiveMs = 5000.0;  ///< RTO p95 must be below this
  std::string injectFault;         ///< none | corrupt-target | missing-target | truncated-state | crash-between-steps
  std::int64_t minFreeBytes = 64 * 1024 * 1024; ///< disk space needed for a rollback
  int warmupRuns = 3;              ///< drill: forward passes of one batch before the first answer
  std::string sandboxDir;          ///< drill: where sandboxes are made; empty: the system temp dir
  std::int64_t lockTimeoutMs = 0;  ///< wait this long for another process's registry lock (0: busy at once)
  double timeBudgetS = 0;          ///< drills stop when the next would not fit (0: 80 % of [heartbeat] simulate_rollback_timeout_s)
};

struct DecisionConfig {
  int consecutivePassesForGo = 1;  ///< passing cycles in a row before GO
  int consecutiveFailsForRollback = 3; ///< cycles in a row in which the same production gate breaches, before ROLLBACK
  double breachConfidence = 0.99;  ///< one-sided confidence of a production breach in one cycle
  double maxCycleGapS = 7200.0;    ///< cycles further apart than this are not "in a row"
  double errorBudgetWindowH = 24.0;///< error budget window, hours
  bool blockGoOnExhaustedBudget = true; ///< no GO while the budget is used up
  double maxReportAgeS = 7200.0;   ///< a report older than this is stale
  double registryLockTimeoutS = 10.0; ///< how long decide waits for the registry lock
};

struct HeartbeatConfig {
  int verifyEnvTimeoutS = 120;     ///< per-step timeouts, seconds
  int profileLatencyTimeoutS = 300;
  int evalComplianceTimeoutS = 300;
  int checkIntegrationTimeoutS = 120;
  int simulateRollbackTimeoutS = 180;
  int decideTimeoutS = 60;
  int registryTimeoutS = 300;      ///< model-registry steps (adopt, stage: a model load and golden run)
  int lockStaleS = 7200;           ///< a lock older than this from a dead process is broken
};

/// A tool's time budget: its configured time_budget_s, or (0) this share of
/// its heartbeat step's timeout, leaving the rest for loading, writing the
/// report and a slow moment of the machine.
constexpr double kBudgetShareOfStepTimeout = 0.8;
inline double toolBudgetS(double configuredS, int stepTimeoutS) {
  return configuredS > 0 ? configuredS : kBudgetShareOfStepTimeout * stepTimeoutS;
}

/// Where a cycle's steps run (README "On a cluster (Slurm)").
struct EngineConfig {
  std::string kind = "local";      ///< "local": the heartbeat runs the tools; "slurm": it submits them as jobs
  std::string partition;           ///< slurm: sbatch --partition; empty: the cluster's default
  std::string account;             ///< slurm: sbatch --account; empty: the user's default
  int shards = 1;                  ///< slurm: eval-compliance as a job array of this many shards
  std::vector<std::string> sbatchOptions; ///< slurm: more sbatch options for every job, one option a string
  int queueWaitS = 1800;           ///< slurm: longest wait for a node with no job of the graph running
};

struct FeedsConfig {
  int retainCycles = 720;          ///< keep this many reports per channel (0 = all)
};

/// The whole configuration.
struct Config {
  std::string path;                ///< the file this came from
  std::string sha256;              ///< sha256 of its bytes
  std::string stateDir;            ///< feeds/, registry/, locks (default: <checkout>/var)
  Objectives objectives;
  ModelsConfig models;
  DatasetConfig dataset;
  CalibrationConfig calibration;
  RuntimeConfig runtime;
  GoldenConfig golden;
  LatencyConfig latency;
  ComplianceConfig compliance;
  EnvConfig env;
  IntegrationConfig integration;
  RollbackConfig rollback;
  DecisionConfig decision;
  HeartbeatConfig heartbeat;
  EngineConfig engine;
  FeedsConfig feeds;
  Limits limits;                   ///< [limits]: sizes, depth, pixels, model-call timeout
};

/// Parse a config file. $CVGATE_STATE_DIR overrides state_dir.
Expected<Config> loadConfig(const std::string& path);

/// Parse config text; `path` names it in errors and anchors relative paths.
Expected<Config> parseConfig(const std::string& text, const std::string& path);

}  // namespace cvgate

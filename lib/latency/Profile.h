// profile-latency as one library call: measure the current and candidate
// models in one run (scenarios, throughput search, memory, operator
// profile), optionally sweep the settings an operator can change and emit
// the best as a patch. The tool's main binds flags to ProfileOptions.
#pragma once

#include <optional>
#include <string>

#include "common/Error.h"
#include "report/Report.h"
#include "report/ToolContext.h"

namespace cvgate::latency {

/// Flag overrides of the [latency] config section; unset: the config's value.
struct ProfileOptions {
  std::optional<std::string> scenario;     ///< --scenario
  std::optional<double> offeredRps;        ///< --offered-rps
  std::optional<double> durationS;         ///< --duration
  std::optional<std::int64_t> minSamples;  ///< --min-samples
  std::optional<int> workers;              ///< --workers
  std::optional<int> maxBatch;             ///< --max-batch
  std::optional<double> batchWindowMs;     ///< --batch-window-ms
  std::optional<double> timeBudgetS;       ///< --time-budget ([latency] time_budget_s)
  std::optional<bool> search;              ///< --search / --no-search
  std::optional<bool> sweep;               ///< --sweep
  std::optional<bool> profileOperators;    ///< --no-profile turns it off
  std::optional<int> intraOpThreads;       ///< --intra-op-threads ([runtime] intra_op_threads)
  std::optional<int> interOpThreads;       ///< --inter-op-threads ([runtime] inter_op_threads)
  std::string chromeTrace;                 ///< --chrome-trace FILE
  std::string patchOut;                    ///< --patch-out DIR
  std::string transform;                   ///< --transform NAME: measure each subject as this variant
  bool noop = false;                       ///< --noop: measure the generator on a no-op SUT
  /// --one-rate: judge the offered rate only, in gate-length runs (repeats
  /// too), and stop at a miss (nothing below it is run).
  bool oneRate = false;
};

/// Validate the options against the config (an unknown scenario, a rate
/// <= 0, ... are BadInput errors) and run. The report is complete but not
/// written. A sweep's patch is marked `recommended` when it beats the
/// current setting by latency.patch_margin; decide relays it.
Expected<Report> profileLatency(const ToolContext& ctx, const ProfileOptions& o);

/// The --gemm-bench figure as JSON: single-core float32 GEMM GFLOP/s.
json gemmBenchJson(int n, double seconds);

}  // namespace cvgate::latency

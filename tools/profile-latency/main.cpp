// profile-latency: latency, throughput and memory of the current and
// candidate models under load, and optimisation patches.
#include <filesystem>
#include <iostream>

#include "common/Cli.h"
#include "common/ExitCodes.h"
#include "latency/Profile.h"
#include "report/ToolContext.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "profile-latency";
  CLI::App app{
      "Measure the latency, throughput and memory of the current and candidate models in one run,\n"
      "the way MLPerf LoadGen does: inputs decoded in memory, a warm-up until latency settles, then\n"
      "single-stream, server (open-loop Poisson arrivals, worker pool, dynamic batching; latency from\n"
      "each request's scheduled arrival, so a backlog counts) or offline scenarios. Percentiles carry\n"
      "order-statistic confidence intervals, the error rate a Clopper-Pearson bound, throughput comes\n"
      "from a bounded search over offered rates. --sweep tries threads, batch size, frozen TorchScript,\n"
      "bfloat16 and int8 dynamic quantisation (inter-op threads too, in child processes, for a model\n"
      "that forks), re-measures the winner and emits it as a config patch. Checks: latency.p95,\n"
      "latency.error_rate, latency.throughput, latency.valid per subject.",
      tool};
  CommonOptions common;
  addCommonOptions(app, common);
  addModelOptions(app, common);
  latency::ProfileOptions o;
  std::string scenario;
  double rate = 0, duration = 0, window = 0, budget = 0;
  int workers = 0, maxBatch = 0;
  std::int64_t minSamples = 0;
  int intraOp = 0, interOp = 0;
  bool search = false, noSearch = false, sweep = false, noSweep = false, noProfile = false, gemm = false;
  app.add_option("--scenario", scenario, "single-stream, server, offline or all (default: [latency] scenario, server)");
  app.add_option("--offered-rps", rate, "server: offered Poisson arrival rate of the gate run, requests/s (default: [latency] offered_rps; 0 or unset: objectives.min_throughput_rps, the operating point decide judges production at)");
  app.add_option("--duration", duration, "seconds per measured run (default: [latency] duration_s, 4)");
  app.add_option("--min-samples", minSamples, "requests in the gate run, at least (every run with --one-rate): it goes on past --duration until it has them (default: [latency] min_samples)");
  app.add_option("--workers", workers, "server/offline: worker threads (default: [latency] workers, 2)");
  app.add_option("--max-batch", maxBatch, "server/offline: largest dynamic batch (default: [latency] max_batch, 8)");
  app.add_option("--batch-window-ms", window, "server: wait this long to fill a batch (default: [latency] batch_window_ms, 2)");
  app.add_option("--time-budget", budget, "seconds this run may take: the searches and the sweep start no run that would not end in time (default: [latency] time_budget_s; 0 there: 80 % of [heartbeat] profile_latency_timeout_s)");
  app.add_flag("--search", search, "search for the highest rate meeting the objectives (default: [latency] search_throughput, on)");
  app.add_flag("--no-search", noSearch, "no throughput search: judge throughput at the offered rate (after a saturated or queueing miss there, lower rates are halved down to say what is sustained; --one-rate stops at the miss)");
  app.add_flag("--one-rate", o.oneRate,
               "server: judge the offered rate only, every run of it (a repeat too) as long as the gate's, and stop "
               "at a miss, running nothing below it (how the sweep confirms its winner, in a new process per run)");
  app.add_flag("--sweep", sweep, "sweep threads, batch size and model transforms; emit the best as a patch");
  app.add_flag("--no-sweep", noSweep, "no sweep, whatever [latency] sweep says");
  app.add_option("--intra-op-threads", intraOp, "torch intra-op threads for this run (default: [runtime] intra_op_threads)");
  app.add_option("--inter-op-threads", interOp, "torch inter-op threads for this run (default: [runtime] inter_op_threads)");
  app.add_flag("--no-profile", noProfile, "skip the operator-level profile of the forward pass");
  app.add_option("--chrome-trace", o.chromeTrace, "also write a Chrome trace of the forward pass here (one process per subject)");
  app.add_option("--patch-out", o.patchOut, "with --sweep: write <DIR>/<subject>/patch.toml and any optimised archive");
  app.add_option("--transform", o.transform,
                 "measure each subject as this variant of itself, as the sweep makes it: frozen (freeze + "
                 "optimize_for_inference, even where the sweep, which ships an archive, must freeze alone), bf16, "
                 "int8-dynamic, int8-static (calibrated on [calibration]); said in results.transform, never with "
                 "--publish")
      ->check(CLI::IsMember({"frozen", "bf16", "int8-dynamic", "int8-static"}));
  app.add_flag("--noop", o.noop, "measure the load generator's own overhead on a no-op system under test");
  app.add_flag("--gemm-bench", gemm, "print the single-core float32 GEMM GFLOP/s of this machine (roofline) and exit");
  app.footer(exitStatusHelp(false) +
             "\nExample: profile-latency --config configs/cvgate.toml --scenario server --offered-rps 200 --publish");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    if (gemm) {
      std::cout << latency::gemmBenchJson(512, 2.0).dump(2) << "\n";
      return exitcode::kGo;
    }
    if (app.count("--scenario")) o.scenario = scenario;
    if (app.count("--offered-rps")) o.offeredRps = rate;
    if (app.count("--duration")) o.durationS = duration;
    if (app.count("--min-samples")) o.minSamples = minSamples;
    if (app.count("--workers")) o.workers = workers;
    if (app.count("--max-batch")) o.maxBatch = maxBatch;
    if (app.count("--batch-window-ms")) o.batchWindowMs = window;
    if (app.count("--time-budget")) o.timeBudgetS = budget;
    if (search && noSearch) return badInput("--search and --no-search: expected at most one");
    if (search) o.search = true;
    if (noSearch) o.search = false;
    if (sweep && noSweep) return badInput("--sweep and --no-sweep: expected at most one");
    if (sweep) o.sweep = true;
    if (noSweep) o.sweep = false;
    if (app.count("--intra-op-threads")) o.intraOpThreads = intraOp;
    if (app.count("--inter-op-threads")) o.interOpThreads = interOp;
    if (noProfile) o.profileOperators = false;
    if (!o.transform.empty() && common.publish)
      return badInput("--transform " + o.transform +
                      " with --publish: a transformed model's figures are not its archive's; the feed gets only "
                      "the archive's");
    if (!o.patchOut.empty()) {
      // Refused before minutes of sweeping, not when the patch is written.
      std::error_code ec;
      const auto st = std::filesystem::status(o.patchOut, ec);
      if (std::filesystem::exists(st) && !std::filesystem::is_directory(st))
        return badInput("--patch-out '" + o.patchOut +
                        "': expected a directory (the sweep writes <DIR>/<subject>/patch.toml), found another kind of file");
    }
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    CVGATE_TRY_ASSIGN(rep, latency::profileLatency(ctx, o));
    return finishReport(ctx, rep);
  });
}

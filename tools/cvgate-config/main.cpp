// cvgate-config: validate a cvgate config and print resolved values, for
// operators and for the heartbeat (which must resolve paths as the tools do).
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/Cli.h"
#include "common/ExitCodes.h"
#include "common/Strings.h"
#include "config/Config.h"
#include "report/ToolContext.h"

using namespace cvgate;

namespace {

/// The values `get` can print, by their TOML names.
Expected<std::string> lookup(const Config& c, const std::string& key) {
  const std::vector<std::pair<std::string, std::string>> values = {
      {"path", c.path},
      {"sha256", c.sha256},
      {"state_dir", c.stateDir},
      {"models.current", c.models.current},
      {"models.candidate", c.models.candidate},
      {"models.current_sha256", c.models.currentSha256},
      {"models.candidate_sha256", c.models.candidateSha256},
      {"env.lock_file", c.env.lockFile},
      {"runtime.layout", c.runtime.layout},
      {"heartbeat.verify_env_timeout_s", std::to_string(c.heartbeat.verifyEnvTimeoutS)},
      {"heartbeat.profile_latency_timeout_s", std::to_string(c.heartbeat.profileLatencyTimeoutS)},
      {"heartbeat.eval_compliance_timeout_s", std::to_string(c.heartbeat.evalComplianceTimeoutS)},
      {"heartbeat.check_integration_timeout_s", std::to_string(c.heartbeat.checkIntegrationTimeoutS)},
      {"heartbeat.simulate_rollback_timeout_s", std::to_string(c.heartbeat.simulateRollbackTimeoutS)},
      {"heartbeat.decide_timeout_s", std::to_string(c.heartbeat.decideTimeoutS)},
      {"heartbeat.registry_timeout_s", std::to_string(c.heartbeat.registryTimeoutS)},
      {"heartbeat.lock_stale_s", std::to_string(c.heartbeat.lockStaleS)},
      {"rollback.keep_known_good", std::to_string(c.rollback.keepKnownGood)},
      {"runtime.intra_op_threads", std::to_string(c.runtime.intraOpThreads)},
      {"engine.kind", c.engine.kind},
      {"engine.partition", c.engine.partition},
      {"engine.account", c.engine.account},
      {"engine.shards", std::to_string(c.engine.shards)},
      // An array on one line, as JSON: `jq -r '.[]'` gives one option a line.
      {"engine.sbatch_options", nlohmann::json(c.engine.sbatchOptions).dump()},
      {"engine.queue_wait_s", std::to_string(c.engine.queueWaitS)},
  };
  std::vector<std::string> names;
  for (const auto& [k, v] : values) {
    if (k == key) return v;
    names.push_back(k);
  }
  return badInput("key '" + key + "': not one cvgate-config can print" + didYouMean(key, names) +
                  "; keys: " + join(names, ", "));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tool = "cvgate-config";
  CLI::App app{"Check a cvgate configuration file and print its resolved values.\n"
               "  cvgate-config check            validate (unknown keys, types, ranges)\n"
               "  cvgate-config get KEY...       print resolved values, one per line\n"
               "Paths are printed resolved, as every tool resolves them; --state-dir and\n"
               "$CVGATE_STATE_DIR override state_dir as they do for the tools.",
               tool};
  CommonOptions common;
  addCommonOptions(app, common, /*withReport=*/false);
  addModelOptions(app, common);
  app.require_subcommand(1);
  app.fallthrough();  // --config etc. also after the subcommand
  auto* check = app.add_subcommand("check", "validate the config; print its path and sha256");
  std::vector<std::string> keys;
  auto* get = app.add_subcommand("get", "print resolved values of KEYs, one per line");
  get->add_option("KEY", keys, "e.g. state_dir, models.current, heartbeat.decide_timeout_s")->required();
  app.footer("Exit status: 0 valid, 2 invalid config or unknown key, 1 internal error.\n"
             "Example: cvgate-config --config configs/cvgate.toml get state_dir models.current");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    if (check->parsed()) {
      std::cout << ctx.config.path << ": ok (sha256 " << ctx.config.sha256 << ")\n";
      return exitcode::kGo;
    }
    for (const auto& k : keys) {
      CVGATE_TRY_ASSIGN(v, lookup(ctx.config, k));
      std::cout << v << "\n";
    }
    return exitcode::kGo;
  });
}

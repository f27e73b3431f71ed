// verify-env: is this machine still the environment in which the production
// model was blessed, and does the model still produce what it produced then?
#include "common/Cli.h"
#include "env/VerifyEnv.h"
#include "report/ToolContext.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "verify-env";
  CLI::App app{
      "Fingerprint the environment (OS, kernel, CPU and its ISA, libtorch version and build,\n"
      "the BLAS/LAPACK/OpenMP libraries actually mapped into the process with their sha256,\n"
      "thread settings, numeric environment variables, model/config/data set hashes), compare\n"
      "it with the lock recorded when production was blessed, run the current model on the\n"
      "golden set twice (bit-for-bit determinism) and against the lock's golden outputs.\n"
      "Severe drift (anything that can change outputs) fails; minor drift (kernel release,\n"
      "host name, ...) is reported and does not block. --record writes the lock from this run.\n"
      "Report schema cvgate.env/1, feed v1_baseline_feed.",
      tool};
  CommonOptions common;
  addCommonOptions(app, common);
  addModelOptions(app, common);
  VerifyEnvOptions o;
  app.add_flag("--record", o.record,
               "write the lock ([env] lock_file in the state directory) from this run, then compare with it");
  app.add_option("--format", o.format, "json (the report) or text (a table for people)")
      ->capture_default_str()
      ->check(CLI::IsMember({"json", "text"}));
  app.footer(exitStatusHelp(false) +
             "\nExamples:\n"
             "  verify-env --config configs/cvgate.toml --record     # bless this environment\n"
             "  verify-env --config configs/cvgate.toml --format text");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    CVGATE_TRY_ASSIGN(ctx, openToolContext(tool, common));
    CVGATE_TRY_ASSIGN(report, verifyEnv(ctx, o));
    return finishEnvReport(ctx, report, o.format);
  });
}

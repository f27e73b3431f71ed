#include "common/Cli.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common/ExitCodes.h"
#include "common/Install.h"
#include "common/Log.h"
#include "common/Strings.h"
#include "common/Version.h"

namespace cvgate {

void addLoggingOptions(CLI::App& app, CommonOptions& o) {
  app.set_version_flag("--version", std::string(app.get_name()) + " (cvgate) " + kVersion);
  app.add_option("--log-level", o.logLevel, "trace, debug, info, warn, error or off (logs go to stderr)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", o.quiet, "log warnings and errors only");
}

void addCommonOptions(CLI::App& app, CommonOptions& o, bool withReport) {
  addLoggingOptions(app, o);
  app.add_option("--config", o.config, "TOML config (default: " + configLookupHelp(installLayout()) + ")");
  app.add_option("--state-dir", o.stateDir,
                 "state directory with feeds/ and registry/ (default: config, $CVGATE_STATE_DIR)");
  if (withReport) {
    app.add_option("--cycle", o.cycle, "cycle id (default: $CVGATE_CYCLE_ID or a new one)");
    app.add_option("-o,--out", o.out, "write the report here instead of stdout")->capture_default_str();
    app.add_flag("--publish", o.publish, "also publish the report to its feed in the state directory");
  }
}

void addModelOptions(CLI::App& app, CommonOptions& o) {
  app.add_option("--current", o.current, "production model archive (default: [models] current)");
  app.add_option("--candidate", o.candidate,
                 "candidate model archive (default: [models] candidate; \"none\" for no candidate)");
  app.add_option("--current-sha256", o.currentSha256, "refuse a current model whose sha256 differs");
  app.add_option("--candidate-sha256", o.candidateSha256, "refuse a candidate whose sha256 differs");
}

std::string resolveConfigPath(const std::string& flag) { return resolveConfigPath(flag, installLayout()); }

std::string resolveConfigPath(const std::string& flag, const InstallLayout& layout) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("CVGATE_CONFIG"); env && *env) return env;
  // Only a tool run from its build tree reads the checkout's config from the
  // current directory: what an installed tool runs on must not depend on
  // where cron, systemd or an operator's shell happens to stand.
  if (!layout.installed && std::filesystem::exists("configs/cvgate.toml")) return "configs/cvgate.toml";
  return layout.configFile;
}

std::string configLookupHelp(const InstallLayout& layout) {
  return layout.installed ? "$CVGATE_CONFIG, then " + layout.configFile
                          : "$CVGATE_CONFIG, ./configs/cvgate.toml, then " + layout.configFile;
}

std::string exitStatusHelp(bool verdicts) {
  if (verdicts)
    return "Exit status: 0 GO, 10 PAUSE, 20 ROLLBACK, 2 bad usage or input, 1 internal error.";
  return "Exit status: 0 pass, 10 fail, 11 inconclusive, 2 bad usage or input, 1 internal error.";
}

int reportError(const std::string& tool, const Error& e) {
  std::cerr << tool << ": error: " << oneLine(e.message()) << "\n";
  return e.kind() == ErrorKind::BadInput ? exitcode::kUsage : exitcode::kInternal;
}

int runTool(CLI::App& app, const std::string& tool, const CommonOptions& opts, int argc,
            char** argv, const std::function<Expected<int>()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::cerr << tool << ": error: " << msg << " (see " << tool << " --help)\n";
    return exitcode::kUsage;
  }
  if (auto st = setupLogging(tool, opts.logLevel, opts.quiet); !st.ok())
    return reportError(tool, st.error());
  try {
    auto rc = body();
    if (!rc.ok()) return reportError(tool, rc.error());
    return *rc;
  } catch (const std::exception& e) {
    std::cerr << tool << ": internal error: " << e.what() << "\n";
    return exitcode::kInternal;
  }
}

}  // namespace cvgate

// What every cvgate tool shares on its command line, and the one place where
// an Error becomes a message on stderr and an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "common/Error.h"
#include "common/Install.h"

namespace cvgate {

/// Flags every tool takes.
struct CommonOptions {
  std::string config;           ///< --config FILE; empty: see resolveConfigPath
  std::string logLevel = "info";///< --log-level
  bool quiet = false;           ///< --quiet: warnings and errors only
  std::string cycle;            ///< --cycle ID; empty: $CVGATE_CYCLE_ID or a new one
  std::string out = "-";        ///< --out FILE for the report; "-" is stdout
  std::string stateDir;         ///< --state-dir; empty: config or $CVGATE_STATE_DIR
  bool publish = false;         ///< --publish: also write the report to its feed
  std::string current;          ///< --current FILE: production model (overrides [models] current)
  std::string candidate;        ///< --candidate FILE: candidate model (overrides [models] candidate)
  std::string currentSha256;    ///< --current-sha256: refuse a current model with other bytes
  std::string candidateSha256;  ///< --candidate-sha256: refuse a candidate with other bytes
};

/// Register --version, --log-level and --quiet (tools that read no config).
void addLoggingOptions(CLI::App& app, CommonOptions& opts);

/// Register the common flags (and --version) on `app`.
void addCommonOptions(CLI::App& app, CommonOptions& opts, bool withReport = true);

/// Register --current, --candidate and their --*-sha256 pins.
void addModelOptions(CLI::App& app, CommonOptions& opts);

/// The config file this run uses: `flag` (--config), else $CVGATE_CONFIG,
/// else ./configs/cvgate.toml for a tool run from its build tree (never for an
/// installed one), else the installed default (`layout.configFile`).
std::string resolveConfigPath(const std::string& flag, const InstallLayout& layout);
std::string resolveConfigPath(const std::string& flag);  ///< for the running binary

/// That lookup order in words, for --help.
std::string configLookupHelp(const InstallLayout& layout);

/// The standard exit-status paragraph for --help footers.
std::string exitStatusHelp(bool verdicts);

/// Parse argv with `app`, set up logging, run `body`, and turn failures into
/// one line on stderr ("tool: error: ...") and an exit code: CLI usage errors
/// and BadInput give 2, Internal errors and uncaught exceptions give 1.
int runTool(CLI::App& app, const std::string& tool, const CommonOptions& opts, int argc,
            char** argv, const std::function<Expected<int>()>& body);

/// Print "tool: error: msg" and return the exit code for the error's kind.
int reportError(const std::string& tool, const Error& e);

}  // namespace cvgate

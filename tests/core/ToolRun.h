// Running a built tool from a test: the command line through the shell,
// stdout and stderr captured to files, the exit status decoded.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

namespace cvgate::testing {

/// The directory of the built tools: $CVGATE_BIN_DIR, else the build's.
inline std::string binDir() {
  const char* env = std::getenv("CVGATE_BIN_DIR");
  return env && *env ? env : CVGATE_BIN_DIR;
}

/// A whole file as a string ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Write `text` to `path`, making its directory first.
inline void writeText(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// std::system's status as an exit code: the code, 128 + signal, or -1.
inline int exitCode(int status) {
  if (status != -1 && WIFEXITED(status)) return WEXITSTATUS(status);
  if (status != -1 && WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

struct ToolRun {
  int code = -1;
  std::string out, err;
  /// stdout as JSON (discarded, not thrown, when it is not JSON).
  nlohmann::json json() const { return nlohmann::json::parse(out, nullptr, false); }
};

/// Run `cmdline` (shell words) with stdout and stderr captured in `scratch`.
inline ToolRun runCommand(const std::string& cmdline, const std::string& scratch) {
  const std::string out = scratch + "/.run.stdout", err = scratch + "/.run.stderr";
  ToolRun r;
  r.code = exitCode(std::system((cmdline + " >'" + out + "' 2>'" + err + "'").c_str()));
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Run the built `tool` with `args` (shell words); `cwd` non-empty: in that
/// directory; `env` (shell words, e.g. "A=1 B=2") set for the tool only.
inline ToolRun runTool(const std::string& tool, const std::string& args, const std::string& scratch,
                       const std::string& cwd = "", const std::string& env = "") {
  std::string cmd = (env.empty() ? "" : env + " ") + "'" + binDir() + "/" + tool + "' " + args;
  if (!cwd.empty()) cmd = "cd '" + cwd + "' && " + cmd;
  return runCommand(cmd, scratch);
}

/// "" when the report in `reportPath` validates against
/// schemas/<kind>.schema.json (itself checked as a Draft 7 schema) with the
/// Debian python's jsonschema; else what the validator said.
inline std::string schemaErrors(const std::string& kind, const std::string& reportPath) {
  const std::string schema = std::string(CVGATE_SOURCE_DIR) + "/schemas/" + kind + ".schema.json";
  const ToolRun r = runCommand("/usr/bin/python3 -c 'import json,sys,jsonschema; "
                               "jsonschema.Draft7Validator.check_schema(json.load(open(sys.argv[1]))); "
                               "jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' '" +
                                   schema + "' '" + reportPath + "'",
                               std::filesystem::path(reportPath).parent_path().string());
  if (r.code == 0) return "";
  return r.err.empty() ? "the validator failed (exit " + std::to_string(r.code) + ")" : r.err;
}

}  // namespace cvgate::testing

// Helpers for the rollback tests: a tiny IDX data set, fixture models, a test
// config, running the tools, and a full-hash fingerprint of a real registry.
#pragma once

#include <nlohmann/json.hpp>

#include "ToolRun.h"

#include <string>
#include <vector>

namespace cvgate::rbtest {

/// Write `n` 28x28 grey images (deterministic pixels) and labels as plain IDX
/// files in `dir`: dir/images.idx and dir/labels.idx.
void writeTinyIdx(const std::string& dir, int n);

/// Write two fixture models with the same interface: dir/v1.pt (fx-v1 1) and dir/v2.pt (fx-v2 2).
void writeTwoModels(const std::string& dir);

/// A config for dir: state dir dir/var, models dir/v1.pt and dir/v2.pt, the
/// tiny data set, a golden set of 8, 60 drill repeats (what the RTO's upper bound needs). `extra` is appended
/// (TOML sections such as "[rollback]\ninject_fault = ...").
std::string writeConfig(const std::string& dir, const std::string& rollbackExtra = "",
                        const std::string& extra = "");

/// Path of a tool binary: $CVGATE_BIN_DIR or the build's bin directory.
inline std::string bin(const std::string& tool) { return testing::binDir() + "/" + tool; }

using RunResult = testing::ToolRun;
/// Run a shell command line; stdout and stderr captured through files in `tmpDir`.
inline RunResult run(const std::string& cmdline, const std::string& tmpDir) {
  return testing::runCommand(cmdline, tmpDir);
}

/// sha256 of state.json, the current.pt link text, and the sha256 of every
/// file in objects/ (full hashes: what "the real state stayed intact" means).
std::string fullFingerprint(const std::string& registryDir);

using testing::slurp;

}  // namespace cvgate::rbtest

// Logging: spdlog to stderr only (stdout carries reports).
#pragma once

#include <string>

#include "common/Error.h"

namespace cvgate {

/// Route spdlog's default logger to stderr with the tool's name.
/// level: trace|debug|info|warn|error|off. quiet lowers the level to warn.
Status setupLogging(const std::string& tool, const std::string& level, bool quiet);

}  // namespace cvgate

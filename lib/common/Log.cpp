#include "common/Log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace cvgate {

Status setupLogging(const std::string& tool, const std::string& level, bool quiet) {
  auto lvl = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; only accept "off" when asked for.
  if (lvl == spdlog::level::off && level != "off") {
    return badInput("--log-level '" + level +
                    "': expected one of trace, debug, info, warn, error, off");
  }
  if (quiet && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  auto logger = spdlog::stderr_color_mt(tool);
  logger->set_pattern("%^%Y-%m-%dT%H:%M:%S.%e %n %l:%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return okStatus();
}

}  // namespace cvgate

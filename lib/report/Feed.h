// Feeds (DESIGN.md section 4): <state_dir>/feeds/<channel>/<cycle_id>.json.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/Error.h"
#include "report/Report.h"

namespace cvgate {

inline const char* const kChannels[] = {
    "v1_baseline_feed", "v1_latency_feed", "v1_compliance_feed", "v1_integration_feed",
    "v1_rollback_feed", "innovation_relay", "verdicts",          "incidents"};

bool isKnownChannel(const std::string& channel);

/// Directory of a channel.
std::string feedDir(const std::string& stateDir, const std::string& channel);

/// Path of one cycle's report in a channel (name may carry a suffix: "<cycle>-<n>").
std::string feedPath(const std::string& stateDir, const std::string& channel,
                     const std::string& name);

/// The channel of a report's schema ("cvgate.latency/1" -> "v1_latency_feed").
Expected<std::string> channelForSchema(const std::string& schema);

/// Write `r` to its channel (from its schema) under its cycle id, atomically.
/// Returns the path written.
Expected<std::string> publishReport(const std::string& stateDir, const Report& r);

/// Write raw JSON to a channel under `name`, atomically; returns the path.
Expected<std::string> publishJson(const std::string& stateDir, const std::string& channel,
                                  const std::string& name, const json& j);

/// File names (without .json) of a channel, oldest first (cycle ids sort by time).
std::vector<std::string> listFeed(const std::string& stateDir, const std::string& channel);

/// One readable entry of a channel.
struct FeedEntry {
  std::string name;                ///< file name without .json
  std::string path;
  json doc;                        ///< parsed, within the JSON limits
};
/// A channel's history as read: what could be used, and what was skipped.
struct FeedRead {
  std::vector<FeedEntry> entries;  ///< oldest first
  std::vector<std::string> skipped;///< one line each: the file and why
};
/// Every entry of a channel, oldest first. An entry that cannot be read,
/// is not bounded JSON, or that `accept` refuses (it returns why, "" to
/// accept) is skipped with a warning and listed: a poisoned history never
/// stops a reader.
FeedRead readFeed(const std::string& stateDir, const std::string& channel,
                  const std::function<std::string(const json&)>& accept = {});

/// Keep only the newest `keep` entries of a channel (0 keeps all).
Status retainFeed(const std::string& stateDir, const std::string& channel, int keep);

}  // namespace cvgate

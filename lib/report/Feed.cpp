#include "report/Feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Time.h"

namespace cvgate {

namespace fs = std::filesystem;

bool isKnownChannel(const std::string& channel) {
  for (const char* c : kChannels)
    if (channel == c) return true;
  return false;
}

std::string feedDir(const std::string& stateDir, const std::string& channel) {
  return (fs::path(stateDir) / "feeds" / channel).string();
}

std::string feedPath(const std::string& stateDir, const std::string& channel,
                     const std::string& name) {
  return (fs::path(feedDir(stateDir, channel)) / (name + ".json")).string();
}

Expected<std::string> publishJson(const std::string& stateDir, const std::string& channel,
                                  const std::string& name, const json& j) {
  if (!isKnownChannel(channel)) return internalError("unknown feed channel '" + channel + "'");
  if (!isValidCycleId(name)) return badInput("cycle id '" + name + "': expected [A-Za-z0-9._-]+");
  std::string p = feedPath(stateDir, channel, name);
  CVGATE_TRY(atomicWriteFile(p, j.dump(2) + "\n"));
  return p;
}

Expected<std::string> channelForSchema(const std::string& schema) {
  std::string kind = schema.substr(0, schema.find('/'));
  for (const auto& s : knownSchemas())
    if (kind == s.kind) return std::string(s.channel);
  return internalError("no feed for schema '" + schema + "'");
}

Expected<std::string> publishReport(const std::string& stateDir, const Report& r) {
  CVGATE_TRY_ASSIGN(channel, channelForSchema(r.schema));
  return publishJson(stateDir, channel, r.cycleId, toJson(r));
}

std::vector<std::string> listFeed(const std::string& stateDir, const std::string& channel) {
  struct Entry {
    fs::file_time_type t;
    std::string name;
  };
  std::vector<Entry> entries;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(feedDir(stateDir, channel), ec)) {
    const auto& p = de.path();
    if (p.extension() != ".json" || p.filename().string()[0] == '.') continue;
    entries.push_back({de.last_write_time(ec), p.stem().string()});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.t != b.t ? a.t < b.t : a.name < b.name;
  });
  std::vector<std::string> out;
  for (auto& e : entries) out.push_back(std::move(e.name));
  return out;
}

FeedRead readFeed(const std::string& stateDir, const std::string& channel,
                  const std::function<std::string(const json&)>& accept) {
  FeedRead out;
  for (const auto& name : listFeed(stateDir, channel)) {
    const std::string path = feedPath(stateDir, channel, name);
    auto j = readJsonFile(path);
    std::string why;
    if (!j) {
      why = j.error().message();
    } else if (accept) {
      try {
        why = accept(*j);
        if (!why.empty()) why = "'" + path + "': " + why;
      } catch (const json::exception& e) {
        why = "'" + path + "': a field of the wrong type (" + std::string(e.what()) + ")";
      }
    }
    if (!why.empty()) {
      spdlog::warn("skipping a {} entry: {}", channel, why);
      out.skipped.push_back(why);
      continue;
    }
    out.entries.push_back(FeedEntry{name, path, std::move(*j)});
  }
  return out;
}

Status retainFeed(const std::string& stateDir, const std::string& channel, int keep) {
  if (keep <= 0) return okStatus();
  auto names = listFeed(stateDir, channel);
  if (names.size() <= static_cast<std::size_t>(keep)) return okStatus();
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < names.size(); ++i) {
    std::error_code ec;
    fs::remove(feedPath(stateDir, channel, names[i]), ec);
  }
  return okStatus();
}

}  // namespace cvgate

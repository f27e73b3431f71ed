#include "env/Lock.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/Fs.h"
#include "common/Json.h"
#include "report/Feed.h"
#include "report/Report.h"

namespace cvgate {

namespace fs = std::filesystem;
using json = nlohmann::json;

static json optNum(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
static std::optional<double> numOpt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

json toJson(const BaselineKpis& b) {
  return {{"accuracy", optNum(b.accuracy)}, {"compliance", optNum(b.compliance)},
          {"p95_ms", optNum(b.p95Ms)}, {"sources", b.sources}, {"notes", b.notes}};
}

BaselineKpis baselineFromJson(const json& j) {
  BaselineKpis b;
  if (!j.is_object()) return b;
  b.accuracy = numOpt(j, "accuracy");
  b.compliance = numOpt(j, "compliance");
  b.p95Ms = numOpt(j, "p95_ms");
  if (j.contains("sources") && j["sources"].is_object()) b.sources = j["sources"];
  if (j.contains("notes") && j["notes"].is_array())
    for (const auto& n : j["notes"])
      if (n.is_string()) b.notes.push_back(n.get<std::string>());
  return b;
}

json toJson(const EnvLock& l) {
  json models = json::object();
  for (const auto& [role, m] : l.models)
    models[role] = {{"model", m.model}, {"sha256", m.sha256}, {"path", m.path}};
  return {{"schema", kEnvLockSchema},
          {"recorded_at", l.recordedAt},
          {"cycle_id", l.cycleId},
          {"tool_version", l.toolVersion},
          {"env_hash", l.envHash},
          {"hashed_parts", l.hashedParts},
          {"parts", l.parts},
          {"models", models},
          {"config", {{"path", l.configPath}, {"sha256", l.configSha256}}},
          {"dataset", {{"sha256", l.datasetSha256}, {"describe", l.dataset}}},
          {"threads", {{"intra_op", l.intraOpThreads}, {"inter_op", l.interOpThreads}}},
          {"golden_set", {{"offset", l.goldenOffset}, {"count", l.goldenCount}}},
          {"golden", l.golden},
          {"baseline_kpis", toJson(l.baseline)}};
}

Expected<EnvLock> lockFromJson(const json& j, const std::string& what) {
  auto bad = [&](const std::string& why) { return badInput(what + ": " + why); };
  if (!j.is_object()) return bad("expected a JSON object (a " + std::string(kEnvLockSchema) + " lock)");
  std::string schema = j.value("schema", "");
  if (schema != kEnvLockSchema)
    return bad("schema '" + schema + "': expected \"" + kEnvLockSchema + "\"");
  EnvLock l;
  try {
    l.recordedAt = j.at("recorded_at").get<std::string>();
    l.cycleId = j.value("cycle_id", "");
    l.toolVersion = j.value("tool_version", "");
    l.envHash = j.at("env_hash").get<std::string>();
    l.hashedParts = j.at("hashed_parts").get<std::vector<std::string>>();
    l.parts = j.at("parts");
    if (!l.parts.is_object()) return bad("'parts': expected an object");
    for (const auto& [role, m] : j.at("models").items())
      l.models[role] = LockedModel{m.value("model", ""), m.at("sha256").get<std::string>(), m.value("path", "")};
    l.configPath = j.at("config").value("path", "");
    l.configSha256 = j.at("config").at("sha256").get<std::string>();
    l.datasetSha256 = j.at("dataset").at("sha256").get<std::string>();
    l.dataset = j.at("dataset").value("describe", "");
    l.intraOpThreads = j.at("threads").at("intra_op").get<int>();
    l.interOpThreads = j.at("threads").at("inter_op").get<int>();
    l.goldenOffset = j.at("golden_set").at("offset").get<std::int64_t>();
    l.goldenCount = j.at("golden_set").at("count").get<std::int64_t>();
    l.golden = j.at("golden");
    l.baseline = baselineFromJson(j.value("baseline_kpis", json::object()));
  } catch (const json::exception& e) {
    std::string msg = e.what();
    // "[json.exception.out_of_range.403] key 'x' not found" -> "key 'x' not found"
    if (auto p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    return bad(msg);
  }
  return l;
}

Expected<std::optional<EnvLock>> readLock(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<EnvLock>{};
  auto text = readFile(path);
  if (!text.ok()) return badInput("lock '" + path + "': cannot be read");
  auto parsed = parseJson(*text, "lock '" + path + "'");
  if (!parsed)
    return badInput(parsed.error().message() + " (expected a " + kEnvLockSchema +
                    " lock; re-record it with verify-env --record)");
  const json& j = *parsed;
  auto l = lockFromJson(j, "lock '" + path + "'");
  if (!l.ok()) return l.error();
  return std::optional<EnvLock>(std::move(*l));
}

Status writeLock(const std::string& path, const EnvLock& lock) {
  return atomicWriteFile(path, toJson(lock).dump(2) + "\n");
}

namespace {

std::optional<double> numberIn(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_object())
    for (const char* k : {"value", "rate", "point", "estimate"})
      if (auto it = v.find(k); it != v.end() && it->is_number()) return it->get<double>();
  return std::nullopt;
}

std::string escapePointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

/// Depth-first: the first number at key `key` anywhere below `j`.
std::optional<std::pair<double, std::string>> deepFind(const json& j, const std::string& key,
                                                       const std::string& at, int depth) {
  if (depth > 6 || !j.is_object()) return std::nullopt;
  if (auto it = j.find(key); it != j.end())
    if (auto v = numberIn(*it)) return std::make_pair(*v, at + "/" + escapePointer(key));
  for (const auto& [k, v] : j.items())
    if (auto r = deepFind(v, key, at + "/" + escapePointer(k), depth + 1)) return r;
  return std::nullopt;
}

/// Every object named `role` below `j` (depth-first), with its pointer.
void objectsNamed(const json& j, const std::string& role, const std::string& at, int depth,
                  std::vector<std::pair<const json*, std::string>>& out) {
  if (depth > 6 || !j.is_object()) return;
  for (const auto& [k, v] : j.items()) {
    std::string p = at + "/" + escapePointer(k);
    if (k == role && v.is_object()) out.emplace_back(&v, p);
    objectsNamed(v, role, p, depth + 1, out);
  }
}

}  // namespace

std::optional<std::pair<double, std::string>> findKpi(const json& results,
                                                      const std::vector<std::string>& keys,
                                                      const std::string& role) {
  if (!results.is_object()) return std::nullopt;
  for (const auto& key : keys) {
    for (const char* parent : {"", "subjects", "models"}) {
      const json* base = &results;
      std::string at = "/results";
      if (*parent) {
        auto it = results.find(parent);
        if (it == results.end() || !it->is_object()) continue;
        base = &*it;
        at += "/" + std::string(parent);
      }
      auto r = base->find(role);
      if (r == base->end() || !r->is_object()) continue;
      if (auto k = r->find(key); k != r->end())
        if (auto v = numberIn(*k)) return std::make_pair(*v, at + "/" + role + "/" + escapePointer(key));
    }
    std::vector<std::pair<const json*, std::string>> named;
    objectsNamed(results, role, "/results", 0, named);
    for (const auto& [obj, at] : named)
      if (auto v = deepFind(*obj, key, at, 0)) return v;
    if (auto it = results.find(key); it != results.end())
      if (auto v = numberIn(*it)) return std::make_pair(*v, "/results/" + escapePointer(key));
  }
  return std::nullopt;
}

namespace {

/// The newest report of `channel` (of schema `kind`) whose current subject has `sha`.
std::optional<std::pair<Report, std::string>> newestFor(const std::string& stateDir,
                                                        const std::string& channel,
                                                        const std::string& kind,
                                                        const std::string& sha,
                                                        std::vector<std::string>& notes) {
  auto names = listFeed(stateDir, channel);
  int scanned = 0;
  for (auto it = names.rbegin(); it != names.rend() && scanned < 100; ++it, ++scanned) {
    std::string path = feedPath(stateDir, channel, *it);
    auto r = readReport(path, kind);
    if (!r.ok()) {
      notes.push_back(channel + ": skipped '" + path + "': " + r.error().message());
      continue;
    }
    auto s = r->subjects.find("current");
    if (s == r->subjects.end() || s->second.sha256 != sha) continue;
    if (r->status == Outcome::Error) continue;
    return std::make_pair(std::move(*r), path);
  }
  return std::nullopt;
}

}  // namespace

BaselineKpis collectBaseline(const std::string& stateDir, const std::string& currentSha256) {
  BaselineKpis b;
  const std::string shortSha = currentSha256.substr(0, 12);
  auto compliance = newestFor(stateDir, "v1_compliance_feed", "cvgate.compliance", currentSha256, b.notes);
  if (!compliance) {
    b.notes.push_back("accuracy, compliance: no cvgate.compliance report for current sha256 " +
                      shortSha + "… in " + feedDir(stateDir, "v1_compliance_feed"));
  } else {
    const auto& [r, path] = *compliance;
    if (auto v = findKpi(r.results, {"accuracy", "top1_accuracy"})) {
      b.accuracy = v->first;
      b.sources["accuracy"] = {{"report", path}, {"field", v->second}};
    } else {
      b.notes.push_back("accuracy: no field 'accuracy' or 'top1_accuracy' for current in '" + path + "'");
    }
    if (auto v = findKpi(r.results, {"compliance_rate", "compliance"})) {
      b.compliance = v->first;
      b.sources["compliance"] = {{"report", path}, {"field", v->second}};
    } else {
      b.notes.push_back("compliance: no field 'compliance_rate' or 'compliance' for current in '" + path + "'");
    }
  }
  auto latency = newestFor(stateDir, "v1_latency_feed", "cvgate.latency", currentSha256, b.notes);
  if (!latency) {
    b.notes.push_back("p95: no cvgate.latency report for current sha256 " + shortSha + "… in " +
                      feedDir(stateDir, "v1_latency_feed"));
  } else {
    const auto& [r, path] = *latency;
    const Check* c = r.findCheck("latency.p95", "current");
    if (c && c->value) {
      b.p95Ms = *c->value;
      b.sources["p95_ms"] = {{"report", path}, {"field", "check latency.p95 (current) value"}};
    } else if (auto v = findKpi(r.results, {"p95_ms", "p95"})) {
      b.p95Ms = v->first;
      b.sources["p95_ms"] = {{"report", path}, {"field", v->second}};
    } else {
      b.notes.push_back("p95: no check latency.p95 with a value, nor field 'p95_ms'/'p95' for current in '" +
                        path + "'");
    }
  }
  return b;
}

}  // namespace cvgate

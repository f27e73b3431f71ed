// Innovation relay (discoveries for research) and the incident log.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "decision/Decide.h"
#include "report/Feed.h"

namespace cvgate::decision {

namespace {

const Report* accepted(const PolicyInput& in, const std::string& kind) {
  for (const auto& lr : in.reports)
    if (lr.kind == kind && lr.state == LoadedReport::State::Accepted && lr.report &&
        lr.report->status != Outcome::Error)
      return &*lr.report;
  return nullptr;
}

std::string subjectSha(const Report& r, const std::string& subject) {
  auto it = r.subjects.find(subject);
  return it == r.subjects.end() ? "" : it->second.sha256;
}

std::optional<double> number(const json& o, const char* key) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

/// The part of a patch that says what it changes (not its measurements).
std::string patchEssence(const json& p) {
  for (const char* k : {"setting", "settings", "config", "change", "name"})
    if (p.contains(k)) return p[k].dump();
  json e = json::object();
  for (const auto& [k, v] : p.items())
    if (!v.is_number()) e[k] = v;
  return e.dump();
}

void latencyPatches(const PolicyInput& in, const Config& cfg, std::vector<Discovery>& out) {
  const Report* r = accepted(in, "cvgate.latency");
  if (!r || !r->results.is_object()) return;
  std::vector<json> patches;
  if (auto it = r->results.find("patch"); it != r->results.end() && it->is_object()) patches.push_back(*it);
  if (auto it = r->results.find("patches"); it != r->results.end() && it->is_array())
    for (const auto& p : *it)
      if (p.is_object()) patches.push_back(p);
  // profile-latency's sweep: results.sweep.subjects.<role>.patch (with the sweep's speedup).
  if (auto sw = r->results.find("sweep"); sw != r->results.end() && sw->is_object() && sw->contains("subjects") &&
                                          (*sw)["subjects"].is_object()) {
    for (const auto& [role, sj] : (*sw)["subjects"].items()) {
      if (!sj.is_object() || !sj.contains("patch") || !sj["patch"].is_object()) continue;
      json p = sj["patch"];
      p["subject"] = role;
      if (auto speedup = number(sj, "speedup")) p["improvement"] = *speedup - 1.0;
      // The essence: the TOML's settings, without its comment lines (they name the cycle and figures).
      if (p.contains("toml") && p["toml"].is_string()) {
        std::string toml = p["toml"].get<std::string>(), essence, line;
        std::istringstream lines(toml);
        while (std::getline(lines, line))
          if (!line.empty() && line[0] != '#') essence += line + "\n";
        p["setting"] = essence;
      }
      for (const char* k : {"baseline", "best", "baseline_throughput_rps", "best_throughput_rps"})
        if (sj.contains(k)) p[k] = sj[k];
      patches.push_back(p);
    }
  }
  for (const auto& p : patches) {
    // The measuring tool's own verdict on its patch (profile-latency marks a
    // confirmed winner that beats the margin `recommended`).
    if (auto rec = p.find("recommended"); rec != p.end() && rec->is_boolean() && !rec->get<bool>()) continue;
    auto gain = number(p, "improvement");
    if (gain && *gain < cfg.latency.patchMargin) continue;
    Discovery d;
    d.kind = "optimisation_patch";
    d.subject = p.value("subject", "current");
    d.modelSha = subjectSha(*r, d.subject);
    d.essence = patchEssence(p);
    d.summary = p.value("summary", p.value("message", std::string("an optimisation patch beats the current setting")));
    if (gain) d.summary += " (improvement " + fmtNum(100.0 * *gain, 1) + " %)";
    d.evidence = p;
    d.source = r->schema;
    out.push_back(std::move(d));
  }
}

void temperatures(const PolicyInput& in, const Config& cfg, std::vector<Discovery>& out) {
  const Report* r = accepted(in, "cvgate.compliance");
  if (!r || !r->results.is_object()) return;
  for (const char* subject : {"current", "candidate"}) {
    auto it = r->results.find(subject);
    if (it == r->results.end() || !it->is_object() || !it->contains("temperature")) continue;
    const json& s = *it;
    const json& t = s["temperature"];
    std::optional<double> temp = t.is_number() ? std::optional<double>(t.get<double>()) : number(t, "value");
    if (!temp || !std::isfinite(*temp) || *temp <= 0) continue;
    std::optional<double> before = number(s, "ece"), after = number(s, "ece_calibrated");
    if (!after) after = number(s, "ece_after_temperature");
    if (!before) before = number(t, "ece_before");
    if (!after) after = number(t, "ece_after");
    json ev = {{"temperature", *temp}};
    std::string summary = std::string("calibration temperature ") + fmtNum(*temp, 3) + " for the " + subject;
    if (before && after) {
      if (*before - *after < cfg.compliance.temperatureMargin) continue;
      ev["ece_before"] = *before;
      ev["ece_after"] = *after;
      summary += " lowers ECE " + fmtNum(*before, 4) + " -> " + fmtNum(*after, 4);
    } else {
      if (std::fabs(*temp - 1.0) < 0.05) continue;  // no ECE figures: only a clear rescaling is news
      summary += " (ECE change not reported)";
    }
    Discovery d;
    d.kind = "calibration_temperature";
    d.subject = subject;
    d.modelSha = subjectSha(*r, subject);
    d.essence = fmtNum(*temp, 2);
    d.summary = summary;
    d.evidence = ev;
    d.source = r->schema;
    out.push_back(std::move(d));
  }
}

void classRegressions(const PolicyInput& in, std::vector<Discovery>& out) {
  const Report* r = accepted(in, "cvgate.compliance");
  if (!r || !r->results.is_object() || !r->results.contains("per_class_delta")) return;
  const json& pcd = r->results["per_class_delta"];
  std::vector<std::pair<std::string, json>> rows;
  if (pcd.is_array()) {
    for (const auto& row : pcd) {
      if (!row.is_object()) continue;
      std::string cls;
      for (const char* k : {"class", "label", "name"})
        if (row.contains(k)) {
          cls = row[k].is_string() ? row[k].get<std::string>() : row[k].dump();
          break;
        }
      rows.emplace_back(cls, row);
    }
  } else if (pcd.is_object()) {
    for (const auto& [k, v] : pcd.items()) rows.emplace_back(k, v);
  }
  for (const auto& [cls, row] : rows) {
    auto delta = number(row, "delta");
    auto p = number(row, "p_holm");
    if (!delta || !p || !(*p < 0.05) || !(*delta < 0)) continue;
    Discovery d;
    d.kind = "class_regression";
    d.subject = "candidate";
    d.modelSha = subjectSha(*r, "candidate") + "/" + subjectSha(*r, "current");
    d.essence = cls;
    d.summary = "candidate regresses on class '" + cls + "': delta " + fmtNum(100.0 * *delta, 2) +
                " points (Holm p " + fmtNum(*p, 4) + ")";
    d.evidence = row;
    d.evidence["class"] = cls;
    d.source = r->schema;
    out.push_back(std::move(d));
  }
}

void envDrift(const PolicyInput& in, std::vector<Discovery>& out) {
  const Report* r = accepted(in, "cvgate.env");
  if (!r) return;
  const Check* golden = r->findCheck("env.golden", "current");
  for (const auto& c : r->checks) {
    if (c.id.rfind("env.drift.", 0) != 0 || c.status != Outcome::Fail || c.severity != "severe") continue;
    Discovery d;
    d.kind = "environment_drift";
    d.subject = "";
    d.essence = c.id + "|" + (c.detail.is_null() ? c.message : c.detail.dump());
    d.summary = c.id + " (severe): " + c.message;
    d.evidence = toJson(c);
    if (golden) d.evidence["golden_status"] = toString(golden->status);
    d.source = r->schema;
    out.push_back(std::move(d));
  }
}

std::string incidentId(const std::string& key, const std::string& cycleId) {
  std::string tag = key == "production-breach" ? "breach" : key == "cycle-error" ? "cycle" : "x";
  std::string id = "inc-" + cycleId + "-" + tag;
  if (id.size() <= 64) return id;
  return "inc-" + sha256Hex(key + "@" + cycleId).substr(0, 16) + "-" + tag;
}

}  // namespace

std::vector<Discovery> findDiscoveries(const PolicyInput& in, const Config& config) {
  std::vector<Discovery> out;
  latencyPatches(in, config, out);
  temperatures(in, config, out);
  classRegressions(in, out);
  envDrift(in, out);
  return out;
}

std::string discoveryKey(const Discovery& d) {
  return sha256Hex(d.kind + "|" + d.subject + "|" + d.modelSha + "|" + d.essence).substr(0, 16);
}

Expected<std::vector<std::string>> publishDiscoveries(const std::string& stateDir, const std::string& cycleId,
                                                      const std::vector<Discovery>& found, bool dryRun) {
  std::set<std::string> known, toolRelayed;
  const auto names = listFeed(stateDir, "innovation_relay");
  for (const auto& entry : readFeed(stateDir, "innovation_relay").entries) {
    const json& j = entry.doc;
    if (!j.is_object()) continue;
    JsonFields f(j, "relay record");
    const std::string recCycle = f.str("cycle_id"), recKind = f.str("kind"), recSubject = f.str("subject");
    if (!f.ok()) {
      spdlog::warn("skipping relay record '{}': {}", entry.path, f.status().error().message());
      continue;
    }
    if (j.contains("key") && j["key"].is_string()) {
      known.insert(j["key"].get<std::string>());
    } else if (recCycle == cycleId) {
      // A keyless record of this cycle: written by a measuring tool of an
      // earlier release, when tools relayed their own patches ("latency-patch",
      // "calibration-temperature"). decide is now the relay's one writer;
      // such a record still keeps its discovery from being relayed twice.
      std::string k = recKind;
      std::replace(k.begin(), k.end(), '-', '_');
      if (k == "latency_patch") k = "optimisation_patch";
      toolRelayed.insert(k + "|" + recSubject);
    }
  }
  std::vector<std::string> paths;
  int n = 0;
  for (const auto& d : found) {
    std::string key = discoveryKey(d);
    if (toolRelayed.count(d.kind + "|" + d.subject)) continue;
    if (!known.insert(key).second) continue;
    std::string name;
    do {
      name = cycleId + "-" + std::to_string(++n);
    } while (std::find(names.begin(), names.end(), name) != names.end());
    json rec = {{"schema", currentSchema("cvgate.relay")},
                {"key", key},
                {"kind", d.kind},
                {"cycle_id", cycleId},
                {"found_at", nowIsoUtc()},
                {"subject", d.subject},
                {"model_sha256", d.modelSha},
                {"summary", d.summary},
                {"evidence", d.evidence},
                {"source", d.source}};
    if (dryRun) {
      paths.push_back("(dry run) " + d.kind + ": " + d.summary);
      continue;
    }
    CVGATE_TRY_ASSIGN(p, publishJson(stateDir, "innovation_relay", name, rec));
    spdlog::info("innovation relay: {} ({})", d.summary, p);
    paths.push_back(p);
  }
  return paths;
}

std::vector<json> readIncidents(const std::string& stateDir) {
  std::vector<json> out;
  // Only records whose fields have the types the readers use.
  auto problem = [](const json& j) -> std::string {
    if (!j.is_object()) return "not a JSON object";
    JsonFields f(j, "incident record");
    f.require("id");
    f.str("id");
    f.str("key");
    f.str("status");
    f.str("what");
    f.optStr("resolved_at");
    f.str("last_cycle");
    f.integer("cycles");
    f.array("evidence");
    return f.ok() ? std::string() : f.status().error().message();
  };
  for (auto& e : readFeed(stateDir, "incidents", problem).entries) out.push_back(std::move(e.doc));
  return out;
}

Expected<std::vector<std::string>> updateIncidents(const std::string& stateDir, const std::string& cycleId,
                                                   const std::vector<IncidentUpdate>& open,
                                                   const std::vector<std::string>& resolvedKeys, bool dryRun,
                                                   const std::string& now) {
  auto all = readIncidents(stateDir);
  auto findOpen = [&](const std::string& key) -> json* {
    for (auto& j : all)
      if (j.value("key", "") == key && j.value("resolved_at", json(nullptr)).is_null()) return &j;
    return nullptr;
  };
  std::vector<std::string> ids;
  auto write = [&](const json& j) -> Status {
    if (dryRun) return okStatus();
    auto p = publishJson(stateDir, "incidents", j["id"].get<std::string>(), j);
    if (!p.ok()) return p.error();
    return okStatus();
  };
  for (const auto& u : open) {
    json* j = findOpen(u.key);
    json rec;
    if (j) {
      rec = *j;
    } else {
      rec = {{"schema", currentSchema("cvgate.incident")},
             {"id", incidentId(u.key, cycleId)},
             {"key", u.key},
             {"status", "open"},
             {"opened_at", now},
             {"opened_cycle", cycleId},
             {"evidence", json::array()},
             {"action", json::array()},
             {"cycles", 0},
             {"resolved_at", nullptr},
             {"resolved_cycle", nullptr}};
      spdlog::warn("incident {} opened: {}", rec["id"].get<std::string>(), u.what);
    }
    if (rec.value("last_cycle", "") != cycleId) rec["cycles"] = rec.value("cycles", 0) + 1;
    rec["updated_at"] = now;
    rec["last_cycle"] = cycleId;
    rec["what"] = u.what;
    json ev = u.evidence;
    ev["at"] = now;
    rec["evidence"].push_back(ev);
    while (rec["evidence"].size() > 50) rec["evidence"].erase(0);
    rec["action"].push_back({{"cycle_id", cycleId}, {"at", now}, {"action", u.action}});
    while (rec["action"].size() > 50) rec["action"].erase(0);
    CVGATE_TRY(write(rec));
    ids.push_back(rec["id"].get<std::string>());
  }
  for (const auto& key : resolvedKeys) {
    json* j = findOpen(key);
    if (!j) continue;
    json rec = *j;
    rec["status"] = "resolved";
    rec["resolved_at"] = now;
    rec["resolved_cycle"] = cycleId;
    rec["updated_at"] = now;
    rec["action"].push_back({{"cycle_id", cycleId}, {"at", now}, {"action", key == "production-breach" ? "resolved: production within its objectives in this cycle" : "resolved: this cycle's reports were valid and its action succeeded"}});
    spdlog::info("incident {} resolved", rec["id"].get<std::string>());
    CVGATE_TRY(write(rec));
    ids.push_back(rec["id"].get<std::string>());
  }
  return ids;
}

}  // namespace cvgate::decision

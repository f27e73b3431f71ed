#include "report/Report.h"

#include <algorithm>
#include <cmath>

#include "common/ExitCodes.h"
#include "common/Fs.h"
#include "common/Json.h"
#include "common/Time.h"
#include "common/Version.h"

namespace cvgate {

std::string toString(Outcome o) {
  switch (o) {
    case Outcome::Pass: return "pass";
    case Outcome::Fail: return "fail";
    case Outcome::Inconclusive: return "inconclusive";
    case Outcome::Error: return "error";
  }
  return "error";
}

Expected<Outcome> outcomeFromString(const std::string& s) {
  if (s == "pass") return Outcome::Pass;
  if (s == "fail") return Outcome::Fail;
  if (s == "inconclusive") return Outcome::Inconclusive;
  if (s == "error") return Outcome::Error;
  return badInput("status '" + s + "': expected pass, fail, inconclusive or error");
}

static int rank(Outcome o) {
  switch (o) {
    case Outcome::Pass: return 0;
    case Outcome::Inconclusive: return 1;
    case Outcome::Fail: return 2;
    case Outcome::Error: return 3;
  }
  return 3;
}

Outcome worst(Outcome a, Outcome b) { return rank(a) >= rank(b) ? a : b; }

int exitCodeFor(Outcome o) {
  switch (o) {
    case Outcome::Pass: return exitcode::kGo;
    case Outcome::Fail: return exitcode::kPause;
    case Outcome::Inconclusive: return exitcode::kInconclusive;
    case Outcome::Error: return exitcode::kInternal;
  }
  return exitcode::kInternal;
}

void Report::settleStatus() {
  if (!error.empty()) {
    status = Outcome::Error;
    return;
  }
  if (checks.empty()) {
    status = Outcome::Inconclusive;
    return;
  }
  Outcome o = Outcome::Pass;
  for (const auto& c : checks) o = worst(o, c.status);
  status = o;
}

const Check* Report::findCheck(const std::string& id, const std::string& subject) const {
  for (const auto& c : checks)
    if (c.id == id && (subject.empty() || c.subject == subject)) return &c;
  return nullptr;
}

static json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json toJson(const Check& c) {
  json j = {{"id", c.id}, {"subject", c.subject}, {"status", toString(c.status)},
            {"message", c.message}};
  if (c.value) j["value"] = num(*c.value);
  if (c.threshold) j["threshold"] = num(*c.threshold);
  if (!c.unit.empty()) j["unit"] = c.unit;
  if (c.ci) j["ci"] = json::array({num(c.ci->first), num(c.ci->second)});
  if (!c.severity.empty()) j["severity"] = c.severity;
  if (!c.need.is_null()) j["need"] = c.need;
  if (!c.detail.is_null()) j["detail"] = c.detail;
  return j;
}

Expected<Check> checkFromJson(const json& j) {
  if (!j.is_object()) return badInput("check: expected an object");
  JsonFields f(j, "check");
  f.require("id").require("status");
  Check c;
  c.id = f.str("id");
  const std::string status = f.str("status");
  c.subject = f.str("subject");
  c.message = f.str("message");
  c.unit = f.str("unit");
  c.severity = f.str("severity");
  c.value = f.optNum("value");
  c.threshold = f.optNum("threshold");
  CVGATE_TRY(f.status());
  if (c.id.empty()) return badInput("check: field 'id': expected a non-empty string");
  CVGATE_TRY_ASSIGN(st, outcomeFromString(status));
  c.status = st;
  if (auto it = j.find("ci"); it != j.end() && it->is_array() && it->size() == 2 &&
                              (*it)[0].is_number() && (*it)[1].is_number())
    c.ci = std::make_pair((*it)[0].get<double>(), (*it)[1].get<double>());
  if (j.contains("need")) c.need = j["need"];
  if (j.contains("detail")) c.detail = j["detail"];
  return c;
}

json toJson(const Report& r) {
  json subjects = json::object();
  for (const auto& [role, s] : r.subjects) {
    json sj = {{"model", s.model}, {"sha256", s.sha256}};
    if (!s.path.empty()) sj["path"] = s.path;
    subjects[role] = sj;
  }
  json checks = json::array();
  for (const auto& c : r.checks) checks.push_back(toJson(c));
  json j = {{"schema", r.schema},         {"tool", r.tool},
            {"tool_version", r.toolVersion}, {"cycle_id", r.cycleId},
            {"started_at", r.startedAt},  {"finished_at", r.finishedAt},
            {"subjects", subjects},       {"inputs", r.inputs},
            {"status", toString(r.status)}, {"checks", checks},
            {"results", r.results}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

const std::vector<SchemaInfo>& knownSchemas() {
  static const std::vector<SchemaInfo> k = {
      {"cvgate.env", 1, 1, "v1_baseline_feed"},
      {"cvgate.latency", 1, 1, "v1_latency_feed"},
      {"cvgate.compliance", 1, 1, "v1_compliance_feed"},
      {"cvgate.integration", 1, 1, "v1_integration_feed"},
      {"cvgate.rollback", 1, 1, "v1_rollback_feed"},
      {"cvgate.verdict", 1, 1, "verdicts"},
      {"cvgate.relay", 1, 1, "innovation_relay"},
      {"cvgate.incident", 1, 1, "incidents"},
  };
  return k;
}

static const SchemaInfo* findSchema(const std::string& kind) {
  for (const auto& s : knownSchemas())
    if (kind == s.kind) return &s;
  return nullptr;
}

std::string currentSchema(const std::string& kind) {
  const SchemaInfo* s = findSchema(kind);
  return s ? kind + "/" + std::to_string(s->version) : kind + "/?";
}

Expected<Report> reportFromJson(const json& j, const std::string& kind) {
  if (!j.is_object()) return badInput("expected a JSON object (a cvgate report)");
  if (!j.contains("schema") || !j["schema"].is_string())
    return badInput("missing 'schema': not a cvgate report");
  std::string schema = j["schema"].get<std::string>();
  auto slash = schema.find('/');
  std::string k = schema.substr(0, slash);
  int version = 0;
  try {
    version = slash == std::string::npos ? 0 : std::stoi(schema.substr(slash + 1));
  } catch (...) {
    version = 0;
  }
  const SchemaInfo* info = findSchema(k);
  if (!info || version <= 0) return badInput("unknown schema '" + schema + "'");
  if (!kind.empty() && k != kind)
    return badInput("schema '" + schema + "': expected a " + currentSchema(kind) + " report");
  if (version > info->version)
    return badInput("schema '" + schema + "' is newer than this cvgate reads (" +
                    currentSchema(k) + "); upgrade cvgate");
  if (version < info->oldestReadable)
    return badInput("schema '" + schema + "' is too old (oldest read: " + k + "/" +
                    std::to_string(info->oldestReadable) + ")");
  JsonFields f(j, "report");
  f.require("tool").require("cycle_id").require("status");
  Report r;
  r.schema = schema;
  r.tool = f.str("tool");
  r.toolVersion = f.str("tool_version");
  r.cycleId = f.str("cycle_id");
  r.startedAt = f.str("started_at");
  r.finishedAt = f.str("finished_at");
  const std::string status = f.str("status");
  r.error = f.str("error");
  const json subjects = f.object("subjects");
  const json inputs = f.object("inputs");
  CVGATE_TRY(f.status());
  if (!j.contains("checks") || !j["checks"].is_array()) return badInput("report: missing array 'checks'");
  CVGATE_TRY_ASSIGN(st, outcomeFromString(status));
  r.status = st;
  for (const auto& [role, sj] : subjects.items()) {
    if (!sj.is_object()) return badInput("subjects." + role + ": expected an object");
    JsonFields sf(sj, "subjects." + role);
    Subject s{sf.str("model"), sf.str("sha256"), sf.str("path")};
    CVGATE_TRY(sf.status());
    r.subjects[role] = std::move(s);
  }
  r.inputs = inputs;
  if (auto it = j.find("results"); it != j.end()) r.results = *it;
  for (const auto& cj : j["checks"]) {
    auto c = checkFromJson(cj);
    if (!c.ok()) return c.error();
    r.checks.push_back(std::move(*c));
  }
  return r;
}

Expected<Report> readReport(const std::string& path, const std::string& kind) {
  CVGATE_TRY_ASSIGN(j, readJsonFile(path));
  auto r = reportFromJson(j, kind);
  if (!r.ok()) return r.error().context("'" + path + "'");
  return r;
}

Status writeReport(const std::string& path, const Report& r) {
  return writeOutputFile(path, toJson(r).dump(2) + "\n");
}

Report newReport(const std::string& tool, const std::string& kind, const std::string& cycleId) {
  Report r;
  r.schema = currentSchema(kind);
  r.tool = tool;
  r.toolVersion = kVersion;
  r.cycleId = cycleId;
  r.startedAt = nowIsoUtc();
  r.finishedAt = r.startedAt;
  return r;
}

Report errorReport(const std::string& tool, const std::string& kind, const std::string& cycleId,
                   const std::string& why) {
  Report r = newReport(tool, kind, cycleId);
  r.error = why;
  r.status = Outcome::Error;
  return r;
}

}  // namespace cvgate

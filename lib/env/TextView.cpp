// The --format text view of a verify-env report: the same Report the JSON
// view prints, laid out as tables for a person at a terminal.
#include <algorithm>
#include <sstream>

#include "common/Strings.h"
#include "env/VerifyEnv.h"

namespace cvgate {

namespace {

using json = nlohmann::json;

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return fmtNum(v.get<double>(), 4);
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string clip(std::string s, std::size_t n) {
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

/// Rows of cells as a left-aligned table with a header rule.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  std::ostringstream out;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& r = rows[k];
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    out << "  " << line << "\n";
    if (k == 0) {
      std::size_t total = 0;
      for (std::size_t i = 0; i < w.size(); ++i) total += w[i] + (i + 1 < w.size() ? 2 : 0);
      out << "  " << std::string(std::min<std::size_t>(total, 110), '-') << "\n";
    }
  }
  return out.str();
}

}  // namespace

std::string renderText(const Report& r) {
  std::ostringstream out;
  const json& res = r.results;
  out << r.tool << " " << r.toolVersion << "  cycle " << r.cycleId << "  status " << toString(r.status)
      << "\n";
  if (!r.error.empty()) out << "error: " << r.error << "\n";
  for (const auto& [role, s] : r.subjects)
    out << role << ": " << (s.model.empty() ? "?" : s.model) << "  " << s.sha256.substr(0, 12) << "  "
        << s.path << "\n";
  if (res.contains("env_hash")) out << "env_hash: " << cell(res["env_hash"]) << "\n";
  if (res.contains("lock") && res["lock"].is_object())
    out << "lock: " << cell(res["lock"].value("path", json())) << "  "
        << (res["lock"].value("present", false) ? "recorded " + cell(res["lock"].value("recorded_at", json()))
                                                : std::string("absent"))
        << (res["lock"].value("recorded", false) ? "  (written by this run)" : "") << "\n";

  out << "\nChecks\n";
  std::vector<std::vector<std::string>> rows = {{"STATUS", "CHECK", "SUBJECT", "SEVERITY", "MESSAGE"}};
  for (const auto& c : r.checks)
    rows.push_back({toString(c.status), c.id, c.subject.empty() ? "-" : c.subject,
                    c.severity.empty() ? "-" : c.severity, clip(c.message, 150)});
  out << table(rows);

  if (res.contains("baseline") && res["baseline"].contains("kpis")) {
    out << "\nBaseline KPIs of the current model (blessed with the lock | newest reports)\n";
    std::vector<std::vector<std::string>> k = {{"KPI", "UNIT", "BLESSED", "LATEST"}};
    for (const auto& row : res["baseline"]["kpis"])
      k.push_back({cell(row.value("kpi", json())), cell(row.value("unit", json())),
                   cell(row.value("blessed", json())), cell(row.value("latest", json()))});
    out << table(k);
  }

  if (res.contains("fingerprint") && res["fingerprint"].is_array()) {
    out << "\nFingerprint (hashed parts enter env_hash)\n";
    std::vector<std::vector<std::string>> f = {{"PART", "SEVERITY", "HASHED", "VALUE"}};
    for (const auto& p : res["fingerprint"]) {
      const json& v = p.value("value", json());
      std::string shown;
      if (v.is_object() && v.contains("provider")) shown = cell(v["provider"]) + " " + cell(v.value("path", json()));
      else if (v.is_object() && v.contains("path")) shown = cell(v["path"]) + " " + cell(v.value("sha256", json())).substr(0, 12);
      else if (v.is_array() && !v.empty() && v[0].is_object()) shown = std::to_string(v.size()) + " libraries";
      else shown = cell(v);
      f.push_back({cell(p.value("name", json())), cell(p.value("severity", json())),
                   p.value("hashed", false) ? "yes" : "no", clip(shown, 90)});
    }
    out << table(f);
  }
  if (res.contains("risks") && res["risks"].is_array() && !res["risks"].empty()) {
    out << "\nPerformance risks\n";
    for (const auto& s : res["risks"]) out << "  - " << cell(s) << "\n";
  }
  if (res.contains("notes") && res["notes"].is_array() && !res["notes"].empty()) {
    out << "\nNotes\n";
    for (const auto& s : res["notes"]) out << "  - " << cell(s) << "\n";
  }
  if (res.contains("timing_ms") && res["timing_ms"].contains("total"))
    out << "\nfinished in " << fmtNum(res["timing_ms"]["total"].get<double>(), 0) << " ms\n";
  return out.str();
}

}  // namespace cvgate

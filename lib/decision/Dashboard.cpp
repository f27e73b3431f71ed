// The monitoring dashboard: one self-contained HTML page (inline SVG, no
// script, no network) over the verdicts feed, the registry's history and the
// incidents feed.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "decision/Decide.h"
#include "report/Feed.h"

namespace cvgate::decision {

namespace fs = std::filesystem;

namespace {

std::optional<double> num(const json& j, const char* a, const char* b) {
  if (!j.is_object() || !j.contains(a) || !j[a].is_object()) return std::nullopt;
  const json& o = j[a];
  if (!o.contains(b) || !o[b].is_number()) return std::nullopt;
  return o[b].get<double>();
}

std::optional<std::pair<double, double>> ci(const json& j, const char* a, const char* b) {
  if (!j.is_object() || !j.contains(a) || !j[a].is_object()) return std::nullopt;
  const json& o = j[a];
  if (!o.contains(b) || !o[b].is_array() || o[b].size() != 2 || !o[b][0].is_number() || !o[b][1].is_number())
    return std::nullopt;
  return std::make_pair(o[b][0].get<double>(), o[b][1].get<double>());
}

const char* verdictColour(const std::string& v) {
  if (v == "GO") return "#1a7f37";
  if (v == "ROLLBACK") return "#cf222e";
  return "#bf8700";
}

struct Series {
  std::string name;
  std::string colour;
  std::vector<std::optional<double>> y;
  std::vector<std::optional<std::pair<double, double>>> band;
};

struct Marker {
  std::size_t x;
  std::string colour;
  std::string label;
};

std::string fmtAxis(double v, double scale) {
  return fmtNum(v * scale, std::fabs(v * scale) >= 100 ? 0 : std::fabs(v * scale) >= 10 ? 1 : 2);
}

/// One line chart of a KPI per cycle against its objective.
std::string chart(const std::string& title, const std::string& unit, double scale, const std::vector<Series>& series,
                  std::optional<double> objective, const std::string& objectiveLabel,
                  const std::vector<std::string>& xLabels, const std::vector<Marker>& markers) {
  const double W = 1180, H = 250, L = 78, R = 56, T = 44, B = 44;
  const std::size_t n = xLabels.size();
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& s : series) {
    for (std::size_t i = 0; i < n; ++i) {
      if (s.y[i]) hi = std::max(hi, *s.y[i]), lo = std::min(lo, *s.y[i]), any = true;
      if (s.band[i]) hi = std::max(hi, s.band[i]->second), lo = std::min(lo, s.band[i]->first);
    }
  }
  bool objectiveOffScale = false;
  if (objective) {
    if (!any || *objective <= 4 * std::max(hi, 1e-12)) hi = std::max(hi, *objective), lo = std::min(lo, *objective);
    else objectiveOffScale = true;
  }
  if (hi <= lo) hi = lo + 1;
  hi += 0.12 * (hi - lo);
  auto X = [&](std::size_t i) { return n <= 1 ? L + (W - L - R) / 2 : L + (W - L - R) * static_cast<double>(i) / static_cast<double>(n - 1); };
  auto Y = [&](double v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='100%' viewBox='0 0 " << W << " " << H
    << "' role='img' aria-label='" << htmlEscape(title) << "'>\n";
  o << "<rect x='0' y='0' width='" << W << "' height='" << H << "' fill='#ffffff'/>\n";
  o << "<text x='" << L << "' y='20' font-size='15' font-weight='bold' fill='#24292f'>" << htmlEscape(title) << "</text>\n";
  // Grid and y axis labels.
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4.0;
    double y = Y(v);
    o << "<line x1='" << L << "' x2='" << W - R << "' y1='" << y << "' y2='" << y << "' stroke='#eaeef2'/>\n";
    o << "<text x='" << L - 8 << "' y='" << y + 4 << "' font-size='12' text-anchor='end' fill='#57606a'>"
      << fmtAxis(v, scale) << "</text>\n";
  }
  o << "<text x='14' y='" << (T + H - B) / 2 << "' font-size='12' fill='#57606a' transform='rotate(-90 14 "
    << (T + H - B) / 2 << ")' text-anchor='middle'>" << htmlEscape(unit) << "</text>\n";
  // Deploy / rollback markers.
  for (const auto& m : markers) {
    double x = X(m.x);
    o << "<line x1='" << x << "' x2='" << x << "' y1='" << T << "' y2='" << H - B << "' stroke='" << m.colour
      << "' stroke-width='2' stroke-dasharray='2 3'/>\n";
    o << "<text x='" << x + 3 << "' y='" << T + 12 << "' font-size='11' fill='" << m.colour << "'>" << htmlEscape(m.label) << "</text>\n";
  }
  // Objective.
  if (objective && !objectiveOffScale) {
    double y = Y(*objective);
    o << "<line x1='" << L << "' x2='" << W - R << "' y1='" << y << "' y2='" << y
      << "' stroke='#cf222e' stroke-width='1.5' stroke-dasharray='6 4'/>\n";
    o << "<text x='" << W - R << "' y='" << y - 5 << "' font-size='12' text-anchor='end' fill='#cf222e'>"
      << htmlEscape(objectiveLabel) << "</text>\n";
  } else if (objective) {
    o << "<text x='" << W - R << "' y='20' font-size='12' text-anchor='end' fill='#cf222e'>" << htmlEscape(objectiveLabel)
      << " (above the plotted range)</text>\n";
  }
  // Series: interval bars, line, points.
  for (const auto& s : series) {
    for (std::size_t i = 0; i < n; ++i)
      if (s.band[i])
        o << "<line x1='" << X(i) << "' x2='" << X(i) << "' y1='" << Y(s.band[i]->first) << "' y2='"
          << Y(s.band[i]->second) << "' stroke='" << s.colour << "' stroke-opacity='0.45' stroke-width='6'/>\n";
    std::string path;
    for (std::size_t i = 0; i < n; ++i) {
      if (!s.y[i]) continue;
      path += (path.empty() ? "M" : " L") + fmtNum(X(i), 1) + " " + fmtNum(Y(*s.y[i]), 1);
    }
    if (!path.empty())
      o << "<path d='" << path << "' fill='none' stroke='" << s.colour << "' stroke-width='2'/>\n";
    for (std::size_t i = 0; i < n; ++i)
      if (s.y[i])
        o << "<circle cx='" << X(i) << "' cy='" << Y(*s.y[i]) << "' r='3.5' fill='" << s.colour << "'><title>"
          << htmlEscape(s.name + " " + xLabels[i] + ": " + fmtAxis(*s.y[i], scale) + " " + unit) << "</title></circle>\n";
  }
  // X labels: at most ~10.
  std::size_t step = std::max<std::size_t>(1, (n + 9) / 10);
  for (std::size_t i = 0; i < n; i += step)
    o << "<text x='" << X(i) << "' y='" << H - B + 18 << "' font-size='11' text-anchor='middle' fill='#57606a'>"
      << htmlEscape(xLabels[i]) << "</text>\n";
  // Legend.
  double lx = L;
  for (const auto& s : series) {
    o << "<rect x='" << lx << "' y='29' width='14' height='4' fill='" << s.colour << "'/>"
      << "<text x='" << lx + 20 << "' y='35' font-size='12' fill='#24292f'>" << htmlEscape(s.name) << "</text>\n";
    lx += 30 + 8 * static_cast<double>(s.name.size());
  }
  if (!any)
    o << "<text x='" << W / 2 << "' y='" << H / 2 << "' font-size='14' text-anchor='middle' fill='#57606a'>no data yet</text>\n";
  o << "</svg>\n";
  return o.str();
}

std::string shortCycle(const std::string& id) {
  // "20261125T2100Z-3f2a" -> "11-25 21:00"
  if (id.size() >= 14 && id[8] == 'T')
    return id.substr(4, 2) + "-" + id.substr(6, 2) + " " + id.substr(9, 2) + ":" + id.substr(11, 2);
  return id.size() > 14 ? id.substr(0, 14) : id;
}

}  // namespace

std::string renderDashboard(const std::string& stateDir, const Objectives& ob) {
  // Verdict history (newest 200).
  std::vector<json> verdicts;
  for (auto& e : readFeed(stateDir, "verdicts", verdictRecordProblem).entries) verdicts.push_back(std::move(e.doc));
  if (verdicts.size() > 200) verdicts.erase(verdicts.begin(), verdicts.end() - 200);
  const std::size_t n = verdicts.size();
  std::vector<std::string> labels;
  std::map<std::string, std::size_t> indexOf;
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = verdicts[i].value("cycle_id", "");
    labels.push_back(shortCycle(id));
    indexOf[id] = i;
  }
  // Registry history: deploys and rollbacks of these cycles.
  std::vector<Marker> markers;
  std::vector<json> regHistory;
  if (auto parsed = readJsonFile((fs::path(stateDir) / "registry" / "state.json").string()); parsed.ok()) {
    const json& st = *parsed;
    if (st.is_object() && st.contains("history") && st["history"].is_array())
      for (const auto& h : st["history"]) {
        if (!h.is_object() || !h.contains("op") || !h["op"].is_string()) continue;
        std::string op = h["op"].get<std::string>();
        if (op != "deploy" && op != "rollback") continue;
        regHistory.push_back(h);
        std::string cyc = h.contains("cycle_id") && h["cycle_id"].is_string() ? h["cycle_id"].get<std::string>() : "";
        if (auto it = indexOf.find(cyc); it != indexOf.end())
          markers.push_back({it->second, op == "deploy" ? "#1a7f37" : "#cf222e", op});
      }
  }
  auto seriesOf = [&](const std::string& name, const char* colour, const char* subject, const char* key,
                      const char* ciKey) {
    Series s{name, colour, {}, {}};
    for (const auto& v : verdicts) {
      const json& k = v["results"].value("kpis", json::object());
      s.y.push_back(num(k, subject, key));
      s.band.push_back(ciKey ? ci(k, subject, ciKey) : std::nullopt);
    }
    return s;
  };
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n<title>cvgate monitoring</title>\n"
    << "<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#24292f;background:#f6f8fa;font-size:14px}"
    << "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}"
    << ".card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px;margin-bottom:14px}"
    << "table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}"
    << "th{background:#eaeef2}.v{font-weight:bold;color:#fff;padding:2px 8px;border-radius:4px}"
    << ".muted{color:#57606a}</style></head><body>\n";
  o << "<h1>cvgate monitoring</h1>\n<div class='muted'>state directory " << htmlEscape(stateDir) << " · " << n
    << " cycles · generated " << htmlEscape(nowIsoUtc()) << " · objectives: P95 &lt; " << fmtNum(ob.p95LatencyMs, 0)
    << " ms, error rate &lt; " << fmtNum(100 * ob.maxErrorRate, 2) << " %, throughput &ge; "
    << fmtNum(ob.minThroughputRps, 0) << " req/s, compliance uplift &ge; " << fmtNum(100 * ob.minComplianceUplift, 1)
    << " %</div>\n";
  if (n > 0) {
    const json& last = verdicts.back();
    std::string v = last["results"].value("verdict", "?");
    o << "<h2>Last verdict</h2><div class='card'><span class='v' style='background:" << verdictColour(v) << "'>"
      << htmlEscape(v) << "</span> cycle " << htmlEscape(last.value("cycle_id", "")) << " — "
      << htmlEscape(last["results"].value("summary", "")) << "</div>\n";
  }
  // Verdict strip.
  o << "<h2>Verdicts per cycle</h2><div class='card'><svg xmlns='http://www.w3.org/2000/svg' width='100%' viewBox='0 0 1180 46'>";
  for (std::size_t i = 0; i < n; ++i) {
    double w = 1080.0 / static_cast<double>(std::max<std::size_t>(n, 1));
    double x = 78 + w * static_cast<double>(i);
    std::string v = verdicts[i]["results"].value("verdict", "?");
    o << "<rect x='" << x << "' y='6' width='" << std::max(2.0, w - 2) << "' height='22' fill='" << verdictColour(v)
      << "'><title>" << htmlEscape(verdicts[i].value("cycle_id", "") + ": " + v) << "</title></rect>";
    if (w >= 40)
      o << "<text x='" << x + w / 2 - 1 << "' y='22' font-size='11' text-anchor='middle' fill='#fff'>" << htmlEscape(v) << "</text>";
  }
  o << "<text x='0' y='22' font-size='12' fill='#57606a'>verdict</text>";
  o << "<text x='78' y='42' font-size='11' fill='#57606a'>GO green · PAUSE amber · ROLLBACK red; dashed lines: deploy (green), rollback (red)</text>";
  o << "</svg></div>\n";
  o << "<div class='card'>"
    << chart("P95 latency per cycle (bars: confidence interval)", "ms", 1.0,
             {seriesOf("current", "#0969da", "current", "p95_ms", "p95_ci"),
              seriesOf("candidate", "#8250df", "candidate", "p95_ms", "p95_ci")},
             ob.p95LatencyMs, "objective < " + fmtNum(ob.p95LatencyMs, 0) + " ms", labels, markers)
    << "</div>\n<div class='card'>"
    << chart("Error rate per cycle", "%", 100.0,
             {seriesOf("current", "#0969da", "current", "error_rate", "error_rate_ci"),
              seriesOf("candidate", "#8250df", "candidate", "error_rate", "error_rate_ci")},
             ob.maxErrorRate, "objective < " + fmtNum(100 * ob.maxErrorRate, 2) + " %", labels, markers)
    << "</div>\n<div class='card'>"
    << chart("Sustained throughput per cycle", "req/s", 1.0,
             {seriesOf("current", "#0969da", "current", "throughput_rps", nullptr),
              seriesOf("candidate", "#8250df", "candidate", "throughput_rps", nullptr)},
             ob.minThroughputRps, "objective >= " + fmtNum(ob.minThroughputRps, 0) + " req/s", labels, markers)
    << "</div>\n<div class='card'>"
    << chart("Compliance uplift of the candidate per cycle (bars: confidence interval)", "%", 100.0,
             {seriesOf("candidate uplift", "#8250df", "candidate", "uplift", "uplift_ci")},
             ob.minComplianceUplift, "objective >= " + fmtNum(100 * ob.minComplianceUplift, 1) + " %", labels, markers)
    << "</div>\n<div class='card'>"
    << chart("Compliance rate per cycle", "%", 100.0,
             {seriesOf("current", "#0969da", "current", "compliance_rate", nullptr),
              seriesOf("candidate", "#8250df", "candidate", "compliance_rate", nullptr)},
             std::nullopt, "", labels, markers)
    << "</div>\n";
  // Incidents.
  auto incidents = readIncidents(stateDir);
  o << "<h2>Open incidents</h2>\n<table><tr><th>id</th><th>what</th><th>opened</th><th>updated</th><th>cycles</th><th>last action</th></tr>\n";
  int open = 0;
  for (const auto& inc : incidents) {
    if (!inc.value("resolved_at", json(nullptr)).is_null()) continue;
    ++open;
    std::string lastAction;
    if (inc.contains("action") && inc["action"].is_array() && !inc["action"].empty())
      lastAction = inc["action"].back().value("action", "");
    o << "<tr><td>" << htmlEscape(inc.value("id", "")) << "</td><td>" << htmlEscape(inc.value("what", "")) << "</td><td>"
      << htmlEscape(inc.value("opened_at", "")) << "</td><td>" << htmlEscape(inc.value("updated_at", "")) << "</td><td>"
      << inc.value("cycles", 0) << "</td><td>" << htmlEscape(lastAction) << "</td></tr>\n";
  }
  if (open == 0) o << "<tr><td colspan='6' class='muted'>none</td></tr>\n";
  o << "</table>\n";
  // Deploys and rollbacks.
  o << "<h2>Deploys and rollbacks</h2>\n<table><tr><th>when</th><th>op</th><th>cycle</th><th>from</th><th>to</th><th>note</th></tr>\n";
  for (auto it = regHistory.rbegin(); it != regHistory.rend(); ++it) {
    auto s = [&](const char* k) { return (*it).contains(k) && (*it)[k].is_string() ? (*it)[k].get<std::string>() : std::string("–"); };
    o << "<tr><td>" << htmlEscape(s("at")) << "</td><td>" << htmlEscape(s("op")) << "</td><td>" << htmlEscape(s("cycle_id")) << "</td><td>"
      << htmlEscape(s("from").substr(0, 12)) << "</td><td>" << htmlEscape(s("to").substr(0, 12)) << "</td><td>" << htmlEscape(s("note"))
      << "</td></tr>\n";
  }
  if (regHistory.empty()) o << "<tr><td colspan='6' class='muted'>none</td></tr>\n";
  o << "</table>\n";
  // Recent verdicts.
  o << "<h2>Recent verdicts</h2>\n<table><tr><th>cycle</th><th>verdict</th><th>summary</th></tr>\n";
  for (std::size_t k = 0; k < std::min<std::size_t>(n, 15); ++k) {
    const json& v = verdicts[n - 1 - k];
    std::string vv = v["results"].value("verdict", "?");
    o << "<tr><td>" << htmlEscape(v.value("cycle_id", "")) << "</td><td><span class='v' style='background:" << verdictColour(vv)
      << "'>" << htmlEscape(vv) << "</span></td><td>" << htmlEscape(v["results"].value("summary", "")) << "</td></tr>\n";
  }
  if (n == 0) o << "<tr><td colspan='3' class='muted'>no verdicts yet</td></tr>\n";
  o << "</table>\n</body></html>\n";
  return o.str();
}

}  // namespace cvgate::decision

// The eval-compliance dashboard: one self-contained HTML page over the
// report's JSON (a second reporter over the same result). Inline SVG only,
// no script, no network.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/Strings.h"
#include "compliance/Compliance.h"

namespace cvgate::compliance {

namespace {

using nlohmann::json;

double numOr(const json& j, const char* key, double dflt = std::nan("")) {
  if (!j.is_object()) return dflt;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : dflt;
}

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string f(double v, int d = 3) { return std::isfinite(v) ? fmtNum(v, d) : "n/a"; }
std::string pc(double v, int d = 1) { return std::isfinite(v) ? fmtNum(100.0 * v, d) + "%" : "n/a"; }
std::string spc(double v, int d = 1) {
  return std::isfinite(v) ? (v >= 0 ? "+" : "\xE2\x88\x92") + fmtNum(100.0 * std::fabs(v), d) + "%" : "n/a";
}

std::string pval(double p) {
  if (!std::isfinite(p)) return "n/a";
  return p < 1e-4 ? "< 0.0001" : fmtNum(p, 4);
}

/// A difference of two fractions in percentage points: "+3.0 pp".
std::string pts(double v) {
  return std::isfinite(v) ? (v >= 0 ? "+" : "\xE2\x88\x92") + fmtNum(100.0 * std::fabs(v), 1) + " pp" : "n/a";
}

const char* statusColour(const std::string& s) {
  if (s == "pass") return "#1a7f37";
  if (s == "fail") return "#cf222e";
  if (s == "inconclusive") return "#9a6700";
  return "#8250df";
}

std::string pill(const std::string& s) {
  return std::string("<span class=\"pill\" style=\"background:") + statusColour(s) + "\">" + htmlEscape(s) + "</span>";
}

const char* kCur = "#5b7db1";   // current (baseline)
const char* kCand = "#e07b24";  // candidate

/// A reliability diagram: accuracy per confidence bin against the diagonal.
std::string reliabilitySvg(const json& subj, const char* colour, const std::string& title) {
  const int W = 380, H = 300, L = 46, B = 40, T = 30, R = 12;
  const int pw = W - L - R, ph = H - T - B;
  std::ostringstream s;
  s << "<svg width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H
    << "\" role=\"img\"><title>" << htmlEscape(title) << "</title>";
  s << "<text x=\"" << L << "\" y=\"18\" class=\"st\">" << htmlEscape(title) << "</text>";
  auto X = [&](double v) { return L + v * pw; };
  auto Y = [&](double v) { return T + (1 - v) * ph; };
  for (int i = 0; i <= 5; ++i) {
    double v = i / 5.0;
    s << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << Y(v) << "\" y2=\"" << Y(v)
      << "\" stroke=\"#e5e7eb\"/>";
    s << "<text x=\"" << L - 6 << "\" y=\"" << Y(v) + 4 << "\" text-anchor=\"end\" class=\"ax\">" << fmtNum(v, 1) << "</text>";
    s << "<text x=\"" << X(v) << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\" class=\"ax\">" << fmtNum(v, 1) << "</text>";
  }
  s << "<text x=\"" << L + pw / 2 << "\" y=\"" << H - 4 << "\" text-anchor=\"middle\" class=\"ax\">confidence</text>";
  s << "<text transform=\"translate(12," << T + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\" class=\"ax\">accuracy</text>";
  const json& bins = subj.is_object() && subj.contains("reliability") ? subj["reliability"] : json::array();
  double total = 0;
  for (const auto& b : bins) total += numOr(b, "count", 0);
  for (const auto& b : bins) {
    double lo = numOr(b, "lo", 0), hi = numOr(b, "hi", 0), cnt = numOr(b, "count", 0);
    if (cnt <= 0) continue;
    double acc = numOr(b, "accuracy", 0), conf = numOr(b, "mean_confidence", 0);
    double x = X(lo) + 1, w = std::max(1.0, X(hi) - X(lo) - 2);
    // share of images in the bin, as a faint band at the bottom
    double share = total > 0 ? cnt / total : 0;
    s << "<rect x=\"" << x << "\" y=\"" << Y(acc) << "\" width=\"" << w << "\" height=\"" << Y(0) - Y(acc)
      << "\" fill=\"" << colour << "\" fill-opacity=\"0.85\"><title>" << fmtNum(lo, 2) << "-" << fmtNum(hi, 2)
      << ": " << static_cast<long long>(cnt) << " images, accuracy " << fmtNum(acc, 3) << ", mean confidence "
      << fmtNum(conf, 3) << "</title></rect>";
    double y1 = Y(std::max(acc, conf)), y2 = Y(std::min(acc, conf));
    if (y2 - y1 > 0.5)
      s << "<rect x=\"" << x << "\" y=\"" << y1 << "\" width=\"" << w << "\" height=\"" << y2 - y1
        << "\" fill=\"#cf222e\" fill-opacity=\"0.25\" stroke=\"#cf222e\" stroke-opacity=\"0.6\"/>";
    s << "<rect x=\"" << x << "\" y=\"" << Y(0) - 6 * std::sqrt(share) * 4 << "\" width=\"" << w
      << "\" height=\"" << 6 * std::sqrt(share) * 4 << "\" fill=\"#111\" fill-opacity=\"0.18\"/>";
  }
  s << "<line x1=\"" << X(0) << "\" y1=\"" << Y(0) << "\" x2=\"" << X(1) << "\" y2=\"" << Y(1)
    << "\" stroke=\"#374151\" stroke-dasharray=\"5 4\"/>";
  s << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#9ca3af\"/>";
  s << "<text x=\"" << L + 8 << "\" y=\"" << T + 18 << "\" class=\"lg\">ECE " << f(numOr(subj, "ece"), 4)
    << " \xE2\x86\x92 " << f(numOr(subj, "ece_after_temperature"), 4) << " at T = " << f(numOr(subj, "temperature"), 3) << "</text>";
  s << "<text x=\"" << L + 8 << "\" y=\"" << T + 34 << "\" class=\"lg\">Brier " << f(numOr(subj, "brier"), 4)
    << " \xC2\xB7 NLL " << f(numOr(subj, "nll"), 4) << "</text>";
  s << "</svg>";
  return s.str();
}

/// The uplift with its interval against the objective on one axis.
std::string upliftSvg(const json& up, double objective) {
  const int W = 860, H = 96, L = 40, R = 40;
  double u = numOr(up, "uplift"), lo = numOr(up, "lo"), hi = numOr(up, "hi");
  double mn = std::min({0.0, objective, std::isfinite(lo) ? lo : 0.0}) - 0.05;
  double mx = std::max({0.0, objective, std::isfinite(hi) ? hi : 0.0}) + 0.05;
  auto X = [&](double v) { return L + (v - mn) / (mx - mn) * (W - L - R); };
  std::ostringstream s;
  s << "<svg width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\">";
  s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"50\" y2=\"50\" stroke=\"#9ca3af\"/>";
  double step = (mx - mn) > 0.6 ? 0.2 : (mx - mn) > 0.25 ? 0.1 : 0.05;
  for (double t = std::ceil(mn / step) * step; t <= mx + 1e-9; t += step) {
    s << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"46\" y2=\"54\" stroke=\"#9ca3af\"/>";
    s << "<text x=\"" << X(t) << "\" y=\"72\" text-anchor=\"middle\" class=\"ax\">" << spc(t, 0) << "</text>";
  }
  s << "<line x1=\"" << X(objective) << "\" x2=\"" << X(objective) << "\" y1=\"14\" y2=\"80\" stroke=\"#cf222e\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>";
  s << "<text x=\"" << X(objective) << "\" y=\"92\" text-anchor=\"middle\" class=\"ax\" fill=\"#cf222e\">objective " << spc(objective, 0) << "</text>";
  if (std::isfinite(lo) && std::isfinite(hi)) {
    const char* col = lo >= objective ? "#1a7f37" : hi < objective ? "#cf222e" : "#9a6700";
    s << "<rect x=\"" << X(lo) << "\" y=\"40\" width=\"" << std::max(2.0, X(hi) - X(lo)) << "\" height=\"20\" rx=\"4\" fill=\""
      << col << "\" fill-opacity=\"0.35\" stroke=\"" << col << "\"/>";
    s << "<text x=\"" << X(lo) << "\" y=\"34\" text-anchor=\"middle\" class=\"lb\">" << spc(lo) << "</text>";
    s << "<text x=\"" << X(hi) << "\" y=\"34\" text-anchor=\"middle\" class=\"lb\">" << spc(hi) << "</text>";
  }
  if (std::isfinite(u))
    s << "<circle cx=\"" << X(u) << "\" cy=\"50\" r=\"6\" fill=\"#111827\"/>";
  s << "</svg>";
  return s.str();
}

/// Per-label compliance, current and candidate side by side (horizontal bars).
std::string perClassSvg(const json& res) {
  const json& cur = res.contains("current") && res["current"].is_object() ? res["current"]["per_class"] : json::array();
  const json cand = res.contains("candidate") && res["candidate"].is_object() ? res["candidate"]["per_class"] : json::array();
  const json deltas = res.contains("per_class_delta") && res["per_class_delta"].is_array() ? res["per_class_delta"] : json::array();
  const int rowH = 34, L = 130, W = 1180, barW = 640, T = 30;
  const int H = T + rowH * static_cast<int>(cur.size()) + 30;
  std::ostringstream s;
  s << "<svg width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\">";
  for (int i = 0; i <= 10; i += 2) {
    double x = L + barW * i / 10.0;
    s << "<line x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << T - 6 << "\" y2=\"" << H - 26 << "\" stroke=\"#e5e7eb\"/>";
    s << "<text x=\"" << x << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\" class=\"ax\">" << i * 10 << "%</text>";
  }
  s << "<text x=\"" << L + barW + 20 << "\" y=\"" << T - 10 << "\" class=\"ax\">change in compliance (McNemar p, Holm-adjusted p)</text>";
  for (std::size_t k = 0; k < cur.size(); ++k) {
    double y = T + rowH * static_cast<double>(k);
    std::string label = str(cur[k], "label");
    double cv = numOr(cur[k], "compliance"), n = numOr(cur[k], "n", 0);
    s << "<text x=\"" << L - 8 << "\" y=\"" << y + 14 << "\" text-anchor=\"end\" class=\"lb\">" << htmlEscape(label) << "</text>";
    s << "<text x=\"" << L - 8 << "\" y=\"" << y + 27 << "\" text-anchor=\"end\" class=\"ax\">n " << static_cast<long long>(n) << "</text>";
    if (std::isfinite(cv))
      s << "<rect x=\"" << L << "\" y=\"" << y + 2 << "\" width=\"" << barW * cv << "\" height=\"12\" fill=\"" << kCur
        << "\"><title>current " << htmlEscape(label) << ": " << pc(cv) << "</title></rect>"
        << "<text x=\"" << L + barW * cv + 4 << "\" y=\"" << y + 12 << "\" class=\"ax\">" << pc(cv) << "</text>";
    if (k < cand.size()) {
      double dv = numOr(cand[k], "compliance");
      if (std::isfinite(dv))
        s << "<rect x=\"" << L << "\" y=\"" << y + 16 << "\" width=\"" << barW * dv << "\" height=\"12\" fill=\"" << kCand
          << "\"><title>candidate " << htmlEscape(label) << ": " << pc(dv) << "</title></rect>"
          << "<text x=\"" << L + barW * dv + 4 << "\" y=\"" << y + 26 << "\" class=\"ax\">" << pc(dv) << "</text>";
    }
    if (k < deltas.size()) {
      double d = numOr(deltas[k], "delta"), p = numOr(deltas[k], "p_value"), ph = numOr(deltas[k], "p_holm");
      double alpha = 1.0 - numOr(res.value("objective", json::object()), "confidence", 0.95);
      bool sig = std::isfinite(ph) && ph < alpha;
      const char* col = !sig ? "#374151" : d > 0 ? "#1a7f37" : "#cf222e";
      s << "<text x=\"" << L + barW + 20 << "\" y=\"" << y + 20 << "\" class=\"lb\" fill=\"" << col << "\">"
        << pts(d) << (sig ? " \xE2\x98\x85" : "") << "</text>"
        << "<text x=\"" << L + barW + 110 << "\" y=\"" << y + 20 << "\" class=\"ax\">p " << pval(p)
        << " \xC2\xB7 Holm " << pval(ph) << "</text>";
    }
  }
  s << "</svg>";
  return s.str();
}

/// Per slice: each slice's uplift with its interval on one axis, against the
/// objective and the slice gate's bound (a forest plot).
std::string slicesSvg(const json& slices, double objective, double sliceBound) {
  const int rowH = 26, L = 170, W = 1180, plotW = 560, T = 28;
  const int H = T + rowH * static_cast<int>(slices.size()) + 34;
  double mn = std::min({0.0, objective, sliceBound}), mx = std::max({0.0, objective, sliceBound});
  for (const auto& sl : slices) {
    const json up = sl.value("uplift", json());
    if (!up.is_object()) continue;
    for (const char* k : {"lo", "hi"})
      if (std::isfinite(numOr(up, k))) mn = std::min(mn, numOr(up, k)), mx = std::max(mx, numOr(up, k));
  }
  mn -= 0.05;
  mx += 0.05;
  auto X = [&](double v) { return L + (v - mn) / (mx - mn) * plotW; };
  std::ostringstream s;
  s << "<svg width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\">";
  const double step = (mx - mn) > 0.6 ? 0.2 : (mx - mn) > 0.25 ? 0.1 : 0.05;
  for (double t = std::ceil(mn / step) * step; t <= mx + 1e-9; t += step) {
    s << "<line x1=\"" << X(t) << "\" x2=\"" << X(t) << "\" y1=\"" << T - 6 << "\" y2=\"" << H - 26
      << "\" stroke=\"#e5e7eb\"/><text x=\"" << X(t) << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\" class=\"ax\">"
      << spc(t, 0) << "</text>";
  }
  s << "<line x1=\"" << X(objective) << "\" x2=\"" << X(objective) << "\" y1=\"" << T - 10 << "\" y2=\"" << H - 26
    << "\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\"><title>objective " << spc(objective, 0) << "</title></line>";
  s << "<line x1=\"" << X(sliceBound) << "\" x2=\"" << X(sliceBound) << "\" y1=\"" << T - 10 << "\" y2=\"" << H - 26
    << "\" stroke=\"#9a6700\" stroke-dasharray=\"2 3\"><title>slice bound " << spc(sliceBound, 0) << "</title></line>";
  s << "<text x=\"" << L + plotW + 20 << "\" y=\"" << T - 10
    << "\" class=\"ax\">compliance current \xE2\x86\x92 candidate \xC2\xB7 McNemar p \xC2\xB7 error rates</text>";
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const json& sl = slices[k];
    const double y = T + rowH * static_cast<double>(k);
    const json up = sl.value("uplift", json()), mc = sl.value("mcnemar", json());
    const json cur = sl.value("current", json()), cand = sl.value("candidate", json());
    s << "<text x=\"" << L - 8 << "\" y=\"" << y + 14 << "\" text-anchor=\"end\" class=\"lb\">"
      << htmlEscape(str(sl, "slice")) << "</text><text x=\"" << L - 8 << "\" y=\"" << y + 24
      << "\" text-anchor=\"end\" class=\"ax\">n " << static_cast<long long>(numOr(sl, "n", 0)) << "</text>";
    if (up.is_object() && std::isfinite(numOr(up, "lo")) && std::isfinite(numOr(up, "hi"))) {
      const double lo = numOr(up, "lo"), hi = numOr(up, "hi"), u = numOr(up, "uplift");
      const char* col = lo >= sliceBound ? "#1a7f37" : hi < sliceBound ? "#cf222e" : "#9a6700";
      s << "<line x1=\"" << X(lo) << "\" x2=\"" << X(hi) << "\" y1=\"" << y + 10 << "\" y2=\"" << y + 10
        << "\" stroke=\"" << col << "\" stroke-width=\"4\"><title>" << htmlEscape(str(sl, "slice")) << ": uplift "
        << spc(u) << ", CI " << spc(lo) << " to " << spc(hi) << "</title></line>";
      if (std::isfinite(u)) s << "<circle cx=\"" << X(u) << "\" cy=\"" << y + 10 << "\" r=\"4\" fill=\"#111827\"/>";
    }
    s << "<text x=\"" << L + plotW + 20 << "\" y=\"" << y + 14 << "\" class=\"lb\">" << pc(numOr(cur, "compliance"));
    if (cand.is_object()) s << " \xE2\x86\x92 " << pc(numOr(cand, "compliance"));
    s << "</text><text x=\"" << L + plotW + 170 << "\" y=\"" << y + 14 << "\" class=\"ax\">";
    if (mc.is_object())
      s << "p " << pval(numOr(mc, "p_value")) << " (b " << static_cast<long long>(numOr(mc, "b", 0)) << ", c "
        << static_cast<long long>(numOr(mc, "c", 0)) << ") \xC2\xB7 ";
    s << "errors " << pc(numOr(cur, "error_rate"), 2);
    if (cand.is_object()) s << " / " << pc(numOr(cand, "error_rate"), 2);
    s << "</text>";
  }
  s << "</svg>";
  return s.str();
}

std::string subjectCard(const json& subj, const char* role, const char* colour) {
  std::ostringstream s;
  s << "<div class=\"card\" style=\"border-top:5px solid " << colour << "\"><div class=\"role\">" << role << "</div>";
  if (!subj.is_object()) {
    s << "<div class=\"model\">none staged</div></div>";
    return s.str();
  }
  s << "<div class=\"model\">" << htmlEscape(str(subj, "model")) << "</div>"
    << "<div class=\"sha\">" << htmlEscape(str(subj, "sha256").substr(0, 16)) << "\xE2\x80\xA6</div>"
    << "<div class=\"big\">" << pc(numOr(subj, "compliance")) << "<span class=\"unit\"> compliance</span></div>"
    << "<table class=\"kv\">"
    << "<tr><td>conflict</td><td>" << pc(numOr(subj, "conflict")) << "</td><td>abstain</td><td>" << pc(numOr(subj, "abstain")) << "</td></tr>"
    << "<tr><td>accuracy</td><td>" << pc(numOr(subj, "accuracy")) << "</td><td>errors</td><td>" << static_cast<long long>(numOr(subj, "errors", 0))
    << " (" << pc(numOr(subj, "error_rate"), 2) << ")</td></tr>"
    << "<tr><td>ECE</td><td>" << f(numOr(subj, "ece"), 4) << "</td><td>after T=" << f(numOr(subj, "temperature"), 2) << "</td><td>"
    << f(numOr(subj, "ece_after_temperature"), 4) << "</td></tr>"
    << "<tr><td>throughput</td><td colspan=\"3\">" << f(numOr(subj, "images_per_s"), 0) << " images/s</td></tr>"
    << "</table></div>";
  return s.str();
}

}  // namespace

std::string renderDashboard(const json& report, const std::map<std::string, std::string>& thumbnails) {
  const json& res = report.contains("results") && report["results"].is_object() ? report["results"] : json::object();
  const std::string status = str(report, "status");
  const json objective = res.value("objective", json::object());
  const double minUplift = numOr(objective, "min_compliance_uplift", 0.10);
  const json up = res.contains("uplift") ? res["uplift"] : json();
  const json mc = res.contains("mcnemar") ? res["mcnemar"] : json();
  const json ds = res.value("dataset", json::object());
  std::ostringstream h;
  h << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<title>eval-compliance " << htmlEscape(str(report, "cycle_id")) << "</title><style>"
    << "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#111827;margin:0;background:#f6f7f9}"
    << "header{background:#111827;color:#fff;padding:14px 24px;display:flex;align-items:center;gap:16px}"
    << "header h1{font-size:20px;margin:0;font-weight:600;white-space:nowrap}header .meta{color:#cbd5e1;font-size:13px}"
    << "main{padding:16px 24px;max-width:1232px}section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;margin-bottom:14px}"
    << "h2{font-size:15px;margin:0 0 10px 0;color:#374151;text-transform:uppercase;letter-spacing:.04em}"
    << ".row{display:flex;gap:14px;flex-wrap:wrap}.card{flex:1;min-width:300px;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 14px}"
    << ".role{font-size:12px;text-transform:uppercase;color:#6b7280;letter-spacing:.05em}.model{font-size:17px;font-weight:600}"
    << ".sha{font:11px monospace;color:#9ca3af}.big{font-size:34px;font-weight:700;margin:4px 0}.unit{font-size:14px;font-weight:400;color:#6b7280}"
    << ".kv td{padding:1px 10px 1px 0;font-size:13px}.kv td:nth-child(odd){color:#6b7280}"
    << ".pill{display:inline-block;color:#fff;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;text-transform:uppercase}"
    << "header .pill{font-size:15px;padding:3px 12px}"
    << "table.t{border-collapse:collapse;width:100%}table.t th{text-align:left;font-size:12px;color:#6b7280;border-bottom:1px solid #e5e7eb;padding:4px 6px}"
    << "table.t td{border-bottom:1px solid #f1f5f9;padding:4px 6px;font-size:13px;vertical-align:middle}"
    << ".st{font-size:14px;font-weight:600;fill:#111827}.ax{font-size:11px;fill:#4b5563}.lb{font-size:13px;fill:#111827}.lg{font-size:12px;fill:#111827}"
    << ".key{display:inline-block;width:12px;height:12px;border-radius:2px;margin:0 4px 0 12px;vertical-align:-1px}"
    << "img.th{width:42px;height:42px;image-rendering:pixelated;border:1px solid #d1d5db}"
    << "</style></head><body>";
  h << "<header><h1>eval-compliance</h1>" << pill(status.empty() ? "error" : status)
    << "<div class=\"meta\">cycle " << htmlEscape(str(report, "cycle_id")) << " \xC2\xB7 " << htmlEscape(str(report, "finished_at"))
    << "<br>" << htmlEscape(str(ds, "describe")) << " \xC2\xB7 " << static_cast<long long>(numOr(ds, "n_eval", 0))
    << " evaluation + " << static_cast<long long>(numOr(ds, "n_calibration", 0)) << " calibration images \xC2\xB7 threshold "
    << f(numOr(res, "threshold"), 2) << "</div></header><main>";
  if (!str(report, "error").empty())
    h << "<section><h2>error</h2>" << htmlEscape(str(report, "error")) << "</section>";

  // Key figures.
  h << "<div class=\"row\">" << subjectCard(res.value("current", json()), "current (baseline)", kCur)
    << subjectCard(res.value("candidate", json()), "candidate", kCand);
  h << "<div class=\"card\" style=\"border-top:5px solid #111827;min-width:880px\"><div class=\"role\">compliance uplift (candidate vs baseline, paired)</div>";
  if (up.is_object()) {
    h << "<div class=\"big\">" << spc(numOr(up, "uplift")) << "<span class=\"unit\"> " << fmtNum(100 * numOr(up, "confidence", 0.95), 0)
      << "% CI " << spc(numOr(up, "lo")) << " to " << spc(numOr(up, "hi")) << " \xC2\xB7 " << static_cast<long long>(numOr(up, "resamples", 0))
      << " bootstrap resamples</span> ";
    if (report.contains("checks") && report["checks"].is_array())
      for (const auto& c : report["checks"])
        if (str(c, "id") == "compliance.uplift") h << pill(str(c, "status"));
    h << "</div>" << upliftSvg(up, minUplift);
    if (mc.is_object())
      h << "<div>McNemar exact: baseline-only compliant b = " << static_cast<long long>(numOr(mc, "b", 0))
        << ", candidate-only compliant c = " << static_cast<long long>(numOr(mc, "c", 0)) << ", p " << (numOr(mc, "p_value") < 1e-4 ? "" : "= ") << pval(numOr(mc, "p_value")) << "</div>";
  } else {
    h << "<div class=\"model\">no candidate staged</div>";
  }
  h << "</div></div>";

  // Reliability.
  h << "<section><h2>reliability (evaluation split; dashed: perfect calibration; red: gap; grey: share of images)</h2><div class=\"row\">"
    << reliabilitySvg(res.value("current", json()), kCur, "current: " + str(res.value("current", json()), "model"));
  if (res.contains("candidate") && res["candidate"].is_object())
    h << reliabilitySvg(res["candidate"], kCand, "candidate: " + str(res["candidate"], "model"));
  h << "</div></section>";

  // Per class.
  h << "<section><h2>per-class compliance<span class=\"key\" style=\"background:" << kCur << "\"></span><span style=\"text-transform:none\">current</span>"
    << "<span class=\"key\" style=\"background:" << kCand << "\"></span><span style=\"text-transform:none\">candidate</span>"
    << "<span style=\"text-transform:none;font-weight:400\"> \xC2\xB7 \xE2\x98\x85 significant after Holm</span></h2>"
    << perClassSvg(res) << "</section>";

  // Slices.
  const json slices = res.contains("slices") && res["slices"].is_array() ? res["slices"] : json::array();
  if (!slices.empty()) {
    double bound = -0.05;
    bool gated = false;
    if (report.contains("checks") && report["checks"].is_array())
      for (const auto& c : report["checks"])
        if (str(c, "id") == "compliance.slices" && c.contains("detail") && c["detail"].is_object()) {
          bound = numOr(c["detail"], "min_uplift", bound);
          gated = c["detail"].value("gated", false);
        }
    h << "<section><h2>slices: uplift per slice with its interval<span style=\"text-transform:none;font-weight:400\">"
      << " \xC2\xB7 red dashes: objective " << spc(minUplift, 0) << " \xC2\xB7 amber dots: slice bound " << spc(bound, 0)
      << (gated ? " (gated)" : " (reported, not gated)") << "</span></h2>" << slicesSvg(slices, minUplift, bound)
      << "</section>";
  }
  if (res.contains("budget") && res["budget"].is_object())
    h << "<section><h2>sample budget</h2>" << htmlEscape(str(res["budget"], "message")) << "</section>";

  // Checks.
  h << "<section><h2>checks</h2><table class=\"t\"><tr><th>status</th><th>check</th><th>subject</th><th>message</th></tr>";
  if (report.contains("checks") && report["checks"].is_array())
    for (const auto& c : report["checks"])
      h << "<tr><td>" << pill(str(c, "status")) << "</td><td><code>" << htmlEscape(str(c, "id")) << "</code></td><td>"
        << htmlEscape(str(c, "subject")) << "</td><td>" << htmlEscape(str(c, "message")) << "</td></tr>";
  h << "</table></section>";

  // Regressions.
  const json regs = res.contains("regressions") && res["regressions"].is_array() ? res["regressions"] : json::array();
  h << "<section><h2>regressions: candidate confidently wrong where the baseline was right (" << regs.size() << " of "
    << static_cast<long long>(numOr(res, "regressions_total", 0)) << " listed)</h2>";
  if (regs.empty()) {
    h << "<div>none</div>";
  } else {
    h << "<table class=\"t\"><tr><th></th><th>sample</th><th>true label</th><th>candidate said</th><th>baseline said</th></tr>";
    for (const auto& r : regs) {
      std::string id = str(r, "id");
      auto it = thumbnails.find(id);
      h << "<tr><td>" << (it != thumbnails.end() ? "<img class=\"th\" alt=\"\" src=\"" + it->second + "\">" : "")
        << "</td><td><code>" << htmlEscape(id) << "</code></td><td>" << htmlEscape(str(r, "label")) << "</td><td style=\"color:#cf222e\">"
        << htmlEscape(str(r, "candidate_top1")) << " (" << pc(numOr(r, "candidate_confidence")) << ")</td><td>"
        << htmlEscape(str(r, "baseline_top1")) << " (" << pc(numOr(r, "baseline_confidence")) << ")</td></tr>";
    }
    h << "</table>";
  }
  h << "</section></main></body></html>\n";
  return h.str();
}

}  // namespace cvgate::compliance

// Markdown view of a cvgate.integration report. It reads the report's JSON
// (checks and results), so the two renderings cannot disagree. Tables are
// padded to column width: aligned in a terminal, rendered on a review page.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/Strings.h"
#include "integration/Integration.h"

namespace cvgate::integration {

namespace {

/// Display width of UTF-8 text (code points; good enough for our ASCII-ish cells).
std::size_t width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

class Table {
 public:
  explicit Table(std::vector<std::string> head, std::vector<bool> rightAlign = {})
      : head_(std::move(head)), right_(std::move(rightAlign)) {
    right_.resize(head_.size(), false);
  }
  void add(std::vector<std::string> row) {
    for (auto& c : row) c = markdownCell(c);
    row.resize(head_.size());
    rows_.push_back(std::move(row));
  }
  std::string str() const {
    std::vector<std::size_t> w(head_.size(), 3);
    for (std::size_t i = 0; i < head_.size(); ++i) w[i] = std::max(w[i], width(head_[i]));
    for (const auto& r : rows_)
      for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
    auto line = [&](const std::vector<std::string>& r) {
      std::string s = "|";
      for (std::size_t i = 0; i < r.size(); ++i) {
        std::string pad(w[i] - width(r[i]), ' ');
        s += " " + (right_[i] ? pad + r[i] : r[i] + pad) + " |";
      }
      return s + "\n";
    };
    std::string s = line(head_) + "|";
    for (std::size_t i = 0; i < w.size(); ++i)
      s += right_[i] ? std::string(w[i] + 1, '-') + ":|" : std::string(w[i] + 2, '-') + "|";
    s += "\n";
    for (const auto& r : rows_) s += line(r);
    return s;
  }
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> head_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

std::string str(const json& j, const char* key, const std::string& dflt = "") {
  if (!j.is_object()) return dflt;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  if (it->is_number()) return fmtNum(it->get<double>(), 4);
  return it->dump();
}

std::string num(const json& j, const char* key, int decimals = 4) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "-";
  return fmtNum(j[key].get<double>(), decimals);
}

std::string ci(const json& j, const char* key, int decimals = 4) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_array() || j[key].size() != 2 ||
      !j[key][0].is_number() || !j[key][1].is_number())
    return "";
  return "[" + fmtNum(j[key][0].get<double>(), decimals) + ", " + fmtNum(j[key][1].get<double>(), decimals) + "]";
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string signedNum(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "-";
  double v = j[key].get<double>();
  return (v > 0 ? "+" : "") + fmtNum(v, 4);
}

}  // namespace

std::string renderMarkdown(const Report& r) {
  const json& res = r.results;
  std::ostringstream md;
  auto subj = [&](const char* role) {
    auto it = r.subjects.find(role);
    return it == r.subjects.end() ? std::string("none") : it->second.model;
  };
  md << "# Integration: " << subj("current") << " -> " << subj("candidate") << "\n\n";
  md << "- cycle: `" << r.cycleId << "`, " << r.finishedAt << "\n";
  md << "- status: **" << upper(toString(r.status)) << "**\n";
  const json& risk = res.value("risk", json::object());
  if (risk.is_object() && risk.contains("level"))
    md << "- risk: **" << str(risk, "level") << "** (max score " << str(risk, "max_score")
       << "), blocks GO: **" << (risk.value("blocks_go", false) ? "yes" : "no") << "**\n";
  if (!r.error.empty()) md << "- error: " << r.error << "\n";
  md << "\n## Checks\n\n";
  {
    Table t({"check", "subject", "status", "message"});
    for (const auto& c : r.checks)
      t.add({c.id, c.subject.empty() ? "-" : c.subject, toString(c.status), c.message});
    md << t.str();
  }

  md << "\n## Compatibility matrix\n\n";
  const json& matrix = res.value("compatibility_matrix", json::array());
  if (!res.value("candidate_staged", false)) {
    md << "No candidate staged.\n";
  } else {
    Table t({"aspect", "current", "candidate", "class", "note"});
    for (const auto& e : matrix) {
      std::string cls = str(e, "class");
      t.add({str(e, "aspect"), str(e, "current"), str(e, "candidate"),
             cls == "compatible" ? cls : "**" + cls + "**", str(e, "note")});
    }
    md << t.str();
  }

  const json& b = res.value("behaviour", json());
  if (b.is_object()) {
    md << "\n## Behaviour on the golden set\n\n";
    md << "- samples: " << str(b, "n") << " (answered by current: " << str(b, "compared") << ")\n";
    md << "- top-1 agreement: " << num(b, "top1_agreement", 3) << " CI " << ci(b, "top1_agreement_ci", 3)
       << ", minimum " << num(res.value("thresholds", json::object()), "min_top1_agreement", 2) << "\n";
    for (const char* side : {"current", "candidate"}) {
      const json& s = b.value(side, json::object());
      md << "- " << side << ": failed " << str(s, "failed") << " (non-finite " << str(s, "non_finite")
         << ", wrong shape " << str(s, "wrong_shape") << "), output width " << str(s, "output_width", "-")
         << " for " << str(s, "expected_width") << " labels, max |sum(p) - 1| "
         << num(s, "prob_sum_max_dev", 6) << "\n";
    }
    Table t({"class", "n", "flips", "flip rate"}, {false, true, true, true});
    for (const auto& pc : b.value("per_class", json::array()))
      t.add({str(pc, "label"), str(pc, "n"), str(pc, "flips"), num(pc, "flip_rate", 3)});
    if (!t.empty()) md << "\n" << t.str();
  }

  md << "\n## Report contracts\n\n";
  {
    Table t({"report", "source", "schema", "state", "problems"});
    for (const auto& c : res.value("contracts", json::array())) {
      std::string probs;
      for (const auto& p : c.value("problems", json::array())) probs += (probs.empty() ? "" : "; ") + p.get<std::string>();
      std::string state = str(c, "state");
      t.add({str(c, "kind"), str(c, "source"), str(c, "schema", "-"), state == "ok" ? state : "**" + state + "**",
             probs.empty() ? "-" : probs});
    }
    const json& lock = res.value("lock", json());
    if (lock.is_object()) {
      std::string state = str(lock, "state");
      t.add({"env lock", "state dir", str(lock, "schema", "-"), state == "refused" ? "**" + state + "**" : state,
             str(lock, "problem").empty() ? "-" : str(lock, "problem")});
    }
    md << t.str();
  }

  md << "\n## Regression summary\n\n";
  {
    Table t({"metric", "scope", "current", "candidate", "delta", "CI / p", "significance", "note"},
            {false, false, true, true, true, false, false, false});
    for (const auto& row : res.value("regression_summary", json::array())) {
      std::string cip = ci(row, "delta_ci");
      if (cip.empty() && row.contains("p_value") && row["p_value"].is_number())
        cip = row["p_value"].get<double>() < 1e-4 ? "p < 0.0001" : "p " + fmtNum(row["p_value"].get<double>(), 4);
      if (cip.empty()) {
        std::string a = ci(row, "current_ci", 2), k = ci(row, "candidate_ci", 2);
        if (!a.empty() || !k.empty()) cip = (a.empty() ? "-" : a) + " vs " + (k.empty() ? "-" : k);
      }
      std::string sig = str(row, "significance");
      std::string dir = str(row, "direction");
      if (sig == "significant" && !dir.empty()) sig = "**significant, " + dir + "**";
      t.add({str(row, "metric"), str(row, "scope"), num(row, "current"), num(row, "candidate"),
             signedNum(row, "delta"), cip.empty() ? "-" : cip, sig, str(row, "note")});
    }
    md << t.str();
  }

  md << "\n## Risk scorecard\n\n";
  {
    Table t({"finding", "area", "L", "I", "score", "blocks", "what"}, {false, false, true, true, true, false, false});
    for (const auto& f : risk.value("findings", json::array()))
      t.add({str(f, "id"), str(f, "area"), str(f, "likelihood"), str(f, "impact"), str(f, "score"),
             f.value("blocking", false) ? "**yes**" : "no", str(f, "title")});
    if (t.empty()) md << "No findings.\n";
    else md << t.str();
    const json& th = risk.value("thresholds", json::object());
    md << "\nL likelihood, I impact (1-5); score = L x I. Levels: medium from " << str(th, "medium_risk")
       << ", high from " << str(th, "high_risk") << "; a score from " << str(th, "blocking_risk")
       << " or any breaking interface difference blocks GO.\n";
    md << "\n**Overall: " << str(risk, "level", "unknown") << " risk, "
       << (risk.value("blocks_go", false) ? "blocks GO" : "does not block GO") << ".**\n";
  }
  return md.str();
}

}  // namespace cvgate::integration

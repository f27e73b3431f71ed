// Report contracts of the cycle, and the regression summary read from the
// reports that passed them. Reports are read defensively: a field another
// tool does not write makes its row "not reported", never a guess.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Strings.h"
#include "env/Lock.h"
#include "integration/Integration.h"

namespace cvgate::integration {

std::string toString(ContractState s) {
  switch (s) {
    case ContractState::Refused: return "refused";
    case ContractState::Mismatch: return "mismatch";
    case ContractState::Missing: return "missing";
    case ContractState::Failed: return "failed";
    case ContractState::Incomplete: return "incomplete";
    case ContractState::Ok: return "ok";
  }
  return "refused";
}

namespace {

std::string shortSha(const std::string& s) { return s.size() > 12 ? s.substr(0, 12) : s; }

void worsen(ContractState& s, ContractState to) {
  if (static_cast<int>(to) < static_cast<int>(s)) s = to;
}

void checkSubject(const Report& r, const std::string& role, const std::string& want,
                  ContractResult& c) {
  auto it = r.subjects.find(role);
  bool has = it != r.subjects.end() && !it->second.sha256.empty();
  if (want.empty()) {
    if (has) {
      worsen(c.state, ContractState::Mismatch);
      c.problems.push_back("subjects." + role + " is '" + it->second.model + "' (" +
                           shortSha(it->second.sha256) + "), but no " + role + " model is staged now");
    }
    return;
  }
  if (!has) {
    worsen(c.state, ContractState::Incomplete);
    c.problems.push_back("does not cover the " + role + " model (no subjects." + role + ".sha256)");
  } else if (it->second.sha256 != want) {
    worsen(c.state, ContractState::Mismatch);
    c.problems.push_back("subjects." + role + ".sha256 " + shortSha(it->second.sha256) +
                         ": the " + role + " model now is " + shortSha(want) + " (stale report)");
  }
}

void checkInput(const Report& r, const char* key, const std::string& want, ContractResult& c) {
  if (want.empty()) return;
  auto it = r.inputs.find(key);
  if (it == r.inputs.end() || !it->is_string() || it->get<std::string>().empty()) return;
  if (it->get<std::string>() != want) {
    worsen(c.state, ContractState::Mismatch);
    c.problems.push_back(std::string("inputs.") + key + " " + shortSha(it->get<std::string>()) +
                         ": this run's is " + shortSha(want));
  }
}

}  // namespace

ContractResult checkContract(const ReportSource& src, const ContractExpectations& want) {
  ContractResult c;
  c.source = src;
  std::error_code ec;
  if (!std::filesystem::exists(src.path, ec)) {
    c.state = ContractState::Missing;
    c.problems.push_back("no " + currentSchema(src.kind) + " report at '" + src.path + "'");
    return c;
  }
  // The schema string as written, for the record even when it is refused.
  if (auto text = readFile(src.path); text.ok()) {
    auto j = parseJson(*text, "'" + src.path + "'");
    if (j && j->is_object() && j->contains("schema") && (*j)["schema"].is_string())
      c.schema = (*j)["schema"].get<std::string>();
  }
  auto r = readReport(src.path, src.kind);
  if (!r.ok()) {
    c.state = ContractState::Refused;
    c.problems.push_back(r.error().message());
    return c;
  }
  c.state = ContractState::Ok;
  c.schema = r->schema;
  c.status = toString(r->status);
  if (r->cycleId != want.cycleId) {
    worsen(c.state, ContractState::Mismatch);
    c.problems.push_back("cycle_id '" + r->cycleId + "': expected '" + want.cycleId +
                         "' (a report of another cycle)");
  }
  checkSubject(*r, "current", want.currentSha256, c);
  checkSubject(*r, "candidate", want.candidateSha256, c);
  checkInput(*r, "config_sha256", want.configSha256, c);
  checkInput(*r, "dataset_sha256", want.datasetSha256, c);
  if (r->status == Outcome::Error) {
    worsen(c.state, ContractState::Failed);
    c.problems.push_back("status error: " + (r->error.empty() ? std::string("no reason given") : r->error));
  }
  c.report = std::move(*r);
  return c;
}

nlohmann::json toJson(const ContractResult& c) {
  return {{"kind", c.source.kind},
          {"path", c.source.path},
          {"source", c.source.fromFeed ? "feed" : "file"},
          {"state", toString(c.state)},
          {"schema", c.schema.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.schema)},
          {"status", c.status.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.status)},
          {"usable", c.usable()},
          {"problems", c.problems}};
}

LockCheck checkLockSchema(const std::string& path) {
  LockCheck l;
  l.path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return l;
  l.state = "refused";
  auto text = readFile(path);
  if (!text.ok()) {
    l.problem = "lock '" + path + "': cannot be read";
    return l;
  }
  auto parsed = parseJson(*text, "lock '" + path + "'");
  const json j = parsed ? *parsed : json();
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string()) {
    l.problem = "lock '" + path + "': not a cvgate lock (no \"schema\"); re-record it with verify-env --record";
    return l;
  }
  l.schema = j["schema"].get<std::string>();
  const std::string known = kEnvLockSchema;
  const std::string kind = known.substr(0, known.find('/'));
  const int knownVersion = std::stoi(known.substr(known.find('/') + 1));
  int version = 0;
  if (l.schema.rfind(kind + "/", 0) == 0) {
    try {
      version = std::stoi(l.schema.substr(kind.size() + 1));
    } catch (...) {
      version = 0;
    }
  }
  if (version == knownVersion) {
    l.state = "ok";
  } else if (version > knownVersion) {
    l.problem = "lock '" + path + "': schema '" + l.schema + "' is newer than this cvgate reads (" + known +
                "); upgrade cvgate";
  } else {
    l.problem = "lock '" + path + "': unknown schema '" + l.schema + "' (this cvgate reads " + known +
                "); re-record it with verify-env --record";
  }
  return l;
}

nlohmann::json toJson(const LockCheck& l) {
  return {{"path", l.path}, {"state", l.state},
          {"schema", l.schema.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.schema)},
          {"problem", l.problem}};
}

// ---------------------------------------------------------------------------

namespace {

nlohmann::json opt(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
nlohmann::json optPair(const std::optional<std::pair<double, double>>& p) {
  if (!p) return nullptr;
  return nlohmann::json::array({opt(p->first), opt(p->second)});
}

/// A number at j[k1][k2]..., or nothing.
std::optional<double> numAt(const json& j, std::initializer_list<const char*> keys) {
  const json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return std::nullopt;
    auto it = cur->find(k);
    if (it == cur->end()) return std::nullopt;
    cur = &*it;
  }
  if (!cur->is_number()) return std::nullopt;
  double v = cur->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::string directionOf(int polarity, double delta) {
  if (delta == 0) return "same";
  if (polarity == 0) return "changed";
  return (polarity > 0) == (delta > 0) ? "better" : "worse";
}

/// A row that says why there are no numbers.
RegressionRow absentRow(const std::string& metric, const std::string& unit, const std::string& source,
                        const std::string& note) {
  RegressionRow r;
  r.metric = metric;
  r.scope = "overall";
  r.unit = unit;
  r.significance = "not reported";
  r.source = source;
  r.note = note;
  return r;
}

std::string whyUnusable(const ContractResult* c) {
  if (!c) return "report not read";
  switch (c->state) {
    case ContractState::Missing: return "report missing";
    case ContractState::Refused: return "report refused: " + (c->problems.empty() ? "" : c->problems[0]);
    case ContractState::Mismatch: return "report stale or mismatched: not used";
    case ContractState::Failed: return "report has status error: no evidence";
    default: return "";
  }
}

void fillDeltas(RegressionRow& r, int polarity) {
  if (r.current && r.candidate) {
    r.delta = *r.candidate - *r.current;
    r.direction = directionOf(polarity, *r.delta);
  }
  if (!r.current && !r.candidate) {
    r.significance = "not reported";
    r.note = "not reported";
  } else if (!r.current || !r.candidate) {
    r.significance = "not reported";
    r.note = std::string(!r.current ? "current" : "candidate") + " not reported";
  }
}

}  // namespace

nlohmann::json toJson(const RegressionRow& r) {
  return {{"metric", r.metric},
          {"scope", r.scope},
          {"unit", r.unit},
          {"current", opt(r.current)},
          {"candidate", opt(r.candidate)},
          {"delta", opt(r.delta)},
          {"current_ci", optPair(r.currentCi)},
          {"candidate_ci", optPair(r.candidateCi)},
          {"delta_ci", optPair(r.deltaCi)},
          {"p_value", opt(r.pValue)},
          {"significance", r.significance},
          {"direction", r.direction},
          {"source", r.source},
          {"note", r.note}};
}

std::vector<RegressionRow> complianceRegression(const ContractResult* c, double alpha) {
  const std::string src = currentSchema("cvgate.compliance");
  if (!c || !c->usable() || !c->report)
    return {absentRow("compliance", "fraction", src, whyUnusable(c))};
  const json& res = c->report->results;
  std::vector<RegressionRow> rows;

  // Overall significance of the compliance change: the paired bootstrap CI of
  // the relative uplift (results.uplift {uplift, lo, hi}).
  auto upl = numAt(res, {"uplift", "uplift"});
  auto ulo = numAt(res, {"uplift", "lo"});
  auto uhi = numAt(res, {"uplift", "hi"});
  std::string upliftSig = "not reported";
  if (ulo && uhi) upliftSig = (*ulo > 0 || *uhi < 0) ? "significant" : "not significant";

  struct M { const char* key; int polarity; };
  for (M m : {M{"compliance", +1}, M{"accuracy", +1}, M{"conflict", -1}, M{"abstain", 0}}) {
    RegressionRow r;
    r.metric = m.key;
    r.scope = "overall";
    r.unit = "fraction";
    r.source = src + " results.current/candidate." + m.key;
    r.current = numAt(res, {"current", m.key});
    r.candidate = numAt(res, {"candidate", m.key});
    r.significance = "not tested";
    fillDeltas(r, m.polarity);
    if (std::string(m.key) == "compliance" && r.delta && r.significance != "not reported") {
      r.significance = upliftSig == "not reported" ? "not tested" : upliftSig;
      if (upliftSig != "not reported") r.note = "paired bootstrap CI of the uplift";
    }
    rows.push_back(r);
  }
  {
    RegressionRow r;
    r.metric = "compliance.uplift";
    r.scope = "overall";
    r.unit = "fraction";
    r.source = src + " results.uplift";
    r.delta = upl;
    if (ulo && uhi) r.deltaCi = std::make_pair(*ulo, *uhi);
    r.significance = upl ? (upliftSig == "not reported" ? "not tested" : upliftSig) : "not reported";
    if (upl) r.direction = directionOf(+1, *upl);
    r.note = upl ? "relative: (candidate - current) / current" : "not reported";
    rows.push_back(r);
  }

  // Per class: compliance of each side, delta and Holm-adjusted p-value.
  auto perClass = [&](const char* side) {
    std::map<std::string, double> out;
    auto it = res.find(side);
    if (it == res.end() || !it->is_object()) return out;
    auto pc = it->find("per_class");
    if (pc == it->end() || !pc->is_array()) return out;
    for (const auto& e : *pc)
      if (e.is_object() && e.contains("label") && e["label"].is_string())
        if (auto v = numAt(e, {"compliance"})) out[e["label"].get<std::string>()] = *v;
    return out;
  };
  auto cur = perClass("current");
  auto cand = perClass("candidate");
  std::vector<std::string> labels;
  auto addLabel = [&](const std::string& l) {
    if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
  };
  if (auto it = res.find("current"); it != res.end() && it->is_object())
    if (auto pc = it->find("per_class"); pc != it->end() && pc->is_array())
      for (const auto& e : *pc)
        if (e.is_object() && e.contains("label") && e["label"].is_string()) addLabel(e["label"]);
  std::map<std::string, json> deltas;
  if (auto it = res.find("per_class_delta"); it != res.end() && it->is_array())
    for (const auto& e : *it)
      if (e.is_object() && e.contains("label") && e["label"].is_string()) {
        deltas[e["label"].get<std::string>()] = e;
        addLabel(e["label"]);
      }
  for (const auto& [l, v] : cand) { (void)v; addLabel(l); }
  if (labels.empty()) {
    rows.push_back(absentRow("compliance", "fraction", src + " results.per_class_delta",
                             "per-class results not reported"));
    rows.back().scope = "per class";
  }
  for (const auto& l : labels) {
    RegressionRow r;
    r.metric = "compliance";
    r.scope = l;
    r.unit = "fraction";
    r.source = src + " results.per_class_delta";
    if (cur.count(l)) r.current = cur[l];
    if (cand.count(l)) r.candidate = cand[l];
    std::optional<double> d, p;
    std::string pName;
    if (deltas.count(l)) {
      d = numAt(deltas[l], {"delta"});
      if ((p = numAt(deltas[l], {"p_holm"}))) pName = "Holm-adjusted";
      else if ((p = numAt(deltas[l], {"p_value"}))) pName = "unadjusted";
    }
    if (r.current && r.candidate) r.delta = *r.candidate - *r.current;
    if (d) r.delta = d;
    r.pValue = p;
    if (r.delta) r.direction = directionOf(+1, *r.delta);
    if (!r.delta) {
      r.significance = "not reported";
      r.note = "not reported";
    } else if (p) {
      r.significance = *p < alpha ? "significant" : "not significant";
      r.note = pName + " p, alpha " + fmtNum(alpha, 3);
    } else {
      r.significance = "not tested";
      r.note = "no p-value reported";
    }
    rows.push_back(r);
  }
  return rows;
}

std::vector<RegressionRow> latencyRegression(const ContractResult* c) {
  const std::string src = currentSchema("cvgate.latency");
  if (!c || !c->usable() || !c->report)
    return {absentRow("latency.p95", "ms", src, whyUnusable(c))};
  const Report& rep = *c->report;
  struct M { const char* metric; const char* check; const char* field; const char* ciField; const char* unit; int polarity; };
  std::vector<RegressionRow> rows;
  for (M m : {M{"latency.p95", "latency.p95", "p95_ms", "p95_ci_ms", "ms", -1},
              M{"latency.error_rate", "latency.error_rate", "error_rate", "error_rate_ci", "fraction", -1},
              M{"latency.throughput", "latency.throughput", "throughput_rps", "throughput_ci_rps", "1/s", +1}}) {
    RegressionRow r;
    r.metric = m.metric;
    r.scope = "overall";
    r.unit = m.unit;
    r.source = src + " checks " + m.check + " (value, ci), else results.<subject>." + m.field;
    std::vector<std::string> inconclusive;  ///< subjects whose check gave no value
    auto side = [&](const std::string& subject, std::optional<double>& v,
                    std::optional<std::pair<double, double>>& ci) {
      if (const Check* ck = rep.findCheck(m.check, subject); ck && ck->value && std::isfinite(*ck->value)) {
        // An inconclusive check without an interval carries a placeholder
        // (e.g. throughput 0: "no rate settled"), not a measurement.
        if ((ck->status == Outcome::Inconclusive || ck->status == Outcome::Error) && !ck->ci) {
          inconclusive.push_back(subject);
          return;
        }
        v = ck->value;
        if (ck->ci) ci = ck->ci;
        return;
      }
      v = numAt(rep.results, {subject.c_str(), m.field});
      auto lo = rep.results.contains(subject) && rep.results[subject].is_object() &&
                        rep.results[subject].contains(m.ciField) && rep.results[subject][m.ciField].is_array() &&
                        rep.results[subject][m.ciField].size() == 2 && rep.results[subject][m.ciField][0].is_number() &&
                        rep.results[subject][m.ciField][1].is_number()
                    ? std::optional<std::pair<double, double>>(std::make_pair(
                          rep.results[subject][m.ciField][0].get<double>(),
                          rep.results[subject][m.ciField][1].get<double>()))
                    : std::nullopt;
      if (v) ci = lo;
    };
    side("current", r.current, r.currentCi);
    side("candidate", r.candidate, r.candidateCi);
    r.significance = "not tested";
    fillDeltas(r, m.polarity);
    if (!inconclusive.empty()) {
      r.note = std::string(m.check) + " inconclusive for " + join(inconclusive, " and ") + ": no value";
      r.significance = "not reported";
    }
    if (r.delta && r.significance != "not reported") {
      if (r.currentCi && r.candidateCi) {
        bool apart = r.candidateCi->first > r.currentCi->second || r.candidateCi->second < r.currentCi->first;
        r.significance = apart ? "significant" : "not significant";
        r.note = "confidence intervals " + std::string(apart ? "do not overlap" : "overlap");
      } else {
        r.note = "no confidence intervals reported";
      }
    }
    rows.push_back(r);
  }
  return rows;
}

}  // namespace cvgate::integration

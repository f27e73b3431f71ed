#include "VerdictSim.h"

#include <boost/math/distributions/binomial.hpp>

#include <chrono>
#include <cmath>

#include "common/Time.h"
#include "compliance/Metrics.h"
#include "latency/Summary.h"
#include "stats/Stats.h"

namespace cvgate::verdictsim {

namespace {

using Clock = std::chrono::system_clock;
namespace bm = boost::math;

const std::string kCurrent(64, 'a'), kCandidate(64, 'b'), kKnownGood(64, 'c');

/// A server run at the operating point: lognormal latencies (sigma 0.5)
/// whose true P95 is `p95Ms`, each request failing with `errorRate`.
latency::RunResult syntheticRun(double p95Ms, double errorRate, std::size_t n, double rate, std::mt19937_64& rng) {
  latency::RunResult r;
  r.settings.scenario = latency::Scenario::Server;
  r.settings.offeredRps = rate;
  const double sigma = 0.5, mu = std::log(p95Ms) - 1.6448536269514722 * sigma;
  std::normal_distribution<double> z(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  r.requests.resize(n);
  for (auto& q : r.requests) {
    q.endMs = std::exp(mu + sigma * z(rng));
    q.ok = u(rng) >= errorRate;
    if (!q.ok) {
      q.errorKind = "exception";
      ++r.errors;
    }
  }
  if (r.errors) r.errorKinds["exception"] = r.errors;
  r.elapsedS = static_cast<double>(n) / rate;
  r.achievedRps = rate;
  r.arrivalRps = rate;
  return r;
}

std::size_t binomial(std::size_t n, double p, std::mt19937_64& rng) {
  if (p <= 0) return 0;
  return std::binomial_distribution<std::size_t>(n, std::min(1.0, p))(rng);
}

Report envelope(const std::string& tool, const std::string& kind, const std::string& cycle, const std::string& at,
                bool withCandidate) {
  Report r = newReport(tool, kind, cycle);
  r.startedAt = r.finishedAt = at;
  r.subjects["current"] = Subject{"sim-current", kCurrent, ""};
  if (withCandidate) r.subjects["candidate"] = Subject{"sim-candidate", kCandidate, ""};
  return r;
}

Check passing(const std::string& id, const std::string& subject) {
  Check c;
  c.id = id;
  c.subject = subject;
  c.status = Outcome::Pass;
  c.message = id + " passes (simulated)";
  return c;
}

struct Cycle {
  std::vector<Report> reports;
};

/// The five reports of one cycle; the candidate is optional.
std::vector<Report> cycleReports(const std::string& cycle, const std::string& at, const ProductionTruth& t,
                                 const CandidateTruth* cand, const Settings& s, std::mt19937_64& rng) {
  const bool withCand = cand != nullptr;
  const Objectives& o = s.objectives;
  std::vector<Report> out;

  Report env = envelope("verify-env", "cvgate.env", cycle, at, withCand);
  env.checks.push_back(passing("env.lock", ""));
  env.checks.push_back(passing("env.model_hash", "current"));
  env.checks.push_back(passing("env.golden", "current"));
  if (withCand) env.checks.push_back(passing("env.model_hash", "candidate"));
  env.settleStatus();
  out.push_back(env);

  Report lat = envelope("profile-latency", "cvgate.latency", cycle, at, withCand);
  const auto cur = syntheticRun(t.p95Ms, t.errorRate, s.latencyRequests, o.minThroughputRps, rng);
  lat.checks.push_back(latency::p95Check(cur, o, "current"));
  lat.checks.push_back(latency::errorRateCheck(cur, o, "current"));
  lat.checks.push_back(latency::validCheck(cur, "current"));
  if (withCand) {
    const auto cr = syntheticRun(cand->p95Ms, cand->errorRate, s.latencyRequests, o.minThroughputRps, rng);
    lat.checks.push_back(latency::p95Check(cr, o, "candidate"));
    lat.checks.push_back(latency::errorRateCheck(cr, o, "candidate"));
    lat.checks.push_back(latency::validCheck(cr, "candidate"));
    latency::ThroughputResult tp;
    tp.bestRps = 4 * o.minThroughputRps;  // capacity well above: not what these trials test
    lat.checks.push_back(latency::throughputCheck(tp, o, "candidate"));
  }
  lat.settleStatus();
  out.push_back(lat);

  Report comp = envelope("eval-compliance", "cvgate.compliance", cycle, at, withCand);
  const std::size_t n = s.complianceN;
  comp.checks.push_back(compliance::errorRateCheck("current", binomial(n, t.complianceErrorRate, rng), n,
                                                   o.maxErrorRate, o.confidence));
  const compliance::BlessingKey key{"sim-data", 0.7, 0.2, 7, n};
  // The blessed figure is itself a measurement (of the same size).
  std::mt19937_64 blessedRng(12345);
  const std::size_t blessedK = binomial(n, t.blessedCompliance, blessedRng);
  comp.checks.push_back(compliance::regressionCheck(binomial(n, t.compliance, rng), n,
                                                    compliance::blessingJson(key, blessedK, n), key, o.confidence, ""));
  if (withCand) {
    // Paired outcomes: the candidate keeps most of the baseline's successes
    // and wins some of its failures, so that its true compliance is exactly
    // baseline * (1 + uplift).
    const double p0 = t.compliance, p1 = std::min(1.0, p0 * (1.0 + cand->uplift));
    const double keep = std::min(1.0, p1 / p0 * 0.95), win = (p1 - keep * p0) / (1.0 - p0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<std::uint8_t> b(n), c(n);
    for (std::size_t i = 0; i < n; ++i) {
      b[i] = u(rng) < p0;
      c[i] = b[i] ? u(rng) < keep : u(rng) < win;
    }
    const auto est = stats::pairedBootstrapUplift(b, c, s.bootstrapResamples, rng(), o.confidence);
    comp.checks.push_back(compliance::upliftCheck(est, o.minComplianceUplift, o.confidence, 0.2));
    comp.checks.push_back(compliance::errorRateCheck("candidate", binomial(n, cand->complianceErrorRate, rng), n,
                                                     o.maxErrorRate, o.confidence));
    comp.checks.push_back(compliance::slicesCheck({}, compliance::SliceGate{}, true));  // slices not gated
  }
  comp.settleStatus();
  out.push_back(comp);

  Report integ = envelope("check-integration", "cvgate.integration", cycle, at, withCand);
  if (withCand)
    for (const char* id : {"integration.interface", "integration.behaviour", "integration.risk"})
      integ.checks.push_back(passing(id, "candidate"));
  integ.checks.push_back(passing("integration.contracts", ""));
  integ.settleStatus();
  out.push_back(integ);

  Report rb = envelope("simulate-rollback", "cvgate.rollback", cycle, at, withCand);
  rb.checks.push_back(passing("rollback.target", ""));
  rb.checks.push_back(passing("rollback.rto", ""));
  rb.settleStatus();
  out.push_back(rb);
  return out;
}

decision::PolicyInput inputFor(const std::string& cycle, const std::vector<Report>& reports, const Settings& s,
                               bool withCand) {
  decision::PolicyInput in;
  in.cycleId = cycle;
  in.objectives = s.objectives;
  in.decision = s.decision;
  for (const auto& slot : decision::reportSlots()) {
    decision::LoadedReport lr;
    lr.kind = slot.kind;
    lr.channel = slot.channel;
    lr.path = std::string("sim/") + slot.channel;
    for (const auto& r : reports)
      if (r.schema.rfind(slot.kind, 0) == 0) {
        lr.report = r;
        lr.state = decision::LoadedReport::State::Accepted;
      }
    in.reports.push_back(lr);
  }
  auto& f = in.registry;
  f.available = true;
  f.current = Entry{kCurrent, "sim-current", "1", "2026-01-01T00:00:00Z", "objects/" + kCurrent + ".pt", nullptr};
  f.currentVerified = true;
  if (withCand) {
    f.candidate = Entry{kCandidate, "sim-candidate", "2", "2026-01-01T00:00:00Z", "objects/" + kCandidate + ".pt", nullptr};
    f.candidateVerified = true;
  }
  f.rollbackTarget = Entry{kKnownGood, "sim-known-good", "0", "2025-12-01T00:00:00Z", "objects/" + kKnownGood + ".pt", nullptr};
  return in;
}

/// One cycle judged by the policy, with the history so far; appends its record.
decision::Decision judge(const std::string& cycle, Clock::time_point at, const std::vector<Report>& reports,
                         const Settings& s, bool withCand, std::vector<json>& history) {
  auto in = inputFor(cycle, reports, s, withCand);
  decision::chooseSubjects(in, "", "");
  decision::screenReports(in, at);
  in.history = decision::countHistory(history, cycle, in.currentSha, in.candidateSha, at, s.decision.maxCycleGapS);
  in.budget = decision::computeErrorBudget({reports[1]}, in.currentSha, s.objectives.maxErrorRate,
                                           s.decision.errorBudgetWindowH, at);
  auto d = decision::evaluatePolicy(in);
  history.push_back(json{{"cycle_id", cycle}, {"finished_at", isoUtc(at)}, {"results", decision::historyFields(in, d)}});
  return d;
}

}  // namespace

Settings defaultSettings() {
  Config c;  // the built-in defaults, as configs/cvgate.toml leaves them
  Settings s;
  s.objectives = c.objectives;
  s.decision = c.decision;
  s.latencyRequests = static_cast<std::size_t>(c.latency.minSamples);
  s.bootstrapResamples = static_cast<std::size_t>(c.compliance.bootstrapResamples);
  return s;
}

MonthOutcome simulateMonth(const ProductionTruth& t, const Settings& s, std::mt19937_64& rng) {
  MonthOutcome m;
  std::vector<json> history;
  const auto start = Clock::now();
  for (int i = 0; i < s.cyclesPerMonth; ++i) {
    const auto at = start + std::chrono::hours(i);
    const std::string cycle = "sim-" + std::to_string(i);
    auto d = judge(cycle, at, cycleReports(cycle, isoUtc(at), t, nullptr, s, rng), s, false, history);
    if (d.verdict == decision::Verdict::Rollback) {
      m.rolledBack = true;
      m.cycle = i + 1;
      m.breaches = d.breaches;
      return m;
    }
  }
  return m;
}

int cyclesToRollback(const ProductionTruth& t, const Settings& s, std::mt19937_64& rng, int maxCycles) {
  Settings short_ = s;
  short_.cyclesPerMonth = maxCycles;
  auto m = simulateMonth(t, short_, rng);
  return m.rolledBack ? m.cycle : -1;
}

bool candidateGoes(const CandidateTruth& c, const Settings& s, std::mt19937_64& rng) {
  ProductionTruth healthy;
  healthy.name = "healthy";
  std::vector<json> history;
  const auto at = Clock::now();
  auto d = judge("sim-go", at, cycleReports("sim-go", isoUtc(at), healthy, &c, s, rng), s, true, history);
  return d.verdict == decision::Verdict::Go;
}

double probRunWithin(double p, int k, int m) {
  // State j: the current run of events has length j (< k). Absorbing at k.
  std::vector<double> state(static_cast<std::size_t>(k), 0.0);
  state[0] = 1.0;
  double absorbed = 0;
  for (int step = 0; step < m; ++step) {
    std::vector<double> next(static_cast<std::size_t>(k), 0.0);
    for (int j = 0; j < k; ++j) {
      const double w = state[static_cast<std::size_t>(j)];
      next[0] += w * (1 - p);
      if (j + 1 == k) absorbed += w * p;
      else next[static_cast<std::size_t>(j + 1)] += w * p;
    }
    state = next;
  }
  return absorbed;
}

double breachProbability(std::size_t n, double rate, double bound, double confidence) {
  // The smallest count whose one-sided lower bound exceeds `bound`.
  std::size_t c = 0;
  while (c <= n && !(stats::clopperPearsonLower(c, n, confidence) > bound)) ++c;
  if (c > n) return 0.0;
  if (c == 0) return 1.0;
  const bm::binomial_distribution<double> b(static_cast<double>(n), rate);
  return bm::cdf(bm::complement(b, static_cast<double>(c - 1)));
}

double passProbability(std::size_t n, double rate, double bound, double confidence) {
  // The largest count whose one-sided upper bound is below `bound` (none: 0).
  std::size_t c = 0;
  while (c <= n && stats::clopperPearsonUpper(c, n, confidence) < bound) ++c;
  if (c == 0) return 0.0;
  const bm::binomial_distribution<double> b(static_cast<double>(n), rate);
  return bm::cdf(b, static_cast<double>(c - 1));
}

std::vector<CandidateTruth> candidatesAtObjectives(const CandidateTruth& good, const Settings& s) {
  std::vector<CandidateTruth> out(3, good);
  out[0].p95Ms = s.objectives.p95LatencyMs;
  out[0].name = "P95 at the objective";
  out[1].errorRate = s.objectives.maxErrorRate;
  out[1].name = "error rate at the objective";
  out[2].uplift = s.objectives.minComplianceUplift;
  out[2].name = "uplift at the objective";
  return out;
}

}  // namespace cvgate::verdictsim

#include "latency/Summary.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/Strings.h"
#include "stats/Stats.h"

namespace cvgate::latency {

namespace {

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json quantileJson(const std::vector<double>& sorted, double p, double confidence) {
  auto q = stats::quantileCI(sorted, p, confidence);
  return {{"value_ms", num(q.value)}, {"ci_ms", {num(q.lo), num(q.hi)}}, {"bounded", q.bounded}};
}

json stageJson(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {{"mean_ms", nullptr}, {"p95_ms", nullptr}};
  return {{"mean_ms", stats::mean(v)}, {"p95_ms", stats::quantileCI(v, 0.95, 0.95).value}};
}

std::string pct(double c) { return fmtNum(c * 100.0, 0) + "%"; }

}  // namespace

json runToJson(const RunResult& r, double confidence) {
  const auto lat = r.sortedLatencies();
  json j;
  j["scenario"] = toString(r.settings.scenario);
  j["offered_rps"] = r.settings.scenario == Scenario::Server ? json(r.settings.offeredRps) : json(nullptr);
  j["arrival_rps"] = r.settings.scenario == Scenario::Server ? json(r.arrivalRps) : json(nullptr);
  j["achieved_rps"] = r.achievedRps;
  j["duration_s"] = r.elapsedS;
  j["samples"] = r.requests.size();
  j["errors"] = r.errors;
  j["error_kinds"] = r.errorKinds;
  j["shed"] = r.shed;
  j["workers"] = r.settings.workers;
  j["max_batch"] = r.settings.maxBatch;
  j["batch_window_ms"] = r.settings.batchWindowMs;
  j["mean_batch"] = r.meanBatch;
  json p;
  p["p50"] = quantileJson(lat, 0.50, confidence);
  p["p90"] = quantileJson(lat, 0.90, confidence);
  p["p95"] = quantileJson(lat, 0.95, confidence);
  p["p99"] = quantileJson(lat, 0.99, confidence);
  p["max"] = {{"value_ms", lat.empty() ? json(nullptr) : json(lat.back())}};
  j["percentiles"] = p;
  j["confidence"] = confidence;
  std::vector<double> queue, pre, fwd, post, delay;
  for (const auto& q : r.requests) {
    queue.push_back(q.startMs - q.scheduledMs);
    pre.push_back(q.preprocessMs);
    fwd.push_back(q.forwardMs);
    post.push_back(q.postprocessMs);
    delay.push_back(q.issuedMs - q.scheduledMs);
  }
  j["stages"] = {{"queue", stageJson(queue)}, {"preprocess", stageJson(pre)},
                 {"forward", stageJson(fwd)}, {"postprocess", stageJson(post)}};
  std::sort(delay.begin(), delay.end());
  j["issue_delay"] = {{"p50_ms", delay.empty() ? json(nullptr) : json(stats::quantileCI(delay, 0.5, 0.95).value)},
                      {"p99_ms", r.settings.scenario == Scenario::Server ? json(r.issueDelayP99Ms) : json(nullptr)},
                      {"max_ms", delay.empty() ? json(nullptr) : json(delay.back())},
                      {"bound_p99_ms", r.settings.maxIssueDelayMs}};
  if (r.settings.scenario == Scenario::Server)
    j["generator"] = {{"cpu_s", r.generatorCpuS}, {"core_fraction", r.generatorCoreFraction}, {"cores", r.cores}};
  j["valid"] = r.valid;
  j["invalid_reason"] = r.invalidReason;
  j["saturated"] = r.saturated;
  j["saturation_reason"] = r.saturationReason;
  j["latency_growth_ms_per_s"] = r.growthMsPerS;
  return j;
}

json runCounts(const RunResult& r, const Objectives& o) {
  std::size_t slow = 0;
  for (const auto& q : r.requests)
    if (q.latencyMs() >= o.p95LatencyMs) ++slow;
  return {{"scenario", toString(r.settings.scenario)},
          {"offered_rps", r.settings.scenario == Scenario::Server ? json(r.settings.offeredRps) : json(nullptr)},
          {"requests", r.requests.size()}, {"errors", r.errors},
          {"at_or_over_p95_objective", slow}, {"valid", r.valid}, {"saturated", r.saturated}};
}

Check p95Check(const RunResult& r, const Objectives& o, const std::string& subject) {
  const auto lat = r.sortedLatencies();
  const auto q = stats::quantileCI(lat, 0.95, o.confidence);
  Check c;
  c.id = "latency.p95";
  c.subject = subject;
  c.unit = "ms";
  c.threshold = o.p95LatencyMs;
  if (std::isfinite(q.value)) c.value = q.value;
  if (std::isfinite(q.lo) || std::isfinite(q.hi)) c.ci = std::make_pair(q.lo, q.hi);
  const std::string where = toString(r.settings.scenario) +
      (r.settings.scenario == Scenario::Server ? " at " + fmtNum(r.settings.offeredRps, 1) + "/s" : "");
  const std::string ci = " (" + pct(o.confidence) + " CI " + fmtNum(q.lo, 2) + "-" + fmtNum(q.hi, 2) + ")";
  c.detail = runCounts(r, o);
  if (!r.valid) {
    // Latency counts from each request's scheduled arrival: a generator that
    // fell behind (a starved machine) inflates it. Such a run is no evidence.
    c.status = Outcome::Inconclusive;
    c.need = {{"valid_run", true}};
    c.message = "p95 " + fmtNum(q.value, 2) + " ms " + where + " from an invalid run (" + r.invalidReason +
                "): not evidence either way";
  } else if (r.saturated) {
    c.status = Outcome::Fail;
    c.message = "p95 " + fmtNum(q.value, 2) + " ms " + where + " and growing: " + r.saturationReason;
  } else if (q.hi < o.p95LatencyMs) {
    c.status = Outcome::Pass;
    c.message = "p95 " + fmtNum(q.value, 2) + " ms" + ci + " < " + fmtNum(o.p95LatencyMs, 1) + " ms, " + where;
  } else if (q.lo >= o.p95LatencyMs) {
    c.status = Outcome::Fail;
    c.message = "p95 " + fmtNum(q.value, 2) + " ms" + ci + " >= " + fmtNum(o.p95LatencyMs, 1) + " ms, " + where;
  } else {
    c.status = Outcome::Inconclusive;
    const auto need = stats::samplesToDecide(lat, 0.95, o.confidence, o.p95LatencyMs);
    c.need = {{"samples", need}};
    c.message = "p95 " + fmtNum(q.value, 2) + " ms" + ci + " straddles " + fmtNum(o.p95LatencyMs, 1) +
                " ms with " + std::to_string(lat.size()) + " samples; about " + std::to_string(need) +
                " needed";
  }
  return c;
}

namespace {
/// Samples at which the one-sided CP upper bound would fall below the objective
/// at the observed error fraction (0 errors: the rule of three's exact form).
std::size_t errorSamplesNeeded(std::size_t k, std::size_t n, double objective, double confidence) {
  const double frac = n ? static_cast<double>(k) / static_cast<double>(n) : 0.0;
  if (frac >= objective) return stats::kSampleCap;
  for (std::size_t m = std::max<std::size_t>(n, 1); m < stats::kSampleCap; m = m + m / 8 + 1) {
    auto km = static_cast<std::uint64_t>(std::llround(frac * static_cast<double>(m)));
    if (stats::clopperPearsonUpper(km, m, confidence) < objective) return m;
  }
  return stats::kSampleCap;
}
}  // namespace

Check errorRateCheck(const RunResult& r, const Objectives& o, const std::string& subject) {
  const std::size_t n = r.requests.size(), k = r.errors;
  Check c;
  c.id = "latency.error_rate";
  c.subject = subject;
  c.unit = "fraction";
  c.threshold = o.maxErrorRate;
  const double frac = n ? static_cast<double>(k) / static_cast<double>(n) : 0.0;
  c.value = frac;
  const double ub = stats::clopperPearsonUpper(k, n, o.confidence);
  const double lb = stats::clopperPearson(k, n, 2 * o.confidence - 1).lo;  // one-sided lower at `confidence`
  c.ci = std::make_pair(lb, ub);
  std::string kinds;
  for (const auto& [kind, cnt] : r.errorKinds) kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(cnt);
  const std::string base = std::to_string(k) + "/" + std::to_string(n) + " errors" +
                           (kinds.empty() ? "" : " (" + kinds + ")") + ", upper bound " + fmtNum(ub, 4);
  c.detail = runCounts(r, o);
  if (!r.valid) {
    // A lagging generator makes requests late, and late requests miss their
    // deadline: errors it may have caused are no evidence against the model.
    c.status = Outcome::Inconclusive;
    c.need = {{"valid_run", true}};
    c.message = base + " from an invalid run (" + r.invalidReason + "): not evidence either way";
  } else if (n == 0) {
    c.status = Outcome::Inconclusive;
    c.need = {{"samples", 1}};
    c.message = "no requests completed: no error rate";
  } else if (ub < o.maxErrorRate) {
    c.status = Outcome::Pass;
    c.message = base + " < " + fmtNum(o.maxErrorRate, 4);
  } else if (lb > o.maxErrorRate) {
    c.status = Outcome::Fail;
    c.message = base + "; lower bound " + fmtNum(lb, 4) + " > " + fmtNum(o.maxErrorRate, 4);
  } else {
    c.status = Outcome::Inconclusive;
    const auto need = errorSamplesNeeded(k, n, o.maxErrorRate, o.confidence);
    c.need = {{"samples", need}};
    c.message = base + " not below " + fmtNum(o.maxErrorRate, 4) + "; about " + std::to_string(need) +
                " samples needed";
  }
  return c;
}

Check validCheck(const RunResult& r, const std::string& subject) {
  Check c;
  c.id = "latency.valid";
  c.subject = subject;
  c.unit = "ms";
  c.value = r.issueDelayP99Ms;
  c.threshold = r.settings.maxIssueDelayMs;
  if (r.valid) {
    c.status = Outcome::Pass;
    c.message = r.settings.scenario == Scenario::Server
                    ? "the generator kept up: issue delay p99 " + fmtNum(r.issueDelayP99Ms, 3) + " ms <= " +
                          fmtNum(r.settings.maxIssueDelayMs, 1) + " ms, using " +
                          fmtNum(r.generatorCoreFraction * 100, 2) + " % of one core"
                    : toString(r.settings.scenario) + ": closed-loop, no schedule to fall behind";
  } else {
    c.status = Outcome::Inconclusive;
    c.message = r.invalidReason + "; the run is invalid, its figures are not evidence";
    c.need = {{"valid_run", true}};
  }
  return c;
}

Outcome runMeetsObjectives(const RunResult& r, const Objectives& o) {
  if (r.saturated) return Outcome::Fail;
  if (!r.valid) {
    // Latency counts from each request's scheduled arrival, so a generator
    // that fell behind inflates it, by up to its issue delay. Such a run is a
    // fail only when the lag cannot explain it: the P95's lower bound, less
    // the generator's p99 issue delay, is still over the objective (or
    // requests failed other than by missing their deadline). Otherwise it
    // settles nothing, either way.
    // (The checks themselves call such a run inconclusive; the search asks
    // more: whether the lag can explain the miss.)
    const auto q = stats::quantileCI(r.sortedLatencies(), 0.95, o.confidence);
    if (std::isfinite(q.lo) && q.lo - r.issueDelayP99Ms >= o.p95LatencyMs) return Outcome::Fail;
    RunResult own = r;  // the errors the generator's lag cannot have caused
    own.valid = true;
    if (auto it = own.errorKinds.find("deadline"); it != own.errorKinds.end()) {
      own.errors -= std::min(own.errors, it->second);
      own.errorKinds.erase(it);
    }
    if (errorRateCheck(own, o, "").status == Outcome::Fail) return Outcome::Fail;
    return Outcome::Inconclusive;
  }
  const Outcome p = p95Check(r, o, "").status, e = errorRateCheck(r, o, "").status;
  if (p == Outcome::Fail || e == Outcome::Fail) return Outcome::Fail;
  return worst(p, e);
}

ThroughputResult searchThroughput(const SearchRunFn& run, double startRps, double minRps, const Objectives& o,
                                  const SearchSettings& s, const RunResult* first, double confidence) {
  ThroughputResult t;
  auto once = [&](double rate, const RunResult* given, std::size_t samples, int attempt) -> Outcome {
    SearchStep st;
    st.offeredRps = rate;
    st.attempt = attempt;
    if (!given && s.fits && !s.fits(rate, samples)) {
      spdlog::warn("  {:.1f}/s offered: not run, the time budget is spent; the search stops here", rate);
      t.stoppedByTime = true;
      t.stoppedAtRps = rate;
      return Outcome::Error;  // ends the search like a failed run, with no step
    }
    Expected<RunResult> r = given ? Expected<RunResult>(*given) : run(rate, samples);
    if (!r.ok()) {
      st.outcome = Outcome::Error;
      st.why = r.error().message();
      t.steps.push_back(st);
      return Outcome::Error;
    }
    st.outcome = runMeetsObjectives(*r, o);
    const Check p = p95Check(*r, o, ""), e = errorRateCheck(*r, o, "");
    st.why = r->saturated ? r->saturationReason : !r->valid ? r->invalidReason
             : p.status != Outcome::Pass ? p.message : e.message;
    if (st.outcome == Outcome::Inconclusive) {
      std::size_t need = 0;
      if (p.need.contains("samples")) need = std::max(need, p.need["samples"].get<std::size_t>());
      if (e.need.contains("samples")) need = std::max(need, e.need["samples"].get<std::size_t>());
      st.needSamples = need;
    }
    if (st.outcome == Outcome::Fail && p.status == Outcome::Fail) {
      std::vector<double> service;
      for (const auto& q : r->requests)
        if (q.ok) service.push_back(q.endMs - q.startMs);
      if (!service.empty()) {
        const std::size_t k = static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(service.size()))) - 1;
        std::nth_element(service.begin(), service.begin() + static_cast<std::ptrdiff_t>(k), service.end());
        st.waitingMiss = service[k] < o.p95LatencyMs;
      }
    }
    st.run = runToJson(*r, confidence);
    st.run.erase("stages");
    st.valid = r->valid;
    st.samples = r->requests.size();
    spdlog::info("  {:.1f}/s offered{}: {} (p95 {:.2f} ms, {:.1f}/s completed, {} requests{}{})", rate,
                 attempt > 1 ? " (repeat " + std::to_string(attempt - 1) + ")" : std::string(), toString(st.outcome),
                 st.run["percentiles"]["p95"]["value_ms"].is_number() ? st.run["percentiles"]["p95"]["value_ms"].get<double>() : 0.0,
                 r->achievedRps, st.samples, r->saturated ? ", saturated" : "", r->valid ? "" : ", generator fell behind");
    if (st.outcome == Outcome::Pass && rate > t.bestRps) {
      t.bestRps = rate;
      t.bestAchievedRps = r->achievedRps;
    }
    t.steps.push_back(st);
    return st.outcome;
  };
  // A run that is not evidence either way is repeated at the same rate: an
  // invalid one (the generator itself fell behind: a moment of CPU
  // starvation on a shared machine) as it was, an inconclusive one with the
  // samples its bound asked for. A decisive fail is never repeated, so a
  // rate cannot pass by being tried until it does.
  auto measure = [&](double rate, const RunResult* given) -> Outcome {
    Outcome oc = once(rate, given, 0, 1);
    for (int k = 0; k < s.repeats && oc == Outcome::Inconclusive; ++k) {
      const SearchStep& last = t.steps.back();
      std::size_t samples = 0;
      if (last.valid && last.needSamples > last.samples)
        samples = std::min(last.needSamples, last.samples * s.maxSampleGrowth);
      else if (last.valid)
        break;  // inconclusive for want of nothing more samples can give
      oc = once(rate, nullptr, samples, k + 2);
    }
    return oc;
  };
  double lo = 0, hi = 0;  // highest passing, lowest non-passing
  Outcome o0 = measure(startRps, first);
  if (o0 == Outcome::Error || (s.challenge && o0 != Outcome::Pass)) return t;
  if (o0 == Outcome::Pass) {
    lo = startRps;
    double r = startRps;
    for (int k = 0; k < s.doublingSteps; ++k) {
      r *= 2;
      Outcome oc = measure(r, nullptr);
      if (oc == Outcome::Error) return t;
      if (oc != Outcome::Pass) {
        hi = r;
        break;
      }
      lo = r;
    }
  } else {
    hi = startRps;
    double r = startRps;
    // One step down: a pass is the highest passing rate, anything else the
    // lowest non-passing one so far.
    auto stepDown = [&](double rate) {
      const Outcome oc = measure(rate, nullptr);
      if (oc == Outcome::Pass) lo = rate;
      else if (oc != Outcome::Error) hi = rate;
      return oc;
    };
    for (int k = 0; k < s.doublingSteps && r > minRps * 1.0001; ++k) {
      // The last step lands on the minimum, so the check can be settled.
      r = k == s.doublingSteps - 1 ? minRps : std::max(r / 2, minRps);
      const Outcome oc = stepDown(r);
      if (oc == Outcome::Error) return t;
      if (oc == Outcome::Pass) break;
    }
    // Nothing met the objectives down to the minimum: go on halving below
    // it, so the report can say what rate the subject does sustain (the
    // check still fails; see throughputCheck). Only while the misses are
    // saturation (the subject could not keep up) or waiting (its service
    // times alone meet the P95: the queue made the miss, as just under
    // capacity): a miss made of service time is one no lower rate cures,
    // and each halving doubles the run's length. At most kBelowMinimumHalvings.
    constexpr int kBelowMinimumHalvings = 4;
    auto lastSaturated = [&] {
      const SearchStep& step = t.steps.back();
      const json& last = step.run;
      return step.waitingMiss ||
             (last.contains("saturated") && last["saturated"].is_boolean() && last["saturated"].get<bool>());
    };
    if (lo == 0 && !t.steps.empty() && t.steps.back().outcome == Outcome::Fail && lastSaturated()) {
      for (int k = 0; k < kBelowMinimumHalvings && r > 0.5 && lastSaturated(); ++k) {
        r /= 2;
        const Outcome oc = stepDown(r);
        if (oc == Outcome::Error) return t;
        if (oc == Outcome::Pass) break;
      }
    }
  }
  if (lo > 0 && hi > 0) {
    for (int k = 0; k < s.bisectSteps && hi / lo > s.resolution; ++k) {
      const double mid = std::sqrt(lo * hi);
      Outcome oc = measure(mid, nullptr);
      if (oc == Outcome::Error) return t;
      if (oc == Outcome::Pass) lo = mid;
      else hi = mid;
    }
  }
  return t;
}

bool searchCapped(const ThroughputResult& t) {
  if (t.bestRps <= 0) return false;
  for (const auto& st : t.steps)
    if (st.offeredRps > t.bestRps && st.outcome == Outcome::Fail) return false;
  return true;
}

std::vector<double> passedRates(const ThroughputResult& t) {
  std::vector<double> r;
  for (const auto& st : t.steps)
    if (st.outcome == Outcome::Pass) r.push_back(st.offeredRps);
  std::sort(r.rbegin(), r.rend());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

const SearchStep* lowestFailAbove(const ThroughputResult& t, double rate) {
  const SearchStep* fail = nullptr;
  for (const auto& st : t.steps)
    if (st.outcome == Outcome::Fail && st.offeredRps > rate && (!fail || st.offeredRps < fail->offeredRps))
      fail = &st;
  return fail;
}

/// The load generator runs on the cores it measures. Its CPU time in the
/// runs that bracket the capacity bounds what it took from the server: with
/// the generator's f cores of N given back, a server whose rate is at most
/// proportional to the CPU it gets would serve at most N / (N - f) times as
/// much, so the capacity reported is understated by at most f / (N - f).
/// f is the larger of the two runs' shares. Null when no run measured it.
static json generatorBound(const SearchStep* best, const SearchStep* fail) {
  // A run's generator figure (null where the run did not measure it).
  auto field = [](const SearchStep* st, const char* key) -> json {
    if (!st || !st->run.contains("generator") || !st->run["generator"].contains(key)) return nullptr;
    const json& v = st->run["generator"][key];
    return v.is_number() ? v : json(nullptr);
  };
  const json shares[] = {field(best, "core_fraction"), field(fail, "core_fraction")};
  double f = -1;
  int cores = 0;
  for (int k = 0; k < 2; ++k) {
    const json n = field(k == 0 ? best : fail, "cores");
    if (!shares[k].is_number() || !n.is_number_integer()) continue;
    f = std::max(f, shares[k].get<double>());
    cores = std::max(cores, n.get<int>());
  }
  if (f < 0 || cores <= 0) return nullptr;
  return {{"cores", cores},
          {"core_fraction", f},
          {"best_run_core_fraction", shares[0]},
          {"failing_run_core_fraction", shares[1]},
          {"capacity_understated_at_most", f < cores ? num(f / (cores - f)) : json(nullptr)},
          {"rule", "the generator's share f of the N cores it shared with the server: a server at most "
                   "proportional to its CPU would serve at most N/(N-f) times the rate on cores of its own"}};
}

/// How sure the best rate is: the run that met the objectives there (its
/// P95 and the upper bound that passed), and the lowest rate above it that
/// failed decisively (the capacity lies between the two); and what the load
/// generator took from the cores in those two runs.
static json capacityDetail(const ThroughputResult& t, const Objectives& o) {
  json d = {{"confidence", o.confidence}, {"best_rps", t.bestRps}, {"best_achieved_rps", t.bestAchievedRps}};
  const SearchStep* fail = lowestFailAbove(t, t.bestRps);
  const SearchStep* best = nullptr;
  for (const auto& st : t.steps) {
    if (st.outcome == Outcome::Pass && st.offeredRps == t.bestRps) {
      best = &st;
      if (st.run.contains("percentiles")) d["best_run_p95"] = st.run["percentiles"]["p95"];
    }
  }
  d["capacity_bracket_rps"] = {t.bestRps, fail ? json(fail->offeredRps) : json(nullptr)};
  d["generator"] = generatorBound(best, fail);
  return d;
}

/// ", the load generator took 12 % of 2 cores: the capacity is understated
/// by at most 6 %" when that bound is worth saying (over 2 %).
static std::string generatorNote(const json& detail) {
  const json& g = detail["generator"];
  if (!g.is_object() || !g["capacity_understated_at_most"].is_number()) return {};
  const double u = g["capacity_understated_at_most"].get<double>();
  if (u <= 0.02) return {};
  return "; the load generator took " + fmtNum(g["core_fraction"].get<double>() * 100, 0) + " % of one of the " +
         std::to_string(g["cores"].get<int>()) + " cores: the capacity is understated by at most " +
         fmtNum(u * 100, 0) + " %";
}

Check throughputCheck(const ThroughputResult& t, const Objectives& o, const std::string& subject) {
  Check c;
  c.id = "latency.throughput";
  c.subject = subject;
  c.unit = "1/s";
  c.threshold = o.minThroughputRps;
  c.value = t.bestRps;
  const std::string minS = fmtNum(o.minThroughputRps, 1) + "/s";
  const std::string stopped =
      t.stoppedByTime ? "; the search stopped at the time budget before " + fmtNum(t.stoppedAtRps, 1) + "/s" : "";
  if (t.bestRps >= o.minThroughputRps) {
    c.status = Outcome::Pass;
    const bool capped = searchCapped(t);
    c.message = "objectives met at up to " + fmtNum(t.bestRps, 1) + "/s offered (" +
                std::to_string(t.steps.size()) + " runs searched" +
                (capped ? "; no run above it failed, so the capacity may be higher" : "") + ") >= " + minS + stopped;
    c.detail = capacityDetail(t, o);
    c.message += generatorNote(c.detail);
    return c;
  }
  for (const auto& st : t.steps) {
    if (st.outcome == Outcome::Error) {
      c.status = Outcome::Error;
      c.message = "a search run failed: " + st.why;
      return c;
    }
  }
  // A decisive miss at or below the minimum rate is a fail; the highest
  // rate that did meet the objectives (below the minimum) is still its value.
  for (const auto& st : t.steps) {
    if (st.outcome == Outcome::Fail && st.offeredRps <= o.minThroughputRps * 1.0001 &&
        st.offeredRps > t.bestRps) {
      c.status = Outcome::Fail;
      c.message = "at " + fmtNum(st.offeredRps, 1) + "/s offered (<= " + minS + ") the objectives are missed: " + st.why +
                  (t.bestRps > 0 ? "; they are met at up to " + fmtNum(t.bestRps, 1) + "/s offered"
                                 : std::string("; no rate searched met them")) + stopped;
      c.detail = capacityDetail(t, o);
      c.message += generatorNote(c.detail);
      return c;
    }
  }
  c.status = Outcome::Inconclusive;
  std::size_t need = 0;
  for (const auto& st : t.steps)
    if (st.offeredRps <= o.minThroughputRps * 1.0001 || st.offeredRps >= o.minThroughputRps)
      need = std::max(need, st.needSamples);
  if (need > 0) c.need = {{"samples", need}};
  else if (t.stoppedByTime) c.need = {{"time_budget", true}};
  else c.need = {{"valid_run", true}};
  c.message = "no run settled whether " + minS + " meets the objectives" +
              (t.steps.empty() ? std::string() : ": " + t.steps.back().why) + stopped;
  return c;
}

json toJson(const ThroughputResult& t) {
  json steps = json::array();
  for (const auto& s : t.steps)
    steps.push_back({{"offered_rps", s.offeredRps}, {"attempt", s.attempt}, {"outcome", toString(s.outcome)},
                     {"why", s.why}, {"need_samples", s.needSamples}, {"run", s.run}});
  return {{"best_rps", t.bestRps}, {"best_achieved_rps", t.bestAchievedRps}, {"steps", steps},
          {"stopped_by", t.stoppedByTime ? json("time") : json(nullptr)},
          {"stopped_at_rps", t.stoppedByTime ? json(t.stoppedAtRps) : json(nullptr)}};
}

}  // namespace cvgate::latency

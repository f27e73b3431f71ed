// The latency checks on runs with known latencies: the P95 bound against
// exact binomial ranks, the three outcomes, the Clopper-Pearson error bound,
// an invalid generator run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "latency/Summary.h"

using namespace cvgate;
using namespace cvgate::latency;

namespace {

/// A run whose i-th latency is values[i] ms (scheduled at i ms).
RunResult runWith(const std::vector<double>& values, std::size_t errors = 0) {
  RunResult r;
  r.settings.scenario = Scenario::Server;
  r.settings.offeredRps = 100;
  for (std::size_t i = 0; i < values.size(); ++i) {
    RequestRecord q;
    q.scheduledMs = q.issuedMs = q.startMs = static_cast<double>(i);
    q.endMs = q.scheduledMs + values[i];
    q.ok = i >= errors;
    if (!q.ok) q.errorKind = "exception";
    r.requests.push_back(q);
  }
  r.errors = errors;
  if (errors) r.errorKinds["exception"] = errors;
  return r;
}

std::vector<double> oneTo(std::size_t n) {
  std::vector<double> v;
  for (std::size_t i = 1; i <= n; ++i) v.push_back(static_cast<double>(i));
  return v;
}

/// P(B >= u), B ~ Binomial(n, p), summed exactly in log space.
double upperTail(std::size_t n, double p, std::size_t u) {
  double s = 0;
  for (std::size_t k = u; k <= n; ++k) {
    const double lk = std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                      k * std::log(p) + (n - k) * std::log1p(-p);
    s += std::exp(lk);
  }
  return s;
}

/// A synthetic system's run at `rate`: below 1000/s it meets the objectives,
/// at or above it misses them because it cannot keep up (saturated).
RunResult kneeAt1000(double rate) {
  auto r = runWith(std::vector<double>(600, rate < 1000 ? 5.0 : 900.0));
  r.settings.offeredRps = rate;
  r.saturated = rate >= 1000;
  return r;
}

/// The searches over kneeAt1000: 6 doublings (or halvings) from the start
/// rate, then at most `bisections` bisections.
SearchSettings sixDoublingsThen(int bisections) {
  SearchSettings s;
  s.doublingSteps = 6;
  s.bisectSteps = bisections;
  return s;
}

}  // namespace

TEST(Checks, P95UpperBoundIsTheExactBinomialRank) {
  const std::size_t n = 1000;
  auto r = runWith(oneTo(n));
  Objectives o;
  o.confidence = 0.95;
  o.p95LatencyMs = 5000;
  auto c = p95Check(r, o, "current");
  ASSERT_TRUE(c.ci);
  // Latency i has rank i, so the bound's value is its rank: the smallest u
  // with P(B >= u) <= 0.025.
  std::size_t u = static_cast<std::size_t>(0.95 * n);
  while (upperTail(n, 0.95, u) > 0.025) ++u;
  EXPECT_DOUBLE_EQ(c.ci->second, static_cast<double>(u));
  EXPECT_GT(upperTail(n, 0.95, u - 1), 0.025);
  EXPECT_DOUBLE_EQ(*c.value, 950.0);  // nearest rank ceil(0.95 * 1000)
  EXPECT_EQ(c.status, Outcome::Pass);
}

TEST(Checks, P95ThreeOutcomes) {
  auto r = runWith(oneTo(1000));
  Objectives o;
  o.p95LatencyMs = 10;
  EXPECT_EQ(p95Check(r, o, "current").status, Outcome::Fail);
  o.p95LatencyMs = 950.5;  // inside the CI
  auto c = p95Check(r, o, "current");
  EXPECT_EQ(c.status, Outcome::Inconclusive);
  ASSERT_TRUE(c.need.contains("samples"));
  EXPECT_GT(c.need["samples"].get<std::size_t>(), 1000u);
  o.p95LatencyMs = 2000;
  EXPECT_EQ(p95Check(r, o, "current").status, Outcome::Pass);
  // Too few samples for any upper bound: never a pass.
  auto small = runWith(oneTo(20));
  auto s = p95Check(small, o, "current");
  EXPECT_EQ(s.status, Outcome::Inconclusive);
  EXPECT_GT(s.need["samples"].get<std::size_t>(), 20u);
}

TEST(Checks, ErrorRateClopperPearson) {
  Objectives o;
  o.maxErrorRate = 0.01;
  o.confidence = 0.95;
  auto pass = errorRateCheck(runWith(std::vector<double>(300, 1.0)), o, "current");
  EXPECT_EQ(pass.status, Outcome::Pass);
  EXPECT_NEAR(pass.ci->second, 1 - std::pow(0.05, 1.0 / 300), 1e-9);  // exact for k = 0
  auto few = errorRateCheck(runWith(std::vector<double>(200, 1.0)), o, "current");
  EXPECT_EQ(few.status, Outcome::Inconclusive);
  EXPECT_GE(few.need["samples"].get<std::size_t>(), 299u);
  EXPECT_LE(few.need["samples"].get<std::size_t>(), 340u);
  auto all = errorRateCheck(runWith(std::vector<double>(600, 1.0), 600), o, "current");
  EXPECT_EQ(all.status, Outcome::Fail);
  EXPECT_DOUBLE_EQ(*all.value, 1.0);
}

TEST(Checks, InvalidRunIsInconclusiveNeverPass) {
  auto r = runWith(std::vector<double>(1000, 1.0));
  r.valid = false;
  r.invalidReason = "the load generator fell behind";
  r.issueDelayP99Ms = 50;
  r.settings.maxIssueDelayMs = 10;
  auto c = validCheck(r, "candidate");
  EXPECT_EQ(c.status, Outcome::Inconclusive);
  EXPECT_NE(c.message.find("fell behind"), std::string::npos);
  Objectives o;
  EXPECT_EQ(runMeetsObjectives(r, o), Outcome::Inconclusive);
  r.valid = true;
  EXPECT_EQ(runMeetsObjectives(r, o), Outcome::Pass);
}

TEST(Checks, ThroughputSearchIsBoundedAndFindsTheKnee) {
  // A synthetic system: runs below 1000/s meet the objectives, above do not.
  int calls = 0;
  auto run = [&](double rate, std::size_t) -> Expected<RunResult> {
    ++calls;
    return kneeAt1000(rate);
  };
  Objectives o;
  o.minThroughputRps = 100;
  const SearchSettings s = sixDoublingsThen(3);
  auto t = searchThroughput(run, 200, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_LE(calls, 1 + 6 + 3);  // decisive outcomes: no repeats
  EXPECT_GE(t.bestRps, 800.0);
  EXPECT_LT(t.bestRps, 1000.0);
  auto c = throughputCheck(t, o, "current");
  EXPECT_EQ(c.status, Outcome::Pass);
  // The knee was found (the last run, a bisection, may well have passed).
  EXPECT_EQ(c.message.find("capacity may be higher"), std::string::npos) << c.message;
  // A system that never misses: the search ends at its bound, and says so.
  auto easy = [&](double rate, std::size_t) -> Expected<RunResult> {
    auto r = runWith(std::vector<double>(600, 5.0));
    r.settings.offeredRps = rate;
    return r;
  };
  auto te = searchThroughput(easy, 200, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_DOUBLE_EQ(te.bestRps, 200.0 * 64);
  EXPECT_NE(throughputCheck(te, o, "current").message.find("capacity may be higher"), std::string::npos);
  o.minThroughputRps = 2000;
  auto t2 = searchThroughput(run, 4000, o.minThroughputRps, o, s, nullptr, 0.95);
  const Check c2 = throughputCheck(t2, o, "current");
  EXPECT_EQ(c2.status, Outcome::Fail);
  // Below the objective the search goes on down: the check fails, and still
  // reports the highest rate that met the objectives, with the bracket.
  EXPECT_GE(t2.bestRps, 800.0);
  EXPECT_LT(t2.bestRps, 1000.0);
  ASSERT_TRUE(c2.value.has_value());
  EXPECT_DOUBLE_EQ(*c2.value, t2.bestRps);
  EXPECT_NE(c2.message.find("met at up to"), std::string::npos) << c2.message;
  EXPECT_EQ(c2.detail["confidence"], o.confidence);
  EXPECT_DOUBLE_EQ(c2.detail["capacity_bracket_rps"][0].get<double>(), t2.bestRps);
  EXPECT_LE(c2.detail["capacity_bracket_rps"][1].get<double>(), 1000.0 * 1.0001 * 1.1);
  EXPECT_GE(c2.detail["capacity_bracket_rps"][1].get<double>(), 1000.0);
  EXPECT_TRUE(c2.detail["best_run_p95"].contains("ci_ms"));
}

// The bisection goes on while the bracket is wider than search_resolution
// (and bisections are left): a finer resolution brackets the knee closer.
TEST(Checks, TheBisectionStopsAtTheSearchResolution) {
  for (const double resolution : {1.1, 1.03, 1.01}) {
    auto run = [&](double rate, std::size_t) -> Expected<RunResult> { return kneeAt1000(rate); };
    Objectives o;
    o.minThroughputRps = 100;
    SearchSettings s = sixDoublingsThen(10);
    s.resolution = resolution;
    auto t = searchThroughput(run, 200, o.minThroughputRps, o, s, nullptr, 0.95);
    const Check c = throughputCheck(t, o, "current");
    const double lo = c.detail["capacity_bracket_rps"][0].get<double>();
    const double hi = c.detail["capacity_bracket_rps"][1].get<double>();
    EXPECT_LT(lo, 1000.0) << resolution;
    EXPECT_GE(hi, 1000.0) << resolution;
    EXPECT_LE(hi / lo, resolution * (1 + 1e-9)) << resolution;
    // ... and stopped there: the step before was wider than the resolution.
    EXPECT_GT(hi / lo, std::sqrt(resolution) * (1 - 1e-9)) << resolution;
  }
}

// A sweep variant challenges the best so far at a rate above it: a run there
// that does not pass ends its search (one run, nothing lower searched, even
// for a saturated miss); one that passes is searched on up to its knee.
TEST(Checks, AChallengeThatFailsEndsTheSearchAtOnce) {
  std::vector<double> rates;
  auto run = [&](double rate, std::size_t) -> Expected<RunResult> {
    rates.push_back(rate);
    return kneeAt1000(rate);
  };
  Objectives o;
  o.minThroughputRps = 100;
  SearchSettings s = sixDoublingsThen(3);
  s.challenge = true;
  auto lost = searchThroughput(run, 1100, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_EQ(rates, std::vector<double>{1100});
  EXPECT_DOUBLE_EQ(lost.bestRps, 0.0);
  rates.clear();
  auto won = searchThroughput(run, 550, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_GT(rates.size(), 1u);
  EXPECT_GE(won.bestRps, 800.0);
  EXPECT_LT(won.bestRps, 1000.0);
  // Without the challenge, the same failing start is searched downwards.
  rates.clear();
  s.challenge = false;
  auto full = searchThroughput(run, 1100, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_GT(rates.size(), 1u);
  EXPECT_GT(full.bestRps, 0.0);
}

TEST(Checks, ASubjectSlowAtAnyRateIsNotSearchedBelowTheMinimum) {
  // Defect: a subject whose service time alone misses the P95 objective was
  // searched by halving far below the minimum rate, each run twice as long
  // as the last, until the heartbeat's step timeout killed profile-latency.
  int calls = 0;
  double lowest = 1e9;
  auto slow = [&](double rate, std::size_t) -> Expected<RunResult> {
    ++calls;
    lowest = std::min(lowest, rate);
    auto r = runWith(std::vector<double>(600, 900.0));  // keeps up, but every answer takes 900 ms
    r.settings.offeredRps = rate;
    r.saturated = false;
    return r;
  };
  Objectives o;
  o.minThroughputRps = 100;
  SearchSettings s;
  s.doublingSteps = 10;
  auto t = searchThroughput(slow, 200, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_EQ(throughputCheck(t, o, "current").status, Outcome::Fail);
  EXPECT_DOUBLE_EQ(lowest, 100.0) << "searched below the minimum although no lower rate can help";
  EXPECT_LE(calls, 2);
}

TEST(Checks, ASubjectJustUnderItsCapacityIsSearchedBelowTheMinimum) {
  // Defect (bench, ResNet-18 at ~49/s capacity): at 50/s it kept up, so the
  // run was not flagged saturated, but its queue made P95 miss; the search
  // stopped at 50/s and reported 0, where a lower rate meets the objectives.
  auto nearCapacity = [&](double rate, std::size_t) -> Expected<RunResult> {
    RunResult r = runWith(std::vector<double>(600, 5.0));
    if (rate >= 50) {
      for (auto& q : r.requests) {  // 880 ms in the queue, 20 ms of service
        q.startMs = q.scheduledMs + 880;
        q.endMs = q.startMs + 20;
      }
    }
    r.settings.offeredRps = rate;
    r.saturated = false;
    return r;
  };
  Objectives o;
  o.minThroughputRps = 100;
  SearchSettings s;
  s.doublingSteps = 10;
  s.bisectSteps = 0;
  auto t = searchThroughput(nearCapacity, 200, o.minThroughputRps, o, s, nullptr, 0.95);
  EXPECT_DOUBLE_EQ(t.bestRps, 25.0);
  const Check c = throughputCheck(t, o, "current");
  EXPECT_EQ(c.status, Outcome::Fail);
  ASSERT_TRUE(c.value.has_value());
  EXPECT_DOUBLE_EQ(*c.value, 25.0);
}

TEST(Checks, SearchRepeatsARunTheGeneratorSpoiltButNeverAFailure) {
  // Every rate below 1000/s meets the objectives, but the first run at each
  // rate is spoilt: the generator fell behind (not evidence either way).
  std::map<double, int> seen;
  int calls = 0;
  auto run = [&](double rate, std::size_t) -> Expected<RunResult> {
    ++calls;
    auto r = runWith(std::vector<double>(600, rate < 1000 ? 5.0 : 900.0));
    r.settings.offeredRps = rate;
    if (seen[rate]++ == 0) {
      r.valid = false;
      r.invalidReason = "the load generator fell behind";
      r.issueDelayP99Ms = 450;  // enough lag to explain a 900 ms P95 against 500
    }
    return r;
  };
  Objectives o;
  SearchSettings s;
  s.doublingSteps = 3;
  s.bisectSteps = 0;
  s.repeats = 2;
  auto t = searchThroughput(run, 200, 100, o, s, nullptr, 0.95);
  EXPECT_DOUBLE_EQ(t.bestRps, 800.0);  // 200, 400, 800 pass on their repeat; 1600 fails
  // 200, 400, 800: a spoilt run and its repeat each; 1600: a spoilt run, then
  // a valid failing one, which is not repeated.
  EXPECT_EQ(calls, 8);
  ASSERT_EQ(t.steps.size(), 8u);
  EXPECT_EQ(t.steps[0].attempt, 1);
  EXPECT_EQ(t.steps[0].outcome, Outcome::Inconclusive);
  EXPECT_EQ(t.steps[1].attempt, 2);
  EXPECT_EQ(t.steps[1].outcome, Outcome::Pass);
  EXPECT_EQ(t.steps.back().outcome, Outcome::Fail);
  EXPECT_EQ(toJson(t)["steps"][1]["attempt"], 2);
  // Without repeats the spoilt first run ends the upward search at once.
  seen.clear();
  s.repeats = 0;
  auto t0 = searchThroughput(run, 200, 100, o, s, nullptr, 0.95);
  EXPECT_DOUBLE_EQ(t0.bestRps, 0.0);
}

TEST(Checks, AnInvalidRunIsStillAFailWhenTheGeneratorsLagCannotExplainIt) {
  Objectives o;  // P95 < 500 ms
  auto r = runWith(std::vector<double>(600, 900.0));
  r.valid = false;
  r.invalidReason = "the load generator fell behind";
  r.issueDelayP99Ms = 20;  // 900 - 20 is still far over 500
  EXPECT_EQ(runMeetsObjectives(r, o), Outcome::Fail);
  r.issueDelayP99Ms = 450;  // 900 - 450 is under 500: the lag could explain it
  EXPECT_EQ(runMeetsObjectives(r, o), Outcome::Inconclusive);
  // Errors the model made (exceptions) are its own, lag or not; requests that
  // missed their deadline may be the lag's.
  auto e = runWith(std::vector<double>(600, 5.0), 60);
  e.valid = false;
  e.issueDelayP99Ms = 450;
  EXPECT_EQ(runMeetsObjectives(e, o), Outcome::Fail);
  e.errorKinds.clear();
  e.errorKinds["deadline"] = 60;
  EXPECT_EQ(runMeetsObjectives(e, o), Outcome::Inconclusive);
}

TEST(Checks, SearchRepeatsAnInconclusiveRunWithTheSamplesItsBoundNeeds) {
  // 0.5 % errors: on 600 requests the Clopper-Pearson bound cannot settle
  // "< 1 %"; on the samples the check asks for, it can.
  std::vector<std::size_t> asked;
  auto run = [&](double rate, std::size_t samples) -> Expected<RunResult> {
    asked.push_back(samples);
    const std::size_t n = std::max<std::size_t>(600, samples);
    auto r = runWith(std::vector<double>(n, 5.0), n / 200);
    r.settings.offeredRps = rate;
    return r;
  };
  Objectives o;
  SearchSettings s;
  s.doublingSteps = 0;
  s.bisectSteps = 0;
  s.repeats = 2;
  auto t = searchThroughput(run, 200, 100, o, s, nullptr, 0.95);
  ASSERT_GE(asked.size(), 2u);
  EXPECT_EQ(asked[0], 0u);
  EXPECT_GT(asked[1], 600u);
  EXPECT_LE(asked[1], 600u * s.maxSampleGrowth);
  EXPECT_EQ(t.steps[0].outcome, Outcome::Inconclusive);
  EXPECT_EQ(t.steps.back().outcome, Outcome::Pass) << t.steps.back().why;
  EXPECT_DOUBLE_EQ(t.bestRps, 200.0);
}

TEST(Checks, RunJsonHasPercentilesWithIntervals) {
  auto j = runToJson(runWith(oneTo(1000)), 0.95);
  for (const char* p : {"p50", "p90", "p95", "p99"}) {
    ASSERT_TRUE(j["percentiles"][p]["ci_ms"].is_array()) << p;
    EXPECT_LE(j["percentiles"][p]["ci_ms"][0].get<double>(), j["percentiles"][p]["value_ms"].get<double>());
    EXPECT_GE(j["percentiles"][p]["ci_ms"][1].get<double>(), j["percentiles"][p]["value_ms"].get<double>());
  }
  EXPECT_DOUBLE_EQ(j["percentiles"]["max"]["value_ms"].get<double>(), 1000.0);
  EXPECT_EQ(j["samples"].get<std::size_t>(), 1000u);
  for (const char* s : {"queue", "preprocess", "forward", "postprocess"}) EXPECT_TRUE(j["stages"].contains(s));
}

TEST(Checks, TheGeneratorsShareOfTheCoresBoundsHowFarTheCapacityIsUnderstated) {
  // The load generator runs on the cores it measures (issue 15): the
  // capacity check says what it took in the two runs of the bracket and how
  // much more a server at most proportional to its CPU could have served.
  Objectives o;
  o.minThroughputRps = 100;
  ThroughputResult t;
  t.bestRps = 400;
  auto step = [](double rate, Outcome out, double frac) {
    SearchStep st;
    st.offeredRps = rate;
    st.outcome = out;
    st.run = {{"generator", {{"cpu_s", frac * 2}, {"core_fraction", frac}, {"cores", 2}}}};
    return st;
  };
  t.steps = {step(200, Outcome::Pass, 0.05), step(800, Outcome::Fail, 0.5), step(400, Outcome::Pass, 0.1),
             step(600, Outcome::Fail, 0.4)};
  const Check c = throughputCheck(t, o, "candidate");
  EXPECT_EQ(c.status, Outcome::Pass);
  const json& g = c.detail["generator"];
  ASSERT_TRUE(g.is_object()) << c.detail.dump();
  EXPECT_EQ(g["cores"], 2);
  // The bracket is 400 (passed, 10 %) .. 600 (the lowest failing, 40 %).
  EXPECT_DOUBLE_EQ(g["best_run_core_fraction"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(g["failing_run_core_fraction"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(g["capacity_understated_at_most"].get<double>(), 0.4 / 1.6);
  EXPECT_NE(c.message.find("understated by at most 25 %"), std::string::npos) << c.message;

  // A generator that took next to nothing is not worth a clause.
  for (auto& st : t.steps) st.run["generator"]["core_fraction"] = 0.01;
  const Check quiet = throughputCheck(t, o, "candidate");
  EXPECT_EQ(quiet.message.find("understated"), std::string::npos) << quiet.message;
  EXPECT_NEAR(quiet.detail["generator"]["capacity_understated_at_most"].get<double>(), 0.01 / 1.99, 1e-12);

  // Runs that did not measure it (closed loop, an old report): null, no clause.
  for (auto& st : t.steps) st.run = json::object();
  const Check none = throughputCheck(t, o, "candidate");
  EXPECT_TRUE(none.detail["generator"].is_null());
  EXPECT_EQ(none.message.find("generator"), std::string::npos);
}

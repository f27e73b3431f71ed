// profile-latency end to end on fixture models: a passing run with every
// check and the report schema, bad input (unknown scenario, rate 0), models
// that throw or return NaN (an error-rate figure, not a crash), --noop,
// --publish and --chrome-trace, and a sweep that writes a patch.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "FixtureModels.h"
#include "common/Sha256.h"
#include "TempDir.h"
#include "ToolRun.h"

using namespace cvgate;
using namespace cvgate::testing;
using json = nlohmann::json;

namespace {

ToolRun run(const TempDir& t, const std::string& args) { return runTool("profile-latency", args, t.path()); }

/// A config with two fixture models, a small data set and short runs.
std::string setup(const TempDir& t, const std::string& current = "linear", const std::string& candidate = "linear",
                  const std::string& extra = "") {
  FixtureSpec a;
  a.behaviour = current;
  a.name = "cur-" + current;
  EXPECT_TRUE(writeFixtureModel(a, t.file("current.pt")).ok());
  if (!candidate.empty()) {
    FixtureSpec b;
    b.behaviour = candidate;
    b.seed = 2;
    b.name = "cand-" + candidate;
    EXPECT_TRUE(writeFixtureModel(b, t.file("candidate.pt")).ok());
  }
  std::ofstream c(t.file("c.toml"));
  c << "state_dir = \"" << t.file("var") << "\"\n"
    << "[runtime]\nintra_op_threads = 1\n"
    << "[models]\ncurrent = \"current.pt\"\n" << (candidate.empty() ? "" : "candidate = \"candidate.pt\"\n")
    << "[dataset]\nimages = \"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\"\n"
    << "labels = \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\"\nlimit = 64\n"
    << "[golden]\ncount = 16\n"
    << "[latency]\nscenario = \"server\"\noffered_rps = 500.0\nduration_s = 0.3\nmin_samples = 320\n"
    << "warmup_max_s = 0.3\nsearch_steps = 1\nbisect_steps = 0\nsearch_duration_s = 0.3\n"
    << "profile_iterations = 3\ninputs = 32\nmax_issue_delay_ms = 250.0\n" << extra;
  return t.file("c.toml");
}

const json* findCheck(const json& rep, const std::string& id, const std::string& subject) {
  for (const auto& c : rep["checks"])
    if (c["id"] == id && c["subject"] == subject) return &c;
  return nullptr;
}

void expectOneLineError(const ToolRun& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("profile-latency: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

/// The report validates against schemas/cvgate.latency.schema.json.
void expectValidReport(TempDir& t, const std::string& report) {
  std::ofstream(t.file("checked.json")) << report;
  EXPECT_EQ(schemaErrors("cvgate.latency", t.file("checked.json")), "");
}

/// The sweep's winner before confirmation: the first eligible variant with
/// the highest throughput above the baseline's, of those the incumbent of
/// the moment did not match in a rematch ("" when none beats it). It is
/// always re-measured, whatever the repeat shows.
void expectTheWinnerWasReMeasured(const json& sw, const std::string& subjectSha) {
  double top = sw["baseline_throughput_rps"].get<double>();
  std::string winner;
  for (const auto& v : sw["variants"]) {
    if (v.value("baseline", false) || !v.value("eligible", false)) continue;
    if (v.contains("rematch") && v["rematch"]["incumbent_passed"].get<bool>()) continue;
    if (v.value("throughput_rps", 0.0) > top) {
      top = v["throughput_rps"].get<double>();
      winner = v["name"].get<std::string>();
    }
  }
  if (winner.empty()) {
    EXPECT_TRUE(sw["confirmation"].is_null()) << sw["confirmation"].dump();
    EXPECT_TRUE(sw["patch"].is_null());
    return;
  }
  ASSERT_TRUE(sw["confirmation"].is_object()) << "winner " << winner;
  EXPECT_EQ(sw["confirmation"]["variant"], winner);
  EXPECT_DOUBLE_EQ(sw["confirmation"]["search_best_rps"].get<double>(), top);
  EXPECT_TRUE(!sw["confirmation"]["runs"].empty() || sw["confirmation"].contains("why")) << sw["confirmation"].dump();
  // Each run in a new process, as the gate runs a patch: on the archive the
  // winner is (the subject's own, unless a transform made another).
  EXPECT_NE(sw["confirmation"].value("measured_in", "").find("a new process per run"), std::string::npos)
      << sw["confirmation"].dump();
  bool ranOne = false;
  for (const auto& st : sw["confirmation"]["runs"]) {
    ranOne = ranOne || st["outcome"] != "error";
    // One rate per run (--one-rate): a miss ends it, nothing below is run.
    EXPECT_EQ(st["offered_rps"], st["confirm_rps"]) << sw["confirmation"].dump();
  }
  if (ranOne) {
    std::string transform = "none";
    for (const auto& v : sw["variants"])
      if (v["name"] == winner) transform = v.value("transform", "none");
    ASSERT_TRUE(sw["confirmation"]["archive_sha256"].is_string()) << sw["confirmation"].dump();
    const std::string sha = sw["confirmation"]["archive_sha256"].get<std::string>();
    EXPECT_EQ(sha.size(), 64u) << sha;
    if (transform == "none") {
      EXPECT_EQ(sha, subjectSha) << "the winner " << winner << " is the subject's own archive";
    } else {
      EXPECT_NE(sha, subjectSha) << "the winner " << winner << " is a " << transform << " archive";
    }
  }
  // Each confirmation run's outcome, by the rate it confirms: a run is its
  // last step at that rate (an inconclusive run is repeated within it; a
  // child process runs that rate only: --one-rate).
  std::map<double, std::map<int, std::string>> outcomes;
  for (const auto& st : sw["confirmation"]["runs"]) {
    const double rate = st["confirm_rps"].get<double>();
    if (st["offered_rps"].get<double>() == rate)
      outcomes[rate][st["confirm_run"].get<int>()] = st["outcome"].get<std::string>();
  }
  auto allMet = [](const std::map<int, std::string>& runs) {
    if (runs.size() != 3) return false;
    for (const auto& [k, outcome] : runs)
      if (outcome != "pass") return false;
    return true;
  };
  EXPECT_LE(outcomes.size(), 3u) << sw["confirmation"].dump();
  // At each rate, runs 1, 2, ... in order, each met but the last (the first
  // miss moves on), three at most.
  for (const auto& [r, runs] : outcomes) {
    EXPECT_LE(runs.size(), 3u) << "rate " << r << ": " << sw["confirmation"].dump();
    int expect = 1;
    for (const auto& [k, outcome] : runs) {
      EXPECT_EQ(k, expect++) << "rate " << r << ": " << sw["confirmation"].dump();
      if (k != runs.rbegin()->first) {
        EXPECT_EQ(outcome, "pass") << "a run after a miss at " << r << ": " << sw["confirmation"].dump();
      }
    }
  }
  if (sw["confirmation"]["confirmed"].get<bool>()) {
    // Confirmed at one of the rates its search passed, never above its best,
    // by three runs there that all met the objectives, after a miss at each
    // higher rate it tried.
    const double rate = sw["confirmation"]["confirmed_rps"].get<double>();
    EXPECT_LE(rate, top);
    EXPECT_GT(rate, 0.0);
    ASSERT_EQ(outcomes.count(rate), 1u) << sw["confirmation"].dump();
    EXPECT_TRUE(allMet(outcomes[rate])) << sw["confirmation"].dump();
    for (const auto& [r, runs] : outcomes) {
      if (r > rate) {
        EXPECT_FALSE(allMet(runs)) << "rate " << r << ": " << sw["confirmation"].dump();
      }
      EXPECT_GE(r, rate) << "a rate below the confirmed one was tried: " << sw["confirmation"].dump();
    }
    // A confirmation run that failed above the rate confirmed caps the
    // winner's bracket (when it is the best: confirmed above the baseline).
    if (sw["best"] == winner) {
      for (const auto& [r, runs] : outcomes)
        if (r > rate && runs.rbegin()->second == "fail") {
          ASSERT_FALSE(sw["best_capacity_bracket_rps"][1].is_null()) << sw.dump();
          EXPECT_LE(sw["best_capacity_bracket_rps"][1].get<double>(), r) << sw.dump();
        }
    }
  } else if (sw["confirmation"]["stopped_by"].is_null()) {
    // Not confirmed, and not cut by the budget: every rate tried had a miss.
    for (const auto& [r, runs] : outcomes)
      EXPECT_FALSE(allMet(runs)) << "rate " << r << ": " << sw["confirmation"].dump();
  }
}

/// The sweep's speed-up with its bracket: each capacity lies between the
/// rate it was credited with and the lowest rate above that whose run
/// failed; the speed-up between the winner's bottom over the baseline's top
/// and the winner's top over the baseline's bottom.
void expectTheSpeedupIsBracketed(const json& sw) {
  const json& b = sw["baseline_capacity_bracket_rps"];
  const json& w = sw["best_capacity_bracket_rps"];
  ASSERT_TRUE(b.is_array() && b.size() == 2) << sw.dump();
  ASSERT_TRUE(w.is_array() && w.size() == 2) << sw.dump();
  EXPECT_DOUBLE_EQ(b[0].get<double>(), sw["baseline_throughput_rps"].get<double>());
  EXPECT_DOUBLE_EQ(w[0].get<double>(), sw["best_throughput_rps"].get<double>());
  if (!b[1].is_null()) {
    EXPECT_GT(b[1].get<double>(), b[0].get<double>());
  }
  if (!w[1].is_null()) {
    EXPECT_GT(w[1].get<double>(), w[0].get<double>());
  }
  if (sw["baseline_throughput_rps"].get<double>() <= 0) {
    EXPECT_TRUE(sw["speedup_bracket"].is_null());
    return;
  }
  if (sw["best"] == sw["baseline"]) {
    // The same capacity over itself.
    EXPECT_EQ(w, b);
    EXPECT_EQ(sw["speedup_bracket"], json::array({1.0, 1.0}));
    return;
  }
  const json& s = sw["speedup_bracket"];
  ASSERT_TRUE(s.is_array() && s.size() == 2) << sw.dump();
  const double speedup = sw["speedup"].get<double>();
  EXPECT_EQ(s[0].is_null(), b[1].is_null());
  EXPECT_EQ(s[1].is_null(), w[1].is_null());
  if (!s[0].is_null()) {
    EXPECT_NEAR(s[0].get<double>(), w[0].get<double>() / b[1].get<double>(), 1e-9);
    EXPECT_LT(s[0].get<double>(), speedup);
  }
  if (!s[1].is_null()) {
    EXPECT_NEAR(s[1].get<double>(), w[1].get<double>() / b[0].get<double>(), 1e-9);
    EXPECT_GT(s[1].get<double>(), speedup);
  }
}

}  // namespace

TEST(ProfileLatencyE2e, PassingRunHasEveryCheckAndValidatesAgainstTheSchema) {
  TempDir t;
  std::string cfg = setup(t);
  ToolRun r = run(t, "--config " + cfg + " --cycle e2e-1 --publish --chrome-trace " + t.file("trace.json") +
                     " --out " + t.file("rep.json"));
  ASSERT_EQ(r.code, 0) << r.err << slurp(t.file("rep.json"));
  json rep = json::parse(slurp(t.file("rep.json")));
  EXPECT_EQ(rep["schema"], "cvgate.latency/1");
  for (const char* s : {"current", "candidate"}) {
    for (const char* id : {"latency.p95", "latency.error_rate", "latency.throughput", "latency.valid"}) {
      const json* c = findCheck(rep, id, s);
      ASSERT_NE(c, nullptr) << id << " " << s;
      EXPECT_EQ((*c)["status"], "pass") << (*c).dump();
    }
    const json& sj = rep["results"]["subjects"][s];
    const json& srv = sj["scenarios"]["server"];
    EXPECT_GE(srv["samples"].get<int>(), 320);
    EXPECT_TRUE(srv["percentiles"]["p95"]["ci_ms"].is_array());
    EXPECT_GT(srv["stages"]["forward"]["mean_ms"].get<double>(), 0.0);
    EXPECT_GT(srv["stages"]["preprocess"]["mean_ms"].get<double>(), 0.0);
    EXPECT_GT(sj["memory"]["peak_rss_mib"].get<double>(), 1.0);
    EXPECT_GE(sj["throughput"]["best_rps"].get<double>(), 500.0);
    ASSERT_FALSE(sj["operators"]["top"].empty()) << sj["operators"].dump();
    // FLOPs from the graph, the rate against the GEMM roofline measured in this run.
    EXPECT_GT(sj["flops"]["flops_per_image"].get<double>(), 0.0) << sj["flops"].dump();
    const json& roof = sj["roofline"];
    EXPECT_DOUBLE_EQ(roof["gemm_gflops_per_core"].get<double>(),
                     rep["results"]["machine"]["gemm_gflops_per_core"].get<double>());
    EXPECT_GT(roof["roofline_gflops"].get<double>(), 0.0);
    EXPECT_NEAR(roof["roofline_fraction"].get<double>(),
                roof["images_per_s"].get<double>() * sj["flops"]["flops_per_image"].get<double>() /
                    (roof["roofline_gflops"].get<double>() * 1e9),
                1e-9);
    EXPECT_EQ(findCheck(rep, "latency.throughput", s)->at("detail")["confidence"], rep["results"]["settings"]["confidence"]);
  }
  EXPECT_TRUE(rep["results"]["comparison"].contains("p95_ratio_candidate_to_current"));
  EXPECT_TRUE(std::filesystem::exists(t.file("var/feeds/v1_latency_feed/e2e-1.json")));
  // One Chrome trace, a process per subject.
  auto trace = nlohmann::json::parse(slurp(t.file("trace.json")), nullptr, false);
  ASSERT_TRUE(trace.is_object() && trace["traceEvents"].is_array()) << slurp(t.file("trace.json")).substr(0, 200);
  std::set<std::string> processes;
  for (const auto& e : trace["traceEvents"])
    if (e.value("name", "") == "process_name") processes.insert(e["args"]["name"].get<std::string>());
  EXPECT_EQ(processes.size(), 2u);
  EXPECT_GT(trace["traceEvents"].size(), 4u);
  expectValidReport(t, slurp(t.file("rep.json")));
}

// The tool keeps to its time budget ([latency] time_budget_s; by default 80 %
// of the heartbeat's step timeout): the gate runs always run, a search run
// that would not fit is not started, and the report says where the search
// stopped instead of the heartbeat's timeout killing the whole report.
TEST(ProfileLatencyE2e, TheThroughputSearchStopsAtTheTimeBudget) {
  TempDir t;
  // A 1 s budget: the gate runs (320 requests at 500/s) use it; the search's
  // next run (600 requests at 1000/s, plus a deadline) cannot fit.
  std::string cfg = setup(t, "linear", "linear", "time_budget_s = 1.0\n");
  ToolRun r = run(t, "--config " + cfg + " --no-profile --out " + t.file("rep.json"));
  ASSERT_EQ(r.code, 0) << r.err << slurp(t.file("rep.json"));
  json rep = json::parse(slurp(t.file("rep.json")));
  const json& tb = rep["results"]["time_budget"];
  EXPECT_EQ(tb["budget_s"], 1.0);
  EXPECT_EQ(tb["from"], "[latency] time_budget_s");
  EXPECT_EQ(tb["searches_stopped"], json::array({"current", "candidate"})) << tb.dump();
  EXPECT_NE(tb["message"].get<std::string>().find("stopped the throughput search of current and candidate"),
            std::string::npos) << tb.dump();
  for (const char* s : {"current", "candidate"}) {
    const json& tp = rep["results"]["subjects"][s]["throughput"];
    EXPECT_EQ(tp["stopped_by"], "time") << tp.dump();
    EXPECT_EQ(tp["stopped_at_rps"], 1000.0) << tp.dump();
    EXPECT_EQ(tp["steps"].size(), 1u) << "only the gate run, reused: " << tp.dump();
    const json* c = findCheck(rep, "latency.throughput", s);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ((*c)["status"], "pass") << "500/s met the objectives in the gate run: " << c->dump();
    EXPECT_NE((*c)["message"].get<std::string>().find("stopped at the time budget before 1000.0/s"), std::string::npos)
        << c->dump();
  }
  // Without a budget of its own the default (80 % of 300 s) leaves this search alone.
  TempDir u;
  ToolRun d = run(u, "--config " + setup(u) + " --no-profile --out " + u.file("rep.json"));
  ASSERT_EQ(d.code, 0) << d.err;
  json dr = json::parse(slurp(u.file("rep.json")));
  EXPECT_EQ(dr["results"]["time_budget"]["searches_stopped"], json::array());
  EXPECT_EQ(dr["results"]["time_budget"]["budget_s"], 240.0);
  EXPECT_TRUE(dr["results"]["subjects"]["current"]["throughput"]["stopped_by"].is_null());
}

TEST(ProfileLatencyE2e, UnknownScenarioIsOneLineExitTwo) {
  TempDir t;
  std::string cfg = setup(t);
  expectOneLineError(run(t, "--config " + cfg + " --scenario srever"), "did you mean 'server'");
}

TEST(ProfileLatencyE2e, RateZeroIsOneLineExitTwo) {
  TempDir t;
  std::string cfg = setup(t);
  expectOneLineError(run(t, "--config " + cfg + " --offered-rps 0"), "expected a positive");
}

TEST(ProfileLatencyE2e, ThrowingModelIsAnErrorRateNotACrash) {
  TempDir t;
  std::string cfg = setup(t, "throw", "");
  ToolRun r = run(t, "--config " + cfg + " --no-profile");
  ASSERT_EQ(r.code, 10) << r.err;
  json rep = json::parse(r.out);
  const json* c = findCheck(rep, "latency.error_rate", "current");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["status"], "fail");
  EXPECT_DOUBLE_EQ((*c)["value"].get<double>(), 1.0);
  EXPECT_GT(rep["results"]["subjects"]["current"]["scenarios"]["server"]["error_kinds"]["exception"].get<int>(), 0);
  EXPECT_EQ((*findCheck(rep, "latency.throughput", "current"))["status"], "fail");
}

// --one-rate judges the offered rate only and stops at a miss: a slow
// model saturated at 500/s is not halved below it (--no-search would go on
// to say what it sustains), and a fast one is not doubled above it. It is
// how the sweep confirms its winner, in a new process per run.
TEST(ProfileLatencyE2e, OneRateJudgesTheOfferedRateOnlyAndStopsAtAMiss) {
  TempDir t;
  std::string cfg = setup(t, "slow", "linear");
  ToolRun r = run(t, "--config " + cfg + " --no-profile --no-sweep --one-rate --out " + t.file("rep.json"));
  ASSERT_EQ(r.code, 10) << r.err;
  json rep = json::parse(slurp(t.file("rep.json")));
  EXPECT_EQ(rep["results"]["settings"]["one_rate"], true);
  for (const char* s : {"current", "candidate"}) {
    const json& tp = rep["results"]["subjects"][s]["throughput"];
    ASSERT_FALSE(tp["steps"].empty()) << s << ": " << tp.dump();
    for (const auto& st : tp["steps"]) EXPECT_EQ(st["offered_rps"], 500.0) << s << ": " << tp.dump();
  }
  const json& slow = rep["results"]["subjects"]["current"]["throughput"];
  EXPECT_EQ(slow["steps"].back()["outcome"], "fail") << slow.dump();
  EXPECT_EQ(slow["best_rps"], 0.0) << slow.dump();
  // A miss above the objective (100/s) says nothing of the objective itself.
  EXPECT_EQ((*findCheck(rep, "latency.throughput", "current"))["status"], "inconclusive");
  const json& fast = rep["results"]["subjects"]["candidate"]["throughput"];
  EXPECT_EQ(fast["steps"].back()["outcome"], "pass") << fast.dump();
  EXPECT_EQ(fast["best_rps"], 500.0) << fast.dump();
  expectValidReport(t, slurp(t.file("rep.json")));
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --one-rate --search"), "--one-rate with --search");
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --one-rate --sweep"), "--one-rate with a sweep");
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --one-rate --scenario offline"),
                     "--one-rate with scenario 'offline'");
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --min-samples 0"), "--min-samples '0'");
  // --min-samples sets the runs' floor (the sweep's children get theirs so).
  ToolRun m = run(t, "--config " + cfg + " --no-profile --one-rate --candidate none --current " + t.file("candidate.pt") +
                         " --min-samples 400 --out " + t.file("m.json"));
  ASSERT_EQ(m.code, 0) << m.err;
  json mr = json::parse(slurp(t.file("m.json")));
  EXPECT_EQ(mr["results"]["settings"]["min_samples"], 400);
  for (const auto& st : mr["results"]["subjects"]["current"]["throughput"]["steps"])
    EXPECT_GE(st["run"]["samples"].get<int>(), 400) << st.dump();
}

TEST(ProfileLatencyE2e, NanModelIsAnErrorRateNotACrash) {
  TempDir t;
  std::string cfg = setup(t, "nan", "");
  ToolRun r = run(t, "--config " + cfg + " --no-profile --no-search");
  ASSERT_EQ(r.code, 10) << r.err;
  json rep = json::parse(r.out);
  const json* c = findCheck(rep, "latency.error_rate", "current");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["status"], "fail");
  EXPECT_DOUBLE_EQ((*c)["value"].get<double>(), 1.0);
  EXPECT_GT(rep["results"]["subjects"]["current"]["scenarios"]["server"]["error_kinds"]["non-finite"].get<int>(), 0);
}

TEST(ProfileLatencyE2e, NoopMeasuresTheGenerator) {
  TempDir t;
  std::string cfg = setup(t);
  ToolRun r = run(t, "--config " + cfg + " --noop --offered-rps 2000");
  ASSERT_EQ(r.code, 0) << r.err;
  json rep = json::parse(r.out);
  EXPECT_LT(rep["results"]["generator"]["overhead_p50_ms"].get<double>(), 5.0);
  EXPECT_GE(rep["results"]["generator"]["scenarios"]["server"]["samples"].get<int>(), 600);
}

TEST(ProfileLatencyE2e, SweepWritesAPatch) {
  TempDir t;
  std::string cfg = setup(t, "linear", "");
  {
    std::string text = slurp(cfg);
    text.replace(text.find("search_steps = 1"), 16, "search_steps = 0");
    text.replace(text.find("offered_rps = 500.0"), 19, "offered_rps = 1000.0");
    // Gate runs twice as long as search runs: the confirmation's are the gate's.
    text.replace(text.find("duration_s = 0.3\n"), 17, "duration_s = 0.6\nsearch_min_samples = 100\n");
    // Static int8 calibrates on the training split, never on [dataset] (t10k).
    text += "[calibration]\nimages = \"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\"\n"
            "labels = \"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\"\nlimit = 400\ncount = 100\n"
            "held_out = 300\n";
    std::ofstream(cfg) << text;
  }
  ToolRun r = run(t, "--config " + cfg + " --sweep --no-profile --publish --patch-out " + t.file("patch"));
  ASSERT_EQ(r.code, 0) << r.err;
  json rep = json::parse(r.out);
  const json& sw = rep["results"]["sweep"]["subjects"]["current"];
  EXPECT_GE(sw["variants"].size(), 8u);
  std::set<std::string> transforms, batches;
  int challenged = 0;
  for (const auto& v : sw["variants"]) {
    if (v.contains("max_batch")) batches.insert(v["max_batch"].dump());
    // Each variant measured challenged the best so far 10 % above its rate:
    // a failed challenge ends that variant's search with nothing passed.
    if (v.contains("challenge") && v["challenge"].is_object()) {
      ++challenged;
      EXPECT_DOUBLE_EQ(v["challenge"]["margin"].get<double>(), 1.1);
      EXPECT_GE(v["challenge"]["rps"].get<double>(), 1.1 * sw["baseline_throughput_rps"].get<double>() * 0.9999);
      if (v["challenge"]["passed"].get<bool>())
        EXPECT_GE(v["throughput_rps"].get<double>(), v["challenge"]["rps"].get<double>()) << v.dump();
      else
        EXPECT_EQ(v["throughput_rps"].get<double>(), 0.0) << v.dump();
    }
    // A challenger that passed was matched against the incumbent at its rate
    // over the margin; one the incumbent matched there is not the winner.
    if (v.contains("rematch")) {
      EXPECT_NEAR(v["rematch"]["rps"].get<double>() * 1.1, v["throughput_rps"].get<double>(), 1e-6) << v.dump();
      if (v["rematch"]["incumbent_passed"].get<bool>()) {
        EXPECT_NE(sw["best"], v["name"]) << v.dump();
      }
    }
    const std::string tr = v.value("transform", "none");
    transforms.insert(tr);
    if (tr == "none") continue;
    // Every transform is made for this linear model, and its outputs are
    // compared with the original's on the golden set.
    ASSERT_TRUE(v["available"].get<bool>()) << v.dump();
    EXPECT_TRUE(v["golden"].contains("top1_agreement")) << v.dump();
    EXPECT_TRUE(v["golden"].contains("max_abs_diff")) << v.dump();
    if (tr == "frozen") {
      EXPECT_DOUBLE_EQ(v["golden"]["top1_agreement"].get<double>(), 1.0);
    }
    if (tr == "int8-dynamic") {
      EXPECT_TRUE(v["golden"]["changes_outputs"].get<bool>());
      EXPECT_NE(v["note"].get<std::string>().find("1 linear layer"), std::string::npos) << v["note"];
    }
    if (tr == "int8-static") {
      EXPECT_NE(v["note"].get<std::string>().find("100 calibration images"), std::string::npos) << v["note"];
      // Judged on the 300 samples after the calibration ones, against the float model.
      const json& h = v["held_out"];
      EXPECT_EQ(h["samples"], 300) << h.dump();
      EXPECT_EQ(h["calibration"]["held_out_range"], json({100, 400})) << h.dump();
      EXPECT_TRUE(h.contains("mcnemar_exact_p")) << h.dump();
      EXPECT_GT(h["top1_agreement"].get<double>(), 0.5) << h.dump();
      if (!h["acceptable"].get<bool>()) {
        EXPECT_FALSE(v["eligible"].get<bool>()) << v.dump();
      }
    }
  }
  for (const char* tr : {"frozen", "bf16", "int8-dynamic", "int8-static"}) EXPECT_TRUE(transforms.count(tr)) << tr;
  EXPECT_GE(challenged, 8) << "every variant measured in this process is a challenger";
  expectTheWinnerWasReMeasured(sw, rep["subjects"]["current"]["sha256"].get<std::string>());
  expectTheSpeedupIsBracketed(sw);
  // Every confirmation run, a repeat too, is as long as the gate's (0.6 s,
  // at least 320 requests), not a search run's (0.3 s).
  if (sw["confirmation"].is_object())
    for (const auto& st : sw["confirmation"]["runs"])
      if (st["outcome"] == "pass") {
        const double rate = st["offered_rps"].get<double>();
        EXPECT_GE(st["run"]["samples"].get<double>(), std::max(320.0, 0.8 * 0.6 * rate)) << st.dump();
      }
  // The baseline's bracket is its throughput check's: the same search.
  for (const auto& c : rep["checks"])
    if (c.value("id", "") == "latency.throughput" && c.value("subject", "") == "current") {
      EXPECT_EQ(c.value("detail", json::object()).value("capacity_bracket_rps", json()),
                sw["baseline_capacity_bracket_rps"])
          << c.dump();
    }
  for (const char* b : {"1", "4", "8", "16", "32"}) EXPECT_TRUE(batches.count(b)) << "batch " << b;
  if (!sw["patch"].is_null()) {
    // A patch only after its winner met the objectives again.
    EXPECT_TRUE(sw["confirmation"]["confirmed"].get<bool>());
    EXPECT_EQ(sw["confirmation"]["variant"], sw["best"]);
    EXPECT_TRUE(sw["patch"]["recommended"].is_boolean());
    EXPECT_TRUE(std::filesystem::exists(t.file("patch/current/patch.toml")));
    EXPECT_NE(slurp(t.file("patch/current/patch.toml")).find("[latency]"), std::string::npos);
    EXPECT_GT(sw["best_throughput_rps"].get<double>(), sw["baseline_throughput_rps"].get<double>());
    EXPECT_DOUBLE_EQ(sw["best_throughput_rps"].get<double>(), sw["confirmation"]["confirmed_rps"].get<double>());
    // A transform's patch ships the very archive its confirmation ran.
    if (!sw["patch"]["archive"].is_null()) {
      const std::string archive = sw["patch"]["archive"].get<std::string>();
      ASSERT_TRUE(std::filesystem::exists(archive)) << archive;
      auto sha = cvgate::sha256File(archive);
      ASSERT_TRUE(sha.ok()) << sha.error().message();
      EXPECT_EQ(*sha, sw["patch"]["archive_sha256"]) << sw["patch"].dump();
      EXPECT_EQ(*sha, sw["confirmation"]["archive_sha256"]) << sw["confirmation"].dump();
      EXPECT_NE(slurp(t.file("patch/current/patch.toml")).find(archive), std::string::npos);
      EXPECT_NE(slurp(t.file("patch/current/patch.toml")).find("current_sha256 = \"" + *sha + "\""), std::string::npos)
          << slurp(t.file("patch/current/patch.toml"));
    } else {
      EXPECT_TRUE(sw["patch"]["archive_sha256"].is_null()) << sw["patch"].dump();
    }
  } else if (!sw["confirmation"].is_null()) {
    // Not confirmed, or confirmed only at a rate the baseline already meets.
    EXPECT_TRUE(!sw["confirmation"]["confirmed"].get<bool>() ||
                sw["confirmation"]["confirmed_rps"].get<double>() <= sw["baseline_throughput_rps"].get<double>());
    EXPECT_EQ(sw["best"], sw["baseline"]);
  }
  expectValidReport(t, r.out);
  // decide is the relay's one writer: profile-latency relays nothing itself.
  EXPECT_FALSE(std::filesystem::exists(t.file("var/feeds/innovation_relay")));
}

// Each subject's sweep gets an equal share of the budget left when it starts,
// as its throughput search does, and keeps to it, confirmation included: the
// current's sweep cannot spend the candidate's (a current whose searches ran
// long left the candidate's transforms unmeasured, and two sweeps then
// differed by which variants their budget reached). 16 s is too little for
// either sweep whole: about 3 s of gate runs, then about 6.5 s a subject.
TEST(ProfileLatencyE2e, EachSubjectsSweepKeepsToItsShareOfTheBudget) {
  TempDir t;
  std::string cfg = setup(t, "linear", "linear",
                          "time_budget_s = 16.0\nsearch_min_samples = 160\ndeadline_ms = 200.0\n");
  {
    std::string text = slurp(cfg);
    const auto at = text.find("search_steps = 1");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 16, "search_steps = 0");
    std::ofstream(cfg) << text;
  }
  ToolRun r = run(t, "--config " + cfg + " --sweep --no-profile");
  ASSERT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.err;
  json rep = json::parse(r.out);
  const json& sw = rep["results"]["sweep"];
  const json& cur = sw["subjects"]["current"];
  const json& cand = sw["subjects"]["candidate"];
  for (const json* s : {&cur, &cand}) {
    expectTheSpeedupIsBracketed(*s);
    ASSERT_TRUE((*s)["budget_s"].is_number()) << s->dump();
    ASSERT_TRUE((*s)["used_s"].is_number()) << s->dump();
    ASSERT_TRUE((*s)["confirmation_reserve_s"].is_number()) << s->dump();
    EXPECT_LE((*s)["confirmation_reserve_s"].get<double>(), (*s)["budget_s"].get<double>() / 2 + 1e-9);
    // No run, child process or confirmation starts unless it ends within the
    // share (each run needs its requests, a request deadline and a second).
    EXPECT_LE((*s)["used_s"].get<double>(), (*s)["budget_s"].get<double>() + 1.0) << s->dump();
  }
  // The current sweeps first, with half of what the searches left; so the
  // candidate gets at least as much.
  EXPECT_LE(cur["budget_s"].get<double>(), 16.0 / 2);
  EXPECT_GE(cand["budget_s"].get<double>(), cur["budget_s"].get<double>() - 1.0);
  // The budget stopped the sweep, yet the candidate's variants were measured.
  EXPECT_EQ(sw["stopped_by"], "time");
  int candRan = 0;
  for (const auto& v : cand["variants"])
    if (v.value("search_runs", 0) > 0) ++candRan;
  EXPECT_GE(candRan, 1) << cand.dump();
  EXPECT_LE(rep["results"]["time_budget"]["used_s"].get<double>(), 16.0 + 2.0);
  expectValidReport(t, r.out);
}

// --time-budget overrides [latency] time_budget_s (the sweep gives its child
// processes what is left of their share this way) and is checked.
TEST(ProfileLatencyE2e, TimeBudgetFlagOverridesTheConfigAndIsChecked) {
  TempDir t;
  std::string cfg = setup(t, "linear", "");
  ToolRun r = run(t, "--config " + cfg + " --no-profile --time-budget 7.5");
  ASSERT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.err;
  json rep = json::parse(r.out);
  EXPECT_EQ(rep["results"]["time_budget"]["budget_s"], 7.5);
  EXPECT_EQ(rep["results"]["time_budget"]["from"], "--time-budget");
  expectOneLineError(run(t, "--config " + cfg + " --time-budget 0"), "expected a positive number of seconds");
  expectOneLineError(run(t, "--config " + cfg + " --time-budget nan"), "--time-budget");
}

TEST(ProfileLatencyE2e, SweepMeasuresInterOpThreadsInChildProcessesOnlyForAForkingModel) {
  TempDir t;
  std::string cfg = setup(t, "linear", "");
  {
    std::string text = slurp(cfg);
    text.replace(text.find("current = \"current.pt\""), 22,
                 "current = \"" + std::string(CVGATE_SOURCE_DIR) + "/tests/fixtures/forking-model.pt\"");
    std::ofstream(cfg) << text;
  }
  // Its own temporary directory: another test's sweep may have children of
  // its own at the same moment.
  std::filesystem::create_directories(t.file("tmp"));
  ToolRun r = runTool("profile-latency", "--config " + cfg + " --sweep --no-profile --candidate none", t.path(), "",
                      "TMPDIR='" + t.file("tmp") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  json rep = json::parse(r.out);
  const json& sw = rep["results"]["sweep"]["subjects"]["current"];
  EXPECT_EQ(sw["inter_op"]["forks"], 2);
  EXPECT_TRUE(sw["inter_op"]["swept"].get<bool>());
  std::set<int> inter;
  for (const auto& v : sw["variants"]) {
    if (!v.contains("inter_op_threads")) continue;
    EXPECT_FALSE(v.contains("error")) << v.dump();
    EXPECT_NE(v["measured_in"].get<std::string>().find("child process"), std::string::npos);
    EXPECT_GT(v["throughput_rps"].get<double>(), 0.0) << v.dump();
    inter.insert(v["inter_op_threads"].get<int>());
  }
  EXPECT_EQ(inter, (std::set<int>{2, 4}));  // [runtime] inter_op_threads = 1 is the baseline's
  // No [calibration] in this config: static int8 is not made, and says why.
  bool staticListed = false;
  for (const auto& v : sw["variants"])
    if (v.value("transform", "") == "int8-static") {
      staticListed = true;
      EXPECT_FALSE(v["available"].get<bool>()) << v.dump();
      EXPECT_NE(v["unavailable_reason"].get<std::string>().find("no [calibration] data set"), std::string::npos)
          << v.dump();
    }
  EXPECT_TRUE(staticListed);
  EXPECT_EQ(sw["inter_op"]["failed_runs"], 0);
  expectTheWinnerWasReMeasured(sw, rep["subjects"]["current"]["sha256"].get<std::string>());
  expectTheSpeedupIsBracketed(sw);
  if (!sw["patch"].is_null() && sw["best"].get<std::string>().find("-inter") != std::string::npos) {
    EXPECT_NE(sw["patch"]["toml"].get<std::string>().find("inter_op_threads = "), std::string::npos);
  }
  // Nothing of the children is left behind.
  for (const auto& e : std::filesystem::directory_iterator(t.file("tmp"))) ADD_FAILURE() << "left behind: " << e.path();
  expectValidReport(t, r.out);
}

TEST(ProfileLatencyE2e, TransformMeasuresTheVariantAndSaysSo) {
  TempDir t;
  std::string cfg = setup(t, "linear", "");
  // No [calibration] yet: static int8 cannot be made, and the error says why.
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --no-search --transform int8-static"),
                     "--transform int8-static: no [calibration] data set");
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --no-search --transform int8-dynamic --publish"),
                     "not its archive's");
  expectOneLineError(run(t, "--config " + cfg + " --no-profile --sweep --transform frozen"), "add --no-sweep");
  {
    std::ofstream(cfg, std::ios::app)
        << "[calibration]\nimages = \"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\"\n"
           "labels = \"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\"\nlimit = 200\ncount = 50\n"
           "held_out = 150\n";
  }
  ToolRun r = run(t, "--config " + cfg + " --no-profile --no-search --transform int8-static");
  ASSERT_EQ(r.code, 0) << r.err;
  json rep = json::parse(r.out);
  const json& tr = rep["results"]["transform"];
  EXPECT_EQ(tr["name"], "int8-static");
  EXPECT_EQ(tr["calibration"]["calibration_samples"], 50) << tr.dump();
  const json& cur = tr["subjects"]["current"];
  EXPECT_NE(cur["note"].get<std::string>().find("1 linear layer(s) in int8"), std::string::npos) << cur.dump();
  EXPECT_EQ(cur["held_out"]["samples"], 150) << cur.dump();
  // The subject is still named by its archive; the figures are the variant's.
  EXPECT_EQ(rep["subjects"]["current"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(rep["results"]["subjects"]["current"]["scenarios"]["server"]["samples"].get<int>(), 0);
  expectValidReport(t, r.out);
  // Not published: the feed holds nothing of it.
  EXPECT_FALSE(std::filesystem::exists(t.file("var/feeds/v1_latency_feed")));
}

TEST(ProfileLatencyE2e, ThreadFlagsOverrideTheConfigAndAreChecked) {
  TempDir t;
  std::string cfg = setup(t, "linear", "");
  ToolRun r = run(t, "--config " + cfg + " --no-profile --no-search --intra-op-threads 2 --inter-op-threads 3");
  ASSERT_EQ(r.code, 0) << r.err;
  json rep = json::parse(r.out);
  EXPECT_EQ(rep["results"]["settings"]["intra_op_threads"], 2);
  EXPECT_EQ(rep["results"]["settings"]["inter_op_threads"], 3);
  expectOneLineError(run(t, "--config " + cfg + " --inter-op-threads 0"), "inter-op threads '0'");
  expectOneLineError(run(t, "--config " + cfg + " --sweep --no-sweep"), "--sweep and --no-sweep");
}

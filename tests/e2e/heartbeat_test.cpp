// End-to-end scenarios of the heartbeat, each its own cycle on its own state
// directory with the real tools: a good candidate is deployed (GO); a
// candidate without enough uplift, a slow one, a tampered one and a cycle
// whose tool crashes all PAUSE; production breaching an objective is rolled
// back (ROLLBACK); two overlapping heartbeats: the second refuses, nothing lost.
#include <gtest/gtest.h>

#include <torch/script.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "CycleConfig.h"
#include "TempDir.h"
#include "ToolRun.h"
#include "common/Fs.h"
#include "common/Sha256.h"

using json = nlohmann::json;
namespace fs = std::filesystem;
using cvgate::testing::TempDir;

namespace {

const std::string kSrc = CVGATE_SOURCE_DIR;
const std::string kBin = CVGATE_BIN_DIR;
const std::string kV1 = kSrc + "/models/fashion-mlp-v1.pt";
const std::string kV2 = kSrc + "/models/fashion-cnn-v2.pt";

struct Cycle {
  int rc = -1;
  std::string err;     ///< the heartbeat's stderr
  json verdict;        ///< the verdict report of the cycle (null if none)
  std::string md;      ///< deployment_verdict.md
};

/// A state directory, a config, and a way to run cycles on it.
class Scenario {
 public:
  explicit Scenario(std::string extraToml = "", std::string candidate = kV2, std::string current = kV1) {
    cvgate::testing::writeCycleConfig(t_.file("cvgate.toml"), t_.file("state"), current, candidate, extraToml);
  }
  std::string config() const { return t_.file("cvgate.toml"); }
  std::string state() const { return t_.file("state"); }
  std::string path(const std::string& f) const { return t_.file(f); }

  /// Run one heartbeat cycle; binDir lets a test swap a tool.
  Cycle run(const std::string& cycle, const std::string& extraArgs = "", const std::string& binDir = kBin) const {
    Cycle c;
    std::string errFile = t_.file(cycle + ".stderr");
    std::string cmd = "CVGATE_BIN_DIR=" + binDir + " " + kSrc + "/tools/heartbeat --config " + config() +
                      " --cycle " + cycle + " " + extraArgs + " >/dev/null 2>" + errFile;
    c.rc = cvgate::testing::exitCode(std::system(cmd.c_str()));
    c.err = cvgate::readFile(errFile).ok() ? *cvgate::readFile(errFile) : "";
    auto v = cvgate::readFile(state() + "/feeds/verdicts/" + cycle + ".json");
    if (v.ok()) c.verdict = json::parse(*v, nullptr, false);
    auto md = cvgate::readFile(state() + "/deployment_verdict.md");
    if (md.ok()) c.md = *md;
    return c;
  }

  /// model-registry with this scenario's config.
  int registry(const std::string& args) const {
    std::string cmd = kBin + "/model-registry --config " + config() + " " + args + " >/dev/null 2>&1";
    return cvgate::testing::exitCode(std::system(cmd.c_str()));
  }

  json registryState() const {
    auto s = cvgate::readFile(state() + "/registry/state.json");
    return s.ok() ? json::parse(*s, nullptr, false) : json();
  }

 private:
  TempDir t_;
};

std::string sha(const std::string& path) { return *cvgate::sha256File(path); }

/// The reasons and gates of a verdict as one string, for assertions.
std::string explain(const Cycle& c) { return c.verdict.dump() + "\n" + c.md + "\n" + c.err; }

/// A copy of a TorchScript model with another manifest name (same behaviour).
void renamedCopy(const std::string& from, const std::string& to, const std::string& name) {
  torch::jit::ExtraFilesMap extra{{"cvgate.json", ""}};
  auto m = torch::jit::load(from, torch::kCPU, extra);
  json man = json::parse(extra["cvgate.json"]);
  man["name"] = name;
  man["version"] = "9.9.9";
  m.save(to, {{"cvgate.json", man.dump(2)}});
}

/// V2 wrapped so that every forward pass also does ~`iters` 256x256 matmuls:
/// a candidate with V2's answers but slow.
void slowCopy(const std::string& from, const std::string& to, int iters) {
  torch::jit::ExtraFilesMap extra{{"cvgate.json", ""}};
  auto inner = torch::jit::load(from, torch::kCPU, extra);
  json man = json::parse(extra["cvgate.json"]);
  man["name"] = "fashion-cnn-v2-slow";
  torch::jit::Module m("Slow");
  m.register_module("inner", inner);
  m.register_buffer("w", torch::eye(256) * 0.5);
  m.define("def forward(self, x):\n"
           "    y = self.w\n"
           "    for _ in range(" + std::to_string(iters) + "):\n"
           "        y = torch.mm(y, self.w) + self.w\n"
           "    return self.inner.forward(x) + 0.0 * y.sum()\n");
  m.save(to, {{"cvgate.json", man.dump(2)}});
}

}  // namespace

TEST(Heartbeat, GoodCandidateIsDeployed) {
  Scenario s;
  Cycle c = s.run("go-1");
  ASSERT_EQ(c.rc, 0) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "GO") << explain(c);
  json st = s.registryState();
  EXPECT_EQ(st["current"]["sha256"], sha(kV2));
  ASSERT_FALSE(st["previous"].empty());
  EXPECT_EQ(st["previous"][0]["sha256"], sha(kV1)) << "V1 becomes the known-good model";
  EXPECT_EQ(sha(fs::canonical(s.state() + "/registry/current.pt").string()), sha(kV2));
  EXPECT_NE(c.md.find("GO"), std::string::npos);
  EXPECT_NE(c.err.find("cycle go-1: GO (exit 0)"), std::string::npos) << c.err;
  for (const char* feed : {"v1_baseline_feed", "v1_latency_feed", "v1_compliance_feed",
                           "v1_integration_feed", "v1_rollback_feed"})
    EXPECT_TRUE(fs::exists(s.state() + "/feeds/" + feed + "/go-1.json")) << feed;
  EXPECT_TRUE(fs::exists(s.state() + "/cycles/go-1/begin.json"));
}

TEST(Heartbeat, CandidateWithoutEnoughUpliftPauses) {
  Scenario s;
  std::string twin = s.path("v1-twin.pt");
  renamedCopy(kV1, twin, "fashion-mlp-v1-twin");
  Scenario t("", twin);
  Cycle c = t.run("uplift-1");
  ASSERT_EQ(c.rc, 10) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "PAUSE");
  EXPECT_NE(explain(c).find("compliance.uplift"), std::string::npos) << explain(c);
  EXPECT_EQ(t.registryState()["current"]["sha256"], sha(kV1)) << "production untouched";
}

TEST(Heartbeat, SlowCandidatePauses) {
  Scenario tmp;
  std::string slow = tmp.path("v2-slow.pt");
  slowCopy(kV2, slow, 40);
  Scenario s("[objectives]\np95_latency_ms = 25.0\n", slow);
  Cycle c = s.run("slow-1");
  ASSERT_EQ(c.rc, 10) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "PAUSE");
  EXPECT_NE(explain(c).find("latency.p95"), std::string::npos) << explain(c);
  EXPECT_EQ(s.registryState()["current"]["sha256"], sha(kV1));
}

TEST(Heartbeat, ProductionBreachingAnObjectiveIsRolledBack) {
  // V2 in production with V1 known-good; then production's P95 objective is
  // set below what V2 can do: production breaches with confidence. (One
  // breaching cycle suffices here; decide's tests show the default three.)
  Scenario s("[objectives]\np95_latency_ms = 0.001\n[decision]\nconsecutive_fails_for_rollback = 1\n", "none");
  ASSERT_EQ(s.registry("init " + kV1), 0);
  ASSERT_EQ(s.registry("stage " + kV2), 0);
  ASSERT_EQ(s.registry("deploy"), 0);
  ASSERT_EQ(s.registryState()["current"]["sha256"], sha(kV2));
  Cycle c = s.run("breach-1");
  ASSERT_EQ(c.rc, 20) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "ROLLBACK");
  json st = s.registryState();
  EXPECT_EQ(st["current"]["sha256"], sha(kV1)) << "restored";
  EXPECT_EQ(sha(fs::canonical(s.state() + "/registry/current.pt").string()), sha(kV1));
  EXPECT_EQ(st["history"].back()["op"], "rollback");
  EXPECT_EQ(st["history"].back()["cycle_id"], "breach-1");
  EXPECT_FALSE(fs::is_empty(s.state() + "/feeds/incidents")) << "a ROLLBACK opens an incident";
}

TEST(Heartbeat, TamperedCandidatePausesWithAnIntegrityReason) {
  Scenario s;
  ASSERT_EQ(s.registry("init " + kV1), 0);
  ASSERT_EQ(s.registry("stage " + kV2), 0);
  std::string obj = s.state() + "/registry/objects/" + sha(kV2) + ".pt";
  fs::permissions(obj, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(obj, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  Cycle c = s.run("tamper-1");
  ASSERT_EQ(c.rc, 10) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "PAUSE");
  EXPECT_NE(explain(c).find("sha256"), std::string::npos) << explain(c);
  EXPECT_EQ(s.registryState()["current"]["sha256"], sha(kV1));
}

TEST(Heartbeat, ACrashingToolMakesTheCyclePause) {
  Scenario s;
  // A bin directory whose eval-compliance dies of SIGSEGV half-way.
  std::string bin = s.path("bin");
  fs::create_directories(bin);
  for (const auto& e : fs::directory_iterator(kBin)) fs::create_symlink(e.path(), bin + "/" + e.path().filename().string());
  fs::remove(bin + "/eval-compliance");
  std::ofstream(bin + "/eval-compliance") << "#!/bin/sh\nsleep 1\nkill -SEGV $$\n";
  fs::permissions(bin + "/eval-compliance", fs::perms::owner_all);
  Cycle c = s.run("crash-1", "", bin);
  ASSERT_EQ(c.rc, 10) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "PAUSE");
  auto rep = json::parse(*cvgate::readFile(s.state() + "/feeds/v1_compliance_feed/crash-1.json"));
  EXPECT_EQ(rep["status"], "error");
  EXPECT_NE(rep["error"].get<std::string>().find("crashed (signal 11)"), std::string::npos) << rep.dump();
  EXPECT_EQ(s.registryState()["current"]["sha256"], sha(kV1));
}

TEST(Heartbeat, ASecondHeartbeatRefusesWhileOneRunsAndNothingIsLost) {
  Scenario s;
  std::thread first([&] { (void)s.run("overlap-1"); });
  // Wait until the first holds the lock.
  for (int i = 0; i < 600 && !fs::exists(s.state() + "/heartbeat.owner"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(s.state() + "/heartbeat.owner"));
  Cycle second = s.run("overlap-2");
  first.join();
  EXPECT_EQ(second.rc, 75) << second.err;
  EXPECT_NE(second.err.find("another cycle holds"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("overlap-1"), std::string::npos) << "says which cycle holds it: " << second.err;
  EXPECT_FALSE(fs::exists(s.state() + "/cycles/overlap-2")) << "the refused cycle left nothing";
  EXPECT_TRUE(fs::exists(s.state() + "/feeds/verdicts/overlap-1.json")) << "the first cycle completed";
  EXPECT_FALSE(fs::exists(s.state() + "/heartbeat.owner"));
}

TEST(Heartbeat, BaselinesFollowProductionThroughDeploysAndRollbacksByHand) {
  // Defect: the environment lock was re-recorded only by the heartbeat after
  // its own deploy; a GO by decide alone or a model-registry deploy/rollback
  // by hand left a lock for the old model, and the next cycles failed
  // env.model_hash and env.golden for a healthy production and rolled it back.
  Scenario s;
  auto envFails = [&](const std::string& cycle) {
    std::vector<std::string> bad;
    auto rep = cvgate::readFile(s.state() + "/feeds/v1_baseline_feed/" + cycle + ".json");
    if (!rep.ok()) return std::vector<std::string>{"no env report"};
    const json parsed = json::parse(*rep);  // named: a range-for over a temporary's member reads freed memory
    for (const auto& c : parsed.at("checks"))
      if (c["status"] == "fail") bad.push_back(c["id"].get<std::string>() + ": " + c["message"].get<std::string>());
    return bad;
  };
  Cycle a = s.run("follow-1");
  ASSERT_EQ(a.rc, 0) << explain(a);  // GO: V2 deployed
  EXPECT_TRUE(envFails("follow-1").empty());
  Cycle b = s.run("follow-2");
  EXPECT_EQ(b.rc, 10) << explain(b);  // nothing new staged
  EXPECT_TRUE(envFails("follow-2").empty()) << envFails("follow-2")[0];
  ASSERT_EQ(s.registry("rollback"), 0);  // by hand: V1 back
  Cycle c = s.run("follow-3");
  EXPECT_NE(c.rc, 20) << explain(c);
  EXPECT_TRUE(envFails("follow-3").empty()) << envFails("follow-3")[0];
  for (const auto& g : c.verdict["checks"])
    if (g["detail"]["group"] == "production") {
      EXPECT_NE(g["status"], "fail") << g.dump();
    }
  // Production's blessed compliance follows it: recorded when V2 went in,
  // from the cycle that let it in, so the next cycle could judge V2's
  // regression against it (a pass, not "no blessed figure").
  EXPECT_TRUE(fs::exists(s.state() + "/registry/objects/" + sha(kV2) + ".blessed.json"));
  auto comp = json::parse(*cvgate::readFile(s.state() + "/feeds/v1_compliance_feed/follow-2.json"));
  for (const auto& ch : comp["checks"])
    if (ch["id"] == "compliance.regression") {
      EXPECT_EQ(ch["status"], "pass") << ch.dump();
    }
}

TEST(Heartbeat, BadUsageIsOneLineAndExit2) {
  Scenario s;
  std::string cmd = "CVGATE_BIN_DIR=" + kBin + " " + kSrc + "/tools/heartbeat --bogus 2>" + s.path("err");
  EXPECT_EQ(cvgate::testing::exitCode(std::system(cmd.c_str())), 2);
  EXPECT_EQ(*cvgate::readFile(s.path("err")), "heartbeat: error: '--bogus': unknown option (see heartbeat --help)\n");
}

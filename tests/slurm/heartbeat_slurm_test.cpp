// The heartbeat with [engine] kind = "slurm" on a real Slurm cluster started
// for the test on this machine (tests/slurm/cluster.sh: its own munged,
// slurmctld and slurmd): a cycle through Slurm reaches the local engine's
// verdict on the same inputs, with the same compliance checks and results; a
// failed job and a cancelled job become error reports and the cycle PAUSEs;
// so do jobs that Slurm ends on its own (time limit, pre-emption, a node
// lost) and a graph whose jobs wait for a node longer than [engine]
// queue_wait_s; stopping the heartbeat cancels its jobs. Skipped, saying so,
// only when the Slurm or munge binaries are absent.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "CycleConfig.h"
#include "TempDir.h"
#include "ToolRun.h"
#include "compliance/Outcomes.h"

using json = nlohmann::json;
namespace fs = std::filesystem;
using cvgate::testing::TempDir;
using cvgate::testing::runCommand;
using cvgate::testing::slurp;

namespace {

const std::string kSrc = CVGATE_SOURCE_DIR;
const std::string kBin = CVGATE_BIN_DIR;
const std::string kV1 = kSrc + "/models/fashion-mlp-v1.pt";
const std::string kV2 = kSrc + "/models/fashion-cnn-v2.pt";
const std::string kCluster = kSrc + "/tests/slurm/cluster.sh";

json readJson(const std::string& path) { return json::parse(slurp(path), nullptr, false); }

std::string shortHost() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  std::string s(h);
  return s.substr(0, s.find('.'));
}

/// The shell's output of `cmd` (stdout only), trailing newline removed.
std::string sh(const std::string& cmd, const std::string& scratch) {
  auto r = runCommand(cmd, scratch);
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

struct Cycle {
  int rc = -1;
  std::string err;  ///< the heartbeat's stderr
  json verdict;     ///< the cycle's verdict report (null if none)
};

/// A state directory and the whole-cycle config (CycleConfig.h) plus
/// `engineToml`; cycles run with the built tools or `binDir`.
class Scenario {
 public:
  explicit Scenario(const std::string& engineToml, const std::string& candidate = kV2) {
    cvgate::testing::writeCycleConfig(t_.file("cvgate.toml"), t_.file("state"), kV1, candidate, engineToml);
  }
  std::string config() const { return t_.file("cvgate.toml"); }
  std::string state() const { return t_.file("state"); }
  std::string path(const std::string& f) const { return t_.file(f); }
  std::string cycleDir(const std::string& cycle) const { return state() + "/cycles/" + cycle; }

  std::string command(const std::string& cycle, const std::string& binDir) const {
    return "CVGATE_BIN_DIR=" + binDir + " " + kSrc + "/tools/heartbeat --config " + config() + " --cycle " + cycle;
  }

  Cycle run(const std::string& cycle, const std::string& binDir = kBin) const {
    Cycle c;
    std::string errFile = t_.file(cycle + ".stderr");
    c.rc = cvgate::testing::exitCode(std::system((command(cycle, binDir) + " >/dev/null 2>" + errFile).c_str()));
    c.err = slurp(errFile);
    c.verdict = readJson(state() + "/feeds/verdicts/" + cycle + ".json");
    return c;
  }

  json report(const std::string& feed, const std::string& cycle) const {
    return readJson(state() + "/feeds/" + feed + "/" + cycle + ".json");
  }

  /// A bin directory with the built tools, `tool` replaced by `script`.
  std::string binWith(const std::string& tool, const std::string& script) const {
    return binWith({{tool, script}});
  }
  /// A bin directory with the built tools, each tool in `fakes` replaced by its script.
  std::string binWith(const std::map<std::string, std::string>& fakes) const {
    std::string bin = t_.file("bin-" + fakes.begin()->first);
    fs::create_directories(bin);
    for (const auto& e : fs::directory_iterator(kBin))
      if (!fakes.count(e.path().filename().string()))
        fs::create_symlink(e.path(), bin + "/" + e.path().filename().string());
    for (const auto& [tool, script] : fakes) {
      std::ofstream(bin + "/" + tool) << script;
      fs::permissions(bin + "/" + tool, fs::perms::owner_all);
    }
    return bin;
  }

  std::string scratch() const { return t_.path(); }

 private:
  TempDir t_;
};

std::string explain(const Cycle& c) { return c.verdict.dump() + "\n" + c.err; }

/// The cluster: one per test process (each test is its own ctest test).
class HeartbeatOnSlurm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r = runCommand(kCluster + " start " + dir_->file("cluster") + " --owner " + std::to_string(getpid()),
                        dir_->path());
    if (r.code == 77) {
      skip_ = r.err;
    } else if (r.code != 0) {
      startError_ = "cluster.sh start failed (exit " + std::to_string(r.code) + "): " + r.err;
    } else {
      setenv("SLURM_CONF", (dir_->file("cluster") + "/etc/slurm.conf").c_str(), 1);
    }
  }
  static void TearDownTestSuite() {
    if (skip_.empty()) runCommand(kCluster + " stop " + dir_->file("cluster"), dir_->path());
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(startError_.empty()) << startError_;
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const char* log : {"slurmctld.log", "slurmd.log"})
        std::cerr << "--- " << log << " (tail)\n"
                  << sh("tail -n 30 " + dir_->file("cluster") + "/log/" + log, dir_->path()) << "\n";
    }
  }

  /// State of a job in slurmctld ("" if it does not know it).
  static std::string jobState(const std::string& id) {
    return sh("scontrol -o show job " + id + " 2>/dev/null | grep -o ' JobState=[A-Z_]*' | head -n 1 | cut -d= -f2",
              dir_->path());
  }

  /// Jobs among `ids` that squeue lists as pending, running or completing.
  static std::string liveJobs(const std::string& ids) {
    return sh("squeue -h -t PD,R,CG,S -j " + ids + " -o %i 2>/dev/null", dir_->path());
  }

  /// Wait up to `seconds` for `ok`.
  template <class F>
  static bool waitFor(F ok, int seconds) {
    for (int i = 0; i < seconds * 4; ++i) {
      if (ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return ok();
  }

  static TempDir* dir_;
  static std::string skip_, startError_;
};

TempDir* HeartbeatOnSlurm::dir_ = nullptr;
std::string HeartbeatOnSlurm::skip_;
std::string HeartbeatOnSlurm::startError_;

/// The parts of a compliance report that must not depend on the engine:
/// checks and results, minus what a clock or a host measured (the fields
/// eval-compliance's merge cannot reproduce, compliance::timingFields()).
/// Paths into the state directory (the blessed record's) name it "<state>".
json engineFree(const json& report, const std::string& stateDir) {
  std::string text =
      cvgate::compliance::withoutTimingFields(json{{"checks", report["checks"]}, {"results", report["results"]}})
          .dump(2);
  for (std::size_t at; (at = text.find(stateDir)) != std::string::npos;) text.replace(at, stateDir.size(), "<state>");
  return json::parse(text);
}

}  // namespace

TEST_F(HeartbeatOnSlurm, ACycleThroughSlurmReachesTheLocalVerdictWithTheSameComplianceReport) {
  // Both engines measure latency on this shared machine, which other work
  // may load: a load generator that falls behind (invalid run) would make
  // either cycle inconclusive for reasons that are not the engine's. The
  // comparison is of engines, so both tolerate a late generator. The
  // serving layout is named: "auto" is a timed choice on one machine and
  // contiguous in a shard (docs/outcomes.md).
  const std::string lenient = "[latency]\nmax_issue_delay_ms = 1000.0\n[runtime]\nlayout = \"contiguous\"\n";
  Scenario local(lenient);
  Scenario slurm(lenient + "[engine]\nkind = \"slurm\"\nshards = 2\n");
  Cycle l = local.run("same-1");
  Cycle s = slurm.run("same-1");
  ASSERT_EQ(l.rc, 0) << "the local cycle is the reference: GO, as in Heartbeat.GoodCandidateIsDeployed\n"
                     << explain(l);
  EXPECT_EQ(s.rc, l.rc) << explain(s);
  EXPECT_EQ(s.verdict["results"]["verdict"], l.verdict["results"]["verdict"]) << explain(s);

  json lc = local.report("v1_compliance_feed", "same-1"), sc = slurm.report("v1_compliance_feed", "same-1");
  ASSERT_TRUE(sc.is_object()) << "no compliance report from the Slurm cycle\n" << s.err;
  EXPECT_EQ(sc["status"], lc["status"]) << sc.dump();
  EXPECT_EQ(engineFree(sc, slurm.state()).dump(2), engineFree(lc, local.state()).dump(2));

  // The graph: every job ran on this node and completed; two shards merged.
  json jobs = readJson(slurm.cycleDir("same-1") + "/slurm/jobs.json");
  ASSERT_TRUE(jobs.is_object()) << s.err;
  for (const char* key : {"verify-env", "shard-0", "shard-1", "merge", "profile-latency", "check-integration",
                          "simulate-rollback"}) {
    ASSERT_TRUE(jobs.contains(key)) << key << " not in " << jobs.dump();
    EXPECT_EQ(jobState(jobs[key].get<std::string>()), "COMPLETED") << key;
  }
  EXPECT_TRUE(fs::exists(slurm.cycleDir("same-1") + "/shards/shard-0-of-2.outcomes"));
  EXPECT_TRUE(fs::exists(slurm.cycleDir("same-1") + "/shards/shard-1-of-2.outcomes"));
  EXPECT_EQ(readJson(slurm.cycleDir("same-1") + "/begin.json")["engine"]["kind"], "slurm");

  // Latency on one whole node, which the report names.
  json lat = slurm.report("v1_latency_feed", "same-1");
  EXPECT_EQ(lat["results"]["machine"]["node"], shortHost()) << lat["results"]["machine"].dump();
  EXPECT_EQ(lat["results"]["machine"]["slurm_job_id"], jobs["profile-latency"]) << lat["results"]["machine"].dump();
  EXPECT_NE(lat["results"]["isolation"].get<std::string>().find("exclusive Slurm job"), std::string::npos);
  EXPECT_EQ(cvgate::testing::schemaErrors("cvgate.latency",
                                          slurm.state() + "/feeds/v1_latency_feed/same-1.json"), "");
  EXPECT_TRUE(local.report("v1_latency_feed", "same-1")["results"]["machine"]["slurm_job_id"].is_null());
  for (const char* feed : {"v1_baseline_feed", "v1_latency_feed", "v1_integration_feed", "v1_rollback_feed"}) {
    EXPECT_EQ(slurm.report(feed, "same-1")["status"], local.report(feed, "same-1")["status"]) << feed;
  }
  EXPECT_NE(s.err.find("cycle same-1: GO (exit 0)"), std::string::npos) << s.err;
}

TEST_F(HeartbeatOnSlurm, AFailedJobAndACancelledJobAreErrorReportsAndTheCyclePauses) {
  Scenario s("[engine]\nkind = \"slurm\"\nshards = 2\n");
  // verify-env fails as a tool does; shard 1 of eval-compliance hangs until
  // the test cancels its job, as an operator or a pre-emption would.
  std::string bin = s.binWith("verify-env",
                              "#!/bin/sh\ncase \" $* \" in *\" --record \"*) exec " + kBin + "/verify-env \"$@\";; esac\n"
                              "echo 'verify-env: error: injected failure' >&2\nexit 3\n");
  fs::remove(bin + "/eval-compliance");
  std::ofstream(bin + "/eval-compliance") << "#!/bin/sh\ncase \" $* \" in *\" --shard 1/2 \"*) exec sleep 600;; esac\n"
                                             "exec " + kBin + "/eval-compliance \"$@\"\n";
  fs::permissions(bin + "/eval-compliance", fs::perms::owner_all);

  Cycle c;
  std::thread cycle([&] { c = s.run("fail-1", bin); });
  const std::string jobsFile = s.cycleDir("fail-1") + "/slurm/jobs.json";
  std::string shard1;
  bool running = waitFor([&] {
    json jobs = readJson(jobsFile);
    if (!jobs.is_object() || !jobs.contains("shard-1")) return false;
    shard1 = jobs["shard-1"].get<std::string>();
    return jobState(shard1) == "RUNNING";
  }, 300);
  if (running) runCommand("scancel " + shard1, s.scratch());
  cycle.join();
  ASSERT_TRUE(running) << "shard 1's job never ran\n" << explain(c);

  ASSERT_EQ(c.rc, 10) << explain(c);
  EXPECT_EQ(c.verdict["results"]["verdict"], "PAUSE") << explain(c);
  json comp = s.report("v1_compliance_feed", "fail-1");
  EXPECT_EQ(comp["status"], "error") << comp.dump();
  EXPECT_NE(comp.value("error", "").find("eval-compliance shard 1/2 did not finish: Slurm job " + shard1 +
                                         " was cancelled"),
            std::string::npos)
      << comp.dump();
  json env = s.report("v1_baseline_feed", "fail-1");
  EXPECT_EQ(env["status"], "error") << env.dump();
  EXPECT_NE(env.value("error", "").find("verify-env failed (exit 3): verify-env: error: injected failure"),
            std::string::npos)
      << env.dump();
  // The merge never ran (afterok); the rest of the graph did.
  json jobs = readJson(jobsFile);
  EXPECT_EQ(jobState(jobs["merge"].get<std::string>()), "CANCELLED");
  EXPECT_NE(s.report("v1_latency_feed", "fail-1")["status"], "error");
  EXPECT_TRUE(s.report("v1_rollback_feed", "fail-1").is_object());
  // The verdict says why, and production is untouched.
  EXPECT_NE(c.verdict.dump().find("shard 1/2"), std::string::npos) << c.verdict.dump();
  json st = readJson(s.state() + "/registry/state.json");
  EXPECT_EQ(st["current"]["sha256"], sh("sha256sum " + kV1 + " | cut -d' ' -f1", s.scratch()));
}

TEST_F(HeartbeatOnSlurm, StoppingTheHeartbeatCancelsItsJobs) {
  Scenario s("[engine]\nkind = \"slurm\"\nshards = 2\n");
  const std::string errFile = s.path("stop-1.stderr");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec env " + s.command("stop-1", kBin) + " >/dev/null 2>" + errFile).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string jobsFile = s.cycleDir("stop-1") + "/slurm/jobs.json";
  json jobs;
  bool submitted = waitFor([&] {
    jobs = readJson(jobsFile);
    return jobs.is_object() && jobState(jobs["verify-env"].get<std::string>()) == "RUNNING";
  }, 300);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(submitted) << slurp(errFile);
  EXPECT_EQ(cvgate::testing::exitCode(status), 143) << slurp(errFile);
  std::string err = slurp(errFile);
  EXPECT_NE(err.find("stopped by SIGTERM"), std::string::npos) << err;

  std::string list;
  for (const auto& [key, id] : jobs.items()) list += (list.empty() ? "" : ",") + id.get<std::string>();
  EXPECT_TRUE(waitFor([&] { return liveJobs(list).empty(); }, 60))
      << "still in squeue after the heartbeat stopped: " << liveJobs(list);
  // verify-env may just have finished; the jobs after it never started.
  for (const auto& [key, id] : jobs.items()) {
    std::string st = jobState(id.get<std::string>());
    if (key == "verify-env") EXPECT_TRUE(st == "CANCELLED" || st == "COMPLETED") << key << " " << st;
    else EXPECT_EQ(st, "CANCELLED") << key;
  }
  EXPECT_FALSE(fs::exists(s.state() + "/heartbeat.owner"));
  EXPECT_EQ(readJson(s.cycleDir("stop-1") + "/end.json")["exit_code"], 143);
}

TEST_F(HeartbeatOnSlurm, JobsSlurmEndsAndAGraphStuckInTheQueueAreErrorReportsAndTheCyclesPause) {
  // Two cycles side by side on the cluster.
  //
  // "ends-1": Slurm ends three of its jobs, each its own way, one after
  // another (on a single node a pre-emption or a lost node ends every job
  // running there):
  //  - verify-env's job outlives its time limit: TIMEOUT. A tool that is
  //    merely slow cannot get there: the step's own timeout inside the job
  //    stops it at least 50 s before Slurm's limit ("timed out after N s",
  //    the job COMPLETED). So the job hangs outside its tool, as on a hung
  //    file system: the fake stops the in-job `timeout` that supervises it
  //    (SIGSTOP). verify_env_timeout_s = 30: a limit of 2 min.
  //  - then profile-latency's job is pre-empted (PREEMPTED) by a whole-node
  //    job the test submits to the "high" partition (cluster.sh:
  //    PriorityTier=2 over the heartbeat's "debug", PreemptMode=CANCEL);
  //  - then check-integration's job loses its node (NODE_FAIL): the test
  //    sets the node down while it runs, and back.
  // eval-compliance (2 shards, merge) and simulate-rollback run for real.
  //
  // "queue-1": its jobs go to the "closed" partition (State=DOWN) and never
  // start: verify-env and the shards pend for a node (PartitionDown), the
  // rest for them (Dependency). With queue_wait_s = 20, once none of its
  // jobs has run for 20 s the heartbeat cancels the graph, the shards' array
  // among it while none of its tasks has started. (The other way a graph is
  // cancelled, past its budget of the jobs' time limits plus queue_wait_s,
  // takes 12 min at the least: six 2-min limits. It is not run here.)
  Scenario ends("[runtime]\nintra_op_threads = 1\n[heartbeat]\nverify_env_timeout_s = 30\n"
                "[engine]\nkind = \"slurm\"\nshards = 2\n");
  std::string bin = ends.binWith(
      {{"verify-env", "#!/bin/sh\ncase \" $* \" in *\" --record \"*) exec " + kBin + "/verify-env \"$@\";; esac\n"
                      "[ \"$(cat /proc/$PPID/comm)\" = timeout ] || { echo \"verify-env (fake): not run by timeout\" >&2; "
                      "exit 99; }\nkill -STOP $PPID\nexec sleep 600\n"},
       {"profile-latency", "#!/bin/sh\nexec sleep 600\n"},
       {"check-integration", "#!/bin/sh\nexec sleep 600\n"}});
  Scenario queued("[engine]\nkind = \"slurm\"\npartition = \"closed\"\nshards = 2\nqueue_wait_s = 20\n");

  Cycle a, b;
  std::thread queuedCycle([&] { b = queued.run("queue-1"); });
  std::thread endsCycle([&] { a = ends.run("ends-1", bin); });
  const std::string jobsA = ends.cycleDir("ends-1") + "/slurm/jobs.json";
  const std::string jobsB = queued.cycleDir("queue-1") + "/slurm/jobs.json";
  auto job = [](const std::string& jobsFile, const char* key) {
    json jobs = readJson(jobsFile);
    return jobs.is_object() && jobs.contains(key) ? jobs[key].get<std::string>() : std::string();
  };
  auto cancelAll = [&](const std::string& jobsFile) {
    json jobs = readJson(jobsFile);
    if (jobs.is_object())
      for (const auto& [key, id] : jobs.items()) runCommand("scancel " + id.get<std::string>(), ends.scratch());
  };
  const std::string node = shortHost();
  auto nodeState = [&] { return sh("scontrol -o show node " + node + " | grep -o ' State=[^ ]*' | cut -d= -f2", ends.scratch()); };

  std::string env, lat, integ, high, stage = "verify-env's job never reached TIMEOUT";
  if (waitFor([&] { env = job(jobsA, "verify-env"); return !env.empty() && jobState(env) == "TIMEOUT"; }, 330)) {
    stage = "profile-latency's job never ran";
    if (waitFor([&] { lat = job(jobsA, "profile-latency"); return jobState(lat) == "RUNNING"; }, 180)) {
      high = sh("sbatch --parsable --partition=high --exclusive --output=/dev/null --wrap 'sleep 2'", ends.scratch());
      stage = "profile-latency's job was not pre-empted by job " + high;
      if (waitFor([&] { return jobState(lat) == "PREEMPTED"; }, 60)) {
        stage = "check-integration's job never ran";
        if (waitFor([&] { integ = job(jobsA, "check-integration"); return jobState(integ) == "RUNNING"; }, 180)) {
          runCommand("scontrol update nodename=" + node + " state=down reason=cvgate-test", ends.scratch());
          stage = "check-integration's job did not end NODE_FAIL when its node went down";
          if (waitFor([&] { return jobState(integ) == "NODE_FAIL"; }, 60)) stage = "";
        }
      }
    }
  }
  // The node back in service (ReturnToService=2 brings it back as soon as
  // its slurmd registers again; resume it if not).
  bool nodeBack = waitFor([&] {
    std::string st = nodeState();
    if (st.find("DOWN") == std::string::npos && st.find("DRAIN") == std::string::npos) return true;
    runCommand("scontrol update nodename=" + node + " state=resume", ends.scratch());
    return false;
  }, 60);
  if (!stage.empty()) {  // no use waiting for either heartbeat: end them
    cancelAll(jobsA);
    cancelAll(jobsB);
  }
  endsCycle.join();
  queuedCycle.join();
  ASSERT_TRUE(stage.empty()) << stage << "\n" << explain(a);
  EXPECT_TRUE(nodeBack) << "node " << node << ": " << nodeState();

  // ends-1: PAUSE, each job's end in its own step's error report.
  ASSERT_EQ(a.rc, 10) << explain(a);
  EXPECT_EQ(a.verdict["results"]["verdict"], "PAUSE") << explain(a);
  json envReport = ends.report("v1_baseline_feed", "ends-1");
  EXPECT_EQ(envReport["status"], "error") << envReport.dump();
  EXPECT_NE(envReport.value("error", "").find("verify-env timed out: Slurm job " + env + " reached its time limit of 2 min"),
            std::string::npos)
      << envReport.dump();
  json latReport = ends.report("v1_latency_feed", "ends-1");
  EXPECT_EQ(latReport["status"], "error") << latReport.dump();
  EXPECT_NE(latReport.value("error", "").find("profile-latency did not finish: Slurm job " + lat + " was pre-empted"),
            std::string::npos)
      << latReport.dump();
  EXPECT_NE(latReport.value("error", "").find("by a higher-priority job (PREEMPTED)"), std::string::npos)
      << latReport.dump();
  json intReport = ends.report("v1_integration_feed", "ends-1");
  EXPECT_EQ(intReport["status"], "error") << intReport.dump();
  EXPECT_NE(intReport.value("error", "").find("check-integration did not finish: Slurm job " + integ + "'s node " + node +
                                             " failed (NODE_FAIL)"),
            std::string::npos)
      << intReport.dump();
  // The jobs that Slurm left alone did their steps.
  EXPECT_NE(ends.report("v1_compliance_feed", "ends-1")["status"], "error") << ends.report("v1_compliance_feed", "ends-1");
  EXPECT_EQ(jobState(job(jobsA, "merge")), "COMPLETED");
  EXPECT_EQ(jobState(job(jobsA, "simulate-rollback")), "COMPLETED");
  EXPECT_NE(ends.report("v1_rollback_feed", "ends-1")["status"], "error") << ends.report("v1_rollback_feed", "ends-1");
  EXPECT_EQ(jobState(high), "COMPLETED");
  for (const char* why : {"reached its time limit", "by a higher-priority job (PREEMPTED)", "failed (NODE_FAIL)"})
    EXPECT_NE(a.verdict.dump().find(why), std::string::npos) << why << " not in the verdict " << a.verdict.dump();

  // queue-1: cancelled 20 s after its submission, not at its budget; PAUSE,
  // every step's error report says why.
  ASSERT_EQ(b.rc, 10) << explain(b);
  EXPECT_EQ(b.verdict["results"]["verdict"], "PAUSE") << explain(b);
  const std::string stuck = "waited more than [engine] queue_wait_s = 20 s for a node (PartitionDown)";
  EXPECT_NE(b.err.find("(PartitionDown), more than [engine] queue_wait_s = 20 s: cancelling the graph"), std::string::npos)
      << b.err;
  EXPECT_EQ(b.err.find("did not finish within"), std::string::npos) << b.err;
  int seconds = readJson(queued.cycleDir("queue-1") + "/end.json").value("seconds", -1);
  EXPECT_GE(seconds, 20) << b.err;
  EXPECT_LT(seconds, 180) << b.err;
  const std::string envJob = job(jobsB, "verify-env"), shard0 = job(jobsB, "shard-0");
  for (const auto& [feed, own] : std::map<std::string, std::string>{
           {"v1_baseline_feed", "verify-env did not start: Slurm job " + envJob + " " + stuck + "; the graph was cancelled"},
           {"v1_compliance_feed",
            "eval-compliance shard 0/2 did not start: Slurm job " + shard0 + " " + stuck + "; the graph was cancelled"},
           {"v1_latency_feed", "profile-latency did not start: Slurm job " + job(jobsB, "profile-latency")},
           {"v1_integration_feed", "check-integration did not start: Slurm job " + job(jobsB, "check-integration")},
           {"v1_rollback_feed", "simulate-rollback did not start: Slurm job " + job(jobsB, "simulate-rollback")}}) {
    json r = queued.report(feed, "queue-1");
    EXPECT_EQ(r["status"], "error") << feed << " " << r.dump();
    std::string error = r.value("error", "");
    EXPECT_NE(error.find(own), std::string::npos) << feed << ": " << own << "\n" << r.dump();
    EXPECT_NE(error.find(stuck), std::string::npos) << feed << " " << r.dump();
  }
  EXPECT_NE(b.verdict.dump().find("queue_wait_s = 20 s"), std::string::npos) << b.verdict.dump();
  EXPECT_EQ(b.err.find("no answer from slurmctld"), std::string::npos) << b.err;
  json jobs = readJson(jobsB);
  ASSERT_TRUE(jobs.is_object()) << b.err;
  for (const auto& [key, id] : jobs.items()) EXPECT_EQ(jobState(id.get<std::string>()), "CANCELLED") << key;

  // Both: no job left behind, the cycle lock released, production untouched.
  for (const auto& [s, jobsFile] : {std::pair<const Scenario*, std::string>{&ends, jobsA}, {&queued, jobsB}}) {
    std::string list;
    json graph = readJson(jobsFile);
    for (const auto& [key, id] : graph.items()) list += (list.empty() ? "" : ",") + id.get<std::string>();
    EXPECT_TRUE(waitFor([&] { return liveJobs(list).empty(); }, 30)) << "still in squeue: " << liveJobs(list);
    EXPECT_FALSE(fs::exists(s->state() + "/heartbeat.owner"));
    EXPECT_EQ(runCommand("flock -n " + s->state() + "/heartbeat.lock true", s->scratch()).code, 0)
        << "the cycle lock is still held";
    EXPECT_EQ(readJson(s->state() + "/registry/state.json")["current"]["sha256"],
              sh("sha256sum " + kV1 + " | cut -d' ' -f1", s->scratch()));
  }
}

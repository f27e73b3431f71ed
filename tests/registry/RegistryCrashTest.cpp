// Crash consistency and locking across processes: a deploy, rollback, stage,
// init or prune that dies at any named step, or by SIGKILL at a random moment,
// leaves (after the next open's recovery) exactly the before-state or the
// after-state plus one "recover" entry, and the registry verifies; a second
// process gets "registry busy" while the lock is held.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "RegistryOps.h"
#include "RegistryTestUtil.h"
#include "registry/Registry.h"

namespace cvgate {
namespace {

namespace fs = std::filesystem;
using test::ScratchDir;
using test::spawn;
using test::waitChild;
using Clock = std::chrono::steady_clock;

constexpr int kKilled = 128 + SIGKILL;

/// Has the child exited (without reaping it)?
bool exited(pid_t pid) {
  siginfo_t info{};
  info.si_pid = 0;
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid != 0;
}

/// state without history and without staged_at (unknown to a model of the op).
json loose(const json& stateJson) {
  json j = stateJson;
  j.erase("history");
  for (const char* k : {"current", "candidate"})
    if (j[k].is_object()) j[k].erase("staged_at");
  for (auto& e : j["previous"]) e.erase("staged_at");
  return j;
}

/// What an operation should do to `s`, written independently of the registry.
json modelAfter(const RegistryState& s, const std::string& op, const std::string& stagedSha = "",
                int keep = 0) {
  RegistryState a = s;
  auto erase = [&](const std::string& sha) {
    a.previous.erase(std::remove_if(a.previous.begin(), a.previous.end(),
                                    [&](const Entry& e) { return e.sha256 == sha; }),
                     a.previous.end());
  };
  if (op == "deploy") {
    erase(a.candidate->sha256);
    if (a.current) {
      erase(a.current->sha256);
      a.previous.insert(a.previous.begin(), *a.current);
    }
    a.current = a.candidate;
    a.candidate.reset();
  } else if (op == "rollback") {
    a.current = a.previous.front();
    a.previous.erase(a.previous.begin());
    if (a.candidate && a.candidate->sha256 == a.current->sha256) a.candidate.reset();
  } else if (op == "stage") {
    a.candidate = Entry{stagedSha, "m", "staged", "", "objects/" + stagedSha + ".pt", nullptr};
  } else if (op == "init") {
    a.current = Entry{stagedSha, "m", "init", "", "objects/" + stagedSha + ".pt", nullptr};
  } else if (op == "prune") {
    if (a.previous.size() > static_cast<std::size_t>(keep)) a.previous.resize(static_cast<std::size_t>(keep));
  }
  return loose(toJson(a));
}

json withoutLastHistory(json j) {
  j["history"].erase(j["history"].size() - 1);
  return j;
}

/// The checks every crash scenario ends with; `s0` is the state before the
/// operation, `journal` what journal.json held after the crash (null if none).
/// Returns "untouched", "completed", "rolled-back" or "rolled-forward".
std::string checkRecovered(const Registry& r, const RegistryState& s0, const json& journal,
                           const std::string& op, const json& expectedAfter) {
  const json f = toJson(r.state());
  const json j0 = toJson(s0);
  EXPECT_FALSE(fs::exists(r.journalPath()));
  EXPECT_TRUE(test::tempFiles(r.registryDir()).empty());
  auto v = r.verify();
  EXPECT_TRUE(v.ok() && v->ok) << (v.ok() ? toJson(*v).dump() : v.error().message());
  const std::string link = test::linkText(r.currentLinkPath());
  EXPECT_EQ(link, r.state().current ? r.state().current->path : "");

  if (!journal.is_null()) {
    EXPECT_EQ(journal["before"], j0) << "journal's before-state is not the state the operation started from";
    EXPECT_EQ(loose(journal["after"]), expectedAfter);
    const auto& h = r.state().history;
    EXPECT_FALSE(h.empty());
    if (h.empty()) return "?";
    EXPECT_EQ(h.back().op, "recover");
    json core = withoutLastHistory(f);
    bool back = core == journal["before"], fwd = core == journal["after"];
    EXPECT_TRUE(back || fwd) << "recovered state is neither the before- nor the after-state:\n"
                             << f.dump(1);
    EXPECT_NE(h.back().note.find(fwd ? "rolled forward" : "rolled back"), std::string::npos)
        << h.back().note;
    return fwd ? "rolled-forward" : "rolled-back";
  }
  if (f == j0) return "untouched";
  EXPECT_EQ(loose(f), expectedAfter) << f.dump(1);
  EXPECT_EQ(f["history"].size(), j0["history"].size() + 1);
  if (f["history"].size() == j0["history"].size() + 1) {
    EXPECT_EQ(withoutLastHistory(f)["history"], j0["history"]);
    EXPECT_EQ(f["history"].back()["op"], op);
  }
  return "completed";
}

/// Run one registry operation (in a child). With `readyFd`, write one byte to
/// it once the registry is open, just before the operation starts.
int runOp(const std::string& stateDir, const std::string& op, const std::string& model = "",
          int keep = 0, int readyFd = -1) {
  auto r = Registry::open(stateDir);
  if (!r) return 3;
  if (readyFd >= 0 && ::write(readyFd, "r", 1) != 1) return 4;
  Status s = okStatus();
  if (op == "deploy") s = ::cvgate::testing::deployStaged(*r, "cyc-" + op);
  else if (op == "rollback") s = ::cvgate::testing::rollbackCurrent(*r, "cyc-" + op).ok() ? okStatus() : Status(badInput("rollback"));
  else if (op == "stage") s = r->stage(model, "m", "staged", json{{"g", 1}}, "cyc-" + op).ok() ? okStatus() : Status(badInput("stage"));
  else if (op == "init") s = r->setCurrent(model, "m", "init", json{{"g", 0}}, "cyc-" + op);
  else if (op == "prune") s = r->prune(keep, "cyc-" + op);
  else if (op == "open") s = okStatus();
  if (!s.ok()) std::cerr << "child " << op << ": " << s.error().message() << "\n";
  return s.ok() ? 0 : 1;
}

class RegistryCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    for (unsigned i = 0; i < 5; ++i) {
      models_.push_back(tmp_.path() + "/model" + std::to_string(i) + ".pt");
      shas_.push_back(test::writeFakeModel(models_.back(), 500 + i, 16 * 1024 + i * 1024));
    }
  }
  /// A registry with current B, previous [A], candidate C.
  std::string populated(const std::string& name) {
    std::string dir = tmp_.path() + "/" + name;
    auto r = Registry::open(dir);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r->setCurrent(models_[0], "m", "1", json{{"g", 0}}, "c1").ok());
    EXPECT_TRUE(r->stage(models_[1], "m", "2", json{{"g", 1}}, "c2").ok());
    EXPECT_TRUE(::cvgate::testing::deployStaged(*r, "c3").ok());
    EXPECT_TRUE(r->stage(models_[2], "m", "3", json{{"g", 2}}, "c4").ok());
    return dir;
  }
  std::map<std::string, int> killRandomly(const std::string& dir, int iterations);
  Registry openOrDie(const std::string& dir) {
    auto r = Registry::open(dir);
    if (!r) ADD_FAILURE() << r.error().message();
    return std::move(r).value();
  }

  ScratchDir tmp_{/*inMemory=*/true};
  std::vector<std::string> models_;
  std::vector<std::string> shas_;
};

// Each operation, crashed by the hook at each step: the outcome is the one the
// recovery rule fixes for that step (before the flip: back; after: forward).
TEST_F(RegistryCrashTest, CrashAtEachNamedStepRecoversToOneSide) {
  struct Case { std::string op; std::vector<std::string> reaches; };
  const std::vector<Case> cases = {
      {"deploy", {"after-journal", "after-link-temp", "after-symlink", "after-state", "after-journal-removed"}},
      {"rollback", {"after-journal", "after-link-temp", "after-symlink", "after-state", "after-journal-removed"}},
      {"stage", {"after-object", "after-journal", "after-state", "after-journal-removed"}},
      {"init", {"after-object", "after-journal", "after-link-temp", "after-symlink", "after-state",
                "after-journal-removed"}},
      {"prune", {"after-journal", "after-state", "after-journal-removed", "prune-mid-delete"}},
  };
  const std::map<std::string, std::string> outcomeAt = {
      {"after-object", "untouched"},       {"after-journal", "rolled-back"},
      {"after-link-temp", "rolled-back"},  {"after-symlink", "rolled-forward"},
      {"after-state", "rolled-forward"},   {"after-journal-removed", "completed"},
      {"prune-mid-delete", "completed"},   {"", "completed"}};
  int n = 0;
  for (const auto& c : cases) {
    for (const auto& step : registryCrashPoints()) {
      if (step.rfind("recover-", 0) == 0) continue;
      SCOPED_TRACE(c.op + " crashed at " + step);
      const bool reached = std::find(c.reaches.begin(), c.reaches.end(), step) != c.reaches.end();
      std::string dir;
      std::string model;
      if (c.op == "init") {
        dir = tmp_.path() + "/init-" + std::to_string(n);
        model = models_[0];
      } else {
        dir = populated("case-" + std::to_string(n));
        model = models_[3];
      }
      ++n;
      RegistryState s0 = openOrDie(dir).state();
      const std::string stagedSha = c.op == "init" ? shas_[0] : shas_[3];
      json expected = modelAfter(s0, c.op, stagedSha, 0);

      pid_t pid = spawn([&] { return runOp(dir, c.op, model, 0); },
                        {{"CVGATE_REGISTRY_CRASH_AT", step}});
      int rc = waitChild(pid);
      EXPECT_EQ(rc, reached ? kCrashExitCode : 0);
      json journal = test::readJsonFile(dir + "/registry/journal.json");
      Registry r = openOrDie(dir);
      std::string outcome = checkRecovered(r, s0, journal, c.op, expected);
      EXPECT_EQ(outcome, outcomeAt.at(reached ? step : ""));
      if (c.op == "prune" && outcome == "completed") {
        EXPECT_TRUE(r.state().previous.empty());
        if (step == "prune-mid-delete") {
          ASSERT_TRUE(r.prune(0).ok());  // finishes the deletion
          EXPECT_FALSE(fs::exists(r.objectPath(shas_[0])));
        }
      }
    }
  }
}

// A recovery that itself crashes is finished by the next one, with one entry.
TEST_F(RegistryCrashTest, CrashDuringRecoveryIsRecoveredOnce) {
  const std::string dir = populated("r");
  RegistryState s0 = openOrDie(dir).state();
  EXPECT_EQ(waitChild(spawn([&] { return runOp(dir, "deploy"); },
                            {{"CVGATE_REGISTRY_CRASH_AT", "after-symlink"}})),
            kCrashExitCode);
  json journal = test::readJsonFile(dir + "/registry/journal.json");
  ASSERT_FALSE(journal.is_null());
  EXPECT_EQ(waitChild(spawn([&] { return runOp(dir, "open"); },
                            {{"CVGATE_REGISTRY_CRASH_AT", "recover-after-state"}})),
            kCrashExitCode);
  EXPECT_TRUE(fs::exists(dir + "/registry/journal.json"));
  Registry r = openOrDie(dir);
  EXPECT_EQ(checkRecovered(r, s0, journal, "deploy", modelAfter(s0, "deploy")), "rolled-forward");
  const auto& h = r.state().history;
  EXPECT_EQ(std::count_if(h.begin(), h.end(), [](const HistoryRecord& x) { return x.op == "recover"; }), 1);
  EXPECT_EQ(h.back().cycleId, std::optional<std::string>("cyc-deploy"));
  EXPECT_EQ(h.back().to, std::optional<std::string>(shas_[2]));
}

// current.pt was flipped to a model whose bytes were then damaged: recovery
// must not complete the operation onto it, but undo it.
TEST_F(RegistryCrashTest, RecoveryNeverCompletesOntoACorruptModel) {
  const std::string dir = populated("c");
  RegistryState s0 = openOrDie(dir).state();
  EXPECT_EQ(waitChild(spawn([&] { return runOp(dir, "deploy"); },
                            {{"CVGATE_REGISTRY_CRASH_AT", "after-symlink"}})),
            kCrashExitCode);
  json journal = test::readJsonFile(dir + "/registry/journal.json");
  test::tamper(dir + "/registry/objects/" + shas_[2] + ".pt");
  // The flip back itself crashes once; the next open finishes it.
  EXPECT_EQ(waitChild(spawn([&] { return runOp(dir, "open"); },
                            {{"CVGATE_REGISTRY_CRASH_AT", "recover-after-symlink"}})),
            kCrashExitCode);
  Registry r = openOrDie(dir);
  EXPECT_EQ(withoutLastHistory(toJson(r.state())), toJson(s0));
  EXPECT_EQ(r.state().history.back().op, "recover");
  EXPECT_NE(r.state().history.back().note.find("rolled back"), std::string::npos);
  EXPECT_EQ(test::linkText(r.currentLinkPath()), "objects/" + shas_[1] + ".pt");
  auto v = r.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->corrupt, std::vector<std::string>{shas_[2]});  // the candidate, reported, not current
}

// A journal and a state.json that matches neither side (truncated by hand):
// recovery follows current.pt.
TEST_F(RegistryCrashTest, TruncatedStateWithAJournalFollowsTheLink) {
  for (const char* stepName : {"after-journal", "after-symlink"}) {
    const std::string step = stepName;
    SCOPED_TRACE(step);
    const std::string dir = populated("t-" + step);
    RegistryState s0 = openOrDie(dir).state();
    EXPECT_EQ(waitChild(spawn([&] { return runOp(dir, "rollback"); },
                              {{"CVGATE_REGISTRY_CRASH_AT", step}})),
              kCrashExitCode);
    json journal = test::readJsonFile(dir + "/registry/journal.json");
    std::ofstream(dir + "/registry/state.json", std::ios::trunc) << "{\"schema\": \"cvgate.reg";
    Registry r = openOrDie(dir);
    EXPECT_EQ(checkRecovered(r, s0, journal, "rollback", modelAfter(s0, "rollback")),
              step == "after-journal" ? "rolled-back" : "rolled-forward");
    EXPECT_NE(r.state().history.back().note.find("matched neither"), std::string::npos);
  }
}

TEST_F(RegistryCrashTest, UnreadableJournalIsAnErrorNotAGuess) {
  const std::string dir = populated("j");
  std::ofstream(dir + "/registry/journal.json") << "{\"op\": \"dep";
  auto r = Registry::open(dir);
  ASSERT_FALSE(r.ok());
  // Bad input (exit 2 in the tools), like a corrupt state.json: the registry's files are input.
  EXPECT_EQ(r.error().kind(), ErrorKind::BadInput);
  EXPECT_NE(r.error().message().find("unreadable journal"), std::string::npos) << r.error().message();
}

// SIGKILL at a random moment of a deploy or rollback, `iterations` times; now
// and then the recovery is killed too. Returns how often each outcome happened.
std::map<std::string, int> RegistryCrashTest::killRandomly(const std::string& dir, int iterations) {
  Registry r = openOrDie(dir);
  EXPECT_TRUE(r.setCurrent(models_[0], "m", "0", json{{"g", 0}}, "boot").ok());
  std::mt19937 rng(20261125);
  std::size_t nextModel = 1;

  auto prepare = [&] {
    EXPECT_TRUE(r.refresh().ok());
    if (r.state().previous.size() > 4) {
      EXPECT_TRUE(r.prune(3).ok());
    }
    if (!r.state().candidate) {
      while (shas_[nextModel % shas_.size()] == r.state().current->sha256) ++nextModel;
      std::size_t m = nextModel++ % shas_.size();
      EXPECT_TRUE(r.stage(models_[m], "m", "staged", json{{"g", m}}, "prep").ok());
    }
  };
  auto chooseOp = [&] {
    bool canRollback = !r.state().previous.empty();
    return (!canRollback || rng() % 2 == 0) ? std::string("deploy") : std::string("rollback");
  };

  // Start `op` in a child; return its pid once it has opened the registry.
  auto start = [&](const std::string& op) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t pid = spawn([&] {
      ::close(fds[0]);
      return runOp(dir, op, "", 0, fds[1]);
    });
    ::close(fds[1]);
    char c = 0;
    EXPECT_EQ(::read(fds[0], &c, 1), 1);
    ::close(fds[0]);
    return pid;
  };

  // Calibrate: how long the operation itself takes here, now (the machine is shared).
  std::vector<long> times;
  for (int i = 0; i < 7; ++i) {
    prepare();
    pid_t pid = start(chooseOp());
    auto t0 = Clock::now();
    EXPECT_EQ(waitChild(pid), 0);
    times.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const long span = std::max(100L, times[times.size() / 2] * 5 / 4);

  std::map<std::string, int> outcomes;
  int recoveryKills = 0;
  for (int i = 0; i < iterations && !HasFailure(); ++i) {
    prepare();
    const RegistryState s0 = r.state();
    const std::string op = chooseOp();
    const json expected = modelAfter(s0, op);
    // The delay counts from the fork (lands mostly in start-up and open()),
    // from the start of the operation, or from the moment its journal appears
    // (lands inside the operation: both sides of the flip).
    const int from = static_cast<int>(rng() % 3);
    const long delay = std::uniform_int_distribution<long>(0, from == 2 ? span / 2 : span)(rng);
    pid_t pid = from == 0 ? spawn([&] { return runOp(dir, op); }) : start(op);
    if (from == 2) {
      const std::string journalPath = dir + "/registry/journal.json";
      while (!fs::exists(journalPath) && !exited(pid))
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(pid, SIGKILL);
    int rc = waitChild(pid);
    EXPECT_TRUE(rc == 0 || rc == kKilled) << "child exit " << rc;
    json journal = test::readJsonFile(dir + "/registry/journal.json");
    if (!journal.is_null() && rng() % 3 == 0) {
      const long d2 = std::uniform_int_distribution<long>(0, span / 2)(rng);
      pid_t rec = spawn([&] { return runOp(dir, "open"); });
      std::this_thread::sleep_for(std::chrono::microseconds(d2));
      ::kill(rec, SIGKILL);
      if (waitChild(rec) == kKilled) ++recoveryKills;
    }
    SCOPED_TRACE("iteration " + std::to_string(i) + ": " + op + " killed " + std::to_string(delay) +
                 " us after " + (from == 0 ? "fork" : from == 1 ? "its start" : "its journal appeared"));
    auto reopened = Registry::open(dir);
    EXPECT_TRUE(reopened.ok()) << reopened.error().message();
    if (!reopened.ok()) break;
    r = std::move(reopened).value();
    ++outcomes[checkRecovered(r, s0, journal, op, expected)];
  }
  std::string summary;
  for (const auto& [k, v] : outcomes) summary += k + "=" + std::to_string(v) + " ";
  std::cerr << "[   info   ] " << dir << ": " << iterations << " kills within " << span
            << " us: " << summary << "recovery-killed=" << recoveryKills << "\n";
  return outcomes;
}

// On tmpfs (where fsync costs nothing) so that hundreds of kills fit in a few
// seconds: a process crash keeps the page cache, so what is tested here is the
// order of the steps, not durability, which fsync provides for power loss.
TEST_F(RegistryCrashTest, SurvivesSigkillAtRandomMoments) {
  auto outcomes = killRandomly(tmp_.path() + "/kill", 300);
  // The kills must have landed before, inside and after the operation. (Which
  // side of the flip each step recovers to is pinned by the hook test; the
  // window before the flip is too short here to require a random kill in it.)
  EXPECT_GT(outcomes["untouched"], 0);
  EXPECT_GT(outcomes["rolled-back"] + outcomes["rolled-forward"], 0);
  EXPECT_GT(outcomes["rolled-forward"], 0);
  EXPECT_GT(outcomes["completed"], 0);
}

// The same on the real file system, with every fsync, fewer times.
TEST_F(RegistryCrashTest, SurvivesSigkillAtRandomMomentsOnDisk) {
  ScratchDir disk;
  auto outcomes = killRandomly(disk.path() + "/kill", 25);
  int total = 0;
  for (const auto& [k, v] : outcomes) total += v;
  EXPECT_EQ(total, 25);
}


// A child that deploys, rolls back and stages in a loop until it is killed:
// whatever it was doing, the journal's two sides are the only possible results.
TEST_F(RegistryCrashTest, SurvivesSigkillOfAnOperationLoop) {
  const std::string dir = tmp_.path() + "/loop";
  ASSERT_TRUE(openOrDie(dir).setCurrent(models_[0], "m", "0", nullptr, "boot").ok());
  std::mt19937 rng(7);
  int midOperation = 0;
  // 40 kills; on a run so slow that none of them landed mid-operation (the
  // sanitizer build under load: the journal is written late in each
  // operation), more, at later moments, up to 200.
  for (int i = 0; (i < 40 || midOperation == 0) && i < 200 && !HasFailure(); ++i) {
    const unsigned seed = static_cast<unsigned>(rng());
    // The kill's random moment counts from the child's first operation, not
    // from its fork: on a slow run (a loaded machine, the sanitizer build)
    // opening the registry alone took longer than the 20 ms, and no kill
    // landed mid-operation.
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid_t pid = spawn([&] {
      ::close(ready[0]);
      std::mt19937 g(seed);
      auto reg = Registry::open(dir);
      if (!reg) return 3;
      if (::write(ready[1], "r", 1) != 1) return 4;
      ::close(ready[1]);
      for (;;) {
        const auto& s = reg->state();
        if (s.candidate && g() % 3 != 0) {
          if (!::cvgate::testing::deployStaged(*reg, "loop")) return 1;
        } else if (!s.previous.empty() && g() % 2 == 0) {
          if (!::cvgate::testing::rollbackCurrent(*reg, "loop")) return 1;
        } else if (s.previous.size() > 3) {
          if (!reg->prune(2, "loop")) return 1;
        } else {
          std::size_t m = g() % models_.size();
          if (s.current && s.current->sha256 == shas_[m]) continue;
          if (!reg->stage(models_[m], "m", std::to_string(m), nullptr, "loop")) return 1;
        }
      }
    });
    ::close(ready[1]);
    char byte = 0;
    const bool started = ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<long>(500, 20000L * (1 + i / 40))(rng)));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(waitChild(pid), kKilled);
    ASSERT_TRUE(started) << "the child did not open the registry";
    json journal = test::readJsonFile(dir + "/registry/journal.json");
    Registry r = openOrDie(dir);
    auto v = r.verify();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok) << toJson(*v).dump();
    EXPECT_EQ(test::linkText(r.currentLinkPath()), r.state().current->path);
    EXPECT_TRUE(test::tempFiles(r.registryDir()).empty());
    if (!journal.is_null()) {
      ++midOperation;
      json core = withoutLastHistory(toJson(r.state()));
      EXPECT_TRUE(core == journal["before"] || core == journal["after"]) << toJson(r.state()).dump(1);
    }
  }
  EXPECT_GT(midOperation, 0);
}

TEST_F(RegistryCrashTest, SecondProcessGetsBusyWhileTheLockIsHeld) {
  const std::string dir = populated("busy");
  Registry mine = openOrDie(dir);
  const RegistryState s0 = mine.state();
  pid_t pid = spawn([&] { return runOp(dir, "deploy"); }, {{"CVGATE_REGISTRY_STALL_AT", "after-journal"}});
  const std::string journalPath = dir + "/registry/journal.json";
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!fs::exists(journalPath) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(fs::exists(journalPath));

  auto t0 = Clock::now();
  auto other = Registry::open(dir);
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(isRegistryBusy(other.error())) << other.error().message();
  EXPECT_NE(other.error().message().find("pid " + std::to_string(pid)), std::string::npos)
      << other.error().message();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));  // does not wait by default
  EXPECT_TRUE(isRegistryBusy(::cvgate::testing::rollbackCurrent(mine, "x").error()));
  EXPECT_TRUE(isRegistryBusy(mine.verify().error()));
  EXPECT_FALSE(isRegistryBusy(badInput("'x': registry is fine")));

  t0 = Clock::now();
  auto waited = Registry::open(dir, RegistryOptions{std::chrono::milliseconds(150)});
  ASSERT_FALSE(waited.ok());
  EXPECT_TRUE(isRegistryBusy(waited.error()));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(150));

  // The holder dies while we wait: we get the lock and recover its operation.
  std::thread killer([pid] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(pid, SIGKILL);
  });
  t0 = Clock::now();
  auto after = Registry::open(dir, RegistryOptions{std::chrono::seconds(20)});
  killer.join();
  EXPECT_EQ(waitChild(pid), kKilled);
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(90));
  EXPECT_EQ(withoutLastHistory(toJson(after->state())), toJson(s0));
  EXPECT_EQ(after->state().history.back().op, "recover");
  EXPECT_TRUE(::cvgate::testing::deployStaged(mine, "again").ok());
}

}  // namespace
}  // namespace cvgate

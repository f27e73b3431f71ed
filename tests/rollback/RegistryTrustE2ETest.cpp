// Nothing unvalidated reaches production through model-registry: the bytes
// staged are the bytes validated (a file replaced mid-stage changes
// nothing), a model that cannot answer its golden set or hangs is refused and
// leaves no trace, changes are compare-and-swap, a failed change is undone,
// and links planted in the registry are refused rather than followed.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "E2EFixture.h"
#include "FixtureModels.h"
#include "common/Sha256.h"

namespace cvgate::rbtest {
namespace {

namespace fs = std::filesystem;

std::string linkOf(const std::string& p) {
  std::error_code ec;
  return fs::read_symlink(p, ec).string();
}

void fixture(const std::string& path, const std::string& behaviour) {
  testing::FixtureSpec s;
  s.name = "fx-" + behaviour;
  s.behaviour = behaviour;
  auto st = testing::writeFixtureModel(s, path);
  ASSERT_TRUE(st.ok()) << st.error().message();
}

/// Wait for a file a held process creates; a bounded wait for an event, not
/// a sleep that orders anything.
bool waitFor(const std::string& path, int seconds = 120) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

/// Start a shell command in the background; its exit code lands in `rcFile`.
void spawn(const std::string& cmd, const std::string& out, const std::string& rcFile) {
  std::string line = "( " + cmd + " >'" + out + ".out' 2>'" + out + ".err'; echo $? >'" + rcFile + "' ) &";
  ASSERT_EQ(std::system(line.c_str()), 0);
}

int rcOf(const std::string& rcFile) {
  EXPECT_TRUE(waitFor(rcFile));
  std::ifstream f(rcFile);
  int rc = -1;
  f >> rc;
  return rc;
}

TEST_F(E2E, StageStoresExactlyTheBytesItValidatedEvenIfTheFileIsReplacedMeanwhile) {
  // Defect: stage validated and recorded golden outputs from one read, then
  // ingested a second: a file replaced during the golden run put random
  // bytes in the registry under the first model's name.
  setup("init", v1());
  const std::string cand = dir() + "/cand.pt";
  fs::copy_file(v2(), cand);
  const std::string want = *sha256File(cand);
  const std::string hold = dir() + "/hold";
  fs::create_directories(hold);
  spawn("CVGATE_TEST_HOLD=stage-validated CVGATE_TEST_HOLD_DIR='" + hold + "' " + bin("model-registry") +
            " --config " + cfg_ + " --state-dir " + state() + " --log-level warn stage " + cand,
        dir() + "/stage", dir() + "/stage.rc");
  ASSERT_TRUE(waitFor(hold + "/stage-validated.reached"));
  // The model passed; now, before it is stored, the file is swapped for junk.
  { std::ofstream(cand, std::ios::binary | std::ios::trunc) << std::string(4096, 'X'); }
  std::ofstream(hold + "/stage-validated.go") << "go\n";
  ASSERT_EQ(rcOf(dir() + "/stage.rc"), 0) << slurp(dir() + "/stage.err");
  auto st = mr("status").json()["state"];
  ASSERT_EQ(st["candidate"]["sha256"], want);
  EXPECT_EQ(*sha256File(reg() + "/objects/" + want + ".pt"), want);
  EXPECT_EQ(mr("verify").code, 0);
}

TEST_F(E2E, AModelThatCannotAnswerItsGoldenSetIsRefusedAndLeavesNoTrace) {
  // Defect: stage accepted, with a warning, a model with the wrong output
  // size, NaN outputs or a forward that throws; a refused init on a fresh
  // state dir still created registry/, state.json and the lock.
  for (const char* behaviour : {"nan", "throw", "wrong-shape"}) {
    const std::string bad = dir() + "/" + behaviour + ".pt";
    fixture(bad, behaviour);
    auto init = mr(std::string("init ") + bad);
    EXPECT_EQ(init.code, 2) << behaviour << ": " << init.err;
    EXPECT_NE(init.err.find("model-registry: error: '" + bad + "'"), std::string::npos) << init.err;
    EXPECT_NE(init.err.find("golden requests failed"), std::string::npos) << init.err;
    EXPECT_EQ(std::count(init.err.begin(), init.err.end(), '\n'), 1) << init.err;
    EXPECT_FALSE(fs::exists(state())) << behaviour << ": the refused init created the state directory";
  }
  setup("init", v1());
  const std::string before = fullFingerprint(reg());
  const std::string bad = dir() + "/nan.pt";
  auto stage = mr("stage " + bad);
  EXPECT_EQ(stage.code, 2) << stage.err;
  EXPECT_EQ(fullFingerprint(reg()), before);
}

TEST_F(E2E, AModelWhoseForwardNeverReturnsIsStoppedByTheWatchdog) {
  // Defect: such a model spun model-registry stage forever, holding the
  // heartbeat's cycle lock.
  setup("init", v1());
  const std::string before = fullFingerprint(reg());
  const std::string hang = dir() + "/hang.pt";
  fixture(hang, "hang");
  const std::string cfg = writeConfig(dir(), "", "[limits]\nmodel_timeout_s = 2\n");
  const auto t0 = std::chrono::steady_clock::now();
  auto stage = mr("stage " + hang, cfg);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(stage.code, 2) << stage.err;
  EXPECT_NE(stage.err.find("did not finish within 2 s"), std::string::npos) << stage.err;
  EXPECT_LT(s, 60.0);  // bounded by the watchdog, far from forever
  EXPECT_EQ(fullFingerprint(reg()), before);
}

TEST_F(E2E, DeployAndRollbackAreCompareAndSwap) {
  setup("init", v1());
  setup("stage", v2());
  const std::string s1 = *sha256File(v1()), s2 = *sha256File(v2());
  const std::string before = fullFingerprint(reg());
  auto wrongCur = mr("deploy --expect-current " + s2.substr(0, 12));
  EXPECT_EQ(wrongCur.code, 2) << wrongCur.err;
  EXPECT_NE(wrongCur.err.find("registry changed"), std::string::npos) << wrongCur.err;
  auto wrongCand = mr("deploy --sha " + s1);
  EXPECT_EQ(wrongCand.code, 2) << wrongCand.err;
  EXPECT_NE(wrongCand.err.find("the staged candidate is fx-v2"), std::string::npos) << wrongCand.err;
  EXPECT_EQ(fullFingerprint(reg()), before);
  auto ok = mr("deploy --expect-current " + s1 + " --sha " + s2);
  ASSERT_EQ(ok.code, 0) << ok.err;
  auto wrongRb = mr("rollback --expect-current " + s1);
  EXPECT_EQ(wrongRb.code, 2) << wrongRb.err;
  EXPECT_EQ(mr("rollback --expect-current " + s2).code, 0);
}

TEST_F(E2E, AFullDiskDuringDeployIsUndoneBeforeItIsReported) {
  // Defect: ENOSPC on the state.json write after current.pt flipped; the
  // tool said "production unchanged" and the next status rolled the deploy
  // forward: the new model live with no GO recorded.
  setup("init", v1());
  setup("stage", v2());
  const std::string s1 = *sha256File(v1()), s2 = *sha256File(v2());
  const std::string fresh = fullFingerprint(reg());
  auto failed = run("CVGATE_REGISTRY_FAIL_AT=state-write " + bin("model-registry") + " --config " + cfg_ +
                        " --state-dir " + state() + " --log-level warn deploy",
                    dir());
  EXPECT_EQ(failed.code, 1) << failed.err;
  EXPECT_NE(failed.err.find("No space left on device"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("deploy undone, the registry is unchanged"), std::string::npos) << failed.err;
  EXPECT_EQ(fullFingerprint(reg()), fresh);
  EXPECT_EQ(linkOf(reg() + "/current.pt"), "objects/" + s1 + ".pt");
  // When even the undo fails, the message says where current.pt points, and
  // the next registry access settles it from the journal.
  auto worse = run("CVGATE_REGISTRY_FAIL_AT=state-write,undo-link " + bin("model-registry") + " --config " + cfg_ +
                       " --state-dir " + state() + " --log-level warn deploy",
                   dir());
  EXPECT_EQ(worse.code, 1) << worse.err;
  EXPECT_NE(worse.err.find("current.pt now points at 'objects/" + s2 + ".pt'"), std::string::npos) << worse.err;
  auto st = mr("status").json()["state"];
  EXPECT_EQ(st["current"]["sha256"], s2);  // followed current.pt
  EXPECT_EQ(st["history"].back()["op"], "recover");
  EXPECT_EQ(mr("verify").code, 0);
}

TEST_F(E2E, LinksPlantedInTheRegistryAreRefusedNotFollowed) {
  // Defect: registry.lock was opened without O_NOFOLLOW (a symlink there got
  // its target overwritten), and an object that is a symlink to a file
  // outside the registry passed deploy and verify.
  setup("init", v1());
  const std::string victim = dir() + "/victim.txt";
  { std::ofstream(victim) << "precious\n"; }
  fs::remove(reg() + "/registry.lock");
  fs::create_symlink(victim, reg() + "/registry.lock");
  auto st = mr("status");
  EXPECT_EQ(st.code, 2) << st.err;
  EXPECT_NE(st.err.find("registry.lock': a symlink"), std::string::npos) << st.err;
  EXPECT_EQ(slurp(victim), "precious\n");
  fs::remove(reg() + "/registry.lock");

  setup("stage", v2());
  const std::string s2 = *sha256File(v2());
  const std::string object = reg() + "/objects/" + s2 + ".pt";
  const std::string outside = dir() + "/outside.pt";
  fs::copy_file(v2(), outside);  // the same bytes, outside the registry
  fs::permissions(object, fs::perms::owner_write, fs::perm_options::add);
  fs::remove(object);
  fs::create_symlink(outside, object);
  auto verify = mr("verify");
  EXPECT_EQ(verify.code, 10) << verify.out;
  EXPECT_NE(verify.out.find("not a regular file"), std::string::npos) << verify.out;
  auto deploy = mr("deploy");
  EXPECT_EQ(deploy.code, 2) << deploy.err;
  EXPECT_NE(deploy.err.find("not a regular file"), std::string::npos) << deploy.err;
}

}  // namespace
}  // namespace cvgate::rbtest

// The drill's sandbox: a copy of the registry taken under a shared lock, in
// which a rollback changes nothing of the original; a busy registry is
// reported as busy; simulateGo gives the state right after a GO.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "RegistryOps.h"
#include "RollbackTestUtil.h"
#include "TempDir.h"
#include "common/Sha256.h"
#include "registry/Registry.h"
#include "rollback/Sandbox.h"

namespace cvgate {
namespace {

namespace fs = std::filesystem;

std::string fakeModel(const std::string& path, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(4096, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << bytes;
  return *sha256File(path);
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    a_ = fakeModel(t_.file("a.pt"), 1);
    b_ = fakeModel(t_.file("b.pt"), 2);
    state_ = t_.file("var");
  }
  void deployBOverA() {
    auto r = Registry::open(state_);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->setCurrent(t_.file("a.pt"), "a", "1", nlohmann::json{{"x", 1}}, "c1").ok());
    ASSERT_TRUE(r->stage(t_.file("b.pt"), "b", "2", nullptr, "c2").ok());
    ASSERT_TRUE(::cvgate::testing::deployStaged(*r, "c2").ok());
  }
  testing::TempDir t_;
  std::string a_, b_, state_;
};

TEST_F(SandboxTest, RollbackInACloneLeavesTheOriginalIntact) {
  deployBOverA();
  const std::string before = rbtest::fullFingerprint(state_ + "/registry");
  auto snap = snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(0));
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_FALSE(snap->empty);
  EXPECT_TRUE(snap->missingObjects.empty());
  auto dir = cloneSandbox(*snap, "run", false);
  ASSERT_TRUE(dir.ok()) << dir.error().message();
  auto r = Registry::open(*dir);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->state().current->sha256, b_);
  auto e = ::cvgate::testing::rollbackCurrent(*r, "drill");
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->sha256, a_);
  EXPECT_EQ(readLinkText(*dir + "/registry/current.pt"), "objects/" + a_ + ".pt");
  auto v = r->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << toJson(*v).dump();
  EXPECT_EQ(rbtest::fullFingerprint(state_ + "/registry"), before);
  EXPECT_EQ(fingerprintRegistry(state_ + "/registry"), snap->before);
  const std::string root = snap->root;
  { Snapshot gone = std::move(*snap); }
  EXPECT_FALSE(fs::exists(root));
}

TEST_F(SandboxTest, AnExclusiveLockMakesTheSnapshotBusy) {
  deployBOverA();
  int fd = ::open((state_ + "/registry/registry.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto snap = snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(20));
  ::close(fd);
  ASSERT_FALSE(snap.ok());
  EXPECT_TRUE(isRegistryBusy(snap.error()));
  EXPECT_TRUE(snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(0)).ok());
}

TEST_F(SandboxTest, NoRegistryIsEmptyAndCreatesNothing) {
  auto snap = snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(0));
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->empty);
  EXPECT_FALSE(fs::exists(state_));
}

TEST_F(SandboxTest, SimulatedGoMakesTheCurrentModelTheTarget) {
  auto r = Registry::open(state_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->setCurrent(t_.file("a.pt"), "a", "1", nullptr, "c1").ok());
  ASSERT_TRUE(r->stage(t_.file("b.pt"), "b", "2", nullptr, "c2").ok());
  auto snap = snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(0));
  ASSERT_TRUE(snap.ok());
  auto dir = cloneSandbox(*snap, "go", false);
  ASSERT_TRUE(dir.ok());
  auto s = Registry::open(*dir);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(simulateGo(s->registryDir(), s->state()).ok());
  ASSERT_TRUE(s->refresh().ok());
  EXPECT_EQ(s->state().current->sha256, b_);
  ASSERT_EQ(s->state().previous.size(), 1u);
  auto t = s->rollbackTarget();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->sha256, a_);
  auto v = s->verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << toJson(*v).dump();
  // The original still has a as current and b staged.
  auto again = Registry::open(state_);
  EXPECT_EQ(again->state().current->sha256, a_);
  EXPECT_EQ(again->state().candidate->sha256, b_);
}

TEST_F(SandboxTest, AnInterruptedOperationIsRecoveredInTheCopyOnly) {
  deployBOverA();
  // Fake an interrupted rollback: a journal whose after-state has a as current.
  auto r = Registry::open(state_);
  RegistryState after = r->state();
  after.current = after.previous[0];
  after.previous.clear();
  nlohmann::json j{{"schema", "cvgate.registry-journal/1"}, {"op", "rollback"}, {"cycle_id", "x"},
                   {"before", toJson(r->state())}, {"after", toJson(after)}};
  { std::ofstream(state_ + "/registry/journal.json") << j.dump(); }
  const std::string before = rbtest::fullFingerprint(state_ + "/registry");
  auto snap = snapshotRegistry(state_, t_.file("sb"), std::chrono::milliseconds(0));
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->journalPending);
  auto base = Registry::open(snap->baseStateDir());
  ASSERT_TRUE(base.ok()) << base.error().message();
  EXPECT_EQ(base->state().current->sha256, b_);  // current.pt not flipped: undone
  EXPECT_EQ(base->state().history.back().op, "recover");
  EXPECT_EQ(rbtest::fullFingerprint(state_ + "/registry"), before);  // production still has its journal
}

}  // namespace
}  // namespace cvgate

// Registry operations on one process: stage, deploy, rollback, init, prune and
// verify do what DESIGN.md section 5 says, the history tells the story exactly,
// and a model whose bytes do not match its sha256 is never made current.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "RegistryOps.h"
#include "RegistryTestUtil.h"
#include "common/Time.h"
#include "registry/Registry.h"

namespace cvgate {
namespace {

namespace fs = std::filesystem;
using test::linkText;
using test::ScratchDir;
using test::writeFakeModel;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    for (unsigned i = 0; i < 4; ++i) {
      models_.push_back(tmp_.path() + "/model" + std::to_string(i) + ".pt");
      shas_.push_back(writeFakeModel(models_.back(), 1000 + i, 8 * 1024 + i * 512));
    }
    state_ = tmp_.path() + "/var";
  }
  Registry openOrDie() {
    auto r = Registry::open(state_);
    if (!r) ADD_FAILURE() << r.error().message();
    return std::move(r).value();
  }
  /// A with A current, then B deployed over it, then C: previous = [B, A].
  Registry threeDeployed() {
    Registry r = openOrDie();
    EXPECT_TRUE(r.setCurrent(models_[0], "m", "1", json{{"top1", 0}}, "c1").ok());
    EXPECT_TRUE(r.stage(models_[1], "m", "2", json{{"top1", 1}}, "c2").ok());
    EXPECT_TRUE(::cvgate::testing::deployStaged(r, "c2").ok());
    EXPECT_TRUE(r.stage(models_[2], "m", "3", json{{"top1", 2}}, "c3").ok());
    EXPECT_TRUE(::cvgate::testing::deployStaged(r, "c3").ok());
    return r;
  }

  ScratchDir tmp_;
  std::string state_;
  std::vector<std::string> models_;
  std::vector<std::string> shas_;
};

std::vector<std::string> shasOf(const std::vector<Entry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.sha256);
  return out;
}

TEST_F(RegistryTest, OpenCreatesAnEmptyRegistry) {
  Registry r = openOrDie();
  EXPECT_TRUE(fs::is_directory(state_ + "/registry/objects"));
  json j = test::readJsonFile(state_ + "/registry/state.json");
  EXPECT_EQ(j["schema"], "cvgate.registry/1");
  EXPECT_TRUE(j["current"].is_null());
  EXPECT_TRUE(j["candidate"].is_null());
  EXPECT_EQ(j["previous"], json::array());
  EXPECT_EQ(j["history"], json::array());
  EXPECT_FALSE(fs::exists(fs::symlink_status(r.currentLinkPath())));
  auto v = r.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << toJson(*v).dump();
}

TEST_F(RegistryTest, DeployThenRollbackTellsTheStoryExactly) {
  Registry r = openOrDie();
  ASSERT_TRUE(r.setCurrent(models_[0], "fashion-mlp", "1.0", json{{"outputs", {1, 2}}}, "cyc-1").ok());
  auto staged = r.stage(models_[1], "fashion-cnn", "2.0", json{{"outputs", {3, 4}}}, "cyc-2");
  ASSERT_TRUE(staged.ok()) << staged.error().message();
  EXPECT_EQ(staged->sha256, shas_[1]);
  EXPECT_EQ(staged->path, "objects/" + shas_[1] + ".pt");
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[0] + ".pt");

  ASSERT_TRUE(::cvgate::testing::deployStaged(r, "cyc-3").ok());
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[1] + ".pt");
  ASSERT_TRUE(r.state().current);
  EXPECT_EQ(r.state().current->name, "fashion-cnn");
  EXPECT_FALSE(r.state().candidate);
  EXPECT_EQ(shasOf(r.state().previous), std::vector<std::string>{shas_[0]});

  auto back = ::cvgate::testing::rollbackCurrent(r, "cyc-4");
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->sha256, shas_[0]);
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[0] + ".pt");
  EXPECT_TRUE(r.state().previous.empty());

  // The story, read back from disk by a fresh open.
  Registry again = openOrDie();
  const auto& h = again.state().history;
  ASSERT_EQ(h.size(), 4u);
  struct Want { const char* op; const char* cycle; std::optional<std::string> from, to; };
  std::vector<Want> want = {{"init", "cyc-1", std::nullopt, shas_[0]},
                            {"stage", "cyc-2", std::nullopt, shas_[1]},
                            {"deploy", "cyc-3", shas_[0], shas_[1]},
                            {"rollback", "cyc-4", shas_[1], shas_[0]}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(h[i].op, want[i].op);
    EXPECT_EQ(h[i].cycleId, std::optional<std::string>(want[i].cycle));
    EXPECT_EQ(h[i].from, want[i].from);
    EXPECT_EQ(h[i].to, want[i].to);
    std::chrono::system_clock::time_point t;
    EXPECT_TRUE(parseIsoUtc(h[i].at, &t)) << h[i].at;
  }
  EXPECT_NE(h[2].note.find("fashion-cnn 2.0"), std::string::npos) << h[2].note;
  EXPECT_NE(h[3].note.find("fashion-mlp 1.0"), std::string::npos) << h[3].note;
  EXPECT_EQ(toJson(again.state()), toJson(r.state()));

  // Objects are read-only, golden outputs kept, everything verifies.
  struct stat st {};
  ASSERT_EQ(::stat(r.objectPath(shas_[1]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  auto g = r.golden(shas_[1]);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, (json{{"outputs", {3, 4}}}));
  auto v = again.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << toJson(*v).dump();
  EXPECT_EQ(v->objectsChecked, 2);
  EXPECT_EQ(v->unreferenced, std::vector<std::string>{shas_[1]});  // rolled-back-from model
}

TEST_F(RegistryTest, DeployPushesTheKnownGoodStackAndRollbackPopsIt) {
  Registry r = threeDeployed();
  EXPECT_EQ(r.state().current->sha256, shas_[2]);
  EXPECT_EQ(shasOf(r.state().previous), (std::vector<std::string>{shas_[1], shas_[0]}));

  // Named target by prefix: the older one; the newer known-good stays.
  auto t = ::cvgate::testing::rollbackCurrent(r, "c4", shas_[0].substr(0, 10));
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(r.state().current->sha256, shas_[0]);
  EXPECT_EQ(shasOf(r.state().previous), std::vector<std::string>{shas_[1]});
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[0] + ".pt");

  auto t2 = ::cvgate::testing::rollbackCurrent(r, "c5");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->sha256, shas_[1]);
  EXPECT_TRUE(r.state().previous.empty());
  auto none = ::cvgate::testing::rollbackCurrent(r, "c6");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("no known-good"), std::string::npos) << none.error().message();
}

TEST_F(RegistryTest, RedeployingAKnownGoodModelDoesNotDuplicateIt) {
  Registry r = threeDeployed();  // current C, previous [B, A]
  ASSERT_TRUE(r.stage(models_[0], "m", "1", nullptr, "c4").ok());
  ASSERT_TRUE(::cvgate::testing::deployStaged(r, "c4").ok());
  EXPECT_EQ(r.state().current->sha256, shas_[0]);
  EXPECT_EQ(shasOf(r.state().previous), (std::vector<std::string>{shas_[2], shas_[1]}));
  // The golden outputs recorded at first staging survive a null golden.
  auto g = r.golden(shas_[0]);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, (json{{"top1", 0}}));
}

TEST_F(RegistryTest, RollingBackToTheStagedCandidateClearsIt) {
  Registry r = threeDeployed();  // current C, previous [B, A]
  ASSERT_TRUE(r.stage(models_[1], "m", "2", nullptr, "c4").ok());
  auto t = ::cvgate::testing::rollbackCurrent(r, "c5");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->sha256, shas_[1]);
  EXPECT_FALSE(r.state().candidate);
  EXPECT_NE(r.state().history.back().note.find("candidate was the same model"), std::string::npos);
  EXPECT_FALSE(::cvgate::testing::deployStaged(r, "c6").ok());
}

TEST_F(RegistryTest, RefusesWhatMakesNoSense) {
  Registry r = openOrDie();
  auto missing = r.stage(tmp_.path() + "/nope.pt", "m", "1", nullptr, "c");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("nope.pt"), std::string::npos);
  EXPECT_FALSE(r.stage(models_[0], "", "1", nullptr, "c").ok());
  EXPECT_FALSE(r.stage(models_[0], "m", "", nullptr, "c").ok());
  auto noCand = ::cvgate::testing::deployStaged(r, "c");
  ASSERT_FALSE(noCand.ok());
  EXPECT_NE(noCand.error().message().find("no candidate"), std::string::npos);
  EXPECT_FALSE(::cvgate::testing::rollbackCurrent(r, "c").ok());

  ASSERT_TRUE(r.setCurrent(models_[0], "m", "1", nullptr, "c").ok());
  auto twice = r.setCurrent(models_[1], "m", "2", nullptr, "c");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message().find("already has a current model"), std::string::npos);
  auto same = r.stage(models_[0], "m", "1", nullptr, "c");
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.error().message().find("current model already"), std::string::npos);
  auto unknown = ::cvgate::testing::rollbackCurrent(r, "c", "deadbeef");
  ASSERT_FALSE(unknown.ok());
  EXPECT_FALSE(r.prune(-1).ok());
  // None of that changed the story beyond the init.
  ASSERT_EQ(r.state().history.size(), 1u);
  EXPECT_EQ(r.state().history[0].op, "init");
}

TEST_F(RegistryTest, TamperedCandidateIsNeverDeployed) {
  Registry r = openOrDie();
  ASSERT_TRUE(r.setCurrent(models_[0], "m", "1", nullptr, "c1").ok());
  ASSERT_TRUE(r.stage(models_[1], "m", "2", nullptr, "c2").ok());
  json before = toJson(r.state());
  test::tamper(r.objectPath(shas_[1]));

  auto d = ::cvgate::testing::deployStaged(r, "c3");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("refusing to deploy"), std::string::npos) << d.error().message();
  EXPECT_NE(d.error().message().find("not the recorded sha256"), std::string::npos) << d.error().message();
  EXPECT_EQ(toJson(openOrDie().state()), before);
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[0] + ".pt");

  auto v = r.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->corrupt, std::vector<std::string>{shas_[1]});

  // Staging the good bytes again repairs the object; then deploy works.
  ASSERT_TRUE(r.stage(models_[1], "m", "2", nullptr, "c4").ok());
  EXPECT_TRUE(::cvgate::testing::deployStaged(r, "c5").ok());
  EXPECT_TRUE(r.verify()->ok);
}

TEST_F(RegistryTest, TamperedKnownGoodIsNeverRolledBackTo) {
  Registry r = threeDeployed();  // current C, previous [B, A]
  test::tamper(r.objectPath(shas_[1]));
  json before = toJson(r.state());

  auto named = ::cvgate::testing::rollbackCurrent(r, "c4", shas_[1]);
  ASSERT_FALSE(named.ok());
  EXPECT_NE(named.error().message().find("refusing to roll back"), std::string::npos);
  EXPECT_EQ(toJson(openOrDie().state()), before);
  auto target = r.rollbackTarget();
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(target->sha256, shas_[0]);

  // Unnamed: the newest known-good that verifies, and the note says what was skipped.
  auto t = ::cvgate::testing::rollbackCurrent(r, "c5");
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->sha256, shas_[0]);
  EXPECT_NE(r.state().history.back().note.find("skipped"), std::string::npos);
  EXPECT_EQ(linkText(r.currentLinkPath()), "objects/" + shas_[0] + ".pt");

  // Only the tampered one left: refused.
  auto none = ::cvgate::testing::rollbackCurrent(r, "c6");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("no verified known-good"), std::string::npos)
      << none.error().message();
  EXPECT_EQ(r.state().current->sha256, shas_[0]);
}

TEST_F(RegistryTest, PruneKeepsTheNewestKnownGoodAndDeletesTheRest) {
  Registry r = threeDeployed();
  ASSERT_TRUE(r.stage(models_[3], "m", "4", json{{"top1", 3}}, "c4").ok());
  ASSERT_TRUE(::cvgate::testing::deployStaged(r, "c4").ok());  // current D, previous [C, B, A]
  // An orphan left by a crashed stage (object, no state entry).
  std::string orphanSha = writeFakeModel(state_ + "/registry/objects/tmp-orphan", 77);
  fs::rename(state_ + "/registry/objects/tmp-orphan", r.objectPath(orphanSha));

  ASSERT_TRUE(r.prune(1, "c5").ok());
  EXPECT_EQ(shasOf(r.state().previous), std::vector<std::string>{shas_[2]});
  for (const auto& sha : {shas_[0], shas_[1], orphanSha}) {
    EXPECT_FALSE(fs::exists(r.objectPath(sha))) << sha;
    EXPECT_FALSE(fs::exists(r.goldenPath(sha))) << sha;
  }
  EXPECT_TRUE(fs::exists(r.objectPath(shas_[2])));
  EXPECT_TRUE(fs::exists(r.goldenPath(shas_[2])));
  const auto& last = r.state().history.back();
  EXPECT_EQ(last.op, "prune");
  EXPECT_EQ(last.cycleId, std::optional<std::string>("c5"));
  EXPECT_NE(last.note.find("kept 1 known-good"), std::string::npos) << last.note;
  EXPECT_NE(last.note.find("deleted 3 unreferenced"), std::string::npos) << last.note;
  auto v = r.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << toJson(*v).dump();
  EXPECT_EQ(v->objectsChecked, 2);

  // Nothing left to prune: no new history.
  std::size_t n = r.state().history.size();
  ASSERT_TRUE(r.prune(1).ok());
  EXPECT_EQ(r.state().history.size(), n);
  ASSERT_TRUE(r.prune(0).ok());
  EXPECT_TRUE(r.state().previous.empty());
  EXPECT_FALSE(fs::exists(r.objectPath(shas_[2])));
}

TEST_F(RegistryTest, VerifyFindsEachKindOfDamage) {
  Registry r = threeDeployed();
  ASSERT_TRUE(r.verify()->ok);

  // current.pt pointing elsewhere.
  fs::remove(r.currentLinkPath());
  fs::create_symlink("objects/" + shas_[0] + ".pt", r.currentLinkPath());
  auto v = r.verify();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  ASSERT_EQ(v->problems.size(), 1u);
  EXPECT_NE(v->problems[0].find("current.pt"), std::string::npos) << v->problems[0];
  fs::remove(r.currentLinkPath());
  fs::create_symlink("objects/" + shas_[2] + ".pt", r.currentLinkPath());
  ASSERT_TRUE(r.verify()->ok);

  // Golden outputs that do not parse.
  fs::permissions(r.goldenPath(shas_[1]), fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(r.goldenPath(shas_[1])) << "{\"top1\": ";
  v = r.verify();
  EXPECT_FALSE(v->ok);
  ASSERT_EQ(v->problems.size(), 1u);
  EXPECT_NE(v->problems[0].find("golden"), std::string::npos) << v->problems[0];
  std::ofstream(r.goldenPath(shas_[1])) << "{}";

  // A missing object for a known-good entry, and a stray file.
  fs::remove(r.objectPath(shas_[0]));
  std::ofstream(state_ + "/registry/objects/stray.txt") << "x";
  v = r.verify();
  EXPECT_FALSE(v->ok);
  std::string all = toJson(*v).dump();
  EXPECT_NE(all.find("missing object for known-good"), std::string::npos) << all;
  EXPECT_NE(all.find("stray.txt"), std::string::npos) << all;
  EXPECT_NE(all.find("golden outputs without a model object"), std::string::npos) << all;
}

TEST_F(RegistryTest, OpenRefusesAStateItCannotTrust) {
  { Registry r = threeDeployed(); }
  const std::string statePath = state_ + "/registry/state.json";
  json good = test::readJsonFile(statePath);

  std::ofstream(statePath) << good.dump().substr(0, 40);  // truncated, no journal
  auto trunc = Registry::open(state_);
  ASSERT_FALSE(trunc.ok());
  EXPECT_NE(trunc.error().message().find("not valid JSON"), std::string::npos) << trunc.error().message();

  json other = good;
  other["schema"] = "cvgate.registry/9";
  std::ofstream(statePath) << other.dump();
  auto schema = Registry::open(state_);
  ASSERT_FALSE(schema.ok());
  EXPECT_NE(schema.error().message().find("unknown schema 'cvgate.registry/9'"), std::string::npos);

  fs::remove(statePath);  // current.pt still there
  auto gone = Registry::open(state_);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message().find("missing while current.pt exists"), std::string::npos);

  std::ofstream(statePath) << good.dump();
  EXPECT_TRUE(Registry::open(state_).ok());
}

TEST_F(RegistryTest, StateJsonRoundTrips) {
  Registry r = threeDeployed();
  ASSERT_TRUE(r.stage(models_[3], "m", "4", nullptr, "").ok());
  json j = toJson(r.state());
  EXPECT_TRUE(j["history"].back()["cycle_id"].is_null());
  EXPECT_TRUE(j["history"][0]["from"].is_null());
  auto back = registryStateFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(toJson(*back), j);
  json bad = j;
  bad["current"]["path"] = "../../etc/passwd";
  auto rej = registryStateFromJson(bad);
  ASSERT_FALSE(rej.ok());
  EXPECT_NE(rej.error().message().find("'path' must be"), std::string::npos) << rej.error().message();
}

}  // namespace
}  // namespace cvgate

// model-registry end to end: deploy V2 over V1 and roll back, and the
// registry's history and current.pt tell the story exactly; stage is
// idempotent; verify finds damage; a busy registry exits 75.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "E2EFixture.h"
#include "common/Sha256.h"

namespace cvgate::rbtest {
namespace {

namespace fs = std::filesystem;

std::string linkOf(const std::string& p) {
  std::error_code ec;
  return fs::read_symlink(p, ec).string();
}

TEST_F(E2E, DeployV2OverV1ThenRollBackTellsTheStory) {
  const std::string s1 = *sha256File(v1()), s2 = *sha256File(v2());
  auto init = mr("--cycle c1 init " + v1());
  ASSERT_EQ(init.code, 0) << init.err;
  EXPECT_EQ(init.json()["state"]["current"]["sha256"], s1);
  EXPECT_EQ(init.json()["state"]["current"]["name"], "fx-v1");
  EXPECT_EQ(linkOf(reg() + "/current.pt"), "objects/" + s1 + ".pt");
  EXPECT_TRUE(fs::exists(reg() + "/objects/" + s1 + ".golden.json"));

  auto stage = mr("--cycle c2 stage " + v2());
  ASSERT_EQ(stage.code, 0) << stage.err;
  EXPECT_EQ(stage.json()["state"]["candidate"]["sha256"], s2);
  EXPECT_EQ(stage.json()["state"]["candidate"]["version"], "2");

  auto dep = mr("--cycle c2 deploy");
  ASSERT_EQ(dep.code, 0) << dep.err;
  EXPECT_EQ(linkOf(reg() + "/current.pt"), "objects/" + s2 + ".pt");

  auto rb = mr("--cycle c3 rollback");
  ASSERT_EQ(rb.code, 0) << rb.err;
  EXPECT_NE(rb.json()["message"].get<std::string>().find("to fx-v1 1"), std::string::npos);
  EXPECT_EQ(linkOf(reg() + "/current.pt"), "objects/" + s1 + ".pt");

  auto st = mr("status");
  ASSERT_EQ(st.code, 0);
  auto state = st.json()["state"];
  EXPECT_EQ(state["current"]["sha256"], s1);
  EXPECT_TRUE(state["candidate"].is_null());
  EXPECT_TRUE(state["previous"].empty());
  const auto& h = state["history"];
  ASSERT_EQ(h.size(), 4u) << h.dump(2);
  EXPECT_EQ(h[0]["op"], "init");
  EXPECT_EQ(h[0]["to"], s1);
  EXPECT_EQ(h[0]["cycle_id"], "c1");
  EXPECT_EQ(h[1]["op"], "stage");
  EXPECT_EQ(h[1]["to"], s2);
  EXPECT_EQ(h[2]["op"], "deploy");
  EXPECT_EQ(h[2]["from"], s1);
  EXPECT_EQ(h[2]["to"], s2);
  EXPECT_EQ(h[3]["op"], "rollback");
  EXPECT_EQ(h[3]["from"], s2);
  EXPECT_EQ(h[3]["to"], s1);
  EXPECT_EQ(h[3]["cycle_id"], "c3");

  auto text = mr("status --format text");
  EXPECT_NE(text.out.find("current:   fx-v1 1"), std::string::npos) << text.out;
  EXPECT_EQ(mr("verify").code, 0);
}

TEST_F(E2E, StageAndInitAreIdempotent) {
  ASSERT_EQ(mr("init " + v1()).code, 0);
  auto again = mr("init " + v1());
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(again.json()["changed"].get<bool>());
  auto cur = mr("stage " + v1());
  EXPECT_EQ(cur.code, 0) << cur.err;
  EXPECT_FALSE(cur.json()["changed"].get<bool>());
  EXPECT_NE(cur.json()["message"].get<std::string>().find("current model already"), std::string::npos);
  ASSERT_EQ(mr("stage " + v2()).code, 0);
  auto twice = mr("stage " + v2());
  EXPECT_EQ(twice.code, 0);
  EXPECT_FALSE(twice.json()["changed"].get<bool>());
  EXPECT_EQ(twice.json()["state"]["history"].size(), 2u);  // init + one stage
  // init over another current model is refused.
  auto other = mr("init " + v2());
  EXPECT_EQ(other.code, 2);
  EXPECT_NE(other.err.find("model-registry: error: "), std::string::npos);
  EXPECT_NE(other.err.find("stage and deploy"), std::string::npos) << other.err;
}

TEST_F(E2E, RollbackToANamedModelAndPrune) {
  deployV2OverV1();
  const std::string s1 = *sha256File(v1());
  auto bad = mr("rollback --to 0123456789ab");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("not a known-good model"), std::string::npos) << bad.err;
  auto rb = mr("rollback --to " + s1.substr(0, 12));
  ASSERT_EQ(rb.code, 0) << rb.err;
  EXPECT_EQ(rb.json()["state"]["current"]["sha256"], s1);
  auto pr = mr("prune --keep 0");
  ASSERT_EQ(pr.code, 0) << pr.err;
  EXPECT_TRUE(pr.json()["changed"].get<bool>());
  EXPECT_FALSE(fs::exists(reg() + "/objects/" + *sha256File(v2()) + ".pt"));
  EXPECT_EQ(mr("verify").code, 0);
}

TEST_F(E2E, VerifyFindsATamperedObjectAndABadGoldenRecord) {
  deployV2OverV1();
  const std::string s1 = *sha256File(v1());
  ASSERT_EQ(mr("verify").code, 0);  // golden records written by stage parse
  // A golden record that parses as JSON but is not a golden record.
  const std::string g = reg() + "/objects/" + s1 + ".golden.json";
  { std::ofstream(g) << "{\"schema\": \"something else\"}\n"; }
  // A model object whose bytes changed.
  const std::string obj = reg() + "/objects/" + s1 + ".pt";
  fs::permissions(obj, fs::perms::owner_all);
  { std::ofstream(obj, std::ios::app) << "x"; }
  auto v2r = mr("verify --format text");
  EXPECT_EQ(v2r.code, 10);
  EXPECT_NE(v2r.out.find("golden outputs"), std::string::npos) << v2r.out;
  EXPECT_NE(v2r.out.find("tampered or corrupt"), std::string::npos) << v2r.out;
  // And a rollback to it is refused.
  auto rb = mr("rollback");
  EXPECT_EQ(rb.code, 2);
  EXPECT_NE(rb.err.find("no verified known-good"), std::string::npos) << rb.err;
}

TEST_F(E2E, BusyRegistryExits75) {
  setup("init", v1());
  int fd = ::open((reg() + "/registry.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  auto r = mr("stage " + v2());
  auto d = drill();
  ::close(fd);
  EXPECT_EQ(r.code, 75) << r.err;
  EXPECT_NE(r.err.find("model-registry: error: "), std::string::npos);
  EXPECT_NE(r.err.find("registry busy"), std::string::npos) << r.err;
  EXPECT_EQ(d.code, 75) << d.err;
  EXPECT_NE(d.err.find("simulate-rollback: error: "), std::string::npos);
  EXPECT_NE(d.err.find("registry busy"), std::string::npos) << d.err;
}

TEST_F(E2E, BadUsageIsOneLineAndExit2) {
  auto none = mr("");
  EXPECT_EQ(none.code, 2);
  auto nomodel = mr("stage " + dir() + "/nope.pt");
  EXPECT_EQ(nomodel.code, 2);
  EXPECT_NE(nomodel.err.find("nope.pt"), std::string::npos) << nomodel.err;
  auto nodeploy = mr("deploy");
  EXPECT_EQ(nodeploy.code, 2);
  EXPECT_NE(nodeploy.err.find("no candidate staged"), std::string::npos) << nodeploy.err;
}

}  // namespace
}  // namespace cvgate::rbtest

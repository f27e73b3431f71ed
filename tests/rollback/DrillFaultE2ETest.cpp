// simulate-rollback fault injection: each injected fault (corrupt target,
// missing target, truncated state, crash between the two atomic steps) is
// detected and reported by a failing check, and the real registry stays
// byte-for-byte intact.
#include <filesystem>

#include "E2EFixture.h"

namespace cvgate::rbtest {
namespace {

class Fault : public E2E, public ::testing::WithParamInterface<std::string> {};

const nlohmann::json* check(const nlohmann::json& rep, const std::string& id) {
  for (const auto& c : rep["checks"])
    if (c["id"] == id) return &c;
  return nullptr;
}

TEST_P(Fault, IsDetectedAndTheRealStateStaysIntact) {
  const std::string fault = GetParam();
  deployV2OverV1();
  const std::string before = fullFingerprint(reg());
  auto d = drill("--repeats 1 --inject-fault " + fault);
  EXPECT_EQ(d.code, 10) << d.err << d.out;
  auto rep = d.json();
  ASSERT_TRUE(rep.is_object()) << d.out;
  const auto& faults = rep["results"]["faults"];
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0]["fault"], fault);
  EXPECT_TRUE(faults[0]["detected"].get<bool>()) << faults[0]["message"];
  auto* fc = check(rep, "rollback.fault");
  ASSERT_TRUE(fc);
  EXPECT_EQ((*fc)["status"], "fail");
  EXPECT_NE((*fc)["message"].get<std::string>().find("injected fault '" + fault + "'"), std::string::npos);
  if (fault == "crash-between-steps") {
    EXPECT_TRUE(faults[0]["recovered"].get<bool>()) << faults[0]["message"];
    EXPECT_NE(faults[0]["message"].get<std::string>().find("rolled the rollback forward"), std::string::npos)
        << faults[0]["message"];
    EXPECT_EQ((*check(rep, "rollback.target"))["status"], "pass");
  } else {
    auto* tc = check(rep, "rollback.target");
    EXPECT_EQ((*tc)["status"], "fail");
    EXPECT_NE((*tc)["message"].get<std::string>().find("detected"), std::string::npos) << (*tc)["message"];
  }
  if (fault == "truncated-state") {
    EXPECT_NE(faults[0]["message"].get<std::string>().find("not valid JSON"), std::string::npos) << faults[0]["message"];
  }
  if (fault == "corrupt-target") {
    EXPECT_NE(faults[0]["message"].get<std::string>().find("tampered or corrupt"), std::string::npos) << faults[0]["message"];
  }
  // The clean drills still measured the RTO.
  EXPECT_EQ(rep["results"]["rto_ms"]["samples"].size(), 1u);
  EXPECT_TRUE(rep["results"]["real_state_intact"].get<bool>());
  EXPECT_EQ(fullFingerprint(reg()), before);
}

INSTANTIATE_TEST_SUITE_P(Rollback, Fault,
                         ::testing::Values("corrupt-target", "missing-target", "truncated-state", "crash-between-steps"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (auto& c : n) if (c == '-') c = '_';
                           return n;
                         });

TEST_F(E2E, FaultFromTheConfigAndAnUnknownFault) {
  deployV2OverV1();
  auto cfg = writeConfig(dir(), "inject_fault = \"missing-target\"");
  auto d = drill("--repeats 1", cfg);
  EXPECT_EQ(d.code, 10);
  EXPECT_EQ(d.json()["results"]["faults"][0]["fault"], "missing-target");
  auto bad = drill("--inject-fault corupt-target");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("did you mean 'corrupt-target'"), std::string::npos) << bad.err;
  auto badCfg = writeConfig(dir(), "inject_fault = \"gremlins\"");
  EXPECT_EQ(drill("", badCfg).code, 2);
}

}  // namespace
}  // namespace cvgate::rbtest

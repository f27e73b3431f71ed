// Every malformed input of cases.txt, run against the built tool that reads
// it: exit 2 with exactly one stderr line "<tool>: error: ..." naming the file
// or value at fault (or the code the man page documents), nothing on stdout,
// and the state directory byte-identical before and after.
//
// `catalogue_world DIR` (World.cpp) builds the shared world once per ctest
// run (the badinput_world fixture); each case is then one test.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <set>
#include <iostream>

#include "Catalogue.h"

using cvgate::badinput::Case;

namespace cvgate::badinput {
/// A failing case prints as its id, not as bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.id << " (cases.txt:" << c.line << ")"; }
}  // namespace cvgate::badinput

namespace {

std::vector<Case> cases() {
  static const std::vector<Case> all = cvgate::badinput::loadCases(CVGATE_SOURCE_DIR "/tests/badinput/cases.txt");
  return all;
}

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, OneLineErrorAndStateUntouched) {
  const std::string problem = cvgate::badinput::runCase(GetParam());
  EXPECT_TRUE(problem.empty()) << problem;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           std::string name;
                           for (char ch : p.param.id) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

// The catalogue keeps its promised breadth: at least 150 cases, over every tool that reads input.
TEST(BadInputCatalogue, CoversEveryReaderAndTool) {
  const auto all = cases();
  EXPECT_GE(all.size(), 150u);
  std::set<std::string> tools;
  for (const auto& c : all) tools.insert(c.tool);
  for (const char* t : {"cvgate-config", "model-registry", "verify-env", "profile-latency", "eval-compliance",
                        "check-integration", "simulate-rollback", "decide", "heartbeat"})
    EXPECT_TRUE(tools.count(t)) << "no case for " << t;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

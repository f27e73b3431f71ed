// Manifest validation: a good one parses, each bad field is named.
#include <gtest/gtest.h>

#include "model/Manifest.h"

using namespace cvgate;

static nlohmann::json good() {
  return {{"schema", "cvgate.manifest/1"},
          {"name", "m"},
          {"input", {{"shape", {1, 28, 28}}, {"dtype", "float32"}, {"colour", "grey"}}},
          {"preprocess", {{"resize", {28, 28}}, {"mean", {0.5}}, {"std", {0.25}}}},
          {"labels", {"a", "b", "c"}}};
}

TEST(Manifest, GoodOneRoundTrips) {
  auto m = manifestFromJson(good());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->inputSize(), 784u);
  auto again = manifestFromJson(toJson(*m));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(toJson(*again), toJson(*m));
}

TEST(Manifest, EachBadFieldIsNamed) {
  auto expectBad = [](nlohmann::json j, const std::string& field) {
    auto m = manifestFromJson(j);
    ASSERT_FALSE(m.ok()) << field;
    EXPECT_NE(m.error().message().find(field), std::string::npos) << m.error().message();
  };
  auto j = good();
  j["schema"] = "cvgate.manifest/9";
  expectBad(j, "cvgate.manifest/9");
  j = good();
  j["input"]["shape"] = {3, 28, 28};
  expectBad(j, "input.shape");
  j = good();
  j["preprocess"]["std"] = {0.0};
  expectBad(j, "preprocess.std");
  j = good();
  j["labels"] = {"only"};
  expectBad(j, "labels");
  j = good();
  j.erase("name");
  expectBad(j, "name");
}

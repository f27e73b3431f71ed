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

TEST(Manifest, OldManifestsComeBackWithoutTheNewFields) {
  auto m = manifestFromJson(good());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->interpolation, "bilinear");
  EXPECT_FALSE(m->antialias);
  EXPECT_EQ(m->resizeShorter, 0);
  const auto pp = toJson(*m)["preprocess"];
  EXPECT_EQ(pp["resize"], nlohmann::json({28, 28}));
  for (const char* key : {"interpolation", "antialias", "channel_order"}) EXPECT_FALSE(pp.contains(key)) << key;
}

TEST(Manifest, TorchvisionPreprocessingFieldsRoundTrip) {
  auto j = good();
  j["input"] = {{"shape", {3, 224, 224}}, {"colour", "rgb"}};
  j["preprocess"] = {{"resize", 256},           {"crop", {224, 224}},        {"interpolation", "bicubic"},
                     {"antialias", true},       {"channel_order", "bgr"},    {"mean", {0.4, 0.5, 0.6}},
                     {"std", {0.2, 0.2, 0.2}}};
  auto m = manifestFromJson(j);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->resizeShorter, 256);
  EXPECT_EQ(m->resizeH, 0);
  EXPECT_EQ(m->interpolation, "bicubic");
  EXPECT_TRUE(m->antialias);
  EXPECT_EQ(m->channelOrder, "bgr");
  EXPECT_EQ(resizeSummary(*m), "shorter side 256, bicubic, antialias");
  const auto back = toJson(*m);
  EXPECT_EQ(back["preprocess"]["resize"], 256);
  auto again = manifestFromJson(back);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(toJson(*again), back);
}

TEST(Manifest, EachBadPreprocessFieldIsNamed) {
  auto expectBad = [](const nlohmann::json& pp, const std::string& text) {
    auto j = good();
    for (auto& [k, v] : pp.items()) j["preprocess"][k] = v;
    auto m = manifestFromJson(j);
    ASSERT_FALSE(m.ok()) << pp.dump();
    EXPECT_NE(m.error().message().find(text), std::string::npos) << m.error().message();
  };
  expectBad({{"resize", 0}}, "'preprocess.resize': expected a shorter side in 1..65536, or [H, W]");
  expectBad({{"resize", 2.5}}, "'preprocess.resize'");
  expectBad({{"resize", "256"}}, "'preprocess.resize'");
  expectBad({{"interpolation", "lanczos"}},
            "'preprocess.interpolation': expected \"bilinear\", \"bicubic\" or \"nearest\"");
  expectBad({{"interpolation", 2}}, "'interpolation': expected a string");
  expectBad({{"antialias", "yes"}}, "'antialias': expected true or false");
  expectBad({{"channel_order", "rbg"}}, "'preprocess.channel_order': expected \"rgb\" or \"bgr\"");
  expectBad({{"channel_order", "bgr"}}, "'preprocess.channel_order': expected \"rgb\" for a grey input");
}

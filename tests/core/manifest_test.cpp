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

TEST(Manifest, OutputSelectorsOfMultiOutputModels) {
  auto j = good();
  j["output_index"] = 0;
  auto m = manifestFromJson(j);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->outputIndex, 0);
  EXPECT_EQ(toJson(*m)["output_index"], 0);
  j = good();
  j["output_key"] = "logits";
  m = manifestFromJson(j);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->outputKey, "logits");
  EXPECT_EQ(toJson(*manifestFromJson(toJson(*m)))["output_key"], "logits");
  EXPECT_FALSE(toJson(*manifestFromJson(good())).contains("output_index")) << "absent stays absent";
  auto expectBad = [](nlohmann::json bad, const std::string& text) {
    auto r = manifestFromJson(bad);
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
  };
  j = good();
  j["output_index"] = -1;
  expectBad(j, "manifest field 'output_index': expected an element index");
  j["output_index"] = "0";
  expectBad(j, "'output_index'");
  j = good();
  j["output_key"] = "";
  expectBad(j, "manifest field 'output_key'");
  j = good();
  j["output_index"] = 1;
  j["output_key"] = "logits";
  expectBad(j, "either output_index");
}

namespace {

TransformManifestOptions rgb224() {
  TransformManifestOptions o;
  o.name = "resnet18";
  o.inputShape = {3, 224, 224};
  o.labels = {"cat", "dog", "fox"};
  return o;
}

}  // namespace

TEST(TransformManifest, TheImageNetEvaluationTransform) {
  auto m = manifestFromTransform(
      "Resize(256), CenterCrop(224), ToTensor(), Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])",
      rgb224());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->resizeShorter, 256);
  EXPECT_EQ(m->cropH, 224);
  EXPECT_EQ(m->cropW, 224);
  EXPECT_TRUE(m->antialias) << "torchvision resizes a PIL image with PIL, antialiased";
  EXPECT_EQ(m->interpolation, "bilinear");
  EXPECT_EQ(m->colour, "rgb");
  EXPECT_DOUBLE_EQ(m->scale, 1.0 / 255.0);
  EXPECT_EQ(m->mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(m->std, (std::vector<double>{0.229, 0.224, 0.225}));
  EXPECT_EQ(m->labels, (std::vector<std::string>{"cat", "dog", "fox"}));
  EXPECT_EQ(m->name, "resnet18");
}

TEST(TransformManifest, ComposePrefixesKeywordsAndOtherForms) {
  auto m = manifestFromTransform(
      "transforms.Compose([T.Resize(size=(224, 224), interpolation=InterpolationMode.BICUBIC), "
      "T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])])",
      rgb224());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->resizeShorter, 0);
  EXPECT_EQ(m->resizeH, 224);
  EXPECT_EQ(m->resizeW, 224);
  EXPECT_EQ(m->interpolation, "bicubic");
  EXPECT_DOUBLE_EQ(m->mean[0], 0.5);

  // antialias=False: torchvision's tensor path, point sampling.
  m = manifestFromTransform("Resize([224, 224], antialias=False), ToTensor()", rgb224());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_FALSE(m->antialias);
  EXPECT_EQ(m->mean, (std::vector<double>{0, 0, 0}));

  // A grey model.
  TransformManifestOptions grey = rgb224();
  grey.inputShape = {1, 28, 28};
  m = manifestFromTransform("Grayscale(), Resize((28, 28)), ToTensor(), Normalize((0.2860,), (0.3530,))", grey);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->colour, "grey");
  EXPECT_DOUBLE_EQ(m->std[0], 0.3530);

  // A crop alone: no resize.
  m = manifestFromTransform("CenterCrop(224), ToTensor()", rgb224());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->resizeH, 0);
  EXPECT_EQ(m->resizeShorter, 0);

  // The selectors and the output kind pass through.
  TransformManifestOptions multi = rgb224();
  multi.outputIndex = 0;
  multi.output = "probabilities";
  m = manifestFromTransform("Resize(256), CenterCrop(224), ToTensor()", multi);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->outputIndex, 0);
  EXPECT_EQ(m->output, "probabilities");
}

TEST(TransformManifest, WhatItCannotExpressIsOneLineNamingIt) {
  auto expectBad = [](const std::string& t, const std::string& text) {
    auto m = manifestFromTransform(t, rgb224());
    ASSERT_FALSE(m.ok()) << t;
    EXPECT_NE(m.error().message().find(text), std::string::npos) << m.error().message();
    EXPECT_EQ(m.error().message().find('\n'), std::string::npos) << m.error().message();
  };
  expectBad("RandomResizedCrop(224), ToTensor()", "'RandomResizedCrop': a training-time augmentation");
  expectBad("Resize(256), CentreCrop(224), ToTensor()", "did you mean 'CenterCrop'?");
  expectBad("Resize(256), ToTensor()", "'Resize(256)' without CenterCrop gives images of varying size");
  expectBad("Resize((256, 256)), ToTensor()", "gives images of 256x256");
  expectBad("Resize(256), CenterCrop(200), ToTensor()", "'CenterCrop': crops to 200x200: expected the input's 224x224");
  expectBad("Resize(256), CenterCrop(224), Normalize(mean=[0.5, 0.5, 0.5], std=[1, 1, 1]), ToTensor()",
            "'Normalize': expected after ToTensor()");
  expectBad("Resize(256), CenterCrop(224)", "expected ToTensor()");
  expectBad("Resize(256), CenterCrop(224), ToTensor(), Normalize(mean=[0.5], std=[0.2])",
            "manifest field 'preprocess.mean': expected 3 numbers");
  expectBad("Resize(256, interpolation=InterpolationMode.LANCZOS), CenterCrop(224), ToTensor()",
            "interpolation: expected InterpolationMode.BILINEAR, BICUBIC or NEAREST");
  expectBad("Resize(256, max_size=300), CenterCrop(224), ToTensor()", "max_size is not supported");
  expectBad("Resize(256, sise=3), CenterCrop(224), ToTensor()", "unknown argument 'sise' (did you mean 'size'?)");
  expectBad("Resize(256), CenterCrop(224), ToTensor(", "expected");
  expectBad("", "expected transforms");
  expectBad("ToTensor(), Resize(256), CenterCrop(224)", "'Resize': expected before ToTensor");
}

TEST(TransformManifest, InputShapes) {
  EXPECT_EQ(*parseInputShape("3x224x224"), (std::vector<std::int64_t>{3, 224, 224}));
  EXPECT_EQ(*parseInputShape("1X28X28"), (std::vector<std::int64_t>{1, 28, 28}));
  for (const char* bad : {"", "3x224", "3x224x224x1", "3xx224", "a x b x c", "-3x2x2"})
    EXPECT_FALSE(parseInputShape(bad).ok()) << bad;
}

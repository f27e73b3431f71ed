// The serving graph (frozen + optimize_for_inference, contiguous or
// channels-last input) makes the same decisions as the archive on the golden
// set for both reference models, and the comparison does see a difference
// when there is one.
#include <gtest/gtest.h>

#include <filesystem>

#include "FixtureModels.h"
#include "TempDir.h"
#include "runtime/Golden.h"
#include "runtime/Serving.h"

using namespace cvgate;

static const std::string kSrc = CVGATE_SOURCE_DIR;
static const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
static const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

namespace {
std::vector<Sample> golden() {
  auto ds = openIdx(kImages, kLabels);
  EXPECT_TRUE(ds.ok());
  // The default [golden] set (configs/cvgate.toml: offset 0, count 64).
  auto s = goldenSamples(**ds, GoldenConfig{});
  EXPECT_TRUE(s.ok());
  return s.ok() ? *s : std::vector<Sample>{};
}
}  // namespace

class ServingGraph : public ::testing::TestWithParam<std::string> {};

TEST_P(ServingGraph, DecisionsEqualTheArchivesOnTheGoldenSet) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto model = Model::load(kSrc + "/models/" + GetParam() + ".pt");
  ASSERT_TRUE(model.ok()) << model.error().message();
  const auto samples = golden();
  ASSERT_EQ(samples.size(), 64u);
  ASSERT_TRUE(servingTransformed(**model)) << servingNote(**model);
  const Model& serving = servingModel(**model);
  EXPECT_NE(&serving, model->get());
  EXPECT_NE(servingNote(**model).find("freeze"), std::string::npos);
  for (double threshold : {0.5, 0.7, 0.9}) {
    const ServingParity p = compareServing(**model, serving, samples, 16, threshold);
    EXPECT_EQ(p.n, 64u);
    EXPECT_EQ(p.top1Differ, 0u) << threshold;
    EXPECT_EQ(p.decisionDiffer, 0u) << threshold;
    EXPECT_LT(p.maxProbDiff, 1e-4);
  }
  auto cl = makeServingModel(**model, true);
  ASSERT_TRUE(cl.ok()) << cl.error().message();
  const ServingParity q = compareServing(**model, **cl, samples, 16, 0.5);
  EXPECT_EQ(q.decisionDiffer, 0u);
  EXPECT_LT(q.maxProbDiff, 1e-4);
  // The plan runs one of the two graphs and says which, with its timings.
  std::vector<const Image*> imgs;
  for (const auto& s : samples) imgs.push_back(&s.image);
  const ServingPlan plan = planServing(**model, imgs, 32);
  ASSERT_NE(plan.model, nullptr);
  EXPECT_TRUE(plan.serving);
  // One grey channel: channels-last is the same layout, not timed.
  EXPECT_EQ(plan.layout, "contiguous");
  EXPECT_EQ(plan.calibrationImages, 0);
  EXPECT_NE(plan.note.find("one channel"), std::string::npos) << plan.note;
  EXPECT_EQ(compareServing(**model, *plan.model, samples, 16, 0.5).decisionDiffer, 0u);
}

INSTANTIATE_TEST_SUITE_P(Shipped, ServingGraph, ::testing::Values("fashion-mlp-v1", "fashion-cnn-v2"));

TEST(ServingGraph, ADifferentGraphsDecisionsAreCountedAndNamed) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto v1 = Model::load(kSrc + "/models/fashion-mlp-v1.pt");
  auto v2 = Model::load(kSrc + "/models/fashion-cnn-v2.pt");
  ASSERT_TRUE(v1.ok() && v2.ok());
  const auto samples = golden();
  const ServingParity p = compareServing(**v1, servingModel(**v2), samples, 16, 0.5);
  EXPECT_GT(p.decisionDiffer, 0u);
  EXPECT_GT(p.maxProbDiff, 1e-3);
  EXPECT_EQ(p.differing.size(), std::min<std::size_t>(p.decisionDiffer, 20));
  const auto j = toJson(p);
  EXPECT_EQ(j["decisions_differ"], p.decisionDiffer);
  EXPECT_EQ(j["samples"], 64);
}

TEST(ServingGraph, AThreeChannelModelsLayoutIsTimedAndTheFasterKept) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  cvgate::testing::TempDir t;
  cvgate::testing::FixtureSpec spec;
  spec.channels = 3;
  spec.height = spec.width = 32;
  ASSERT_TRUE(cvgate::testing::writeFixtureModel(spec, t.file("rgb.pt")).ok());
  auto model = Model::load(t.file("rgb.pt"));
  ASSERT_TRUE(model.ok()) << model.error().message();
  const auto samples = golden();
  std::vector<const Image*> imgs;
  for (const auto& s : samples) imgs.push_back(&s.image);
  const ServingPlan plan = planServing(**model, imgs, 16);
  ASSERT_NE(plan.model, nullptr);
  EXPECT_EQ(plan.calibrationImages, 16);
  EXPECT_GT(plan.contiguousMs, 0);
  EXPECT_GT(plan.channelsLastMs, 0);
  EXPECT_EQ(plan.layout == "channels-last", plan.channelsLastMs < 0.95 * plan.contiguousMs) << plan.note;
  EXPECT_EQ(toJson(plan)["calibration"]["images"], 16);
  const ServingParity p = compareServing(**model, *plan.model, samples, 16, 0.5);
  EXPECT_EQ(p.decisionDiffer, 0u);
  EXPECT_LT(p.maxProbDiff, 1e-4);
}

// The chosen graph is run on full batches of the evaluation's size before it
// (the calibration images over again when there are fewer) until its calls
// settle (three calls in a row not 10 % faster than the fastest before them):
// at least kWarmupMinCalls, at most kWarmupMaxCalls, reported as timing. With no
// images there is nothing to warm up on.
TEST(ServingGraph, TheGraphIsWarmedUpAtTheEvaluationsBatchSizeUntilItSettles) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto model = Model::load(kSrc + "/models/fashion-mlp-v1.pt");
  ASSERT_TRUE(model.ok()) << model.error().message();
  const auto samples = golden();
  std::vector<const Image*> five;
  for (std::size_t i = 0; i < 5; ++i) five.push_back(&samples[i].image);
  ServingPlan plan = planServing(**model, five, 256);
  EXPECT_EQ(plan.warmupCalls, 0) << "planning warms nothing up";
  warmUp(plan, five, 10000);
  EXPECT_GE(plan.warmupCalls, kWarmupMinCalls);
  EXPECT_LT(plan.warmupCalls - 2, kWarmupMaxCalls) << "V1 settles before the limit (two calls at the tail)";
  EXPECT_GT(plan.warmupMs, 0);
  EXPECT_GT(plan.warmupLastMs, 0);
  EXPECT_LE(plan.warmupLastMs, plan.warmupMs);
  const auto j = toJson(plan)["warmup"];
  EXPECT_EQ(j["batch_size"], 256);
  // 10,000 images end with a batch of 16: a shape of its own, warmed up too.
  EXPECT_EQ(j["tail_batch_size"], 10000 % 256);
  EXPECT_GE(plan.warmupCalls, kWarmupMinCalls + 2);
  EXPECT_EQ(j["calls"], plan.warmupCalls);
  ServingPlan none = planServing(**model, {}, 256);
  warmUp(none, {}, 10000);
  EXPECT_EQ(none.warmupCalls, 0);
  EXPECT_EQ(toJson(none)["warmup"]["calls"], 0);
  // An evaluation smaller than a batch runs one batch of its own size: the
  // warm-up runs that size, not a full batch of images it will never see.
  ServingPlan small = planServing(**model, five, 256);
  warmUp(small, five, 33);
  EXPECT_EQ(toJson(small)["warmup"]["batch_size"], 33);
  EXPECT_EQ(toJson(small)["warmup"]["tail_batch_size"], 0);
  EXPECT_GE(small.warmupCalls, 1);
}

// A slow model is not warmed up for long: no call begins after 1 s of it.
TEST(ServingGraph, TheWarmUpBeginsNoCallAfterOneSecond) {
  cvgate::testing::TempDir t;
  cvgate::testing::FixtureSpec spec;
  spec.behaviour = "slow";  // a loop in the graph: most of a second a call here
  spec.slowIterations = 8000000;
  ASSERT_TRUE(cvgate::testing::writeFixtureModel(spec, t.file("slow.pt")).ok());
  auto model = Model::load(t.file("slow.pt"));
  ASSERT_TRUE(model.ok()) << model.error().message();
  Image img;
  img.height = img.width = 28;
  img.channels = 1;
  img.pixels.assign(28 * 28, 7);
  ServingPlan plan = planServing(**model, {&img}, 4);
  warmUp(plan, {&img}, 1000);
  ASSERT_GE(plan.warmupCalls, 1);
  EXPECT_LT(plan.warmupMs - plan.warmupLastMs, 1000) << "a call began after 1 s of warm-up";
}

// The shipped reference models: they load with their embedded manifests,
// PyTorch's torch.jit.load gives the same outputs as libtorch, and V2 is
// genuinely better than V1 on the Fashion-MNIST test set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "TempDir.h"
#include "runtime/Golden.h"

using namespace cvgate;

static const std::string kSrc = CVGATE_SOURCE_DIR;
static const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
static const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

class ReferenceModels : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceModels, LoadInPyTorchWithTheSameOutputs) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 absent";
  auto model = Model::load(kSrc + "/models/" + GetParam() + ".pt");
  ASSERT_TRUE(model.ok()) << model.error().message();
  EXPECT_EQ((*model)->manifest().name, GetParam());
  EXPECT_EQ((*model)->manifest().labels.size(), 10u);
  auto ds = openIdx(kImages, kLabels);
  ASSERT_TRUE(ds.ok());
  auto samples = goldenSamples(**ds, GoldenConfig{0, 64, 1e-4});
  ASSERT_TRUE(samples.ok());
  auto golden = recordGolden(**model, *samples, 16);
  cvgate::testing::TempDir t;
  std::ofstream(t.file("golden.json")) << toJson(golden).dump();
  std::string cmd = "/usr/bin/python3 " + kSrc + "/tests/runtime/pytorch_compat.py " + kSrc + "/models/" +
                    GetParam() + ".pt " + t.file("golden.json") + " " + kImages;
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
}

INSTANTIATE_TEST_SUITE_P(Shipped, ReferenceModels,
                         ::testing::Values("fashion-mlp-v1", "fashion-cnn-v2"));

TEST(ReferenceModels, CandidateIsMoreAccurateThanBaselineOnTheTestSet) {
  if (!std::filesystem::exists(kImages)) GTEST_SKIP() << "Fashion-MNIST not installed";
  auto ds = openIdx(kImages, kLabels);
  ASSERT_TRUE(ds.ok());
  std::vector<Sample> all;
  for (std::size_t i = 0; i < (*ds)->size(); ++i) all.push_back(*(*ds)->get(i));
  std::vector<const Image*> imgs;
  for (auto& s : all) imgs.push_back(&s.image);
  double acc[2];
  int k = 0;
  for (const char* name : {"fashion-mlp-v1", "fashion-cnn-v2"}) {
    auto m = Model::load(kSrc + "/models/" + name + ".pt");
    ASSERT_TRUE(m.ok());
    auto preds = runPipeline(**m, imgs, 256);
    std::size_t right = 0;
    for (std::size_t i = 0; i < all.size(); ++i) right += preds[i].ok && preds[i].top1 == all[i].label;
    acc[k] = static_cast<double>(right) / static_cast<double>(all.size());
    // The accuracy recorded in the manifest at training time is reproduced.
    EXPECT_NEAR(acc[k], (*m)->manifest().training["test_accuracy"].get<double>(), 1e-3) << name;
    ++k;
  }
  EXPECT_GT(acc[1], acc[0] + 0.03);
}

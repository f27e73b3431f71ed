// FLOPs per image read from the TorchScript graph match an independent count
// (PyTorch running the model under a dispatch mode, tests/runtime/
// flops_reference.py) for V1, V2 and a ResNet-18 scripted from torchvision
// at test time, and hand arithmetic for V1 and V2.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "TempDir.h"
#include "runtime/Roofline.h"

using namespace cvgate;

static const std::string kSrc = CVGATE_SOURCE_DIR;

namespace {
/// stdout of a command, first line, as a number; NaN when it failed.
double pythonCount(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + kSrc + "/tests/runtime/flops_reference.py " + args;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return std::nan("");
  char buf[128] = {0};
  if (!fgets(buf, sizeof buf, p.get())) return std::nan("");
  return std::atof(buf);
}

bool havePythonTorch() {
  return std::system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") == 0;
}
}  // namespace

TEST(Flops, ReferenceModelsMatchHandArithmeticAndPyTorch) {
  // V1: 784 -> 32 -> 10; V2: conv 1->16 3x3 at 28x28, conv 16->32 3x3 at
  // 14x14, 1568 -> 64 -> 10.
  const double hand[] = {2.0 * (784 * 32 + 32 * 10),
                         2.0 * (16 * 28 * 28 * 9 + 32 * 14 * 14 * 16 * 9 + 1568 * 64 + 64 * 10)};
  int k = 0;
  for (const char* name : {"fashion-mlp-v1", "fashion-cnn-v2"}) {
    const std::string path = kSrc + "/models/" + name + ".pt";
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.error().message();
    auto f = countFlops(**m);
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_TRUE(f->complete) << name;
    EXPECT_EQ(f->perImage, hand[k++]) << name;
    if (havePythonTorch()) {
      EXPECT_EQ(f->perImage, pythonCount(path + " 1 28 28")) << name;
    }
  }
}

TEST(Flops, ResNet18MatchesPyTorch) {
  if (!havePythonTorch()) GTEST_SKIP() << "python3-torch / python3-torchvision absent";
  cvgate::testing::TempDir t;
  const double ref = pythonCount("--resnet18 " + t.file("resnet18.pt"));
  ASSERT_GT(ref, 3.5e9);  // 1.8 GMACs of ResNet-18 (10 classes)
  auto m = Model::load(t.file("resnet18.pt"));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto f = countFlops(**m);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_TRUE(f->complete);
  EXPECT_EQ(f->perImage, ref);
  EXPECT_EQ(f->nodes, 21u);  // 20 convolutions (3 of them 1x1 downsamples) and the classifier
}

TEST(Roofline, FractionOfTheGemmRate) {
  const Roofline r{50.0, 2};
  EXPECT_DOUBLE_EQ(r.gflops(), 100.0);
  EXPECT_DOUBLE_EQ(r.imagesPerS(2e9), 50.0);
  EXPECT_DOUBLE_EQ(r.fraction(25.0, 2e9), 0.5);
  EXPECT_TRUE(std::isnan(r.fraction(25.0, 0)));
  const auto j = rooflineJson(r, 2e9, 25.0);
  EXPECT_EQ(j["roofline_fraction"], 0.5);
  EXPECT_EQ(j["achieved_gflops"], 50.0);
}

// The roofline counts the cores the process may run on: under an allocation
// of one CPU (Slurm, taskset) a plan of 2 x 2 threads keeps one core busy.
TEST(Roofline, CountsOnlyTheCpusTheProcessMayRunOn) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &before)) first = c;
  ASSERT_GE(first, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const int underOne = coresUsed(2, 2);
  ASSERT_EQ(sched_setaffinity(0, sizeof before, &before), 0);
  EXPECT_EQ(underOne, 1);
  EXPECT_EQ(coresUsed(1, 1), 1);
  EXPECT_EQ(coresUsed(2, 2), std::min(4, CPU_COUNT(&before)));
}

// The roofline's GEMM rate is the best of its windows, and the report says
// how far the others fell below it.
TEST(Roofline, TheGemmRateIsTheBestOfItsWindows) {
  const GemmResult g = gemmBench(64, 0.2, 4);
  EXPECT_EQ(g.windows, 4);
  EXPECT_GE(g.iterations, 4);
  EXPECT_GE(g.seconds, 0.2);
  EXPECT_GT(g.gflopsMin, 0.0);
  EXPECT_LE(g.gflopsMin, g.gflopsMedian);
  EXPECT_LE(g.gflopsMedian, g.gflops);
  // The best window beats the whole run's average unless every window ran
  // at the same rate.
  const double average = 2.0 * 64 * 64 * 64 * static_cast<double>(g.iterations) / g.seconds / 1e9;
  EXPECT_GE(g.gflops, average * (1 - 1e-9));
  const auto j = toJson(g);
  EXPECT_EQ(j["windows"], 4);
  EXPECT_EQ(j["gflops_best"], g.gflops);
  EXPECT_EQ(j["gflops_median"], g.gflopsMedian);
  EXPECT_EQ(j["gflops_min"], g.gflopsMin);
}

// The roofline is the fastest GEMM engine this libtorch has, not the BLAS
// alone: every engine is measured in its own windows, and the report's
// figures are those of the engine with the best window.
TEST(Roofline, TheGemmRateIsTheFastestEngines) {
  const GemmResult g = gemmBench(64, 0.2, 3);
  ASSERT_FALSE(g.engines.empty());
  EXPECT_EQ(g.engines.front().name, "blas");
  EXPECT_EQ(g.engines.size(), hasOneDnn() ? 2u : 1u);
  if (g.engines.size() == 2) {
    EXPECT_EQ(g.engines[1].name, "onednn");
  }
  double best = 0;
  std::int64_t iterations = 0;
  for (const auto& e : g.engines) {
    EXPECT_GE(e.iterations, 3) << e.name;  // at least one call a window
    EXPECT_GT(e.gflopsMin, 0.0) << e.name;
    EXPECT_LE(e.gflopsMin, e.gflopsMedian) << e.name;
    EXPECT_LE(e.gflopsMedian, e.gflops) << e.name;
    best = std::max(best, e.gflops);
    iterations += e.iterations;
    if (e.name == g.engine) {
      EXPECT_EQ(g.gflopsMedian, e.gflopsMedian);
      EXPECT_EQ(g.gflopsMin, e.gflopsMin);
    }
  }
  EXPECT_EQ(g.gflops, best);
  EXPECT_EQ(g.iterations, iterations);
  const auto j = toJson(g);
  EXPECT_EQ(j["engine"], g.engine);
  ASSERT_EQ(j["engines"].size(), g.engines.size());
  for (const auto& e : g.engines) EXPECT_EQ(j["engines"][e.name]["gflops_best"], e.gflops);
}

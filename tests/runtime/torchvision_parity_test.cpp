// cvgate decodes and preprocesses real photographs as PyTorch + torchvision do:
// on 33 photos (sizes 60x40 to 640x427, aspects 4:1 to 1:3, every EXIF
// orientation, grey/palette/tRNS/RGBA/LA/1-bit/16-bit PNGs, baseline,
// progressive and 4:4:4 JPEGs), under each manifest of torchvision_parity.py,
// every element of cvgate's normalised tensor is within 1/255 of torchvision's,
// and a ResNet-18 (random weights, fixed seed, scripted by PyTorch) gives the
// same top-1 in cvgate as in PyTorch on every photo.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "TempDir.h"
#include "ToolRun.h"
#include "common/Fs.h"
#include "runtime/Runtime.h"

using namespace cvgate;

namespace {

const std::string kSrc = CVGATE_SOURCE_DIR;
const std::string kPhotos = kSrc + "/tests/fixtures/photos";

/// The largest |a - b| over n floats, and where it is.
std::pair<double, std::size_t> maxAbsDiff(const float* a, const float* b, std::size_t n) {
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (d > worst) worst = d, at = i;
  }
  return {worst, at};
}

}  // namespace

class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, TensorsWithinOneLevelAndTheSameTop1) {
  if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 absent";
  cvgate::testing::TempDir t;
  const std::string cmd = "/usr/bin/python3 " + kSrc + "/tests/runtime/torchvision_parity.py " + GetParam() +
                          " " + kPhotos + " " + t.path();
  auto py = cvgate::testing::runCommand(cmd, t.path());
  ASSERT_EQ(py.code, 0) << cmd << "\n" << py.err;
  const auto ref = nlohmann::json::parse(cvgate::testing::slurp(t.file("reference.json")));
  const std::string floats = cvgate::testing::slurp(t.file("inputs.f32"));

  auto model = Model::load(t.file("model.pt"));
  ASSERT_TRUE(model.ok()) << model.error().message();
  const Manifest& m = (*model)->manifest();
  const std::size_t n = m.inputSize();
  const auto files = ref["files"].get<std::vector<std::string>>();
  ASSERT_GE(files.size(), 20u);
  ASSERT_EQ(floats.size(), files.size() * n * sizeof(float));
  ASSERT_EQ(ref["shape"].get<std::vector<std::int64_t>>(), m.inputShape);

  Manifest pointSampled = m;  // the same manifest without antialiasing, for contrast
  pointSampled.antialias = false;
  double worst = 0, contrast = 0;
  std::size_t contrasted = 0;  // photos the point-sampled resize can do (a crop beyond the image it cannot)
  std::string worstFile;
  std::vector<Image> images;
  std::vector<float> mine(n), other(n);
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto bytes = readFile(kPhotos + "/" + files[i]);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message();
    auto img = decodeImage(*bytes, files[i]);
    ASSERT_TRUE(img.ok()) << img.error().message();
    auto st = preprocess(m, *img, mine.data());
    ASSERT_TRUE(st.ok()) << files[i] << ": " << st.error().message();
    const float* theirs = reinterpret_cast<const float*>(floats.data()) + i * n;
    auto [d, at] = maxAbsDiff(mine.data(), theirs, n);
    EXPECT_LE(d, 1.0 / 255) << files[i] << ": element " << at << " is " << mine[at] << ", torchvision's "
                            << theirs[at];
    if (d >= worst) worst = d, worstFile = files[i];
    if (m.antialias && preprocess(pointSampled, *img, other.data()).ok()) {
      contrast = std::max(contrast, maxAbsDiff(other.data(), theirs, n).first);
      ++contrasted;
    }
    images.push_back(std::move(*img));
  }

  std::vector<const Image*> ptrs;
  for (const auto& img : images) ptrs.push_back(&img);
  auto preds = runPipeline(**model, ptrs, 8);
  const auto top1 = ref["top1"].get<std::vector<int>>();
  std::size_t agree = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(preds[i].ok) << files[i] << ": " << preds[i].error;
    EXPECT_EQ(preds[i].top1, top1[i]) << files[i];
    agree += preds[i].top1 == top1[i];
  }
  // Not one class for every photo: the top-1 depends on the pixels.
  const std::size_t classes = std::set<int>(top1.begin(), top1.end()).size();
  EXPECT_GE(classes, 3u);

  // The figures, one line per manifest; a pixel level is std / scale of a unit.
  const double level = m.scale / *std::min_element(m.std.begin(), m.std.end());
  std::printf("[parity] %s: %zu photos, max abs diff %.3g (%.3g of a pixel level, worst %s), top-1 agreement "
              "%zu/%zu (%zu classes)",
              GetParam().c_str(), files.size(), worst, worst / level, worstFile.c_str(), agree, files.size(),
              classes);
  if (contrasted) std::printf("; without antialias the max diff would be %.3g", contrast);
  std::printf("\n");
  // The comparison tells the two resizes apart: it is not blind to resampling.
  if (contrasted) {
    EXPECT_GT(contrast, 1.0 / 255);
  }
}

INSTANTIATE_TEST_SUITE_P(Photos, TorchvisionParity,
                         ::testing::Values("shorter256_crop224_bilinear", "shorter256_crop224_bicubic",
                                           "shorter256_crop224_nearest", "resize224x224_bilinear",
                                           "shorter200_crop224_bgr", "grey_shorter72_crop64",
                                           "pointsampled_resize224x224_bilinear",
                                           "pointsampled_resize240x240_crop224_bicubic",
                                           "pointsampled_resize224x224_nearest"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// The pipeline runtime: manifest loading (embedded and sidecar), known
// outputs for known inputs, integrity refusal, per-request failures.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "FixtureModels.h"
#include "TempDir.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "runtime/Golden.h"
#include "runtime/Runtime.h"

using namespace cvgate;
using namespace cvgate::testing;

static Image constantImage(int h, int w, int c, std::uint8_t v) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.assign(static_cast<std::size_t>(h * w * c), v);
  return img;
}

static std::shared_ptr<Model> loadFixture(const TempDir& t, FixtureSpec spec, const std::string& file = "m.pt") {
  auto st = writeFixtureModel(spec, t.file(file));
  EXPECT_TRUE(st.ok()) << st.error().message();
  auto m = Model::load(t.file(file));
  EXPECT_TRUE(m.ok()) << m.error().message();
  return m.ok() ? *m : nullptr;
}

TEST(Runtime, EmbeddedManifestIsRead) {
  TempDir t;
  FixtureSpec s;
  s.name = "embedded-one";
  auto m = loadFixture(t, s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->manifest().name, "embedded-one");
  EXPECT_EQ(m->manifestSource(), "embedded");
  EXPECT_EQ(m->sha256(), *sha256File(t.file("m.pt")));
  auto methods = m->methods();
  EXPECT_NE(std::find(methods.begin(), methods.end(), "forward"), methods.end());
}

TEST(Runtime, SidecarManifestIsRead) {
  TempDir t;
  FixtureSpec s;
  s.name = "sidecar-one";
  s.embedManifest = false;
  auto m = loadFixture(t, s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->manifest().name, "sidecar-one");
  EXPECT_EQ(m->manifestSource(), t.file("m.manifest.json"));
}

TEST(Runtime, MissingManifestIsAClearError) {
  TempDir t;
  FixtureSpec s;
  s.embedManifest = false;
  ASSERT_TRUE(writeFixtureModel(s, t.file("m.pt")).ok());
  std::filesystem::remove(t.file("m.manifest.json"));
  auto m = Model::load(t.file("m.pt"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("no manifest"), std::string::npos) << m.error().message();
}

TEST(Runtime, TamperedModelIsRefusedBySha256) {
  TempDir t;
  FixtureSpec s;
  ASSERT_TRUE(writeFixtureModel(s, t.file("m.pt")).ok());
  std::string sha = *sha256File(t.file("m.pt"));
  EXPECT_TRUE(Model::load(t.file("m.pt"), sha).ok());
  std::string bytes = *readFile(t.file("m.pt"));
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(t.file("m.pt"), std::ios::binary) << bytes;
  auto m = Model::load(t.file("m.pt"), sha);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("does not match"), std::string::npos) << m.error().message();
}

TEST(Runtime, CorruptArchiveIsAClearError) {
  TempDir t;
  std::ofstream(t.file("junk.pt")) << "this is not a zip archive";
  auto m = Model::load(t.file("junk.pt"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("not a loadable TorchScript archive"), std::string::npos);
}

TEST(Runtime, PreprocessNormalisesKnownPixels) {
  FixtureSpec s;
  s.height = 2;
  s.width = 2;
  Manifest m = fixtureManifest(s);  // mean 0.5, std 0.25
  Image img = constantImage(2, 2, 1, 0);
  img.pixels = {0, 255, 51, 204};
  float out[4];
  ASSERT_TRUE(preprocess(m, img, out).ok());
  EXPECT_FLOAT_EQ(out[0], -2.0f);
  EXPECT_FLOAT_EQ(out[1], 2.0f);
  EXPECT_NEAR(out[2], (0.2f - 0.5f) / 0.25f, 1e-6);
  EXPECT_NEAR(out[3], (0.8f - 0.5f) / 0.25f, 1e-6);
}

TEST(Runtime, PreprocessResizesAndConvertsColour) {
  FixtureSpec s;
  s.height = 2;
  s.width = 2;
  s.mean = 0;
  s.stdv = 1;
  Manifest m = fixtureManifest(s);
  Image rgb = constantImage(4, 4, 3, 0);
  for (std::size_t i = 0; i < rgb.pixels.size(); i += 3) rgb.pixels[i] = 255;  // pure red
  float out[4];
  ASSERT_TRUE(preprocess(m, rgb, out).ok());
  for (float v : out) EXPECT_NEAR(v, 0.299f, 1e-5);  // ITU-R 601 luma of red
}

/// A 1 x h x w manifest with no normalisation (outputs are pixel values).
static Manifest rawManifest(int c, int h, int w) {
  FixtureSpec s;
  s.channels = c;
  s.height = h;
  s.width = w;
  s.mean = 0;
  s.stdv = 1;
  Manifest m = fixtureManifest(s);
  m.scale = 1;
  return m;
}

TEST(Runtime, AntialiasedPathConvertsColourWithPillowsIntegerLuma) {
  Manifest m = rawManifest(1, 2, 2);
  m.antialias = true;
  Image rgb = constantImage(4, 4, 3, 0);
  for (std::size_t i = 0; i < rgb.pixels.size(); i += 3) rgb.pixels[i] = 255;  // pure red
  float out[4];
  ASSERT_TRUE(preprocess(m, rgb, out).ok());
  for (float v : out) EXPECT_EQ(v, 76.f);  // (255 * 19595 + 0x8000) >> 16, not 0.299 * 255
}

TEST(Runtime, CentreCropRoundsAsTorchvisionWhenAntialiased) {
  // One row 0, 10, ..., 60 cropped to 4 columns without a resize: torchvision
  // starts at round(1.5) = 2; cvgate's original point sampling at floor = 1.
  Manifest m = rawManifest(1, 1, 4);
  m.resizeH = m.resizeW = 0;
  m.cropH = 1;
  m.cropW = 4;
  Image row = constantImage(1, 7, 1, 0);
  for (int x = 0; x < 7; ++x) row.pixels[static_cast<std::size_t>(x)] = static_cast<std::uint8_t>(10 * x);
  float out[4];
  m.antialias = true;
  ASSERT_TRUE(preprocess(m, row, out).ok());
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{20, 30, 40, 50}));
  m.antialias = false;
  ASSERT_TRUE(preprocess(m, row, out).ok());
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{10, 20, 30, 40}));
}

TEST(Runtime, CropLargerThanTheImagePadsWithZeros) {
  Manifest m = rawManifest(1, 1, 5);
  m.resizeH = m.resizeW = 0;
  m.cropH = 1;
  m.cropW = 5;
  m.antialias = true;
  Image two = constantImage(1, 2, 1, 200);
  float out[5];
  ASSERT_TRUE(preprocess(m, two, out).ok());  // pads (5 - 2) // 2 = 1 before, 2 after
  EXPECT_EQ(std::vector<float>(out, out + 5), (std::vector<float>{0, 200, 200, 0, 0}));
  m.antialias = false;  // the original resize refuses it
  EXPECT_FALSE(preprocess(m, two, out).ok());
}

TEST(Runtime, ShorterSideResizeKeepsTheAspectRatio) {
  // 3 high, 6 wide, shorter side to 2: 2 x int(2 * 6 / 3) = 2 x 4;
  // nearest picks source columns 0, 2, 3, 5 (PIL: (x + 0.5) * 1.5) and rows 0, 2.
  Manifest m = rawManifest(1, 2, 4);
  m.resizeH = m.resizeW = 0;
  m.resizeShorter = 2;
  m.interpolation = "nearest";
  m.antialias = true;
  Image img = constantImage(3, 6, 1, 0);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x) img.pixels[static_cast<std::size_t>(y * 6 + x)] = static_cast<std::uint8_t>(10 * y + x);
  float out[8];
  ASSERT_TRUE(preprocess(m, img, out).ok());
  EXPECT_EQ(std::vector<float>(out, out + 8), (std::vector<float>{0, 2, 3, 5, 20, 22, 23, 25}));
}

TEST(Runtime, BgrReversesThePlanes) {
  Manifest m = rawManifest(3, 1, 1);
  m.channelOrder = "bgr";
  Image px = constantImage(1, 1, 3, 0);
  px.pixels = {1, 2, 3};
  for (bool antialias : {false, true}) {
    m.antialias = antialias;
    float out[3];
    ASSERT_TRUE(preprocess(m, px, out).ok());
    EXPECT_EQ(std::vector<float>(out, out + 3), (std::vector<float>{3, 2, 1})) << antialias;
  }
}

// An input that is the image's own pixels (a centre crop at most) takes a
// per-row path of its own: the same floats as the formula, channel by channel,
// the planes reversed for bgr.
TEST(Runtime, AnUnresizedInputIsTheNormalisedPixelsOfItsCrop) {
  Manifest m = rawManifest(3, 3, 5);
  m.resizeH = m.resizeW = 0;
  m.cropH = 3;
  m.cropW = 5;
  m.antialias = false;
  m.channelOrder = "bgr";
  m.scale = 1.0 / 255;
  m.mean = {0.485, 0.456, 0.406};
  m.std = {0.229, 0.224, 0.225};
  Image img = constantImage(6, 8, 3, 0);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  std::vector<float> out(3 * 3 * 5);
  ASSERT_TRUE(preprocess(m, img, out.data()).ok());
  const int offY = (6 - 3) / 2, offX = (8 - 5) / 2;  // floor, as the point-sampled path crops
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 5; ++x) {
        const int sc = 2 - c;
        const float v = img.pixels[static_cast<std::size_t>(((y + offY) * 8 + (x + offX)) * 3 + sc)];
        const float want = (v * static_cast<float>(m.scale) - static_cast<float>(m.mean[c])) *
                           (1.f / static_cast<float>(m.std[c]));
        EXPECT_EQ(out[static_cast<std::size_t>((c * 3 + y) * 5 + x)], want) << c << " " << y << " " << x;
      }
}

TEST(Runtime, KnownOutputsForKnownInputs) {
  TempDir t;
  FixtureSpec s;
  s.behaviour = "scaled-mean";  // logits_k = (k+1) * mean(x)
  s.labels = {"a", "b", "c"};
  auto m = loadFixture(t, s);
  ASSERT_TRUE(m);
  Image img = constantImage(28, 28, 1, 204);  // x = (0.8 - 0.5) / 0.25 = 1.2
  auto preds = runPipeline(*m, {&img, &img}, 2);
  ASSERT_EQ(preds.size(), 2u);
  ASSERT_TRUE(preds[0].ok) << preds[0].error;
  double z = (204.0 / 255.0 - 0.5) / 0.25;
  double e1 = std::exp(1 * z), e2 = std::exp(2 * z), e3 = std::exp(3 * z);
  EXPECT_NEAR(preds[0].probs[2], e3 / (e1 + e2 + e3), 1e-5);
  EXPECT_NEAR(preds[0].probs[0], e1 / (e1 + e2 + e3), 1e-5);
  EXPECT_EQ(preds[0].top1, 2);
  EXPECT_FLOAT_EQ(preds[0].confidence, preds[0].probs[2]);
  EXPECT_EQ(preds[1].probs, preds[0].probs);
}

TEST(Runtime, BatchedEqualsSingle) {
  TempDir t;
  FixtureSpec s;
  auto m = loadFixture(t, s);
  ASSERT_TRUE(m);
  std::vector<Image> imgs;
  for (int i = 0; i < 5; ++i) imgs.push_back(constantImage(28, 28, 1, static_cast<std::uint8_t>(40 * i)));
  std::vector<const Image*> ptrs;
  for (auto& i : imgs) ptrs.push_back(&i);
  auto batched = runPipeline(*m, ptrs, 4);
  for (std::size_t i = 0; i < imgs.size(); ++i) {
    auto single = runPipeline(*m, {ptrs[i]}, 1);
    ASSERT_TRUE(single[0].ok);
    EXPECT_EQ(single[0].top1, batched[i].top1);
    for (std::size_t k = 0; k < single[0].probs.size(); ++k)
      EXPECT_NEAR(single[0].probs[k], batched[i].probs[k], 1e-6);
  }
}

TEST(Runtime, FailuresAreErrorsOfTheRequestNotCrashes) {
  TempDir t;
  Image img = constantImage(28, 28, 1, 100);
  for (auto [behaviour, expect] : std::vector<std::pair<std::string, std::string>>{
           {"nan", "non-finite output"}, {"throw", "exception"}, {"wrong-shape", "wrong output shape"}}) {
    FixtureSpec s;
    s.behaviour = behaviour;
    auto m = loadFixture(t, s, behaviour + ".pt");
    ASSERT_TRUE(m);
    auto preds = runPipeline(*m, {&img, &img}, 2);
    ASSERT_EQ(preds.size(), 2u);
    EXPECT_FALSE(preds[0].ok) << behaviour;
    EXPECT_NE(preds[0].error.find(expect), std::string::npos) << behaviour << ": " << preds[0].error;
  }
}

// A batch packs the inputs that preprocess, one after another, for the model
// to read in place: with failures among them, every other request gets the
// answer it gets alone.
TEST(Runtime, ABatchWithFailedInputsAnswersEveryOtherRequestAsAlone) {
  TempDir t;
  FixtureSpec s;
  auto m = loadFixture(t, s);
  ASSERT_TRUE(m);
  std::vector<Image> imgs;
  for (int i = 0; i < 11; ++i) {
    Image img = constantImage(28, 28, 1, 0);
    for (std::size_t k = 0; k < img.pixels.size(); ++k)
      img.pixels[k] = static_cast<std::uint8_t>((k * (7 + 3 * static_cast<std::size_t>(i)) + 5 * i) % 256);
    imgs.push_back(std::move(img));
  }
  imgs[0] = Image{};  // fails first in its batch
  imgs[3] = Image{};  // in the middle
  imgs[7] = Image{};  // last of the first batch of 8
  std::vector<const Image*> ptrs;
  for (auto& i : imgs) ptrs.push_back(&i);
  auto batched = runPipeline(*m, ptrs, 8);
  ASSERT_EQ(batched.size(), imgs.size());
  for (std::size_t i = 0; i < imgs.size(); ++i) {
    if (i == 0 || i == 3 || i == 7) {
      EXPECT_FALSE(batched[i].ok) << i;
      continue;
    }
    auto alone = runPipeline(*m, {ptrs[i]}, 1);
    ASSERT_TRUE(alone[0].ok && batched[i].ok) << i;
    EXPECT_EQ(alone[0].top1, batched[i].top1) << i;
    for (std::size_t k = 0; k < alone[0].probs.size(); ++k) EXPECT_NEAR(alone[0].probs[k], batched[i].probs[k], 1e-6) << i;
  }
}

// The model reads its inputs where preprocess wrote them, with no copy: a
// model that keeps a reference to its input keeps that memory alive. One that
// answers for the previous call's input gets, a call later, the answer a
// plain linear model gives for it (freed memory would be read otherwise:
// AddressSanitizer's heap-use-after-free in the instrumented build).
TEST(Runtime, AModelThatKeepsItsInputReadsItIntactOnTheNextCall) {
  TempDir t;
  FixtureSpec keep;
  keep.behaviour = "remember";
  auto remember = loadFixture(t, keep, "remember.pt");
  auto linear = loadFixture(t, FixtureSpec{}, "linear.pt");  // same seed: the same weights
  ASSERT_TRUE(remember && linear);
  Image a = constantImage(28, 28, 1, 0), b = constantImage(28, 28, 1, 0);
  for (std::size_t k = 0; k < a.pixels.size(); ++k) {
    a.pixels[k] = static_cast<std::uint8_t>(k % 251);
    b.pixels[k] = static_cast<std::uint8_t>(255 - k % 97);
  }
  (void)runPipeline(*remember, {&a, &a}, 2);  // keeps the batch holding a, a
  std::vector<float> scratch(2 * 28 * 28, 1.f);  // the size of that batch: freed memory would be reused here
  const auto later = runPipeline(*remember, {&b, &b}, 2);
  const auto want = runPipeline(*linear, {&a}, 1);
  ASSERT_TRUE(later[0].ok && want[0].ok);
  EXPECT_EQ(later[0].top1, want[0].top1);
  for (std::size_t k = 0; k < want[0].logits.size(); ++k) EXPECT_NEAR(later[0].logits[k], want[0].logits[k], 1e-5) << k;
}

TEST(Runtime, WrongImageSizeFailsThatRequestOnly) {
  TempDir t;
  FixtureSpec s;
  auto m = loadFixture(t, s);
  Image good = constantImage(28, 28, 1, 100);
  Image bad;  // empty
  auto preds = runPipeline(*m, {&good, &bad, &good}, 8);
  EXPECT_TRUE(preds[0].ok);
  EXPECT_FALSE(preds[1].ok);
  EXPECT_TRUE(preds[2].ok);
}

TEST(Golden, RecordCompareAndRoundTrip) {
  TempDir t;
  FixtureSpec s;
  auto a = loadFixture(t, s, "a.pt");
  s.seed = 2;
  auto b = loadFixture(t, s, "b.pt");
  std::vector<Sample> samples;
  for (int i = 0; i < 6; ++i) samples.push_back({constantImage(28, 28, 1, static_cast<std::uint8_t>(30 * i)), i % 10, "s" + std::to_string(i), "", ""});
  auto ga = recordGolden(*a, samples, 4);
  auto ga2 = recordGolden(*a, samples, 4);
  auto same = compareGolden(ga, ga2);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->bitIdentical);
  EXPECT_EQ(same->maxAbsDiff, 0.0);
  EXPECT_EQ(same->top1Agreement, 1.0);
  auto back = goldenFromJson(toJson(ga));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(compareGolden(ga, *back)->bitIdentical) << "JSON must round-trip floats exactly";
  auto diff = compareGolden(ga, recordGolden(*b, samples, 4));
  ASSERT_TRUE(diff.ok());
  EXPECT_FALSE(diff->bitIdentical);
  EXPECT_GT(diff->maxAbsDiff, 0.0);
  samples.pop_back();
  EXPECT_FALSE(compareGolden(ga, recordGolden(*a, samples, 4)).ok());
}

TEST(Threads, SettingsAreApplied) {
  ASSERT_TRUE(applyThreadSettings({1, 1}).ok());
  EXPECT_EQ(currentThreadSettings().intraOp, 1);
  ASSERT_TRUE(applyThreadSettings({2, 1}).ok());
  EXPECT_EQ(currentThreadSettings().intraOp, 2);
  EXPECT_FALSE(applyThreadSettings({0, 1}).ok());
}

// eval-compliance on bad input: labels out of range, classes that do not match
// the model's labels (IDX count, ImageFolder names), an empty data set and a
// candidate with other labels each give one clear error line and exit 2;
// ImageFolder classes are matched to the manifest labels by name.
#include <gtest/gtest.h>

#include <filesystem>

#include "E2eHelpers.h"
#include "common/Fs.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testing;

namespace {

void models(const TempDir& t, std::vector<std::string> labels = {"a", "b", "c"},
            std::vector<std::string> candLabels = {}) {
  FixtureSpec s;
  s.behaviour = "scaled-mean";
  s.labels = labels;
  ASSERT_TRUE(writeFixtureModel(s, t.file("cur.pt")).ok());
  s.labels = candLabels.empty() ? labels : candLabels;
  ASSERT_TRUE(writeFixtureModel(s, t.file("cand.pt")).ok());
}

void expectOneLineError(const RunResult& r, const std::string& fragment) {
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("eval-compliance: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

void writePngFolder(const TempDir& t, const std::vector<std::string>& classes, int perClass) {
  for (const auto& c : classes) {
    std::filesystem::create_directories(t.file("folder/" + c));
    for (int i = 0; i < perClass; ++i) {
      Image img;
      img.width = img.height = 28;
      img.channels = 1;
      img.pixels.assign(28 * 28, static_cast<std::uint8_t>(i % 2 ? 255 : 0));
      auto png = encodePng(img);
      ASSERT_TRUE(png.ok());
      ASSERT_TRUE(atomicWriteFile(t.file("folder/" + c + "/" + std::to_string(i) + ".png"), *png).ok());
    }
  }
}

const std::string kFolder = "[dataset]\nformat = \"imagefolder\"\nroot = \"folder\"\n";

}  // namespace

TEST(EvalComplianceBadInput, LabelsOutOfRange) {
  TempDir t;
  models(t);
  writeIdx(t.file("images.idx"), t.file("labels.idx"), {0, 255, 0, 255}, {0, 1, 2, 3});
  expectOneLineError(runTool(t, "--config '" + writeConfig(t) + "'"), "out of range");
}

TEST(EvalComplianceBadInput, IdxClassCountMismatch) {
  TempDir t;
  models(t);
  writeIdx(t.file("images.idx"), t.file("labels.idx"), {0, 255, 0, 255}, {0, 1, 0, 1});
  expectOneLineError(runTool(t, "--config '" + writeConfig(t) + "'"), "expected the 3 classes");
}

TEST(EvalComplianceBadInput, ImageFolderClassNamesDiffer) {
  TempDir t;
  models(t);
  writePngFolder(t, {"a", "b", "cc"}, 2);
  auto r = runTool(t, "--config '" + writeConfig(t, "", kFolder) + "'");
  expectOneLineError(r, "class 'cc'");
  EXPECT_NE(r.err.find("did you mean 'c'"), std::string::npos) << r.err;
}

TEST(EvalComplianceBadInput, ImageFolderClassCountDiffers) {
  TempDir t;
  models(t);
  writePngFolder(t, {"a", "b"}, 2);
  expectOneLineError(runTool(t, "--config '" + writeConfig(t, "", kFolder) + "'"), "2 class directories");
}

TEST(EvalComplianceBadInput, EmptyDataset) {
  TempDir t;
  models(t);
  writeIdx(t.file("images.idx"), t.file("labels.idx"), {}, {});
  expectOneLineError(runTool(t, "--config '" + writeConfig(t) + "'"), "no images");
}

TEST(EvalComplianceBadInput, CandidateWithOtherLabels) {
  TempDir t;
  models(t, {"a", "b", "c"}, {"a", "b", "x"});
  writeIdx(t.file("images.idx"), t.file("labels.idx"), {0, 255, 0}, {0, 1, 2});
  expectOneLineError(runTool(t, "--config '" + writeConfig(t) + "'"), "candidate model");
}

TEST(EvalComplianceBadInput, ImageFolderMatchedByNameEvenWithSlashes) {
  TempDir t;
  // "T-shirt/top" cannot be a directory name; "T-shirt_top" names it.
  models(t, {"T-shirt/top", "b", "c"});
  writePngFolder(t, {"T-shirt_top", "b", "c"}, 4);
  auto r = runTool(t, "--config '" + writeConfig(t, "", kFolder) + "'");
  ASSERT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.code << " " << r.err;
  const auto& pc = r.report["results"]["current"]["per_class"];
  ASSERT_EQ(pc.size(), 3u);
  EXPECT_EQ(pc[0]["label"], "T-shirt/top");
  std::size_t total = 0;
  for (const auto& c : pc) total += c["n"].get<std::size_t>();
  EXPECT_EQ(total, r.report["results"]["dataset"]["n_eval"].get<std::size_t>());
}

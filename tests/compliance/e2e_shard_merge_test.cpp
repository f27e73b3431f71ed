// Sharded evaluation merges exactly: eval-compliance --shard K/N on 1, 2, 3
// and 7 shards, then --merge, gives checks and results byte-identical to a
// single-machine run (clock-measured fields aside, timingFields()), on
// Fashion-MNIST as IDX and on an ImageFolder. Its own binary, labelled
// "cycle" (a minute each: 14 evaluations), so the sanitizer build can leave it
// out; the refusals of bad shards are in e2e_shard_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "E2eHelpers.h"
#include "ShardConfig.h"
#include "compliance/Outcomes.h"
#include "data/Dataset.h"
#include "runtime/Runtime.h"

using namespace cvgate;
using namespace cvgate::testing;
using namespace cvgate::testing::shard;
namespace fs = std::filesystem;

namespace {

double secondsOf(const std::chrono::steady_clock::time_point& t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// checks and results without the fields a clock or a host decides, as the
/// canonical dump (keys sorted) the comparison is byte for byte on.
std::string canonical(const nlohmann::json& report) {
  nlohmann::json j = {{"checks", report.at("checks")}, {"results", report.at("results")}};
  return compliance::withoutTimingFields(j).dump();
}

std::string firstDifference(const std::string& a, const std::string& b) {
  auto patch = nlohmann::json::diff(nlohmann::json::parse(a), nlohmann::json::parse(b));
  return patch.dump().substr(0, 800);
}

/// A single-machine run of `cfg`: its report.
nlohmann::json single(const TempDir& t, const std::string& cfg, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = runTool(t, "--config '" + cfg + "' --cycle shard-single --out single.json");
  *seconds = secondsOf(t0);
  EXPECT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.code << "\n" << r.err;
  return nlohmann::json::parse(slurp(t.file("single.json")), nullptr, false);
}

/// N shards of `cfg` into dir, one after the other, then the merge.
nlohmann::json sharded(const TempDir& t, const std::string& cfg, int n, const std::string& dir, double* slowest) {
  *slowest = 0;
  for (int k = 0; k < n; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = runTool(t, "--config '" + cfg + "' --shard " + std::to_string(k) + "/" + std::to_string(n) +
                            " --outcomes-out '" + dir + "/" + std::to_string(k) + ".outcomes.jsonl'");
    *slowest = std::max(*slowest, secondsOf(t0));
    EXPECT_EQ(r.code, 0) << k << "/" << n << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << "a shard writes no report";
  }
  auto r = runTool(t, "--config '" + cfg + "' --cycle shard-merged --merge '" + dir + "' --out merged.json");
  EXPECT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.code << "\n" << r.err;
  return nlohmann::json::parse(slurp(t.file("merged.json")), nullptr, false);
}

void expectMergedEqualsSingle(const TempDir& t, const std::string& cfg, const std::string& what,
                              const std::vector<int>& shardCounts, std::size_t expectEmptyShardsAt7) {
  double singleS = 0;
  const auto one = single(t, cfg, &singleS);
  ASSERT_TRUE(one.is_object());
  const std::string want = canonical(one);
  for (int n : shardCounts) {
    const std::string dir = t.file(what + "-" + std::to_string(n));
    fs::create_directories(dir);
    double slowest = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const auto merged = sharded(t, cfg, n, dir, &slowest);
    const double total = secondsOf(t0);
    ASSERT_TRUE(merged.is_object()) << n;
    const std::string got = canonical(merged);
    EXPECT_EQ(got, want) << what << ", " << n << " shards: " << firstDifference(want, got);
    EXPECT_EQ(merged["subjects"], one["subjects"]);
    EXPECT_EQ(merged["inputs"]["dataset_sha256"], one["inputs"]["dataset_sha256"]);
    // Every shard file is valid, empty ones too.
    std::size_t empty = 0, outcomes = 0;
    for (int k = 0; k < n; ++k) {
      auto f = compliance::readOutcomes(dir + "/" + std::to_string(k) + ".outcomes.jsonl");
      ASSERT_TRUE(f.ok()) << f.error().message();
      empty += f->samples.empty();
      outcomes += f->samples.size();
    }
    EXPECT_EQ(outcomes, one["results"]["budget"]["evaluated"].get<std::size_t>());
    if (n == 7) {
      EXPECT_EQ(empty, expectEmptyShardsAt7) << what;
    }
    std::printf("[shard] %s: %d shard(s) merged == single (%zu bytes of checks+results); single run %.1f s, "
                "slowest shard %.1f s, all shards + merge in turn %.1f s\n",
                what.c_str(), n, got.size(), singleS, slowest, total);
  }
}

}  // namespace

TEST(EvalComplianceShard, MergedEqualsSingleOnFashionMnistIdx) {
  if (!fs::exists(kImages)) GTEST_SKIP() << kImages << " absent (dataset-fashion-mnist)";
  TempDir t;
  // 1000 of 10000 planned, batches of 256: 4 batches, the last of 232; at 7
  // shards three of them are empty.
  const std::string cfg = config(t, "idx", kIdx, "max_samples = 1000\nbatch_size = 256\n");
  expectMergedEqualsSingle(t, cfg, "fashion-mnist idx", {1, 2, 3, 7}, 3);
}

TEST(EvalComplianceShard, MergedEqualsSingleOnAnImageFolder) {
  if (!fs::exists(kImages)) GTEST_SKIP() << kImages << " absent (dataset-fashion-mnist)";
  TempDir t;
  auto ds = openIdx(kImages, kLabels);
  ASSERT_TRUE(ds.ok()) << ds.error().message();
  auto v1 = Model::load(kSrc + "/models/fashion-mlp-v1.pt");
  ASSERT_TRUE(v1.ok()) << v1.error().message();
  const auto& labels = (*v1)->manifest().labels;
  for (std::size_t i = 0; i < 600; ++i) {
    auto s = (*ds)->get(i);
    ASSERT_TRUE(s.ok());
    std::string dir = labels.at(static_cast<std::size_t>(s->label));
    std::replace(dir.begin(), dir.end(), '/', '_');
    auto png = encodePng(s->image);
    ASSERT_TRUE(png.ok());
    writeText(t.file("folder/" + dir + "/" + std::to_string(i) + ".png"), *png);
  }
  // 600 images, batches of 64: 10 batches, the last of 24.
  const std::string cfg =
      config(t, "folder", "[dataset]\nformat = \"imagefolder\"\nroot = \"folder\"\n", "batch_size = 64\n");
  expectMergedEqualsSingle(t, cfg, "imagefolder", {1, 2, 3, 7}, 0);
}

// Sharded evaluation merges exactly: eval-compliance --shard K/N on 1, 2, 3
// and 7 shards, then --merge, gives checks and results byte-identical to a
// single-machine run (clock-measured fields aside, timingFields()), on
// Fashion-MNIST as IDX and on an ImageFolder; a missing, duplicated, foreign,
// truncated or altered shard is refused with one line naming it, exit 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "E2eHelpers.h"
#include "compliance/Outcomes.h"
#include "data/Dataset.h"
#include "runtime/Runtime.h"

using namespace cvgate;
using namespace cvgate::testing;
namespace fs = std::filesystem;

namespace {

const std::string kSrc = CVGATE_SOURCE_DIR;
const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

std::string config(const TempDir& t, const std::string& name, const std::string& dataset,
                   const std::string& extraCompliance, const std::string& candidate = "fashion-cnn-v2.pt") {
  const std::string path = t.file(name + ".toml");
  std::ofstream(path) << "state_dir = \"" << t.file("state") << "\"\n"
                      << "[models]\ncurrent = \"" << kSrc << "/models/fashion-mlp-v1.pt\"\n"
                      << "candidate = \"" << kSrc << "/models/" << candidate << "\"\n"
                      << dataset << "[runtime]\nintra_op_threads = 2\n"
                      << "[compliance]\nthreshold = 0.7\nbootstrap_resamples = 1000\nmin_per_class = 5\n"
                      << extraCompliance;
  return path;
}

const std::string kIdx = "[dataset]\nformat = \"idx\"\nimages = \"" + kImages + "\"\nlabels = \"" + kLabels + "\"\n";

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

TEST(EvalComplianceShard, BadShardsAreRefusedWithOneLineNamingTheFile) {
  if (!fs::exists(kImages)) GTEST_SKIP() << kImages << " absent (dataset-fashion-mnist)";
  TempDir t;
  const std::string extra = "max_samples = 300\nbatch_size = 64\n";
  const std::string cfg = config(t, "idx", kIdx, extra);
  fs::create_directories(t.file("s"));
  auto shard = [&](const std::string& c, const std::string& spec, const std::string& out, const std::string& more = "") {
    auto r = runTool(t, "--config '" + c + "' --shard " + spec + " --outcomes-out '" + out + "' " + more);
    ASSERT_EQ(r.code, 0) << r.err;
  };
  shard(cfg, "0/2", t.file("s/0.outcomes"));
  shard(cfg, "1/2", t.file("s/1.outcomes"));
  auto merge = [&](const std::string& args, const std::string& c = "") {
    return runTool(t, "--config '" + (c.empty() ? cfg : c) + "' --merge " + args);
  };
  {
    auto ok = merge("'" + t.file("s") + "'");
    EXPECT_TRUE(ok.code == 0 || ok.code == 10 || ok.code == 11) << ok.err;
  }
  auto expectRefused = [&](const ToolRun& r, const std::string& file, const std::string& fragment) {
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_TRUE(r.out.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("eval-compliance: error: ", 0), 0u) << r.err;
    if (!file.empty()) {
      EXPECT_NE(r.err.find("'" + file + "'"), std::string::npos) << r.err;
    }
    EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  };
  // A shard missing.
  expectRefused(merge("'" + t.file("s/1.outcomes") + "'"), t.file("s/1.outcomes"), "shard 0/2 missing");
  // A shard given twice.
  expectRefused(merge("'" + t.file("s/0.outcomes") + "' '" + t.file("s/1.outcomes") + "' '" + t.file("s/0.outcomes") + "'"),
                t.file("s/0.outcomes"), "given twice");
  // A shard of another data set: the first 300 images as a file of their own.
  {
    auto ds = openIdx(kImages, kLabels);
    ASSERT_TRUE(ds.ok());
    std::vector<std::uint8_t> values, ls;
    std::ofstream im(t.file("other-images.idx"), std::ios::binary), lb(t.file("other-labels.idx"), std::ios::binary);
    putBe32(im, 0x00000803);
    putBe32(im, 2000);
    putBe32(im, 28);
    putBe32(im, 28);
    putBe32(lb, 0x00000801);
    putBe32(lb, 2000);
    for (std::size_t i = 0; i < 2000; ++i) {
      auto s = (*ds)->get(i);
      ASSERT_TRUE(s.ok());
      im.write(reinterpret_cast<const char*>(s->image.pixels.data()), static_cast<std::streamsize>(s->image.pixels.size()));
      lb.put(static_cast<char>(s->label));
    }
  }
  const std::string other = config(
      t, "other", "[dataset]\nformat = \"idx\"\nimages = \"other-images.idx\"\nlabels = \"other-labels.idx\"\n", extra);
  fs::create_directories(t.file("o"));
  shard(other, "1/2", t.file("o/1.outcomes"));
  expectRefused(merge("'" + t.file("s/0.outcomes") + "' '" + t.file("o/1.outcomes") + "'"), t.file("o/1.outcomes"),
                "data set sha256");
  // A shard of another model: the candidate differs.
  shard(cfg, "1/2", t.file("o/1m.outcomes"), "--candidate '" + kSrc + "/models/fashion-mlp-v1.pt'");
  expectRefused(merge("'" + t.file("s/0.outcomes") + "' '" + t.file("o/1m.outcomes") + "'"), t.file("o/1m.outcomes"),
                "candidate model sha256");
  // Shards that do not match the merge's own models (or config).
  expectRefused(merge("'" + t.file("s") + "' --candidate '" + kSrc + "/models/fashion-mlp-v1.pt'"), t.file("s/0.outcomes"),
                "the candidate given to the merge");
  expectRefused(merge("'" + t.file("s") + "'", config(t, "thr", kIdx, extra + "temperature_margin = 0.02\n")),
                t.file("s/0.outcomes"), "config sha256");
  // A truncated file.
  const std::string whole = slurp(t.file("s/1.outcomes"));
  writeText(t.file("t/0.outcomes"), slurp(t.file("s/0.outcomes")));
  writeText(t.file("t/1.outcomes"), whole.substr(0, whole.size() * 2 / 3));
  expectRefused(merge("'" + t.file("t") + "'"), t.file("t/1.outcomes"), "truncated");
  // One byte flipped in a record.
  std::string flipped = whole;
  const auto at = whole.find("\"confidence\":", whole.find('\n')) + 15;
  flipped[at] = static_cast<char>(flipped[at] == '1' ? '2' : '1');
  writeText(t.file("t/1.outcomes"), flipped);
  expectRefused(merge("'" + t.file("t") + "'"), t.file("t/1.outcomes"), "records_sha256");
  // Not an outcome file.
  writeText(t.file("t/1.outcomes"), "{\"schema\": \"cvgate.compliance/1\"}\n");
  expectRefused(merge("'" + t.file("t") + "'"), t.file("t/1.outcomes"), "cvgate.outcomes/1");
  // An empty directory.
  fs::create_directories(t.file("e"));
  expectRefused(merge("'" + t.file("e") + "'"), t.file("e"), "no *.outcomes* file");

  // Flags: --shard needs --outcomes-out and a K/N; refuses --publish, --html, --merge.
  expectRefused(runTool(t, "--config '" + cfg + "' --shard 0/2"), "", "--outcomes-out");
  expectRefused(runTool(t, "--config '" + cfg + "' --shard 2/2 --outcomes-out x.outcomes"), "", "--shard '2/2'");
  expectRefused(runTool(t, "--config '" + cfg + "' --shard 0/2 --outcomes-out x.outcomes --publish"), "", "--publish");
  expectRefused(runTool(t, "--config '" + cfg + "' --shard 0/2 --outcomes-out x.outcomes --html x.html"), "", "--html");
  expectRefused(runTool(t, "--config '" + cfg + "' --shard 0/2 --outcomes-out x.outcomes --merge s"), "", "--merge");
  EXPECT_FALSE(fs::exists(t.file("x.outcomes")));
}

// A missing, duplicated, foreign, truncated or altered shard is refused by
// eval-compliance --merge with one line naming it, exit 2; so are --shard's
// bad flags. (That merged shards equal a single run: e2e_shard_merge_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "E2eHelpers.h"
#include "ShardConfig.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testing;
using namespace cvgate::testing::shard;
namespace fs = std::filesystem;

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
  // A shard whose batches were cut into model calls at another size (a
  // build of another piece size: the same batch can be answered otherwise).
  {
    const std::string text = slurp(t.file("s/1.outcomes"));
    const std::string key = "\"piece_pixel_bytes\":";
    const auto k = text.find(key);
    ASSERT_NE(k, std::string::npos);
    const auto end = text.find_first_of(",}", k);
    writeText(t.file("p/0.outcomes"), slurp(t.file("s/0.outcomes")));
    writeText(t.file("p/1.outcomes"), text.substr(0, k + key.size()) + "268435456" + text.substr(end));
    expectRefused(merge("'" + t.file("p") + "'"), t.file("p/1.outcomes"), "piece size in bytes of pixels 268435456");
    // One from before the field was written.
    writeText(t.file("p/1.outcomes"), text.substr(0, k) + text.substr(end + 1));
    expectRefused(merge("'" + t.file("p") + "'"), t.file("p/1.outcomes"), "(not recorded)");
  }
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

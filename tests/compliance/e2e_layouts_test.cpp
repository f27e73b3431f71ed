// The same images in any layout give the same report: 1,000 Fashion-MNIST
// test images as an IDX file, as an ImageFolder (<class>/<index>.png) and as
// a shuffled CSV list (id = the index) give identical compliance reports for
// the reference models (checks and results, apart from paths, the data set's
// description and hash, and timings); so does a sample budget. A list's
// slices are reported with their paired statistics, and a slice gate blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "E2eHelpers.h"
#include "data/Dataset.h"
#include "runtime/Runtime.h"

using namespace cvgate;
using namespace cvgate::testing;
namespace fs = std::filesystem;

namespace {

const std::string kSrc = CVGATE_SOURCE_DIR;
const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
constexpr std::size_t kN = 1000;

/// The labels of the reference models, as directory names ('/' is not allowed).
std::string dirName(std::string label) {
  std::replace(label.begin(), label.end(), '/', '_');
  return label;
}

/// Write the first kN images of Fashion-MNIST in the three layouts under `t`.
void writeLayouts(const TempDir& t, const std::vector<std::string>& labelNames) {
  auto ds = openIdx(kImages, kLabels);
  ASSERT_TRUE(ds.ok()) << ds.error().message();
  std::ofstream im(t.file("images.idx"), std::ios::binary), lb(t.file("labels.idx"), std::ios::binary);
  putBe32(im, 0x00000803);
  putBe32(im, kN);
  putBe32(im, 28);
  putBe32(im, 28);
  putBe32(lb, 0x00000801);
  putBe32(lb, kN);
  std::vector<std::string> rows;
  for (std::size_t i = 0; i < kN; ++i) {
    auto s = (*ds)->get(i);
    ASSERT_TRUE(s.ok());
    im.write(reinterpret_cast<const char*>(s->image.pixels.data()), static_cast<std::streamsize>(s->image.pixels.size()));
    lb.put(static_cast<char>(s->label));
    const std::string label = labelNames.at(static_cast<std::size_t>(s->label));
    const std::string rel = "folder/" + dirName(label) + "/" + std::to_string(i) + ".png";
    auto png = encodePng(s->image);
    ASSERT_TRUE(png.ok());
    writeText(t.file(rel), *png);
    // A CSV field with a '/' or ',' needs no quotes unless it has a comma.
    rows.push_back(rel + "," + label + "," + std::to_string(i) + ",cam" + std::to_string(i % 3));
  }
  // The list in another order than the other two: the order must not matter.
  std::mt19937 rng(5);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::ofstream csv(t.file("val.csv"));
  csv << "path,label,id,slice\n";
  for (const auto& r : rows) csv << r << "\n";
}

std::string config(const TempDir& t, const std::string& name, const std::string& dataset,
                   const std::string& extraCompliance = "") {
  const std::string path = t.file(name + ".toml");
  std::ofstream(path) << "state_dir = \"" << t.file("state") << "\"\n"
                      << "[models]\ncurrent = \"" << kSrc << "/models/fashion-mlp-v1.pt\"\n"
                      << "candidate = \"" << kSrc << "/models/fashion-cnn-v2.pt\"\n"
                      << dataset << "[runtime]\nintra_op_threads = 2\n"
                      << "[compliance]\nthreshold = 0.7\nbootstrap_resamples = 1000\nmin_per_class = 5\n"
                      << extraCompliance;
  return path;
}

nlohmann::json evaluate(const TempDir& t, const std::string& cfg, const std::string& out) {
  auto r = runTool(t, "--config '" + cfg + "' --cycle layouts --out " + out);
  EXPECT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.code << "\n" << r.err;
  return nlohmann::json::parse(slurp(t.file(out)), nullptr, false);
}

/// The report without what may differ between layouts: where the data and
/// models are, the data set's description and hash, and timings.
nlohmann::json comparable(nlohmann::json j) {
  for (const char* k : {"started_at", "finished_at", "inputs"}) j.erase(k);
  auto& r = j["results"];
  for (const char* k : {"describe", "sha256"}) r["dataset"].erase(k);
  r.erase("wall_ms");
  r.erase("machine");  // the GEMM roofline, measured
  r["budget"].erase("seconds_per_image");
  for (const char* s : {"current", "candidate"}) {
    if (!r[s].is_object()) continue;
    for (const char* k : {"wall_ms", "images_per_s", "stage_ms", "forward_images_per_s", "roofline"}) r[s].erase(k);
    if (r[s]["serving"].is_object()) {
      r[s]["serving"].erase("calibration");  // timed
      r[s]["serving"].erase("warmup");       // timed
      // The serving graph's parity is checked on the golden set, which is a
      // range of the data set's own order: other images in another layout.
      // Its decisions must agree in every layout; its float noise differs.
      r[s]["serving"]["parity"].erase("max_abs_prob_diff");
    }
    if (r["blessing"][s].is_object()) r["blessing"][s]["key"].erase("dataset_sha256");
  }
  for (auto& reg : r["regressions"]) reg.erase("id");
  return j;
}

std::string firstDifference(const nlohmann::json& a, const nlohmann::json& b) {
  auto patch = nlohmann::json::diff(a, b);
  return patch.empty() ? "" : patch.dump().substr(0, 600);
}

}  // namespace

TEST(EvalComplianceLayouts, IdxImageFolderAndListGiveTheSameReport) {
  if (!fs::exists(kImages)) GTEST_SKIP() << kImages << " absent (dataset-fashion-mnist)";
  TempDir t;
  auto v1 = Model::load(kSrc + "/models/fashion-mlp-v1.pt");
  ASSERT_TRUE(v1.ok()) << v1.error().message();
  writeLayouts(t, (*v1)->manifest().labels);
  if (HasFatalFailure()) return;

  const auto idx = evaluate(t, config(t, "idx", "[dataset]\nformat = \"idx\"\nimages = \"images.idx\"\nlabels = \"labels.idx\"\n"),
                            "idx.json");
  const auto folder = evaluate(t, config(t, "folder", "[dataset]\nformat = \"imagefolder\"\nroot = \"folder\"\n"), "folder.json");
  const auto list = evaluate(t, config(t, "list", "[dataset]\nformat = \"list\"\nlist = \"val.csv\"\n"), "list.json");
  ASSERT_TRUE(idx.is_object() && folder.is_object() && list.is_object());
  EXPECT_NE(idx["inputs"]["dataset_sha256"], folder["inputs"]["dataset_sha256"]) << "three layouts, three hashes";

  // The list has slices; the others do not: compare without them.
  auto l = comparable(list), i = comparable(idx), f = comparable(folder);
  ASSERT_EQ(l["results"]["slices"].size(), 3u);
  l["results"].erase("slices");
  i["results"].erase("slices");
  f["results"].erase("slices");
  auto dropSliceChecks = [](nlohmann::json& j) {
    auto& c = j["checks"];
    c.erase(std::remove_if(c.begin(), c.end(),
                           [](const nlohmann::json& x) { return x["id"].get<std::string>().rfind("compliance.slice", 0) == 0; }),
            c.end());
  };
  dropSliceChecks(l);
  dropSliceChecks(i);
  dropSliceChecks(f);
  EXPECT_EQ(i, f) << firstDifference(i, f);
  EXPECT_EQ(i, l) << firstDifference(i, l);

  const auto& res = idx["results"];
  std::printf("[layouts] %zu images: n_eval %d, n_calibration %d; V1 accuracy %.4f compliance %.4f, V2 accuracy %.4f "
              "compliance %.4f, uplift %+.4f (CI %+.4f..%+.4f), McNemar b %d c %d; identical in all three layouts\n",
              kN, res["dataset"]["n_eval"].get<int>(), res["dataset"]["n_calibration"].get<int>(),
              res["current"]["accuracy"].get<double>(), res["current"]["compliance"].get<double>(),
              res["candidate"]["accuracy"].get<double>(), res["candidate"]["compliance"].get<double>(),
              res["uplift"]["uplift"].get<double>(), res["uplift"]["lo"].get<double>(), res["uplift"]["hi"].get<double>(),
              res["mcnemar"]["b"].get<int>(), res["mcnemar"]["c"].get<int>());

  // The slices: each with the paired statistics, their images adding up.
  std::size_t inSlices = 0;
  for (const auto& s : list["results"]["slices"]) {
    inSlices += s["n"].get<std::size_t>();
    EXPECT_TRUE(s["uplift"]["lo"].is_number()) << s.dump();
    EXPECT_TRUE(s["mcnemar"]["p_value"].is_number()) << s.dump();
    EXPECT_TRUE(s["candidate"]["error_rate"].is_number()) << s.dump();
  }
  EXPECT_EQ(inSlices, res["dataset"]["n_eval"].get<std::size_t>());
  int sliceChecks = 0;
  for (const auto& c : list["checks"]) {
    const std::string id = c["id"];
    if (id.rfind("compliance.slice.", 0) == 0) {
      ++sliceChecks;
      EXPECT_EQ(c["severity"], "minor") << "not gated by default";
    }
    if (id == "compliance.slices") {
      EXPECT_EQ(c["status"], "pass") << c.dump();
    }
  }
  EXPECT_EQ(sliceChecks, 3);
  const std::string v = validateSchema(t.file("list.json"));
  if (v != "skip") {
    EXPECT_EQ(v, "");
  }

  // A sample budget takes the same images in every layout.
  const std::string budget = "max_samples = 400\n";
  auto bi = evaluate(t, config(t, "bidx", "[dataset]\nformat = \"idx\"\nimages = \"images.idx\"\nlabels = \"labels.idx\"\n", budget),
                     "bidx.json");
  auto bl = evaluate(t, config(t, "blist", "[dataset]\nformat = \"list\"\nlist = \"val.csv\"\n", budget), "blist.json");
  EXPECT_EQ(bi["results"]["budget"]["evaluated"], 400);
  EXPECT_EQ(bi["results"]["budget"]["stopped_by"], "samples");
  EXPECT_NE(bi["results"]["budget"]["message"].get<std::string>().find("evaluated 400 of 1000 images"), std::string::npos);
  auto cbi = comparable(bi), cbl = comparable(bl);
  cbl["results"].erase("slices");
  cbi["results"].erase("slices");
  dropSliceChecks(cbl);
  dropSliceChecks(cbi);
  EXPECT_EQ(cbi, cbl) << firstDifference(cbi, cbl);

  // The slice gate on: a slice of 400 evaluation images is too few for 500.
  auto gated = evaluate(t, config(t, "gated", "[dataset]\nformat = \"list\"\nlist = \"val.csv\"\n",
                                  "slice_gate = true\nslice_min_samples = 500\n"),
                        "gated.json");
  bool seen = false;
  for (const auto& c : gated["checks"])
    if (c["id"] == "compliance.slices") {
      seen = true;
      EXPECT_EQ(c["status"], "inconclusive") << c.dump();
      EXPECT_TRUE(c["need"]["samples"].is_number());
    }
  EXPECT_TRUE(seen);
}

TEST(EvalComplianceLayouts, ABadListLineIsOneLineAndExitTwo) {
  TempDir t;
  FixtureSpec cur;
  cur.labels = {"a", "b"};
  ASSERT_TRUE(writeFixtureModel(cur, t.file("cur.pt")).ok());
  ASSERT_TRUE(writeFixtureModel(cur, t.file("cand.pt")).ok());
  Image img;
  img.width = img.height = 28;
  img.channels = 1;
  img.pixels.assign(28 * 28, 7);
  writeText(t.file("d/0.png"), *encodePng(img));
  writeText(t.file("d/list.csv"), "path,label\n0.png,a\n1.png,b\n");
  auto r = runTool(t, "--config '" + writeConfig(t, "", "[dataset]\nformat = \"list\"\nlist = \"d/list.csv\"\n") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "eval-compliance: error: '" + t.file("d/list.csv") + "' line 3: '1.png': no such file ('" +
                       t.file("d/1.png") + "')\n");
  // slice_gate with a data set without slices: refused.
  writeText(t.file("d/list.csv"), "path,label\n0.png,a\n");
  r = runTool(t, "--config '" + writeConfig(t, "slice_gate = true\n", "[dataset]\nformat = \"list\"\nlist = \"d/list.csv\"\n") + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("slice_gate = true: dataset 'list:"), std::string::npos) << r.err;
}

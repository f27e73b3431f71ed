// The bad-input catalogue's shared world (Catalogue.h), built once per ctest
// run by the badinput_world test: `catalogue_world DIR`. Its own executable
// because it writes fixture models with libtorch; the cases' binary
// (catalogue_test) does not load libtorch, so its 285 processes do not pay
// libtorch's start-up.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>

#include "Catalogue.h"
#include "DecisionFixtures.h"
#include "FixtureModels.h"
#include "ToolRun.h"
#include "common/Sha256.h"
#include "data/Dataset.h"
#include "report/Feed.h"

namespace fs = std::filesystem;

namespace cvgate::badinput {

using namespace detail;
using cvgate::testing::runCommand;
using cvgate::testing::slurp;

void buildWorld(const std::string& w) {
  fs::remove_all(w);
  fs::create_directories(w + "/models");
  fs::create_directories(w + "/data");
  fs::create_directories(w + "/reports");
  // Two fixture classifiers (28x28 grey, 10 classes), embedded manifests, and
  // a sidecar-manifest variant of the candidate for manifest cases.
  cvgate::testing::FixtureSpec spec;
  spec.seed = 1;
  if (auto st = cvgate::testing::writeFixtureModel(spec, w + "/models/current.pt"); !st.ok())
    throw std::runtime_error(st.error().message());
  spec.seed = 2;
  spec.name = "fixture-v2";
  spec.version = "2";
  if (auto st = cvgate::testing::writeFixtureModel(spec, w + "/models/candidate.pt"); !st.ok())
    throw std::runtime_error(st.error().message());
  spec.seed = 3;
  spec.name = "fixture-sidecar";
  spec.embedManifest = false;
  if (auto st = cvgate::testing::writeFixtureModel(spec, w + "/models/sidecar.pt"); !st.ok())
    throw std::runtime_error(st.error().message());
  // 40 images, 4 of each class, and their labels.
  std::string images = be32(0x803) + be32(40) + be32(28) + be32(28), labels = be32(0x801) + be32(40);
  for (int i = 0; i < 40; ++i) {
    images += std::string(28 * 28, static_cast<char>((i * 37) % 256));
    labels += static_cast<char>(i % 10);
  }
  // The same kind of images as an ImageFolder (root/<class>/<n>.png), two per class.
  for (int i = 0; i < 20; ++i) {
    Image img;
    img.width = img.height = 28;
    img.channels = 1;
    img.pixels.assign(28 * 28, static_cast<std::uint8_t>((i * 37) % 256));
    auto png = encodePng(img);
    if (!png.ok()) throw std::runtime_error(png.error().message());
    writeBytes(w + "/folder/c" + std::to_string(i % 10) + "/" + std::to_string(i) + ".png", *png);
  }
  writeBytes(w + "/data/images.idx", images);
  writeBytes(w + "/data/labels.idx", labels);
  writeBytes(w + "/cvgate.toml", renderConfig(worldConfig(w)));
  // The registry as the heartbeat leaves it: current initialised, candidate staged.
  const std::string env = "CVGATE_STATE_DIR='" + w + "/state' ";
  const std::string reg = "'" + cvgate::testing::binDir() + "/model-registry' --config '" + w + "/cvgate.toml' ";
  for (const auto& cmd : {reg + "init '" + w + "/models/current.pt'", reg + "stage '" + w + "/models/candidate.pt'"}) {
    auto r = runCommand(env + cmd, w);
    if (r.code != 0) throw std::runtime_error(cmd + ": exit " + std::to_string(r.code) + ": " + r.err);
  }
  // One cycle's five reports about these two models, as files (for --*-report)
  // and published in the feeds (for decide and check-integration).
  const std::string curSha = sha256Hex(slurp(w + "/models/current.pt"));
  const std::string candSha = sha256Hex(slurp(w + "/models/candidate.pt"));
  const auto reports = cvgate::decisiontest::cycleReports("20261125T2100Z-bad0", {curSha, candSha});
  const char* names[] = {"env", "latency", "compliance", "integration", "rollback"};
  for (std::size_t i = 0; i < reports.size() && i < 5; ++i) {
    writeBytes(w + "/reports/" + names[i] + ".json", toJson(reports[i]).dump(1));
    if (auto p = publishReport(w + "/state", reports[i]); !p.ok()) throw std::runtime_error(p.error().message());
  }
  // The two shards of an evaluation of these models (one batch: shard 0/2 is
  // empty, 1/2 has the 40 samples), for the --merge cases.
  for (const char* k : {"0", "1"}) {
    const std::string cmd = "'" + cvgate::testing::binDir() + "/eval-compliance' -q --config '" + w +
                            "/cvgate.toml' --shard " + k + "/2 --outcomes-out '" + w + "/outcomes/" + k +
                            ".outcomes.jsonl'";
    fs::create_directories(w + "/outcomes");
    auto r = runCommand(env + cmd, w);
    if (r.code != 0) throw std::runtime_error(cmd + ": exit " + std::to_string(r.code) + ": " + r.err);
  }
  writeBytes(w + "/ready", "");
}

}  // namespace cvgate::badinput

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: catalogue_world DIR\n";
    return 2;
  }
  try {
    cvgate::badinput::buildWorld(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "catalogue_world: error: building the world in '" << argv[1] << "': " << e.what() << "\n";
    return 1;
  }
  return 0;
}

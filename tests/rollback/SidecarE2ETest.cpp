// Models as PyTorch exports them: model-registry stage embeds a sidecar
// manifest in the stored object (its sha256 covers the manifest), re-staging
// the same archive and sidecar is a no-op and a changed sidecar a new model;
// embed and manifest write archives and manifests by hand, which PyTorch
// loads with the same outputs; a multi-output model is refused at stage time
// until its manifest names the output; a drill restores a sidecar-born model.
#include <filesystem>
#include <fstream>

#include "E2EFixture.h"
#include "FixtureModels.h"
#include "common/Sha256.h"
#include "runtime/Embed.h"
#include "runtime/Runtime.h"

namespace cvgate::rbtest {
namespace {

namespace fs = std::filesystem;

const std::string kPy = "/usr/bin/python3 " + std::string(CVGATE_SOURCE_DIR) + "/tests/rollback/sidecar_models.py";

bool havePyTorch() { return std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") == 0; }

class Sidecar : public E2E {
 protected:
  /// dir/side.pt (no manifest inside) and dir/side.manifest.json.
  void SetUp() override {
    E2E::SetUp();
    testing::FixtureSpec s;
    s.name = "fx-side";
    s.version = "3";
    s.seed = 3;
    s.embedManifest = false;
    ASSERT_TRUE(testing::writeFixtureModel(s, side()).ok());
    ASSERT_TRUE(fs::exists(sidecar()));
  }
  std::string side() const { return dir() + "/side.pt"; }
  std::string sidecar() const { return dir() + "/side.manifest.json"; }
};

TEST_F(Sidecar, StageEmbedsItAndItsIdentityIsTheArchiveAndTheSidecar) {
  setup("init", v1());
  const std::string archiveSha = *sha256File(side()), sidecarSha = *sha256File(sidecar());
  auto st = mr("--cycle c1 stage " + side());
  ASSERT_EQ(st.code, 0) << st.err;
  const auto cand = st.json()["state"]["candidate"];
  const std::string sha = cand["sha256"];
  EXPECT_NE(sha, archiveSha) << "the stored object is the archive with its manifest inside";
  EXPECT_EQ(cand["name"], "fx-side");
  EXPECT_EQ(cand["source"]["archive_sha256"], archiveSha);
  EXPECT_EQ(cand["source"]["manifest_sha256"], sidecarSha);
  EXPECT_EQ(cand["source"]["manifest"], sidecar());
  EXPECT_NE(st.json()["message"].get<std::string>().find("sidecar '" + sidecar() + "' embedded"), std::string::npos)
      << st.json()["message"];
  const std::string object = reg() + "/objects/" + sha + ".pt";
  EXPECT_EQ(*sha256File(object), sha);
  EXPECT_TRUE(*hasEmbeddedManifest(slurp(object), object));
  auto m = Model::load(object, sha);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ((*m)->manifestSource(), "embedded") << "drills and rollbacks read it from the object";
  EXPECT_TRUE(fs::exists(reg() + "/objects/" + sha + ".golden.json")) << "validated on the stored bytes";

  // The same archive and sidecar again: nothing to do.
  auto again = mr("--cycle c2 stage " + side());
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(again.json()["changed"]);
  EXPECT_NE(again.json()["message"].get<std::string>().find("staged already"), std::string::npos);
  EXPECT_EQ(again.json()["state"]["candidate"]["sha256"], sha);

  // A changed sidecar (another mean: other figures under the same archive) is a new model.
  auto man = nlohmann::json::parse(slurp(sidecar()));
  man["preprocess"]["mean"] = {0.1};
  std::ofstream(sidecar()) << man.dump(2);
  auto changed = mr("--cycle c3 stage " + side());
  ASSERT_EQ(changed.code, 0) << changed.err;
  EXPECT_TRUE(changed.json()["changed"]);
  const std::string sha2 = changed.json()["state"]["candidate"]["sha256"];
  EXPECT_NE(sha2, sha);
  EXPECT_EQ(changed.json()["state"]["candidate"]["source"]["archive_sha256"], archiveSha);
  EXPECT_EQ(changed.json()["state"]["candidate"]["source"]["manifest_sha256"], *sha256File(sidecar()));

  // A bad sidecar is refused, naming its field, and nothing changes.
  const std::string before = fullFingerprint(reg());
  man["preprocess"]["std"] = {0.0};
  std::ofstream(sidecar()) << man.dump(2);
  auto bad = mr("stage " + side());
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("side.manifest.json': manifest field 'preprocess.std'"), std::string::npos) << bad.err;
  EXPECT_EQ(fullFingerprint(reg()), before);
}

TEST_F(Sidecar, EmbedWritesWhatTheRegistryStoresAndPyTorchLoadsIt) {
  auto e = mr("embed " + side() + " " + sidecar() + " -o " + dir() + "/hand.pt");
  ASSERT_EQ(e.code, 0) << e.err;
  const std::string handSha = *sha256File(dir() + "/hand.pt");
  EXPECT_EQ(e.json()["sha256"], handSha);
  EXPECT_EQ(e.json()["source"]["archive_sha256"], *sha256File(side()));
  setup("init", v1());
  auto st = mr("stage " + side());
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_EQ(st.json()["state"]["candidate"]["sha256"], handSha) << "the same rewrite, the same bytes";
  // The hand-embedded archive stages as itself: the same model, nothing to do.
  auto same = mr("stage " + dir() + "/hand.pt");
  ASSERT_EQ(same.code, 0) << same.err;
  EXPECT_FALSE(same.json()["changed"]);

  if (!havePyTorch()) GTEST_SKIP() << "python3-torch not installed";
  auto py = run(kPy + " compare " + side() + " " + dir() + "/hand.pt", dir());
  ASSERT_EQ(py.code, 0) << py.err;
  auto j = py.json();
  EXPECT_EQ(j["manifest"], slurp(sidecar())) << "torch.jit.load(f, _extra_files=...) reads the sidecar's text";
  EXPECT_FALSE(j["original_had_manifest"]);
  EXPECT_TRUE(j["equal"]) << "max abs diff " << j["max_abs_diff"];
}

TEST_F(Sidecar, ManifestFromATransformAndItsRefusals) {
  std::ofstream(dir() + "/labels.txt") << "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n";
  auto m = mr("manifest --name fx-side --model-version 4 --labels " + dir() + "/labels.txt --input 1x28x28 "
              "--transform 'Resize((28, 28)), ToTensor(), Normalize(mean=[0.5], std=[0.25])' -o " +
              dir() + "/gen.manifest.json");
  ASSERT_EQ(m.code, 0) << m.err;
  auto man = nlohmann::json::parse(slurp(dir() + "/gen.manifest.json"));
  EXPECT_EQ(man["schema"], "cvgate.manifest/1");
  EXPECT_EQ(man["version"], "4");
  EXPECT_EQ(man["preprocess"]["resize"], nlohmann::json({28, 28}));
  EXPECT_EQ(man["preprocess"]["antialias"], true);
  EXPECT_EQ(man["labels"].size(), 10u);
  // It embeds and loads.
  auto e = mr("embed " + side() + " " + dir() + "/gen.manifest.json -o " + dir() + "/gen.pt");
  ASSERT_EQ(e.code, 0) << e.err;
  auto loaded = Model::load(dir() + "/gen.pt");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->manifest().version, "4");
  // To stdout by default.
  auto out = mr("manifest --name x --labels " + dir() + "/labels.txt --input 1x28x28 --transform 'CenterCrop(28), "
                "ToTensor()'");
  ASSERT_EQ(out.code, 0) << out.err;
  EXPECT_EQ(out.json()["name"], "x");

  auto bad = mr("manifest --name x --labels " + dir() + "/labels.txt --input 3x224x224 "
                "--transform 'RandomResizedCrop(224), ToTensor()' -o " + dir() + "/bad.json");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err, "model-registry: error: transform: 'RandomResizedCrop': a training-time augmentation, not part "
                     "of an evaluation transform\n");
  EXPECT_FALSE(fs::exists(dir() + "/bad.json"));
  auto noManifest = mr("embed " + side() + " " + dir() + "/missing.json -o " + dir() + "/x.pt");
  EXPECT_EQ(noManifest.code, 2);
  EXPECT_NE(noManifest.err.find("missing.json"), std::string::npos) << noManifest.err;
}

TEST_F(Sidecar, AMultiOutputModelIsRefusedUntilItsManifestNamesTheOutput) {
  if (!havePyTorch()) GTEST_SKIP() << "python3-torch not installed";
  auto py = run(kPy + " tuple-model " + dir() + "/multi.pt", dir());
  ASSERT_EQ(py.code, 0) << py.err;
  testing::FixtureSpec s;
  s.name = "fx-multi";
  auto man = toJson(testing::fixtureManifest(s));
  std::ofstream(dir() + "/multi.manifest.json") << man.dump(2);
  setup("init", v1());
  const std::string before = fullFingerprint(reg());
  auto refused = mr("stage " + dir() + "/multi.pt");
  EXPECT_EQ(refused.code, 2);
  EXPECT_NE(refused.err.find("wrong output type: a tuple of 2, expected a tensor (set the manifest field output_index"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(fullFingerprint(reg()), before) << "refused before anything is stored";
  man["output_index"] = 0;
  std::ofstream(dir() + "/multi.manifest.json") << man.dump(2);
  auto ok = mr("stage " + dir() + "/multi.pt");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.json()["state"]["candidate"]["name"], "fx-multi");
}

TEST_F(Sidecar, ADrillRestoresASidecarBornModelFromItsObject) {
  setup("init", side());  // production adopted from a plain export
  setup("stage", v2());
  setup("deploy");        // V2 current, the sidecar-born model the known-good target
  fs::remove(sidecar());  // the drill must not need the file beside the original
  auto d = drill();
  ASSERT_TRUE(d.code == 0 || d.code == 11) << d.code << "\n" << d.err;
  const auto j = d.json();
  for (const auto& c : j["checks"])
    if (c["id"] == "rollback.target" || c["id"] == "rollback.golden" || c["id"] == "rollback.compatible") {
      EXPECT_EQ(c["status"], "pass") << c.dump();
    }
}

}  // namespace
}  // namespace cvgate::rbtest

// Embedding a manifest in a TorchScript archive (runtime/Embed.h): every
// record of the archive is kept byte for byte, extra/cvgate.json is added or
// replaced, the result loads with the manifest inside and the same outputs,
// and the rewrite is deterministic. And the outputs of multi-output models:
// a tuple, a list or a dict read through output_index / output_key, or a
// clear error that names the field.
#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include <sstream>

#include "FixtureModels.h"
#include "TempDir.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "runtime/Embed.h"
#include "runtime/Runtime.h"

using namespace cvgate;
using namespace cvgate::testing;

namespace {

/// name -> bytes of every record of an archive.
std::map<std::string, std::string> records(const std::string& archive) {
  std::istringstream in(archive);
  caffe2::serialize::PyTorchStreamReader r(&in);
  std::map<std::string, std::string> out;
  for (const auto& name : r.getAllRecords()) {
    auto [data, size] = r.getRecord(name);
    out[name] = std::string(static_cast<const char*>(data.get()), size);
  }
  return out;
}

std::string manifestText(const std::string& name) {
  FixtureSpec s;
  s.name = name;
  return toJson(fixtureManifest(s)).dump(2);
}

}  // namespace

TEST(Embed, EveryRecordKeptTheManifestAddedTheOutputsTheSame) {
  TempDir t;
  FixtureSpec s;
  s.embedManifest = false;
  ASSERT_TRUE(writeFixtureModel(s, t.file("m.pt")).ok());
  const std::string archive = *readFile(t.file("m.pt"));
  ASSERT_FALSE(*hasEmbeddedManifest(archive, "m.pt"));
  const std::string text = manifestText("embedded-later");
  auto out = embedManifest(archive, text, "m.pt");
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_TRUE(*hasEmbeddedManifest(*out, "out"));

  auto before = records(archive), after = records(*out);
  EXPECT_EQ(after.size(), before.size() + 1);
  for (const auto& [name, bytes] : before) {
    if (name == "version" || name == ".data/version") continue;
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_EQ(after[name], bytes) << name << " changed";
  }
  EXPECT_EQ(after["extra/cvgate.json"], text);

  // Deterministic: the same inputs, the same bytes (and sha256).
  EXPECT_EQ(sha256Hex(*embedManifest(archive, text, "m.pt")), sha256Hex(*out));
  // Another manifest is another archive; embedding again replaces it.
  auto other = embedManifest(*out, manifestText("renamed"), "out");
  ASSERT_TRUE(other.ok()) << other.error().message();
  EXPECT_NE(sha256Hex(*other), sha256Hex(*out));
  EXPECT_EQ(records(*other)["extra/cvgate.json"], manifestText("renamed"));
  EXPECT_EQ(records(*other).size(), after.size());

  // It loads with the manifest inside and answers as the original.
  auto orig = Model::load(t.file("m.pt"));
  auto emb = Model::fromBytes(*out, t.file("elsewhere.pt"));
  ASSERT_TRUE(orig.ok() && emb.ok());
  EXPECT_EQ((*emb)->manifestSource(), "embedded");
  EXPECT_EQ((*emb)->manifest().name, "embedded-later");
  std::vector<float> x((*orig)->manifest().inputSize());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) / 17.f;
  auto a = (*orig)->forward({x.data()}), b = (*emb)->forward({x.data()});
  ASSERT_TRUE(a[0].ok && b[0].ok);
  EXPECT_EQ(a[0].logits, b[0].logits);
}

TEST(Embed, NotAnArchiveIsAClearError) {
  auto r = embedManifest("not a zip", "{}", "junk.pt");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("'junk.pt': not a TorchScript archive"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(hasEmbeddedManifest("PK\x03\x04 truncated", "x.pt").ok());
}

namespace {

/// A model whose forward returns `ret` (TorchScript) with y = the fixture's
/// linear scores; saved with `manifest` embedded.
std::shared_ptr<Model> multiOutput(const TempDir& t, const std::string& ret, nlohmann::json manifest,
                                   const std::string& returnType = "") {
  torch::jit::Module m("Multi");
  m.register_parameter("w", torch::ones({3, 4}) * 0.1, false);
  m.define("def forward(self, x)" + returnType + ":\n    y = torch.linear(torch.flatten(x, 1), self.w)\n    return " +
           ret + "\n");
  m.save(t.file("multi.pt"), {{"cvgate.json", manifest.dump()}});
  auto loaded = Model::load(t.file("multi.pt"));
  EXPECT_TRUE(loaded.ok()) << loaded.error().message();
  return loaded.ok() ? *loaded : nullptr;
}

nlohmann::json smallManifest() {
  return {{"schema", "cvgate.manifest/1"}, {"name", "multi"},
          {"input", {{"shape", {1, 2, 2}}, {"colour", "grey"}}}, {"labels", {"a", "b", "c"}}};
}

std::string firstError(const Model& m) {
  std::vector<float> x(4, 1.f);
  auto p = m.forward({x.data()});
  return p[0].ok ? "" : p[0].error;
}

}  // namespace

TEST(MultiOutput, TupleListAndDictSelectedByTheManifest) {
  TempDir t;
  auto man = smallManifest();
  // Without a selector: refused, naming the field to set.
  auto m = multiOutput(t, "(y, y * 0.0)", man);
  ASSERT_TRUE(m);
  EXPECT_EQ(firstError(*m), "wrong output type: a tuple of 2, expected a tensor (set the manifest field output_index "
                            "to the element with the class scores)");
  man["output_index"] = 1;
  m = multiOutput(t, "(y * 0.0, y)", man);
  ASSERT_TRUE(m);
  EXPECT_EQ(firstError(*m), "");
  std::vector<float> x(4, 1.f);
  EXPECT_NEAR(m->forward({x.data()})[0].logits[0], 0.4f, 1e-6);
  man["output_index"] = 2;
  m = multiOutput(t, "(y, y)", man);
  EXPECT_EQ(firstError(*m), "wrong output type: a tuple of 2 has no element 2 (manifest output_index)");
  man["output_index"] = 0;
  m = multiOutput(t, "[y, y]", man, " -> List[Tensor]");
  EXPECT_EQ(firstError(*m), "");

  auto dictMan = smallManifest();
  m = multiOutput(t, "{'logits': y, 'aux': y}", dictMan, " -> Dict[str, Tensor]");
  EXPECT_NE(firstError(*m).find("set the manifest field output_key"), std::string::npos) << firstError(*m);
  dictMan["output_key"] = "logits";
  m = multiOutput(t, "{'logits': y, 'aux': y * 0.0}", dictMan, " -> Dict[str, Tensor]");
  EXPECT_EQ(firstError(*m), "");
  dictMan["output_key"] = "scores";
  m = multiOutput(t, "{'logits': y}", dictMan, " -> Dict[str, Tensor]");
  EXPECT_EQ(firstError(*m), "wrong output type: the dict has no entry 'scores' (manifest output_key; it has 'logits')");
  // A selector for a model that returns one tensor is an error too.
  m = multiOutput(t, "y", man);
  EXPECT_EQ(firstError(*m), "wrong output type: a tensor, expected a tuple or list (manifest output_index 0)");
}

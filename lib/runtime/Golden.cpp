#include "runtime/Golden.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace cvgate {

Expected<std::unique_ptr<Dataset>> openDataset(const DatasetConfig& cfg) {
  Expected<std::unique_ptr<Dataset>> ds = cfg.format == "imagefolder" ? openImageFolder(cfg.root)
                                          : cfg.format == "list"      ? openList(cfg.list)
                                                                      : openIdx(cfg.images, cfg.labels);
  if (!ds.ok()) return ds.error();
  if ((*ds)->size() == 0) return badInput("dataset '" + (*ds)->describe() + "': no samples");
  if (cfg.limit > 0) return limitDataset(std::move(*ds), static_cast<std::size_t>(cfg.limit));
  return ds;
}

Expected<std::vector<Sample>> goldenSamples(const Dataset& ds, const GoldenConfig& cfg) {
  auto off = static_cast<std::size_t>(cfg.offset), cnt = static_cast<std::size_t>(cfg.count);
  if (off + cnt > ds.size())
    return badInput("golden set [" + std::to_string(off) + ", " + std::to_string(off + cnt) +
                    ") ([golden] offset + count): dataset '" + ds.describe() + "' has only " +
                    std::to_string(ds.size()) + " samples: expected offset + count <= " +
                    std::to_string(ds.size()) + " (set [golden] count in the config)");
  std::vector<Sample> out;
  out.reserve(cnt);
  for (std::size_t i = off; i < off + cnt; ++i) {
    auto s = ds.get(i);
    if (!s.ok()) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

GoldenRecord recordGolden(const Model& model, const std::vector<Sample>& samples, int batchSize,
                          GraphKind graph) {
  std::vector<const Image*> imgs;
  for (const auto& s : samples) imgs.push_back(&s.image);
  auto preds = runPipeline(graph == GraphKind::Serving ? servingModel(model) : model, imgs, batchSize);
  GoldenRecord g;
  g.model = model.manifest().name;
  g.sha256 = model.sha256();
  for (std::size_t i = 0; i < samples.size(); ++i) {
    g.ids.push_back(samples[i].id);
    g.top1.push_back(preds[i].ok ? preds[i].top1 : -1);
    g.probs.push_back(preds[i].ok ? preds[i].probs : std::vector<float>{});
    g.errors.push_back(preds[i].ok ? "" : preds[i].error);
  }
  return g;
}

nlohmann::json toJson(const GoldenRecord& g) {
  // Probabilities as float bit patterns would be exact; decimal with 9
  // significant digits round-trips a float exactly, and stays readable.
  nlohmann::json j = {{"schema", "cvgate.golden/1"}, {"model", g.model}, {"sha256", g.sha256},
                      {"ids", g.ids}, {"top1", g.top1}, {"probs", g.probs}, {"errors", g.errors}};
  if (!g.datasetSha256.empty()) j["dataset_sha256"] = g.datasetSha256;
  return j;
}

Expected<GoldenRecord> goldenFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("schema") || j["schema"] != "cvgate.golden/1")
    return badInput("golden outputs: expected schema \"cvgate.golden/1\"");
  GoldenRecord g;
  try {
    g.model = j.at("model").get<std::string>();
    g.sha256 = j.at("sha256").get<std::string>();
    g.ids = j.at("ids").get<std::vector<std::string>>();
    g.top1 = j.at("top1").get<std::vector<int>>();
    g.probs = j.at("probs").get<std::vector<std::vector<float>>>();
    g.errors = j.at("errors").get<std::vector<std::string>>();
    if (j.contains("dataset_sha256")) g.datasetSha256 = j.at("dataset_sha256").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return badInput(std::string("golden outputs: ") + e.what());
  }
  if (g.top1.size() != g.ids.size() || g.probs.size() != g.ids.size() || g.errors.size() != g.ids.size())
    return badInput("golden outputs: ids, top1, probs and errors differ in length");
  return g;
}

Expected<GoldenComparison> compareGolden(const GoldenRecord& a, const GoldenRecord& b) {
  if (a.ids != b.ids)
    return badInput("golden outputs of '" + a.model + "' and '" + b.model +
                    "' are of different samples (the golden set changed?)");
  GoldenComparison c;
  c.n = a.ids.size();
  c.bitIdentical = true;
  std::size_t agree = 0;
  for (std::size_t i = 0; i < c.n; ++i) {
    if (!a.errors[i].empty()) ++c.failedA;
    if (!b.errors[i].empty()) ++c.failedB;
    if (a.top1[i] == b.top1[i] && a.top1[i] >= 0) ++agree;
    const auto& pa = a.probs[i];
    const auto& pb = b.probs[i];
    if (pa.size() != pb.size() || pa.empty()) {
      if (pa != pb || !a.errors[i].empty() || !b.errors[i].empty()) {
        c.maxAbsDiff = std::numeric_limits<double>::infinity();
        c.bitIdentical = false;
      }
      continue;
    }
    for (std::size_t k = 0; k < pa.size(); ++k) {
      double d = std::fabs(static_cast<double>(pa[k]) - static_cast<double>(pb[k]));
      if (!(d <= c.maxAbsDiff)) c.maxAbsDiff = d;  // NaN-safe: NaN propagates
      if (std::memcmp(&pa[k], &pb[k], sizeof(float)) != 0) c.bitIdentical = false;
    }
  }
  c.top1Agreement = c.n ? static_cast<double>(agree) / static_cast<double>(c.n) : 0.0;
  return c;
}

nlohmann::json toJson(const GoldenComparison& c) {
  return {{"n", c.n},
          {"max_abs_diff", std::isfinite(c.maxAbsDiff) ? nlohmann::json(c.maxAbsDiff) : nlohmann::json(nullptr)},
          {"top1_agreement", c.top1Agreement},
          {"bit_identical", c.bitIdentical},
          {"failed", {c.failedA, c.failedB}}};
}

}  // namespace cvgate

#include "report/Report.h"

namespace cvgate {

Expected<std::shared_ptr<Model>> loadSubject(const std::string& path, const std::string& sha256,
                                             const std::string& role, Report& report) {
  if (path.empty()) return badInput("no " + role + " model: set [models] " + role + " or --" + role);
  auto m = Model::load(path, sha256);
  if (!m.ok()) return m.error().context(role + " model");
  report.subjects[role] = Subject{(*m)->manifest().name, (*m)->sha256(), path};
  return m;
}

}  // namespace cvgate

// The golden set: a small fixed subset of the evaluation data, a model's
// recorded outputs on it, and the comparison of two recordings. verify-env,
// check-integration and simulate-rollback all use it.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/Error.h"
#include "config/Config.h"
#include "data/Dataset.h"
#include "runtime/Runtime.h"
#include "runtime/Serving.h"

namespace cvgate {

/// Open the data set the config names (IDX, ImageFolder or a list, with its limit).
Expected<std::unique_ptr<Dataset>> openDataset(const DatasetConfig& cfg);

/// The golden samples: [offset, offset+count) of the data set.
Expected<std::vector<Sample>> goldenSamples(const Dataset& ds, const GoldenConfig& cfg);

/// A model's outputs on the golden set.
struct GoldenRecord {
  std::string model;               ///< manifest name
  std::string sha256;              ///< archive sha256
  std::vector<std::string> ids;    ///< sample ids, in order
  std::vector<int> top1;           ///< -1 where the request failed
  std::vector<std::vector<float>> probs; ///< empty where the request failed
  std::vector<std::string> errors; ///< "" where the request succeeded
  std::string datasetSha256;       ///< the data set the samples came from ("" unknown: older records)
};

/// The model's outputs on `samples`, run as it is served (servingModel:
/// frozen + optimize_for_inference) unless `graph` asks for the archive's
/// module as loaded (what a transformed variant is compared with).
GoldenRecord recordGolden(const Model& model, const std::vector<Sample>& samples, int batchSize,
                          GraphKind graph = GraphKind::Serving);
nlohmann::json toJson(const GoldenRecord& g);
Expected<GoldenRecord> goldenFromJson(const nlohmann::json& j);

/// Two recordings compared sample by sample.
struct GoldenComparison {
  std::size_t n = 0;               ///< samples compared
  double maxAbsDiff = 0;           ///< over all probabilities (inf if a side failed)
  double top1Agreement = 0;        ///< fraction of samples with the same top-1
  bool bitIdentical = false;       ///< every probability equal bit for bit
  std::size_t failedA = 0, failedB = 0; ///< failed requests on each side
};

/// Compare two recordings of the same samples; different ids are an error.
/// Probability vectors of different lengths compare as maxAbsDiff = inf.
Expected<GoldenComparison> compareGolden(const GoldenRecord& a, const GoldenRecord& b);
nlohmann::json toJson(const GoldenComparison& c);

}  // namespace cvgate

namespace cvgate {

/// Load the model at `path` as the report subject `role` ("current" or
/// "candidate"), pinned to `sha256` when non-empty; fills report.subjects.
struct Report;
Expected<std::shared_ptr<Model>> loadSubject(const std::string& path, const std::string& sha256,
                                             const std::string& role, Report& report);

}  // namespace cvgate

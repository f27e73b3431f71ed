// The model as it is served: the archive's TorchScript module frozen
// (torch::jit::freeze: weights become constants, batch norms fold into their
// convolutions) and optimised for inference (torch::jit::optimize_for_inference:
// oneDNN convolutions with prepacked weights, linear layers as pretransposed
// matmuls), optionally fed channels-last. Evaluation and golden runs use this
// graph, so what is judged is what is served. Torch-free header.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/Error.h"
#include "runtime/Runtime.h"

namespace cvgate {

/// Which graph of a model a run uses.
enum class GraphKind {
  Serving,                         ///< servingModel(model): frozen + optimize_for_inference
  Archive,                         ///< the archive's module as loaded
};

/// A newly made serving graph of `base` (same manifest, sha256 and path, so
/// reports name the archive it came from). channelsLast: the module converts
/// its input to channels-last memory format before the first layer.
/// Errors: the module cannot be frozen or optimised (BadInput, with torch's
/// first line).
Expected<std::shared_ptr<Model>> makeServingModel(const Model& base, bool channelsLast = false);

/// The serving graph of `base`, made once per loaded model on first use
/// (thread-safe) and kept with it. A model that is already a transformed
/// variant (wrapModule: frozen, quantised...) is served as it is, and so is
/// one that cannot be frozen (servingNote says why).
const Model& servingModel(const Model& base);

/// What servingModel(base) is: "frozen + optimize_for_inference", "already a
/// transformed graph", or why the archive is served as it is.
std::string servingNote(const Model& base);

/// Whether servingModel(base) is another graph than the archive's.
bool servingTransformed(const Model& base);

/// The most full-size calls warmUp runs before an evaluation (fewer when
/// the calls settle sooner or 1 s has gone).
constexpr int kWarmupMaxCalls = 30;
/// The fewest it runs (unless 1 s has gone): a small model's calls still
/// speed up for several calls after the compile.
constexpr int kWarmupMinCalls = 8;

/// How a model is run for a batch evaluation: its serving graph, fed
/// channels-last when a short timed calibration finds that faster.
struct ServingPlan {
  const Model* model = nullptr;    ///< the graph to run (the archive as loaded when not transformed)
  std::shared_ptr<Model> owned;    ///< holds a graph made for this plan (channels-last)
  bool serving = false;            ///< model is a serving graph, not the archive as loaded
  std::string layout = "contiguous"; ///< "contiguous" or "channels-last"
  std::string note;                ///< servingNote, and why the layout
  int batch = 1;                   ///< evaluation batch size
  int calibrationImages = 0;       ///< images per timed calibration pass (0: none ran)
  double contiguousMs = 0;         ///< best calibration pass, contiguous input
  double channelsLastMs = 0;       ///< best calibration pass, channels-last input (0: not tried)
  int warmupBatch = 0;             ///< images per warm-up call: batch, or the evaluation if smaller
  int warmupTailBatch = 0;         ///< images of the evaluation's partial last batch, warmed up too (0: none)
  int warmupCalls = 0;             ///< calls run to settle the graph, the tail's included (0: no images)
  double warmupMs = 0;             ///< their time, ms
  double warmupLastMs = 0;         ///< the last (settled) one, ms
};

/// Plan the evaluation of `base` at `batch`: the serving graph, and for an
/// input of more than one channel, its input layout. `layout` ([runtime]
/// layout): "auto" times each layout three times after a warm-up on the
/// calibration images (up to one batch, at most 64; only timed, never scored)
/// and keeps channels-last when at least 5 % faster; "contiguous" or
/// "channels-last" take that layout untimed (the same on every host, as
/// shards of one evaluation need).
ServingPlan planServing(const Model& base, const std::vector<const Image*>& calibration, int batch,
                        const std::string& layout = "auto");

/// Warm the plan's graph up on batches of its batch size (fewer images when
/// `evaluationImages` is smaller; none when it is 0), the `images` over
/// again, after two calls at the size of the evaluation's partial last batch
/// if it has one, until its calls settle (TorchScript optimises a graph per input
/// shape on its first calls), so that the evaluation that follows times the
/// model, not the compiler: the last thing to run before the evaluation (a
/// call at another batch size in between has the graph optimised again).
/// Fills the plan's warmup fields.
void warmUp(ServingPlan& p, const std::vector<const Image*>& images, std::size_t evaluationImages);
nlohmann::json toJson(const ServingPlan& p);

/// Decisions of the serving graph against the archive's module as loaded,
/// on the same samples: top-1 and "confidence >= threshold" per sample.
struct ServingParity {
  std::size_t n = 0;               ///< samples compared
  std::size_t top1Differ = 0;      ///< top-1 labels that differ
  std::size_t decisionDiffer = 0;  ///< top-1 or threshold side differ, or one of the two failed
  double maxProbDiff = 0;          ///< largest absolute difference of a probability
  std::vector<std::string> differing; ///< ids of samples whose decision differs (first 20)
};
ServingParity compareServing(const Model& archive, const Model& serving, const std::vector<Sample>& samples,
                             int batch, double threshold);
nlohmann::json toJson(const ServingParity& p);

}  // namespace cvgate

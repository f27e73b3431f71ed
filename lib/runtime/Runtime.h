// The CV pipeline under test: decode -> preprocess -> TorchScript forward ->
// postprocess. This header keeps torch out of its includers: the model is a
// pimpl, tensors cross this boundary as plain float buffers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/Error.h"
#include "data/Dataset.h"
#include "model/Manifest.h"

namespace cvgate {

/// Torch thread settings. Inter-op threads can be set once per process,
/// before any parallel work; later calls with another value are errors.
struct ThreadSettings {
  int intraOp = 2;                 ///< at::set_num_threads
  int interOp = 1;                 ///< at::set_num_interop_threads
};
Status applyThreadSettings(const ThreadSettings& t);
/// What torch reports now: {intra, inter}.
ThreadSettings currentThreadSettings();
/// at::show_config() and the libtorch version string.
std::string torchBuildConfig();
std::string torchVersion();

/// Outcome of one request through the pipeline.
struct Prediction {
  bool ok = false;                 ///< false: the request failed (see error)
  std::string error;               ///< "exception: ...", "non-finite output", "wrong output shape ..."
  int top1 = -1;                   ///< predicted class index
  float confidence = 0.f;          ///< probability of top1
  std::vector<float> probs;        ///< softmax probabilities (or the model's, if it outputs them)
  std::vector<float> logits;       ///< raw outputs (logits, or probabilities for such models)
};

/// Wall time per stage of a batch, milliseconds.
struct StageTimes {
  double preprocessMs = 0;
  double forwardMs = 0;
  double postprocessMs = 0;
};

class ModelImpl;

/// A batch of inputs, rows of manifest().inputSize() floats (CHW) one after
/// another, in a tensor of its own that the model reads in place: made by
/// Model::newBatch, filled by preprocess(), run by Model::forward.
class InputBatch {
 public:
  float* row(std::size_t i) const { return data_ + i * per_; }
  std::size_t capacity() const { return capacity_; }

 private:
  friend class Model;
  std::shared_ptr<void> tensor_;   ///< the at::Tensor (this header is torch-free)
  float* data_ = nullptr;
  std::size_t capacity_ = 0, per_ = 0;
};

/// A loaded TorchScript model with its manifest.
class Model {
 public:
  /// Load an archive; its manifest comes from the embedded "cvgate.json" or
  /// the sidecar. expectedSha256 non-empty: refuse bytes that do not match.
  static Expected<std::shared_ptr<Model>> load(const std::string& path,
                                               const std::string& expectedSha256 = "");
  /// Load from an archive's bytes already read (once); `path` names them in
  /// messages and locates a sidecar manifest.
  static Expected<std::shared_ptr<Model>> fromBytes(const std::string& bytes, const std::string& path,
                                                    const std::string& expectedSha256 = "");
  ~Model();

  const Manifest& manifest() const;
  const std::string& sha256() const;
  const std::string& path() const;
  /// Where the manifest came from: "embedded" or the sidecar path.
  const std::string& manifestSource() const;
  /// Method names of the TorchScript module (e.g. "forward").
  std::vector<std::string> methods() const;

  /// Forward a batch of preprocessed inputs (each manifest().inputSize()
  /// floats, CHW). Returns one Prediction per input: an exception fails the
  /// whole batch, a wrong output shape fails it, a non-finite row fails that
  /// request only. Runs under inference mode.
  std::vector<Prediction> forward(const std::vector<const float*>& inputs,
                                  StageTimes* times = nullptr) const;
  /// Room for `n` inputs, to fill with preprocess() and give to forward().
  InputBatch newBatch(std::size_t n) const;
  /// forward() of the first `n` inputs of `batch` (n <= its capacity), read
  /// where they are rather than copied: the model may overwrite them, or keep
  /// a reference to them (the batch's tensor is reference-counted).
  std::vector<Prediction> forward(const InputBatch& batch, std::size_t n, StageTimes* times = nullptr) const;

  /// Save a copy of this model (same manifest embedded) to `path`.
  Status save(const std::string& path) const;
  /// The bytes save() writes.
  Expected<std::string> archiveBytes() const;

  ModelImpl& impl() const { return *impl_; }
  explicit Model(std::unique_ptr<ModelImpl> impl);

 private:
  std::unique_ptr<ModelImpl> impl_;
};

/// Preprocess one decoded image as the model's manifest says (docs/manifest.md):
/// colour conversion, resize (torchvision's on a PIL image when antialias is
/// set, else point sampling), centre crop, channel order, scale, normalise;
/// writes inputSize() floats (CHW).
Status preprocess(const Manifest& m, const Image& img, float* out);

/// Run the whole pipeline on decoded images, batched by `batchSize`.
std::vector<Prediction> runPipeline(const Model& model, const std::vector<const Image*>& images,
                                    int batchSize, StageTimes* times = nullptr);

/// Softmax of logits; top-1 and confidence filled in; non-finite -> !ok.
Prediction postprocess(const float* row, std::size_t n, bool outputsAreProbabilities);

}  // namespace cvgate

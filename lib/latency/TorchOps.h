// The torch side of profile-latency behind a torch-free header: model
// variants (frozen + inference-optimised, bfloat16, int8 dynamic and
// static), the
// operator-level profile of the forward pass, and the single-core GEMM rate.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/Error.h"
#include "data/Dataset.h"
#include "runtime/Roofline.h"
#include "runtime/Runtime.h"

namespace cvgate::latency {

/// A transformed copy of a model, or why it cannot be made here.
struct Variant {
  std::shared_ptr<Model> model;    ///< null when unavailable
  std::string unavailable;         ///< why not (empty when made)
  std::string note;                ///< what was done
};

/// transform: "frozen" (torch::jit::freeze + optimize_for_inference: the
/// serving graph, runtime/Serving.h), "bf16" (weights and compute in
/// bfloat16, float in and out, then frozen), "int8-dynamic" (int8 dynamic
/// quantisation of linear layers, as PyTorch's quantize_dynamic_jit with
/// default_dynamic_qconfig).
Variant makeVariant(const Model& base, const std::string& transform);

/// Static int8 post-training quantisation, what PyTorch's
/// quantize_jit(model, {"": qconfig}, calibrate, [batches]) makes with
/// qconfig = QConfig(activation=MinMaxObserver(quint8, per_tensor_affine,
/// 0..255), weight=PerChannelMinMaxObserver(qint8, per_channel_symmetric,
/// axis 0)): batch norms folded into their convolutions, observers on every
/// quantisable value, `calibration` run through the observed model in batches
/// of `batch` (preprocessed as the manifest says), then quantise/dequantise
/// inserted and fused into quantized::conv2d / quantized::linear with
/// prepacked weights on the current quantised engine, frozen. The calibration
/// images must not be the ones the variant is judged on (the caller's split).
/// Unavailable (with the reason) for no calibration images, a model with no
/// convolution or linear layer, or a graph the passes cannot convert.
Variant makeStaticInt8(const Model& base, const std::vector<Image>& calibration, int batch);

/// The variant as an archive can carry it: a sweep's patch ships one, and its
/// confirmation runs it from one in a new process. PyTorch does not serialise
/// every graph optimize_for_inference makes (it saves, then fails to load:
/// "required keyword attribute 'value' is undefined", pytorch#62706), so a
/// "frozen" variant whose archive does not load back is made again with
/// torch::jit::freeze alone, its note saying so; any other that does not load
/// back is unavailable, with why. A variant that loads back is returned as
/// it is.
Variant shippableVariant(Variant v, const Model& base, const std::string& transform);

/// How many prim::fork nodes the model's forward has (submodules inlined):
/// the only work libtorch's inter-op thread pool runs for a TorchScript
/// model. -1 when the graph cannot be read.
int forkCount(const Model& model);

/// at::globalContext().supportedQEngines(), as names.
std::vector<std::string> quantizedEngines();

struct OperatorStat {
  std::string name;
  double selfMs = 0;               ///< total self time over the profiled calls
  double totalMs = 0;              ///< total inclusive time
  std::int64_t calls = 0;
};
struct OperatorProfile {
  std::vector<OperatorStat> top;   ///< by self time, descending
  double profiledMs = 0;           ///< sum of self times of every operator
  int iterations = 0;
  int batch = 0;
  std::string chromeTrace;         ///< the trace's JSON text (Chrome trace events), if asked for
};

/// Profile `iterations` forward passes of batches of `batch` preprocessed
/// images with libtorch's (legacy) profiler; keep the `topN` operators by
/// self time. `chromeTrace`: also record a Chrome trace (its text in the result).
Expected<OperatorProfile> profileOperators(const Model& model, const std::vector<Image>& images,
                                           int batch, int iterations, std::size_t topN,
                                           bool chromeTrace);

/// Single-thread float32 GEMM (n x n, the fastest of at::mm and oneDNN) rate
/// in GFLOP/s over ~seconds (runtime/Roofline.h).
using cvgate::GemmResult;
using cvgate::gemmBench;
using cvgate::kRooflineGemmN;
using cvgate::kRooflineGemmSeconds;

}  // namespace cvgate::latency

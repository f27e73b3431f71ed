// Torch side of profile-latency: variants, operator profile, GEMM rate.
#include "latency/TorchOps.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/csrc/jit/passes/fold_conv_bn.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/quantization/finalize.h>
#include <torch/csrc/jit/passes/quantization/insert_observers.h>
#include <torch/csrc/jit/passes/quantization/insert_quant_dequant.h>
#include <torch/script.h>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "common/Fs.h"
#include "common/Limits.h"
#include "runtime/ModelImpl.h"
#include "runtime/Serving.h"

namespace cvgate::latency {

std::vector<std::string> quantizedEngines() {
  std::vector<std::string> out;
  for (auto e : at::globalContext().supportedQEngines()) out.push_back(c10::toString(e));
  return out;
}

namespace {
std::string firstLine(const std::exception& e) {
  // The first non-empty line, at most 300 characters.
  std::istringstream in(e.what());
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t") != std::string::npos) return line.substr(0, 300);
  return "unknown error";
}

// TorchScript compiled from C++ has no Python resolver: `torch.float32` and
// friends are not values there, so dtypes are written as their ScalarType
// numbers (checked at compile time below).
static_assert(static_cast<int>(c10::ScalarType::Float) == 6, "ScalarType numbering");
static_assert(static_cast<int>(c10::ScalarType::Long) == 4, "ScalarType numbering");
static_assert(static_cast<int>(c10::ScalarType::BFloat16) == 15, "ScalarType numbering");

// The observers of PyTorch's default_dynamic_qconfig, written for the graph
// passes behind torch.ao.quantization.quantize_dynamic_jit (which are C++;
// only their observer modules are Python). The passes read `dtype`,
// `qscheme` and `calculate_qparams`, and treat an observer whose type name
// contains "PlaceholderObserver" as the activation's: its scale is chosen at
// run time per batch (dynamic quantisation).
torch::jit::Module activationObserver() {
  torch::jit::Module m(c10::QualifiedName("__torch__.cvgate.quantization.PlaceholderObserver"));
  m.register_attribute("dtype", c10::IntType::get(), static_cast<std::int64_t>(c10::ScalarType::QUInt8));
  m.register_attribute("compute_dtype", c10::IntType::get(), static_cast<std::int64_t>(c10::ScalarType::QUInt8));
  m.register_attribute("custom_op", c10::StringType::get(), std::string());
  m.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n");
  return m;
}

// A per-tensor min-max observer (torch.ao.quantization.MinMaxObserver): the
// running range of what it sees, and `calculateQparams` (TorchScript) to
// turn it into a scale and zero point.
torch::jit::Module perTensorMinMaxObserver(const char* typeName, c10::ScalarType dtype, c10::QScheme qscheme,
                                           std::int64_t quantMin, std::int64_t quantMax,
                                           const std::string& calculateQparams) {
  torch::jit::Module m{c10::QualifiedName(typeName)};
  m.register_attribute("dtype", c10::IntType::get(), static_cast<std::int64_t>(dtype));
  m.register_attribute("qscheme", c10::IntType::get(), static_cast<std::int64_t>(qscheme));
  m.register_attribute("quant_min", c10::IntType::get(), quantMin);
  m.register_attribute("quant_max", c10::IntType::get(), quantMax);
  m.register_buffer("eps", torch::tensor({std::numeric_limits<float>::epsilon()}));
  m.register_buffer("min_val", torch::tensor(std::numeric_limits<float>::infinity()));
  m.register_buffer("max_val", torch::tensor(-std::numeric_limits<float>::infinity()));
  m.define(R"(
def forward(self, x_orig: Tensor) -> Tensor:
    if x_orig.numel() > 0:
        x = x_orig.detach().to(6)
        lo, hi = torch.aminmax(x)
        self.min_val.copy_(torch.min(lo, self.min_val))
        self.max_val.copy_(torch.max(hi, self.max_val))
    return x_orig
)" + calculateQparams);
  return m;
}

// MinMaxObserver(dtype=qint8, qscheme=per_tensor_symmetric): the weight's
// range, scale = max(|min|, |max|) / 127.5 (at least eps), zero point 0.
torch::jit::Module weightObserver() {
  return perTensorMinMaxObserver("__torch__.cvgate.quantization.SymmetricMinMaxObserver", c10::ScalarType::QInt8,
                                 c10::kPerTensorSymmetric, -128, 127, R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    zero = torch.zeros_like(self.min_val)
    lo = torch.min(self.min_val, zero)
    hi = torch.max(self.max_val, zero)
    hi = torch.max(-lo, hi)
    scale = hi / (float(self.quant_max - self.quant_min) / 2)
    scale = torch.max(scale, self.eps)
    zero_point = torch.zeros(scale.size(), dtype=4)
    return scale, zero_point
)");
}

// The observers of the static qconfig (torch.ao.quantization.observer), as
// TorchScript: the same buffers, the same arithmetic (_calculate_qparams),
// so the scales and zero points are PyTorch's to the bit.
// MinMaxObserver(dtype=quint8, qscheme=per_tensor_affine, 0..255): an
// activation's running range; scale = (max(hi, 0) - min(lo, 0)) / 255 (at
// least eps), zero point = -round(min(lo, 0) / scale) clamped to 0..255.
torch::jit::Module staticActivationObserver() {
  return perTensorMinMaxObserver("__torch__.cvgate.quantization.MinMaxObserver", c10::ScalarType::QUInt8,
                                 c10::kPerTensorAffine, 0, 255, R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    if bool(self.min_val == float("inf")) and bool(self.max_val == float("-inf")):
        return torch.ones([1], dtype=6), torch.zeros([1], dtype=4)
    zero = torch.zeros_like(self.min_val)
    lo = torch.min(self.min_val, zero)
    hi = torch.max(self.max_val, zero)
    scale = (hi - lo) / float(self.quant_max - self.quant_min)
    scale = torch.max(scale, self.eps)
    zero_point = self.quant_min - torch.round(lo / scale).to(3)
    zero_point = torch.clamp(zero_point, self.quant_min, self.quant_max)
    return scale.reshape([1]), zero_point.reshape([1])
)");
}

// PerChannelMinMaxObserver(dtype=qint8, qscheme=per_channel_symmetric,
// ch_axis=0): each output channel's weight range; scale = max(|min|, |max|)
// / 127.5 (at least eps), zero point 0.
torch::jit::Module perChannelWeightObserver() {
  torch::jit::Module m(c10::QualifiedName("__torch__.cvgate.quantization.PerChannelMinMaxObserver"));
  m.register_attribute("dtype", c10::IntType::get(), static_cast<std::int64_t>(c10::ScalarType::QInt8));
  m.register_attribute("qscheme", c10::IntType::get(), static_cast<std::int64_t>(c10::kPerChannelSymmetric));
  m.register_attribute("ch_axis", c10::IntType::get(), std::int64_t{0});
  m.register_attribute("quant_min", c10::IntType::get(), std::int64_t{-128});
  m.register_attribute("quant_max", c10::IntType::get(), std::int64_t{127});
  m.register_buffer("eps", torch::tensor({std::numeric_limits<float>::epsilon()}));
  m.register_buffer("min_val", torch::empty({0}));
  m.register_buffer("max_val", torch::empty({0}));
  m.define(R"(
def forward(self, x_orig: Tensor) -> Tensor:
    if x_orig.numel() > 0:
        y = torch.flatten(x_orig.detach().to(6).transpose(0, self.ch_axis), 1)
        lo, hi = torch.aminmax(y, dim=1)
        if self.min_val.numel() > 0:
            lo = torch.min(lo, self.min_val)
            hi = torch.max(hi, self.max_val)
        self.min_val.resize_(lo.shape)
        self.max_val.resize_(hi.shape)
        self.min_val.copy_(lo)
        self.max_val.copy_(hi)
    return x_orig

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    zero = torch.zeros_like(self.min_val)
    lo = torch.min(self.min_val, zero)
    hi = torch.max(self.max_val, zero)
    hi = torch.max(-lo, hi)
    scale = hi / (float(self.quant_max - self.quant_min) / 2)
    scale = torch.max(scale, self.eps)
    zero_point = torch.zeros(scale.size(), dtype=4)
    return scale, zero_point
)");
  return m;
}

/// How many nodes of `kind` the module's forward graph has, submodule
/// calls inlined, nested blocks included.
int countOps(const torch::jit::Module& m, const char* kind) {
  const auto sym = c10::Symbol::fromQualString(kind);
  std::shared_ptr<torch::jit::Graph> g = m.get_method("forward").graph()->copy();
  torch::jit::Inline(*g);
  int n = 0;
  std::vector<torch::jit::Block*> todo{g->block()};
  while (!todo.empty()) {
    torch::jit::Block* b = todo.back();
    todo.pop_back();
    for (torch::jit::Node* node : b->nodes()) {
      if (node->kind() == sym) ++n;
      for (torch::jit::Block* sub : node->blocks()) todo.push_back(sub);
    }
  }
  return n;
}
}  // namespace

int forkCount(const Model& model) {
  try {
    return countOps(model.impl().module, "prim::fork");
  } catch (const std::exception&) {
    return -1;
  }
}

Variant makeStaticInt8(const Model& base, const std::vector<Image>& calibration, int batch) {
  Variant v;
  const ModelImpl& impl = base.impl();
  const Manifest& man = impl.manifest;
  if (calibration.empty()) {
    v.unavailable = "no calibration images (static quantisation calibrates on a split of its own)";
    return v;
  }
  if (man.inputShape.size() != 3) {
    v.unavailable = "static quantisation needs a [C, H, W] input shape";
    return v;
  }
  batch = std::max(1, batch);
  try {
    torch::jit::Module m = impl.module.clone();
    m.eval();
    m = torch::jit::FoldConvBatchNorm(m);
    torch::jit::QConfigDict qconfig;
    qconfig[""] = std::make_tuple(staticActivationObserver(), perChannelWeightObserver());
    torch::jit::Module observed =
        torch::jit::InsertObservers(m, "forward", qconfig, /*inplace=*/false, torch::jit::QuantType::STATIC);
    // Calibration: the observers see every batch, as quantize_jit's run_fn.
    {
      torch::NoGradGuard noGrad;
      const std::size_t per = man.inputSize();
      for (std::size_t i = 0; i < calibration.size(); i += static_cast<std::size_t>(batch)) {
        const std::int64_t n = static_cast<std::int64_t>(std::min(calibration.size() - i, static_cast<std::size_t>(batch)));
        at::Tensor x = torch::empty({n, man.inputShape[0], man.inputShape[1], man.inputShape[2]}, torch::kFloat32);
        for (std::int64_t k = 0; k < n; ++k) {
          Status st = preprocess(man, calibration[i + static_cast<std::size_t>(k)], x.data_ptr<float>() + k * static_cast<std::int64_t>(per));
          if (!st.ok()) {
            v.unavailable = "calibration image " + std::to_string(i + static_cast<std::size_t>(k)) + ": " + st.error().message();
            return v;
          }
        }
        observed.forward({x});
      }
    }
    torch::jit::Module converted = torch::jit::InsertQuantDeQuant(observed, "forward", /*inplace=*/true,
                                                                  /*debug=*/false, torch::jit::QuantType::STATIC);
    torch::jit::Module q = torch::jit::Finalize(converted, torch::jit::QuantType::STATIC, {});
    const int conv = countOps(q, "quantized::conv2d") + countOps(q, "quantized::conv2d_relu");
    const int linear = countOps(q, "quantized::linear") + countOps(q, "quantized::linear_relu");
    if (conv + linear == 0) {
      v.unavailable = "the model has no convolution or linear layer that static quantisation applies to";
      return v;
    }
    v.model = wrapModule(q, man, "", "");
    v.note = std::to_string(conv) + " convolution(s) and " + std::to_string(linear) +
             " linear layer(s) in int8 (weights per-channel symmetric, activations per-tensor affine from "
             "min-max observers over " + std::to_string(calibration.size()) + " calibration images), engine " +
             c10::toString(at::globalContext().qEngine()) + ", frozen";
  } catch (const std::exception& e) {
    v.model.reset();
    v.unavailable = "int8-static failed: " + firstLine(e);
  }
  return v;
}

Variant makeVariant(const Model& base, const std::string& transform) {
  Variant v;
  const ModelImpl& impl = base.impl();
  try {
    if (transform == "frozen") {
      auto s = makeServingModel(base, false);
      if (!s.ok()) {
        v.unavailable = s.error().message();
        return v;
      }
      v.model = wrapModule(s->get()->impl().module, impl.manifest, "", "");
      v.note = "torch::jit::freeze + torch::jit::optimize_for_inference";
    } else if (transform == "bf16") {
      torch::jit::Module inner = impl.module.clone();
      inner.eval();
      inner.to(torch::kBFloat16);
      torch::jit::Module w(c10::QualifiedName("__torch__.cvgate.Bf16Wrapper"));
      w.register_module("inner", inner);
      w.define("def forward(self, x: Tensor) -> Tensor:\n"
               "    return self.inner.forward(x.to(15)).float()\n");  // 15: bfloat16
      w.eval();
      torch::jit::Module frozen = torch::jit::freeze(w);
      v.model = wrapModule(frozen, impl.manifest, "", "");
      v.note = "weights and activations in bfloat16 (float32 in and out), frozen";
    } else if (transform == "int8-dynamic") {
      // What quantize_dynamic_jit(model, {"": default_dynamic_qconfig}) does:
      // observe, insert quantise/dequantise, fuse into quantized::linear_dynamic
      // with prepacked int8 weights, freeze. Only linear layers are quantised.
      torch::jit::Module m = impl.module.clone();
      m.eval();
      torch::jit::QConfigDict qconfig;
      qconfig[""] = std::make_tuple(activationObserver(), weightObserver());
      torch::jit::Module observed =
          torch::jit::InsertObservers(m, "forward", qconfig, /*inplace=*/false, torch::jit::QuantType::DYNAMIC);
      torch::jit::Module converted = torch::jit::InsertQuantDeQuant(observed, "forward", /*inplace=*/true,
                                                                    /*debug=*/false, torch::jit::QuantType::DYNAMIC);
      torch::jit::Module q = torch::jit::Finalize(converted, torch::jit::QuantType::DYNAMIC, {});
      const int linear = countOps(q, "quantized::linear_dynamic");
      if (linear == 0) {
        v.unavailable = "the model has no linear layer that dynamic quantisation applies to";
        return v;
      }
      v.model = wrapModule(q, impl.manifest, "", "");
      v.note = std::to_string(linear) + " linear layer" + (linear == 1 ? "" : "s") +
               " as quantized::linear_dynamic (int8 per-tensor symmetric weights, activations quantised per "
               "batch), engine " + c10::toString(at::globalContext().qEngine()) + ", frozen";
    } else {
      v.unavailable = "unknown transform '" + transform + "'";
    }
  } catch (const std::exception& e) {
    v.model.reset();
    v.unavailable = transform + " failed: " + firstLine(e);
  }
  return v;
}

namespace {
/// "" when `m` loads back from the bytes it saves (those save() writes, by
/// the path Model::load reads them), else what the save or the load said.
std::string reloadProblem(const Model& m, const std::string& transform) {
  auto bytes = m.archiveBytes();
  if (!bytes.ok()) return bytes.error().message();
  if (bytes->size() > limits().maxModelBytes)
    return "its archive is " + fmtBytes(bytes->size()) + ", above the " + fmtBytes(limits().maxModelBytes) +
           " a model archive may be ([limits] max_model_mb)";
  auto back = Model::fromBytes(*bytes, "the " + transform + " variant's archive");
  return back.ok() ? std::string() : back.error().message();
}
}  // namespace

Variant shippableVariant(Variant v, const Model& base, const std::string& transform) {
  if (!v.model) return v;
  const std::string why = reloadProblem(*v.model, transform);
  if (why.empty()) return v;
  if (transform != "frozen") {
    Variant none;
    none.unavailable = transform + ": its archive does not load back (" + why + "), so no patch could ship it";
    return none;
  }
  Variant f;
  try {
    const ModelImpl& impl = base.impl();
    torch::jit::Module m = impl.module.clone();
    m.eval();
    torch::jit::Module frozen = torch::jit::freeze(m);
    f.model = wrapModule(frozen, impl.manifest, "", "");
    const std::string again = reloadProblem(*f.model, transform);
    if (!again.empty()) {
      f.model.reset();
      f.unavailable = "frozen: its archive does not load back, with optimize_for_inference (" + why +
                      ") or without (" + again + ")";
      return f;
    }
    f.note = "torch::jit::freeze alone: the graph torch::jit::optimize_for_inference makes of this model does not "
             "load back from an archive (" + why + "), and a patch ships an archive";
  } catch (const std::exception& e) {
    f.model.reset();
    f.unavailable = "frozen failed: " + firstLine(e);
  }
  return f;
}

Expected<OperatorProfile> profileOperators(const Model& model, const std::vector<Image>& images,
                                           int batch, int iterations, std::size_t topN,
                                           bool chromeTrace) {
  namespace prof = torch::autograd::profiler;
  if (images.empty()) return badInput("operator profile: no input images");
  const Manifest& m = model.manifest();
  const std::size_t per = m.inputSize();
  std::vector<float> buf(static_cast<std::size_t>(batch) * per);
  std::vector<const float*> ptrs;
  for (int k = 0; k < batch; ++k) {
    float* dst = buf.data() + static_cast<std::size_t>(k) * per;
    CVGATE_TRY(preprocess(m, images[static_cast<std::size_t>(k) % images.size()], dst));
    ptrs.push_back(dst);
  }
  OperatorProfile out;
  out.iterations = iterations;
  out.batch = batch;
  model.forward(ptrs);  // not profiled: first-call effects
  prof::thread_event_lists lists;
  try {
    prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
    for (int i = 0; i < iterations; ++i) model.forward(ptrs);
    lists = prof::disableProfilerLegacy();
  } catch (const std::exception& e) {
    return internalError("operator profile: " + firstLine(e));
  }
  struct Agg { double self = 0, total = 0; std::int64_t calls = 0; };
  std::map<std::string, Agg> agg;
  for (const auto& list : lists) {
    struct Open { const prof::LegacyEvent* ev; double child; };
    std::vector<Open> stack;
    for (const auto& ev : list) {
      if (ev.kind() == prof::EventKind::PushRange) {
        stack.push_back({&ev, 0.0});
      } else if (ev.kind() == prof::EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        const double us = o.ev->cpuElapsedUs(ev);
        Agg& a = agg[o.ev->name()];
        a.total += us / 1000.0;
        a.self += std::max(0.0, us - o.child) / 1000.0;
        ++a.calls;
        if (!stack.empty()) stack.back().child += us;
      }
    }
  }
  for (const auto& [name, a] : agg) {
    out.top.push_back({name, a.self, a.total, a.calls});
    out.profiledMs += a.self;
  }
  std::sort(out.top.begin(), out.top.end(), [](const OperatorStat& x, const OperatorStat& y) { return x.selfMs > y.selfMs; });
  if (out.top.size() > topN) out.top.resize(topN);
  if (chromeTrace) {
    // The profiler writes a file of its own: a private temporary one, read
    // back; the caller writes the trace where it was asked for.
    std::error_code ec;
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "cvgate-trace-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) return internalError("cannot make a temporary file for the Chrome trace: " + tmpl);
    ::close(fd);
    try {
      {
        prof::RecordProfile guard(tmpl);
        for (int i = 0; i < std::min(iterations, 5); ++i) model.forward(ptrs);
      }
    } catch (const std::exception& e) {
      ::unlink(tmpl.c_str());
      return internalError("cannot record the Chrome trace: " + firstLine(e));
    }
    auto trace = readFile(tmpl);
    ::unlink(tmpl.c_str());
    if (!trace.ok()) return trace.error();
    out.chromeTrace = std::move(*trace);
  }
  return out;
}

}  // namespace cvgate::latency

// Torch side of Roofline.h: FLOPs from the frozen graph, the GEMM rate.
#include "runtime/Roofline.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/symbolic_shape_analysis.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>

#include "common/Cpus.h"
#include "runtime/ModelImpl.h"

namespace cvgate {

namespace {

using Clock = std::chrono::steady_clock;
using Shape = std::vector<std::int64_t>;

/// A value's concrete sizes: from its (propagated) tensor type, or from the
/// constant it is (a frozen weight).
std::optional<Shape> shapeOf(torch::jit::Value* v) {
  if (auto t = v->type()->cast<c10::TensorType>()) {
    if (auto s = t->sizes().concrete_sizes()) return *s;
  }
  if (auto iv = torch::jit::toIValue(v); iv && iv->isTensor()) {
    const auto sz = iv->toTensor().sizes();
    return Shape(sz.begin(), sz.end());
  }
  return std::nullopt;
}

double numel(const Shape& s) {
  double n = 1;
  for (auto d : s) n *= static_cast<double>(d);
  return n;
}

std::string describe(const torch::jit::Node* n) {
  std::ostringstream out;
  out << n->kind().toQualString();
  if (n->outputs().size() == 1) out << " -> %" << n->output()->debugName();
  return out.str();
}

/// FLOPs of one node, nullopt when a needed shape is unknown; 0 for a kind
/// that is not counted.
std::optional<double> nodeFlops(torch::jit::Node* n, bool* counted) {
  const std::string kind = n->kind().toQualString();
  *counted = true;
  auto in = [&](std::size_t i) -> std::optional<Shape> {
    return i < n->inputs().size() ? shapeOf(n->inputs()[i]) : std::nullopt;
  };
  auto out = [&]() -> std::optional<Shape> { return n->outputs().size() == 1 ? shapeOf(n->output()) : std::nullopt; };
  static const char* convs[] = {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::convolution",
                                "aten::_convolution"};
  static const char* transposed[] = {"aten::conv_transpose1d", "aten::conv_transpose2d", "aten::conv_transpose3d"};
  if (std::find(std::begin(convs), std::end(convs), kind) != std::end(convs) ||
      std::find(std::begin(transposed), std::end(transposed), kind) != std::end(transposed)) {
    bool isTransposed = std::find(std::begin(transposed), std::end(transposed), kind) != std::end(transposed);
    if ((kind == "aten::convolution" || kind == "aten::_convolution") && n->inputs().size() > 6) {
      auto t = torch::jit::toIValue(n->inputs()[6]);
      if (!t || !t->isBool()) return std::nullopt;
      isTransposed = t->toBool();
    }
    auto w = in(1);
    if (!w || w->size() < 2) return std::nullopt;
    const double perOut = numel(Shape(w->begin() + 1, w->end()));  // (C_in / groups) x kernel
    if (isTransposed) {
      // Each input element is scattered into (C_out / groups) x kernel outputs.
      auto x = in(0);
      if (!x) return std::nullopt;
      return 2.0 * numel(*x) * perOut;
    }
    auto o = out();
    if (!o) return std::nullopt;
    return 2.0 * numel(*o) * perOut;
  }
  if (kind == "aten::linear") {
    auto x = in(0), w = in(1);
    if (!x || !w || w->empty() || x->empty()) return std::nullopt;
    const double outFeatures = w->size() == 2 ? static_cast<double>((*w)[0]) : 1.0;
    return 2.0 * numel(*x) * outFeatures;
  }
  // Products: 2 x (output elements) x (inner dimension).
  if (kind == "aten::matmul" || kind == "aten::mm" || kind == "aten::bmm" || kind == "aten::addmm" ||
      kind == "aten::baddbmm" || kind == "aten::addbmm") {
    const std::size_t a = (kind == "aten::addmm" || kind == "aten::baddbmm" || kind == "aten::addbmm") ? 1 : 0;
    auto x = in(a), o = out();
    if (!x || !o || x->empty()) return std::nullopt;
    double outElems = numel(*o);
    if (kind == "aten::addbmm") {
      // sum over the batch of [n, k] x [k, m]: the output is [n, m].
      outElems *= static_cast<double>((*x)[0]);
    }
    return 2.0 * outElems * static_cast<double>(x->back());
  }
  if (kind == "aten::einsum" || kind == "aten::tensordot" || kind == "aten::bilinear" ||
      kind == "aten::_convolution_mode" || kind == "aten::conv2d_padding") {
    return std::nullopt;  // counted kinds this walker does not resolve
  }
  *counted = false;
  return 0.0;
}

}  // namespace

Expected<FlopCount> countFlops(const Model& model) {
  const ModelImpl& impl = model.impl();
  const Manifest& m = impl.manifest;
  if (m.inputShape.size() != 3) return badInput("'" + impl.path + "': FLOPs need a [C, H, W] input shape");
  std::shared_ptr<torch::jit::Graph> g;
  try {
    // Frozen: weights become constants of known shape (and batch norms fold
    // into their convolutions, as when served).
    torch::jit::Module mod = impl.module.clone();
    mod.eval();
    torch::jit::Module frozen = torch::jit::freeze(mod);
    g = frozen.get_method("forward").graph()->copy();
    torch::jit::Inline(*g);
    if (g->inputs().size() < 2) return badInput("'" + impl.path + "': forward takes no input");
    if (g->inputs()[0]->hasUses())
      return badInput("'" + impl.path + "': the frozen forward still reads module attributes: FLOPs not counted");
    g->eraseInput(0);
    const at::Tensor example = torch::empty({1, m.inputShape[0], m.inputShape[1], m.inputShape[2]}, torch::kFloat32);
    g->inputs()[0]->setType(c10::TensorType::create(example));
    torch::jit::PropagateShapesOnGraph(g);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return badInput("'" + impl.path + "': cannot read the graph for FLOPs: " + what.substr(0, what.find('\n')));
  }
  FlopCount f;
  std::vector<torch::jit::Block*> todo{g->block()};
  while (!todo.empty()) {
    torch::jit::Block* b = todo.back();
    todo.pop_back();
    for (torch::jit::Node* n : b->nodes()) {
      for (torch::jit::Block* sub : n->blocks()) todo.push_back(sub);
      bool counted = false;
      auto fl = nodeFlops(n, &counted);
      if (!counted) continue;
      if (!fl) {
        f.unresolved.push_back(describe(n));
        f.complete = false;
        continue;
      }
      ++f.nodes;
      f.perImage += *fl;
      f.byKind[n->kind().toQualString()] += *fl;
    }
  }
  return f;
}

nlohmann::json toJson(const FlopCount& f) {
  return {{"flops_per_image", f.perImage}, {"by_kind", f.byKind}, {"nodes", f.nodes},
          {"complete", f.complete}, {"unresolved", f.unresolved},
          {"method", "2 x multiply-accumulates of conv, linear, matmul, mm, addmm, bmm, baddbmm on the inlined, "
                     "frozen graph, shapes propagated from the manifest's input shape at batch 1"}};
}

bool hasOneDnn() { return at::hasMKLDNN(); }

GemmResult gemmBench(int n, double seconds, int windows) {
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  GemmResult g;
  g.n = n;
  g.windows = std::max(1, windows);
  torch::manual_seed(0);
  const at::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  at::Tensor c = torch::empty({n, n});
  struct Engine {
    GemmEngine result;
    std::function<void()> once;
    std::vector<double> rates;
  };
  std::vector<Engine> engines;
  engines.push_back({GemmEngine{"blas"}, [&] { at::mm_out(c, a, b); }, {}});
  if (hasOneDnn()) {
    // a x b^T as oneDNN's inner product: the input in oneDNN's layout, the
    // weight as it is (the serving graph's prepacked convolutions, by the
    // same kernels). A libtorch whose oneDNN cannot run it has BLAS alone.
    try {
      const at::Tensor am = a.to_mkldnn();
      at::Tensor probe = at::mkldnn_linear(am, b);
      if (probe.size(0) == n && probe.size(1) == n)
        engines.push_back({GemmEngine{"onednn"}, [am, &b] { (void)at::mkldnn_linear(am, b); }, {}});
    } catch (const std::exception&) {
    }
  }
  for (auto& e : engines)
    for (int i = 0; i < 3; ++i) e.once();
  const double flopsPerMm = 2.0 * static_cast<double>(n) * n * n;
  const double windowS = seconds / static_cast<double>(g.windows * static_cast<int>(engines.size()));
  // The engines' windows take turns, so a disturbed moment falls on both.
  for (int w = 0; w < g.windows; ++w) {
    for (auto& e : engines) {
      const auto t0 = Clock::now();
      double el = 0;
      std::int64_t it = 0;
      while (el < windowS || it == 0) {
        e.once();
        ++it;
        el = std::chrono::duration<double>(Clock::now() - t0).count();
      }
      e.result.iterations += it;
      e.result.seconds += el;
      e.rates.push_back(flopsPerMm * static_cast<double>(it) / el / 1e9);
    }
  }
  for (auto& e : engines) {
    std::sort(e.rates.begin(), e.rates.end());
    e.result.gflops = e.rates.back();
    e.result.gflopsMin = e.rates.front();
    const std::size_t m = e.rates.size() / 2;
    e.result.gflopsMedian = e.rates.size() % 2 == 1 ? e.rates[m] : (e.rates[m - 1] + e.rates[m]) / 2;
    g.iterations += e.result.iterations;
    g.seconds += e.result.seconds;
    if (e.result.gflops > g.gflops) {
      g.engine = e.result.name;
      g.gflops = e.result.gflops;
      g.gflopsMedian = e.result.gflopsMedian;
      g.gflopsMin = e.result.gflopsMin;
    }
    g.engines.push_back(e.result);
  }
  at::set_num_threads(before);
  return g;
}

nlohmann::json toJson(const GemmResult& g) {
  nlohmann::json engines = nlohmann::json::object();
  for (const auto& e : g.engines)
    engines[e.name] = {{"gflops_best", e.gflops}, {"gflops_median", e.gflopsMedian}, {"gflops_min", e.gflopsMin},
                       {"iterations", e.iterations}, {"seconds", e.seconds}};
  return {{"n", g.n},
          {"seconds", g.seconds},
          {"iterations", g.iterations},
          {"windows", g.windows},
          {"engine", g.engine},
          {"gflops_best", g.gflops},
          {"gflops_median", g.gflopsMedian},
          {"gflops_min", g.gflopsMin},
          {"engines", engines}};
}

double Roofline::imagesPerS(double flopsPerImage) const {
  return flopsPerImage > 0 && gflopsPerCore > 0 ? gflops() * 1e9 / flopsPerImage : 0.0;
}

double Roofline::fraction(double rate, double flopsPerImage) const {
  const double roof = imagesPerS(flopsPerImage);
  return roof > 0 ? rate / roof : std::numeric_limits<double>::quiet_NaN();
}

int coresUsed(int workers, int intraOpThreads) {
  // The CPUs this process may run on (a Slurm allocation, taskset, a cgroup),
  // not the machine's: threads beyond them share those CPUs.
  const int allowed = affinityCores();
  const int hw = allowed > 0 ? allowed : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::clamp(std::max(1, workers) * std::max(1, intraOpThreads), 1, hw);
}

nlohmann::json rooflineJson(const Roofline& r, double flopsPerImage, double rate) {
  const double frac = r.fraction(rate, flopsPerImage);
  return {{"flops_per_image", flopsPerImage},
          {"gemm_gflops_per_core", r.gflopsPerCore},
          {"cores", r.cores},
          {"roofline_gflops", r.gflops()},
          {"roofline_images_per_s", r.imagesPerS(flopsPerImage)},
          {"images_per_s", rate},
          {"achieved_gflops", rate * flopsPerImage / 1e9},
          {"roofline_fraction", std::isfinite(frac) ? nlohmann::json(frac) : nlohmann::json(nullptr)}};
}

}  // namespace cvgate

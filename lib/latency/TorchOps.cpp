// Torch side of profile-latency: variants, operator profile, GEMM rate.
#include "latency/TorchOps.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/script.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

#include "runtime/ModelImpl.h"

namespace cvgate::latency {

using Clock = std::chrono::steady_clock;

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
}  // namespace

Variant makeVariant(const Model& base, const std::string& transform) {
  Variant v;
  const ModelImpl& impl = base.impl();
  try {
    if (transform == "frozen") {
      torch::jit::Module m = impl.module.clone();
      m.eval();
      torch::jit::Module frozen = torch::jit::freeze(m);
      frozen = torch::jit::optimize_for_inference(frozen);
      v.model = wrapModule(frozen, impl.manifest, "", "");
      v.note = "torch::jit::freeze + torch::jit::optimize_for_inference";
    } else if (transform == "bf16") {
      torch::jit::Module inner = impl.module.clone();
      inner.eval();
      inner.to(torch::kBFloat16);
      torch::jit::Module w(c10::QualifiedName("__torch__.cvgate.Bf16Wrapper"));
      w.register_module("inner", inner);
      w.define("def forward(self, x: Tensor) -> Tensor:\n"
               "    return self.inner(x.to(torch.bfloat16)).float()\n");
      w.eval();
      torch::jit::Module frozen = torch::jit::freeze(w);
      v.model = wrapModule(frozen, impl.manifest, "", "");
      v.note = "weights and activations in bfloat16 (float32 in and out), frozen";
    } else if (transform == "int8-dynamic") {
      std::string engines;
      for (const auto& e : quantizedEngines()) engines += (engines.empty() ? "" : ", ") + e;
      v.unavailable = "libtorch " + torchVersion() +
                      " has no C++ entry point for dynamic quantisation (quantize_dynamic and the "
                      "graph-mode quantize_dynamic_jit are Python-side, in torch.ao.quantization); "
                      "quantised engines built in: " + (engines.empty() ? std::string("none") : engines) +
                      ". Not attempted rather than approximated.";
    } else {
      v.unavailable = "unknown transform '" + transform + "'";
    }
  } catch (const std::exception& e) {
    v.model.reset();
    v.unavailable = transform + " failed: " + firstLine(e);
  }
  return v;
}

Expected<OperatorProfile> profileOperators(const Model& model, const std::vector<Image>& images,
                                           int batch, int iterations, std::size_t topN,
                                           const std::string& chromeTrace) {
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
  if (!chromeTrace.empty()) {
    try {
      prof::RecordProfile guard(chromeTrace);
      for (int i = 0; i < std::min(iterations, 5); ++i) model.forward(ptrs);
    } catch (const std::exception& e) {
      return badInput("'" + chromeTrace + "': cannot write the Chrome trace: " + firstLine(e));
    }
    out.chromeTrace = chromeTrace;
  }
  return out;
}

GemmResult gemmBench(int n, double seconds) {
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  GemmResult g;
  g.n = n;
  torch::manual_seed(0);
  at::Tensor a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  for (int i = 0; i < 3; ++i) at::mm_out(c, a, b);
  const auto t0 = Clock::now();
  double el = 0;
  while (el < seconds) {
    at::mm_out(c, a, b);
    ++g.iterations;
    el = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  g.seconds = el;
  g.gflops = 2.0 * static_cast<double>(n) * n * n * static_cast<double>(g.iterations) / el / 1e9;
  at::set_num_threads(before);
  return g;
}

}  // namespace cvgate::latency

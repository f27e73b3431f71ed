// Torch side of Serving.h: the frozen, inference-optimised graph of a model.
#include "runtime/Serving.h"

#include <torch/script.h>

#include <spdlog/spdlog.h>

#include "common/Limits.h"
#include "common/Watchdog.h"
#include "runtime/ModelImpl.h"

namespace cvgate {

// TorchScript compiled from C++ has no Python resolver: the memory format is
// written as its number.
static_assert(static_cast<int>(c10::MemoryFormat::ChannelsLast) == 2, "MemoryFormat numbering");

Expected<std::shared_ptr<Model>> makeServingModel(const Model& base, bool channelsLast) {
  const ModelImpl& impl = base.impl();
  try {
    Deadline watch(limits().modelTimeoutS, "'" + impl.path + "': freezing the model");
    torch::jit::Module m = impl.module.clone();
    m.eval();
    if (channelsLast) {
      torch::jit::Module w(c10::QualifiedName("__torch__.cvgate.ChannelsLast"));
      w.register_module("inner", m);
      w.define("def forward(self, x: Tensor) -> Tensor:\n"
               "    return self.inner.forward(x.contiguous(memory_format=2))\n");  // 2: channels_last
      w.eval();
      m = w;
    }
    torch::jit::Module frozen = torch::jit::freeze(m);
    frozen = torch::jit::optimize_for_inference(frozen);
    return wrapModule(frozen, impl.manifest, impl.sha256, impl.path);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return badInput("'" + impl.path + "': cannot make the serving graph (freeze + optimize_for_inference" +
                    (channelsLast ? ", channels-last" : "") + "): " + what.substr(0, what.find('\n')));
  }
}

namespace {
void ensureServing(const Model& base) {
  const ModelImpl& impl = base.impl();
  std::call_once(impl.servingOnce, [&] {
    if (impl.transformed) {
      impl.servingNote = "already a transformed graph: served as it is";
      return;
    }
    auto s = makeServingModel(base, false);
    if (s.ok()) {
      impl.serving = *s;
      impl.servingNote = "torch::jit::freeze + torch::jit::optimize_for_inference";
    } else {
      impl.servingNote = "the archive's graph as loaded: " + s.error().message();
      spdlog::warn("{}", impl.servingNote);
    }
  });
}
}  // namespace

const Model& servingModel(const Model& base) {
  ensureServing(base);
  const ModelImpl& impl = base.impl();
  return impl.serving ? *impl.serving : base;
}

std::string servingNote(const Model& base) {
  ensureServing(base);
  return base.impl().servingNote;
}

bool servingTransformed(const Model& base) {
  ensureServing(base);
  return base.impl().serving != nullptr || base.impl().transformed;
}

}  // namespace cvgate

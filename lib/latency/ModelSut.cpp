#include "latency/ModelSut.h"

#include <chrono>

namespace cvgate::latency {

using Clock = std::chrono::steady_clock;

ModelSut::ModelSut(std::shared_ptr<const Model> model, const std::vector<Image>* images, std::string label)
    : model_(std::move(model)), images_(images), label_(std::move(label)) {}

std::vector<Completion> ModelSut::issue(const std::vector<std::size_t>& inputs) {
  const Manifest& m = model_->manifest();
  const std::size_t per = m.inputSize();
  std::vector<Completion> out(inputs.size());
  const auto t0 = Clock::now();
  std::vector<float> buf(inputs.size() * per);
  std::vector<const float*> ptrs;
  std::vector<std::size_t> slot;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    float* dst = buf.data() + k * per;
    auto st = preprocess(m, (*images_)[inputs[k] % images_->size()], dst);
    if (!st.ok()) {
      out[k].error = "preprocess: " + st.error().message();
      continue;
    }
    ptrs.push_back(dst);
    slot.push_back(k);
  }
  const double preMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  StageTimes times;
  auto preds = model_->forward(ptrs, &times);
  for (std::size_t j = 0; j < preds.size() && j < slot.size(); ++j) {
    Completion& c = out[slot[j]];
    c.ok = preds[j].ok;
    c.error = preds[j].error;
  }
  for (auto& c : out) {
    c.preprocessMs = preMs;
    c.forwardMs = times.forwardMs;
    c.postprocessMs = times.postprocessMs;
  }
  return out;
}

}  // namespace cvgate::latency

#include "latency/ModelSut.h"

#include <chrono>

namespace cvgate::latency {

using Clock = std::chrono::steady_clock;

Expected<std::vector<SutInput>> loadSutInputs(const Dataset& ds, std::size_t n) {
  std::vector<SutInput> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n && i < ds.size(); ++i) {
    SutInput in;
    CVGATE_TRY_ASSIGN(enc, ds.encoded(i));
    if (!enc.empty()) {
      CVGATE_TRY_ASSIGN(s, ds.get(i));  // decodes once: a broken file fails here, not in a timed run
      in.id = s.id;
      in.encoded = std::move(enc);
    } else {
      CVGATE_TRY_ASSIGN(s, ds.get(i));
      in.id = s.id;
      in.image = std::move(s.image);
    }
    out.push_back(std::move(in));
  }
  return out;
}

ModelSut::ModelSut(std::shared_ptr<const Model> model, const std::vector<SutInput>* inputs, std::string label)
    : model_(std::move(model)), inputs_(inputs), label_(std::move(label)) {}

std::vector<Completion> ModelSut::issue(const std::vector<std::size_t>& inputs) {
  const Manifest& m = model_->manifest();
  std::vector<Completion> out(inputs.size());
  const auto t0 = Clock::now();
  const InputBatch buf = model_->newBatch(inputs.size());
  std::size_t packed = 0;  // inputs preprocessed, one after another in buf
  std::vector<std::size_t> slot;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    float* dst = buf.row(packed);
    const SutInput& in = (*inputs_)[inputs[k] % inputs_->size()];
    Image decoded;
    if (!in.encoded.empty()) {
      auto img = decodeImage(in.encoded, in.id);
      if (!img.ok()) {
        out[k].error = "decode: " + img.error().message();
        continue;
      }
      decoded = std::move(*img);
    }
    auto st = preprocess(m, in.encoded.empty() ? in.image : decoded, dst);
    if (!st.ok()) {
      out[k].error = "preprocess: " + st.error().message();
      continue;
    }
    ++packed;
    slot.push_back(k);
  }
  const double preMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  StageTimes times;
  auto preds = model_->forward(buf, packed, &times);
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

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "common/Fs.h"
#include "common/Time.h"
#include "common/Limits.h"
#include "common/Watchdog.h"
#include "common/Sha256.h"
#include "runtime/ModelImpl.h"
#include "runtime/Output.h"

namespace cvgate {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Status applyThreadSettings(const ThreadSettings& t) {
  static std::mutex mu;
  static int interSet = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (t.intraOp < 1 || t.interOp < 1) return badInput("thread counts: expected at least 1");
  at::set_num_threads(t.intraOp);
  if (interSet == 0) {
    try {
      at::set_num_interop_threads(t.interOp);
      interSet = t.interOp;
    } catch (const c10::Error&) {
      interSet = at::get_num_interop_threads();
    }
  }
  if (interSet != t.interOp)
    spdlog::warn("inter-op threads already {} in this process; {} ignored", interSet, t.interOp);
  return okStatus();
}

ThreadSettings currentThreadSettings() {
  return ThreadSettings{at::get_num_threads(), at::get_num_interop_threads()};
}

std::string torchBuildConfig() { return at::show_config(); }
std::string torchVersion() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

Model::Model(std::unique_ptr<ModelImpl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
const Manifest& Model::manifest() const { return impl_->manifest; }
const std::string& Model::sha256() const { return impl_->sha256; }
const std::string& Model::path() const { return impl_->path; }
const std::string& Model::manifestSource() const { return impl_->manifestSource; }

std::vector<std::string> Model::methods() const {
  std::vector<std::string> out;
  for (const auto& m : impl_->module.get_methods()) out.push_back(m.name());
  return out;
}

std::shared_ptr<Model> wrapModule(torch::jit::Module module, const Manifest& manifest,
                                  const std::string& sha256, const std::string& path) {
  auto impl = std::make_unique<ModelImpl>();
  impl->module = std::move(module);
  impl->module.eval();
  impl->manifest = manifest;
  impl->sha256 = sha256;
  impl->path = path;
  impl->manifestSource = "embedded";
  impl->transformed = true;
  return std::make_shared<Model>(std::move(impl));
}

Expected<std::shared_ptr<Model>> Model::load(const std::string& path,
                                             const std::string& expectedSha256) {
  auto bytes = readFile(path, limits().maxModelBytes);
  if (!bytes.ok()) return bytes.error();
  return fromBytes(*bytes, path, expectedSha256);
}

Expected<std::shared_ptr<Model>> Model::fromBytes(const std::string& archive, const std::string& path,
                                                  const std::string& expectedSha256) {
  const std::string* bytes = &archive;
  std::string sha = sha256Hex(*bytes);
  if (!expectedSha256.empty() && sha != expectedSha256)
    return badInput("'" + path + "': sha256 " + sha.substr(0, 12) + "… does not match the expected " +
                    expectedSha256.substr(0, 12) + "… (tampered or wrong file)");
  auto impl = std::make_unique<ModelImpl>();
  torch::jit::ExtraFilesMap extra{{kManifestExtraFile, ""}};
  try {
    std::istringstream in(*bytes);
    Deadline watch(limits().modelTimeoutS, "'" + path + "': model load");
    impl->module = torch::jit::load(in, torch::kCPU, extra);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return badInput("'" + path + "': not a loadable TorchScript archive: " + what);
  }
  impl->module.eval();
  std::string manifestText = extra[kManifestExtraFile];
  impl->manifestSource = "embedded";
  if (manifestText.empty()) {
    const std::string side = findSidecarManifest(path);
    if (side.empty())
      return badInput("'" + path + "': no manifest: expected an embedded extra file '" +
                      std::string(kManifestExtraFile) + "' or a sidecar '" + sidecarManifestName(path) + "'");
    auto t = readFile(side);
    if (!t.ok()) return t.error();
    manifestText = *t;
    impl->manifestSource = side;
    // A pin names the archive's bytes; a sidecar beside them is not covered
    // by it. The registry embeds it when it stages the model, and the
    // registry's sha256 (what the heartbeat pins and reports name) covers both.
    if (!expectedSha256.empty())
      spdlog::warn("'{}': its sha256 pin covers the archive, not its sidecar manifest '{}'; "
                   "stage it (model-registry stage) or embed it (model-registry embed) to pin both",
                   path, side);
  }
  auto m = parseManifest(manifestText, impl->manifestSource == "embedded" ? path + "!cvgate.json"
                                                                          : impl->manifestSource);
  if (!m.ok()) return m.error();
  if (!impl->module.find_method("forward"))
    return badInput("'" + path + "': the TorchScript module has no forward method");
  impl->manifest = std::move(*m);
  impl->sha256 = sha;
  impl->path = path;
  return std::make_shared<Model>(std::move(impl));
}

namespace {

/// Forward the batch of n inputs that `makeBatch` gives (timed as part of the
/// forward stage) through the model, and postprocess each row.
std::vector<Prediction> forwardBatch(ModelImpl& impl, std::int64_t n,
                                     const std::function<at::Tensor()>& makeBatch, StageTimes* times) {
  const Manifest& m = impl.manifest;
  const std::size_t classes = m.labels.size();
  std::vector<Prediction> out(static_cast<std::size_t>(n));
  auto fail = [&](const std::string& why) {
    for (auto& p : out) {
      p = Prediction{};
      p.error = why;
    }
    return out;
  };
  auto t0 = Clock::now();
  at::Tensor result;
  try {
    c10::InferenceMode guard;
    at::Tensor batch = makeBatch();
    torch::jit::IValue r;
    {
      Deadline watch(limits().modelTimeoutS, "'" + impl.path + "': forward pass of a batch of " + std::to_string(n));
      r = impl.module.forward({batch});
    }
    auto scores = selectOutput(r, m);  // the tensor, or the manifest's output_index / output_key of several
    if (!scores) return fail(scores.error().message());
    result = scores->to(torch::kFloat32).contiguous();
  } catch (const std::exception& e) {
    std::string what = e.what();
    return fail("exception: " + what.substr(0, what.find('\n')));
  }
  if (times) times->forwardMs += msSince(t0);
  auto t1 = Clock::now();
  if (result.dim() != 2 || result.size(0) != n || result.size(1) != static_cast<std::int64_t>(classes)) {
    std::string shape = "[";
    for (std::int64_t d = 0; d < result.dim(); ++d) shape += (d ? ", " : "") + std::to_string(result.size(d));
    shape += "]";
    return fail("wrong output shape " + shape + ": expected [" + std::to_string(n) + ", " +
                std::to_string(classes) + "]");
  }
  const float* rows = result.data_ptr<float>();
  const bool probabilities = m.output == "probabilities";
  at::parallel_for(0, n, 16, [&](std::int64_t from, std::int64_t to) {  // rows are independent
    for (std::int64_t i = from; i < to; ++i)
      out[static_cast<std::size_t>(i)] = postprocess(rows + static_cast<std::size_t>(i) * classes, classes, probabilities);
  });
  if (times) times->postprocessMs += msSince(t1);
  return out;
}

}  // namespace

std::vector<Prediction> Model::forward(const std::vector<const float*>& inputs,
                                       StageTimes* times) const {
  if (inputs.empty()) return {};
  const Manifest& m = impl_->manifest;
  const auto n = static_cast<std::int64_t>(inputs.size());
  const std::size_t per = m.inputSize();
  return forwardBatch(*impl_, n, [&] {
    at::Tensor batch = torch::empty({n, m.inputShape[0], m.inputShape[1], m.inputShape[2]}, torch::kFloat32);
    float* dst = batch.data_ptr<float>();
    for (std::int64_t i = 0; i < n; ++i)
      std::memcpy(dst + static_cast<std::size_t>(i) * per, inputs[static_cast<std::size_t>(i)], per * sizeof(float));
    return batch;
  }, times);
}

InputBatch Model::newBatch(std::size_t n) const {
  const Manifest& m = impl_->manifest;
  auto t = std::make_shared<at::Tensor>(torch::empty(
      {static_cast<std::int64_t>(n), m.inputShape[0], m.inputShape[1], m.inputShape[2]}, torch::kFloat32));
  InputBatch b;
  b.data_ = t->data_ptr<float>();
  b.capacity_ = n;
  b.per_ = m.inputSize();
  b.tensor_ = std::move(t);
  return b;
}

std::vector<Prediction> Model::forward(const InputBatch& batch, std::size_t n, StageTimes* times) const {
  if (n == 0) return {};
  if (n > batch.capacity_ || !batch.tensor_)
    throw std::logic_error("Model::forward: " + std::to_string(n) + " inputs of a batch of " +
                           std::to_string(batch.capacity_));
  const at::Tensor& t = *static_cast<const at::Tensor*>(batch.tensor_.get());
  const auto rows = static_cast<std::int64_t>(n);
  return forwardBatch(*impl_, rows, [&] { return n == batch.capacity_ ? t : t.narrow(0, 0, rows); }, times);
}

Expected<std::string> Model::archiveBytes() const {
  torch::jit::ExtraFilesMap extra{{kManifestExtraFile, toJson(impl_->manifest).dump(2)}};
  std::ostringstream bytes;
  try {
    impl_->module.save(bytes, extra);
  } catch (const std::exception& e) {
    return internalError("cannot save model '" + impl_->manifest.name + "': " + std::string(e.what()).substr(0, 200));
  }
  return bytes.str();
}

Status Model::save(const std::string& path) const {
  auto bytes = archiveBytes();
  if (!bytes.ok()) return internalError("'" + path + "': " + bytes.error().message());
  return writeOutputFile(path, *bytes);
}

std::vector<Prediction> runPipeline(const Model& model, const std::vector<const Image*>& images,
                                    int batchSize, StageTimes* times) {
  const Manifest& m = model.manifest();
  const std::size_t per = m.inputSize();
  std::vector<Prediction> out;
  out.reserve(images.size());
  if (images.empty()) return out;
  // One batch's room, reused: a model that keeps a reference to its input
  // keeps the tensor alive, never freed memory.
  const InputBatch buf = model.newBatch(std::min(images.size(), static_cast<std::size_t>(batchSize)));
  for (std::size_t start = 0; start < images.size(); start += static_cast<std::size_t>(batchSize)) {
    std::size_t end = std::min(images.size(), start + static_cast<std::size_t>(batchSize));
    auto t0 = Clock::now();
    std::vector<Prediction> batchOut(end - start);
    // Preprocess on the intra-op threads the model will use (each image into
    // its own row), then pack the rows that succeeded one after another: the
    // model reads them where they are, with no copy into a batch of its own.
    at::parallel_for(static_cast<std::int64_t>(start), static_cast<std::int64_t>(end), 1,
                     [&](std::int64_t from, std::int64_t to) {
                       for (auto i = static_cast<std::size_t>(from); i < static_cast<std::size_t>(to); ++i) {
                         auto st = preprocess(m, *images[i], buf.row(i - start));
                         if (!st.ok()) batchOut[i - start].error = "preprocess: " + st.error().message();
                       }
                     });
    std::size_t packed = 0;
    std::vector<std::size_t> slot;  // index into batchOut for each packed input
    for (std::size_t k = 0; k < batchOut.size(); ++k) {
      if (!batchOut[k].error.empty()) continue;
      if (packed != k) std::memmove(buf.row(packed), buf.row(k), per * sizeof(float));
      ++packed;
      slot.push_back(k);
    }
    if (times) times->preprocessMs += msSince(t0);
    auto preds = model.forward(buf, packed, times);
    for (std::size_t k = 0; k < preds.size(); ++k) batchOut[slot[k]] = std::move(preds[k]);
    for (auto& p : batchOut) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace cvgate

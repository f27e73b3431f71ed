#include "Train.h"

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "common/Fs.h"
#include "common/Sha256.h"
#include "runtime/Runtime.h"

namespace cvgate {

namespace {

const char* kMlpSource = R"JIT(
def forward(self, x):
    x = torch.flatten(x, 1)
    x = torch.relu(torch.linear(x, self.fc1_w, self.fc1_b))
    return torch.linear(x, self.fc2_w, self.fc2_b)
)JIT";

const char* kCnnSource = R"JIT(
def forward(self, x):
    x = torch.relu(torch.conv2d(x, self.conv1_w, self.conv1_b, [1, 1], [1, 1]))
    x = torch.max_pool2d(x, [2, 2], [2, 2])
    x = torch.relu(torch.conv2d(x, self.conv2_w, self.conv2_b, [1, 1], [1, 1]))
    x = torch.max_pool2d(x, [2, 2], [2, 2])
    x = torch.flatten(x, 1)
    x = torch.relu(torch.linear(x, self.fc1_w, self.fc1_b))
    return torch.linear(x, self.fc2_w, self.fc2_b)
)JIT";

/// PyTorch's default initialisation for Linear/Conv: kaiming_uniform(a=sqrt(5))
/// on the weight, uniform(+-1/sqrt(fan_in)) on the bias.
void addLayer(torch::jit::Module& m, const std::string& name, std::vector<int64_t> wshape) {
  int64_t fanIn = 1;
  for (std::size_t i = 1; i < wshape.size(); ++i) fanIn *= wshape[i];
  double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
  auto w = torch::empty(wshape).uniform_(-bound, bound);
  auto b = torch::empty({wshape[0]}).uniform_(-bound, bound);
  m.register_parameter(name + "_w", w.requires_grad_(true), false);
  m.register_parameter(name + "_b", b.requires_grad_(true), false);
}

/// The whole split as one tensor [N,1,H,W] (normalised) plus labels [N].
struct Tensors {
  torch::Tensor x, y;
};

Expected<Tensors> toTensors(const Dataset& ds, double mean, double stdv) {
  auto first = ds.get(0);
  if (!first.ok()) return first.error();
  const int H = first->image.height, W = first->image.width;
  const auto n = static_cast<int64_t>(ds.size());
  auto x = torch::empty({n, 1, H, W});
  auto y = torch::empty({n}, torch::kLong);
  float* px = x.data_ptr<float>();
  int64_t* py = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    auto s = ds.get(static_cast<std::size_t>(i));
    if (!s.ok()) return s.error();
    if (s->image.channels != 1 || s->image.height != H || s->image.width != W)
      return badInput("'" + ds.describe() + "': train-model expects greyscale images of one size");
    for (int k = 0; k < H * W; ++k)
      px[i * H * W + k] = static_cast<float>((s->image.pixels[static_cast<std::size_t>(k)] / 255.0 - mean) / stdv);
    py[i] = s->label;
  }
  return Tensors{x, y};
}

}  // namespace

Expected<TrainResult> trainModel(const TrainOptions& o, const Dataset& train, const Dataset& test) {
  if (o.arch != "mlp" && o.arch != "cnn") return badInput("--arch '" + o.arch + "': expected mlp or cnn");
  if (train.size() == 0 || test.size() == 0) return badInput("training and test data must not be empty");
  at::set_num_threads(o.threads);
  torch::manual_seed(o.seed);

  // Normalisation measured on the training data.
  double sum = 0, sq = 0;
  std::size_t count = 0;
  int H = 0, W = 0;
  for (std::size_t i = 0; i < train.size(); ++i) {
    auto s = train.get(i);
    if (!s.ok()) return s.error();
    H = s->image.height;
    W = s->image.width;
    for (auto p : s->image.pixels) {
      double v = p / 255.0;
      sum += v;
      sq += v * v;
      ++count;
    }
  }
  double mean = sum / static_cast<double>(count);
  double stdv = std::sqrt(sq / static_cast<double>(count) - mean * mean);
  spdlog::info("normalisation from {} training images: mean {:.4f}, std {:.4f}", train.size(), mean, stdv);

  CVGATE_TRY_ASSIGN(tr, toTensors(train, mean, stdv));
  CVGATE_TRY_ASSIGN(te, toTensors(test, mean, stdv));
  int64_t maxLabel = std::max(tr.y.max().item<int64_t>(), te.y.max().item<int64_t>());
  const auto classes = static_cast<int64_t>(o.labels.size());
  if (maxLabel >= classes)
    return badInput("label " + std::to_string(maxLabel) + " out of range for " +
                    std::to_string(classes) + " class names (see --labels)");

  torch::jit::Module m(o.arch == "mlp" ? "FashionMLP" : "FashionCNN");
  if (o.arch == "mlp") {
    addLayer(m, "fc1", {o.hidden, static_cast<int64_t>(H) * W});
    addLayer(m, "fc2", {classes, o.hidden});
    m.define(kMlpSource);
  } else {
    addLayer(m, "conv1", {16, 1, 3, 3});
    addLayer(m, "conv2", {32, 16, 3, 3});
    addLayer(m, "fc1", {o.hidden, 32 * (H / 4) * (W / 4)});
    addLayer(m, "fc2", {classes, o.hidden});
    m.define(kCnnSource);
  }
  std::vector<torch::Tensor> params;
  for (const auto& p : m.parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(o.learningRate));

  std::mt19937_64 rng(o.seed);
  const auto n = tr.x.size(0);
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  auto t0 = std::chrono::steady_clock::now();
  m.train();
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    auto idx = torch::from_blob(order.data(), {n}, torch::kLong).clone();
    double lossSum = 0;
    int64_t batches = 0;
    for (int64_t start = 0; start < n; start += o.batchSize) {
      auto sel = idx.slice(0, start, std::min(n, start + o.batchSize));
      auto xb = tr.x.index_select(0, sel);
      auto yb = tr.y.index_select(0, sel);
      opt.zero_grad();
      auto logits = m.forward({xb}).toTensor();
      auto loss = torch::nn::functional::cross_entropy(logits, yb);
      loss.backward();
      opt.step();
      lossSum += loss.item<double>();
      ++batches;
    }
    spdlog::info("epoch {}/{}: mean loss {:.4f}", epoch, o.epochs, lossSum / static_cast<double>(batches));
  }
  TrainResult res;
  res.trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.eval();
  {
    torch::NoGradGuard ng;
    auto pred = m.forward({te.x}).toTensor().argmax(1);
    res.testAccuracy = pred.eq(te.y).to(torch::kDouble).mean().item<double>();
  }
  for (auto p : m.parameters()) p.requires_grad_(false);
  res.trainSamples = train.size();
  res.testSamples = test.size();

  Manifest& man = res.manifest;
  man.name = o.name;
  man.version = o.version;
  man.inputShape = {1, H, W};
  man.colour = "grey";
  man.resizeH = H;
  man.resizeW = W;
  man.mean = {mean};
  man.std = {stdv};
  man.labels = o.labels;
  man.training = {{"recipe", "train-model"},
                  {"arch", o.arch},
                  {"epochs", o.epochs},
                  {"batch_size", o.batchSize},
                  {"learning_rate", o.learningRate},
                  {"hidden", o.hidden},
                  {"seed", o.seed},
                  {"threads", o.threads},
                  {"train_data_sha256", train.sha256()},
                  {"test_data_sha256", test.sha256()},
                  {"test_accuracy", res.testAccuracy},
                  {"train_seconds", std::round(res.trainSeconds * 10) / 10},
                  {"libtorch", torchVersion()}};
  torch::jit::ExtraFilesMap extra{{kManifestExtraFile, toJson(man).dump(2)}};
  std::ostringstream bytes;
  try {
    m.save(bytes, extra);
  } catch (const std::exception& e) {
    return badInput("'" + o.out + "': cannot save: " + std::string(e.what()).substr(0, 200));
  }
  const std::string archive = bytes.str();
  res.sha256 = sha256Hex(archive);
  CVGATE_TRY(writeOutputFile(o.out, archive));
  return res;
}

}  // namespace cvgate

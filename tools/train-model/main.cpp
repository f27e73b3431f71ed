// train-model: train a reference image classifier on IDX data with libtorch
// and write a TorchScript archive with its manifest embedded.
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

#include "Train.h"
#include "common/Cli.h"
#include "common/ExitCodes.h"
#include "common/Strings.h"

using namespace cvgate;

int main(int argc, char** argv) {
  const std::string tool = "train-model";
  CLI::App app{"Train a reference image classifier (MLP or CNN) on IDX data such as Fashion-MNIST\n"
               "with libtorch, and write a standard TorchScript archive with its cvgate manifest\n"
               "embedded as the extra file 'cvgate.json'. Loads in PyTorch with torch.jit.load.",
               tool};
  CommonOptions common;
  addLoggingOptions(app, common);
  TrainOptions o;
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string labels =
      "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot";
  app.add_option("--arch", o.arch, "architecture: mlp or cnn")->capture_default_str()
      ->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--name", o.name, "model name written to the manifest")->required();
  app.add_option("--model-version", o.version, "model version written to the manifest")->capture_default_str();
  app.add_option("--data-dir", dir, "directory with train-/t10k- IDX files (gzipped or not)")->capture_default_str();
  app.add_option("--epochs", o.epochs, "passes over the training data")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--batch-size", o.batchSize, "minibatch size")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--lr", o.learningRate, "Adam learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--hidden", o.hidden, "hidden units of the dense layer")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--seed", o.seed, "seed for initialisation and shuffling")->capture_default_str();
  app.add_option("--threads", o.threads, "torch threads while training")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--labels", labels, "class names in label order, comma separated")->capture_default_str();
  app.add_option("-o,--out", o.out, "archive to write")->required();
  app.footer("Exit status: 0 model trained and written, 2 bad usage or input, 1 internal error.\n"
             "Example: train-model --arch cnn --name fashion-cnn-v2 --epochs 3 --out models/fashion-cnn-v2.pt");
  return runTool(app, tool, common, argc, argv, [&]() -> Expected<int> {
    o.labels.clear();
    std::string cur;
    for (char c : labels + ",") {
      if (c == ',') {
        if (!cur.empty()) o.labels.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (o.labels.size() < 2) return badInput("--labels: expected at least 2 comma-separated names");
    auto pick = [&](const std::string& stem) -> std::string {
      for (const char* ext : {".gz", ""}) {
        std::string p = dir + "/" + stem + ext;
        if (std::ifstream(p)) return p;
      }
      return dir + "/" + stem + ".gz";
    };
    CVGATE_TRY_ASSIGN(train, openIdx(pick("train-images-idx3-ubyte"), pick("train-labels-idx1-ubyte")));
    CVGATE_TRY_ASSIGN(test, openIdx(pick("t10k-images-idx3-ubyte"), pick("t10k-labels-idx1-ubyte")));
    spdlog::info("training {} '{}' on {}, testing on {} images", o.arch, o.name,
                 train->describe(), test->size());
    CVGATE_TRY_ASSIGN(res, trainModel(o, *train, *test));
    const nlohmann::json summary = {{"model", o.name},
                                    {"out", o.out},
                                    {"sha256", res.sha256},
                                    {"test_accuracy", std::round(res.testAccuracy * 1e4) / 1e4},
                                    {"train_seconds", std::round(res.trainSeconds * 10) / 10}};
    std::cout << summary.dump() << "\n";
    return exitcode::kGo;
  });
}

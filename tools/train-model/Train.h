// Training of the reference models with libtorch: the architecture is
// written as TorchScript source on a torch::jit::Module, so the trained
// module saves as a standard archive that torch.jit.load reads.
#pragma once

#include <string>
#include <vector>

#include "common/Error.h"
#include "data/Dataset.h"
#include "model/Manifest.h"

namespace cvgate {

struct TrainOptions {
  std::string arch = "mlp";        ///< "mlp" or "cnn"
  std::string name;                ///< manifest name
  std::string version = "1.0.0";   ///< manifest version
  int epochs = 2;                  ///< passes over the training data
  int batchSize = 64;              ///< minibatch size
  double learningRate = 1e-3;      ///< Adam learning rate
  int hidden = 64;                 ///< hidden units of the MLP / the CNN's dense layer
  std::uint64_t seed = 1;          ///< seeds initialisation and shuffling
  int threads = 2;                 ///< torch intra-op threads while training
  std::vector<std::string> labels; ///< class names, in label order
  std::string out;                 ///< archive to write
};

struct TrainResult {
  double trainSeconds = 0;
  double testAccuracy = 0;
  std::size_t trainSamples = 0, testSamples = 0;
  std::string sha256;  ///< of the archive's bytes as written (the output may be a pipe or a device)
  Manifest manifest;
};

Expected<TrainResult> trainModel(const TrainOptions& opts, const Dataset& train, const Dataset& test);

}  // namespace cvgate

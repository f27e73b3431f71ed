// The config of the sharded-evaluation end-to-end tests (e2e_shard_test.cpp,
// e2e_shard_merge_test.cpp): the reference models on Fashion-MNIST or a
// data set given as a [dataset] section.
#pragma once

#include <fstream>
#include <string>

#include "TempDir.h"

namespace cvgate::testing::shard {

inline const std::string kSrc = CVGATE_SOURCE_DIR;
inline const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
inline const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

inline std::string config(const TempDir& t, const std::string& name, const std::string& dataset,
                          const std::string& extraCompliance, const std::string& candidate = "fashion-cnn-v2.pt") {
  const std::string path = t.file(name + ".toml");
  std::ofstream(path) << "state_dir = \"" << t.file("state") << "\"\n"
                      << "[models]\ncurrent = \"" << kSrc << "/models/fashion-mlp-v1.pt\"\n"
                      << "candidate = \"" << kSrc << "/models/" << candidate << "\"\n"
                      << dataset << "[runtime]\nintra_op_threads = 2\n"
                      << "[compliance]\nthreshold = 0.7\nbootstrap_resamples = 1000\nmin_per_class = 5\n"
                      << extraCompliance;
  return path;
}

inline const std::string kIdx = "[dataset]\nformat = \"idx\"\nimages = \"" + kImages + "\"\nlabels = \"" + kLabels + "\"\n";

}  // namespace cvgate::testing::shard

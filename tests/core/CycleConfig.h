// The config a whole-cycle test runs on (tests/e2e/heartbeat_test.cpp,
// tests/slurm/heartbeat_slurm_test.cpp): the two models, 3000 Fashion-MNIST
// test images, a 32-image golden set and the checks' sample sizes, then what
// the test adds. One text, so that a local and a Slurm cycle are judged alike.
#pragma once

#include <fstream>
#include <string>

namespace cvgate::testing {

inline void writeCycleConfig(const std::string& path, const std::string& stateDir, const std::string& current,
                             const std::string& candidate, const std::string& extraToml) {
  std::ofstream(path) << "state_dir = \"" << stateDir << "\"\n"
                      << "[models]\ncurrent = \"" << current << "\"\ncandidate = \"" << candidate << "\"\n"
                      << "[dataset]\nimages = \"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\"\n"
                      << "labels = \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\"\nlimit = 3000\n"
                      << "[golden]\ncount = 32\n"
                      << "[compliance]\nthreshold = 0.7\nbootstrap_resamples = 1000\n"
                      << "[rollback]\ndrill_repeats = 60\n"
                      << "[integration]\nbehaviour_samples = 256\n"
                      << extraToml;
}

}  // namespace cvgate::testing

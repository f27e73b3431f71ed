// Torch side of Model, for the files of the runtime (and of areas that
// transform models, such as latency's variants) that include torch anyway.
#pragma once

#include <torch/script.h>

#include <mutex>

#include "runtime/Runtime.h"

namespace cvgate {

class ModelImpl {
 public:
  torch::jit::Module module;
  Manifest manifest;
  std::string sha256;
  std::string path;
  std::string manifestSource;
  /// Already a transformed graph (wrapModule: frozen, quantised...): served as it is.
  bool transformed = false;
  /// The serving graph (runtime/Serving.h), made once on first use.
  mutable std::once_flag servingOnce;
  mutable std::shared_ptr<Model> serving;
  mutable std::string servingNote;
};

/// Wrap an in-memory module (e.g. a frozen or quantised variant) as a Model.
std::shared_ptr<Model> wrapModule(torch::jit::Module module, const Manifest& manifest,
                                  const std::string& sha256, const std::string& path);

}  // namespace cvgate

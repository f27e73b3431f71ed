// Which of a model's outputs holds the class scores: the tensor forward
// returns, or, for a model that returns several (a tuple, a list, a dict),
// the element the manifest names (output_index, output_key). Used by
// Model::forward and by any other forward path of the runtime.
#pragma once

#include <torch/script.h>

#include "common/Error.h"
#include "model/Manifest.h"

namespace cvgate {

/// The scores tensor in forward's result `r`, or an error for the request
/// ("wrong output type: ...") that says what was returned and which manifest
/// field would select a tensor from it.
Expected<at::Tensor> selectOutput(const c10::IValue& r, const Manifest& m);

}  // namespace cvgate

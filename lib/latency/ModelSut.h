// The SystemUnderTest over a cvgate::Model: its inputs are held in memory
// before timing, as the data set stores them: an encoded image (PNG, JPEG) is
// decoded per request, raw pixels (IDX) are used as they are. Each batch is
// decoded and preprocessed (timed as the preprocess stage), forwarded and
// postprocessed: latency runs from decode to postprocess (DESIGN.md section
// 7). Torch-free (uses runtime/Runtime.h).
#pragma once

#include <memory>
#include <vector>

#include "data/Dataset.h"
#include "latency/Sut.h"
#include "runtime/Runtime.h"

namespace cvgate::latency {

/// One request input as the data set stores it.
struct SutInput {
  std::string id;                  ///< the sample's id, for messages
  std::string encoded;             ///< PNG or JPEG bytes, decoded per request; empty: use `image`
  Image image;                     ///< raw pixels (when not encoded)
};

/// The inputs of data set samples [0, n): encoded bytes where the data set
/// keeps them, decoded pixels otherwise.
Expected<std::vector<SutInput>> loadSutInputs(const Dataset& ds, std::size_t n);

class ModelSut final : public SystemUnderTest {
 public:
  /// `inputs` must outlive the SUT.
  ModelSut(std::shared_ptr<const Model> model, const std::vector<SutInput>* inputs, std::string label);
  std::string name() const override { return label_; }
  std::size_t inputCount() const override { return inputs_->size(); }
  std::vector<Completion> issue(const std::vector<std::size_t>& inputs) override;

 private:
  std::shared_ptr<const Model> model_;
  const std::vector<SutInput>* inputs_;
  std::string label_;
};

}  // namespace cvgate::latency

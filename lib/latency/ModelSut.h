// The SystemUnderTest over a cvgate::Model: decoded images held in memory
// before timing; each batch is preprocessed (timed as the decode/preprocess
// stage), forwarded and postprocessed. Torch-free (uses runtime/Runtime.h).
#pragma once

#include <memory>
#include <vector>

#include "data/Dataset.h"
#include "latency/Sut.h"
#include "runtime/Runtime.h"

namespace cvgate::latency {

class ModelSut final : public SystemUnderTest {
 public:
  /// `images` must outlive the SUT.
  ModelSut(std::shared_ptr<const Model> model, const std::vector<Image>* images, std::string label);
  std::string name() const override { return label_; }
  std::size_t inputCount() const override { return images_->size(); }
  std::vector<Completion> issue(const std::vector<std::size_t>& inputs) override;

 private:
  std::shared_ptr<const Model> model_;
  const std::vector<Image>* images_;
  std::string label_;
};

}  // namespace cvgate::latency

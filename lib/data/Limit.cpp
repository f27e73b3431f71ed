// limitDataset: the first N samples of another data set.
#include <algorithm>
#include <string>
#include <utility>

#include "common/Sha256.h"
#include "data/Dataset.h"

namespace cvgate {

namespace {

class LimitedDataset final : public Dataset {
 public:
  LimitedDataset(std::unique_ptr<Dataset> inner, std::size_t limit)
      : inner_(std::move(inner)), size_(std::min(limit, inner_->size())) {
    // A prefix is different content, so it gets its own hash: reports made on
    // 1000 samples and on 10000 must not claim the same data set.
    sha_ = sha256Hex("cvgate.limit/1\n" + inner_->sha256() + "\n" + std::to_string(size_) + "\n");
  }

  std::size_t size() const override { return size_; }
  const std::vector<std::string>& classes() const override { return inner_->classes(); }
  const std::string& sha256() const override { return sha_; }
  std::string describe() const override {
    return inner_->describe() + ", first " + std::to_string(size_);
  }
  std::string key(std::size_t i) const override { return i < size_ ? inner_->key(i) : std::string(); }
  std::string slice(std::size_t i) const override { return i < size_ ? inner_->slice(i) : std::string(); }
  bool classesAreIndices() const override { return inner_->classesAreIndices(); }
  Expected<std::string> encoded(std::size_t i) const override {
    if (i >= size_) return internalError("sample index " + std::to_string(i) + " out of range");
    return inner_->encoded(i);
  }
  Expected<Sample> get(std::size_t i) const override {
    if (i >= size_)
      return internalError("sample index " + std::to_string(i) + " out of range (size " +
                           std::to_string(size_) + ")");
    return inner_->get(i);
  }

 private:
  std::unique_ptr<Dataset> inner_;
  std::size_t size_;
  std::string sha_;
};

}  // namespace

std::unique_ptr<Dataset> limitDataset(std::unique_ptr<Dataset> inner, std::size_t limit) {
  if (!inner || limit == 0 || limit >= inner->size()) return inner;  // the whole set, same hash
  return std::make_unique<LimitedDataset>(std::move(inner), limit);
}

}  // namespace cvgate

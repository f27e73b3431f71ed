// The system under test, as MLPerf LoadGen has it: the load generator issues
// batches of requests and gets one completion per request with its stage
// times. Torch-free: the model-backed SUT lives in ModelSut.h, fakes here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cvgate::latency {

/// The result of one request.
struct Completion {
  bool ok = false;                 ///< false: the request failed
  std::string error;               ///< "exception: ...", "non-finite output", "wrong output shape ..."
  double preprocessMs = 0;         ///< decode/preprocess stage of its batch
  double forwardMs = 0;            ///< forward pass of its batch
  double postprocessMs = 0;        ///< postprocess of its batch
};

/// What the load generator drives. issue() is called from several worker
/// threads at once and must be thread-safe; it runs the batch synchronously.
class SystemUnderTest {
 public:
  virtual ~SystemUnderTest() = default;
  /// Short name for logs and reports.
  virtual std::string name() const = 0;
  /// How many distinct inputs there are; request i uses input i % inputCount().
  virtual std::size_t inputCount() const = 0;
  /// Run the requests (input indices) as one batch; one Completion each, in order.
  virtual std::vector<Completion> issue(const std::vector<std::size_t>& inputs) = 0;
};

/// Returns at once: measures the generator's own overhead.
class NoopSut final : public SystemUnderTest {
 public:
  std::string name() const override { return "noop"; }
  std::size_t inputCount() const override { return 1; }
  std::vector<Completion> issue(const std::vector<std::size_t>& inputs) override;
};

/// A fake with a known service-time distribution: each batch takes
/// base + perItem * (size - 1) where base is drawn from the distribution.
/// Draws are stratified (the k-th of each block of `block` draws is the
/// inverse CDF at a shuffled (j + 0.5) / block), so the sample quantiles of any
/// whole number of blocks equal the true ones and a test can compare a
/// measured p95 with the true p95 without sampling noise.
class FakeSut final : public SystemUnderTest {
 public:
  enum class Dist { Constant, Exponential, LogNormal };
  struct Spec {
    Dist dist = Dist::LogNormal;
    double medianMs = 5.0;         ///< LogNormal: exp(mu); Exponential: mean*ln2; Constant: the value
    double sigma = 0.5;            ///< LogNormal shape
    double perItemMs = 0.0;        ///< extra time per extra request in a batch
    std::size_t block = 600;       ///< stratification block
    std::uint64_t seed = 1;
    double errorFraction = 0.0;    ///< every k-th request (k = 1/fraction) fails
  };
  explicit FakeSut(Spec s);
  std::string name() const override { return "fake"; }
  std::size_t inputCount() const override { return 1; }
  std::vector<Completion> issue(const std::vector<std::size_t>& inputs) override;
  /// The true quantile p of the service-time distribution of a batch of one.
  double trueQuantileMs(double p) const;

 private:
  double draw();
  Spec spec_;
  std::vector<double> stratum_;    ///< a permutation of (j + 0.5) / block
  std::atomic<std::uint64_t> next_{0};
  std::atomic<std::uint64_t> requests_{0};
};

/// Sleep for `ms` (with a 1 us timer slack on this thread).
void waitPrecise(double ms);

}  // namespace cvgate::latency

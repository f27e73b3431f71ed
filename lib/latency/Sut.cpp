#include "latency/Sut.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include <sys/prctl.h>

namespace cvgate::latency {

using Clock = std::chrono::steady_clock;

void waitPrecise(double ms) {
  if (ms <= 0) return;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double, std::milli>(ms));
  // Sleep, not spin: a fake with many workers must not steal the CPU the
  // generator needs. A 1 us timer slack keeps the wake-up close to `end`.
  static thread_local bool slackSet = false;
  if (!slackSet) {
    ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    slackSet = true;
  }
  std::this_thread::sleep_until(end);
}

std::vector<Completion> NoopSut::issue(const std::vector<std::size_t>& inputs) {
  std::vector<Completion> out(inputs.size());
  for (auto& c : out) c.ok = true;
  return out;
}

namespace {
// Inverse of the standard normal CDF (Acklam's rational approximation, |err| < 1.2e-9).
double normalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double lo = 0.02425;
  if (p < lo) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
}  // namespace

FakeSut::FakeSut(Spec s) : spec_(s) {
  const std::size_t n = std::max<std::size_t>(1, spec_.block);
  stratum_.resize(n);
  for (std::size_t j = 0; j < n; ++j) stratum_[j] = (static_cast<double>(j) + 0.5) / static_cast<double>(n);
  std::mt19937_64 rng(spec_.seed);
  std::shuffle(stratum_.begin(), stratum_.end(), rng);
}

double FakeSut::trueQuantileMs(double p) const {
  switch (spec_.dist) {
    case Dist::Constant: return spec_.medianMs;
    case Dist::Exponential: return -spec_.medianMs / std::log(2.0) * std::log(1 - p);
    case Dist::LogNormal: return spec_.medianMs * std::exp(spec_.sigma * normalQuantile(p));
  }
  return spec_.medianMs;
}

double FakeSut::draw() {
  const std::uint64_t k = next_.fetch_add(1);
  return trueQuantileMs(stratum_[static_cast<std::size_t>(k % stratum_.size())]);
}

std::vector<Completion> FakeSut::issue(const std::vector<std::size_t>& inputs) {
  const auto t0 = Clock::now();
  const double ms = draw() + spec_.perItemMs * static_cast<double>(inputs.empty() ? 0 : inputs.size() - 1);
  waitPrecise(ms);
  const double took = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<Completion> out(inputs.size());
  for (auto& c : out) {
    c.ok = true;
    c.forwardMs = took;
    const std::uint64_t r = requests_.fetch_add(1);
    if (spec_.errorFraction > 0) {
      const auto every = static_cast<std::uint64_t>(std::llround(1.0 / spec_.errorFraction));
      if (every <= 1 || r % every == 0) {
        c.ok = false;
        c.error = "exception: injected failure";
      }
    }
  }
  return out;
}

}  // namespace cvgate::latency

// Torch-free side of Serving.h: the evaluation plan (layout by a timed
// calibration) and the decisions of the serving graph against the archive's.
#include <algorithm>
#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "runtime/Serving.h"

namespace cvgate {

namespace {

using Clock = std::chrono::steady_clock;

/// Best of three timed passes over `images` after one warm-up, ms.
double timePasses(const Model& m, const std::vector<const Image*>& images, int batch) {
  (void)runPipeline(m, images, batch);
  double best = 0;
  for (int k = 0; k < 3; ++k) {
    const auto t0 = Clock::now();
    (void)runPipeline(m, images, batch);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    best = k == 0 ? ms : std::min(best, ms);
  }
  return best;
}

}  // namespace

ServingPlan planServing(const Model& base, const std::vector<const Image*>& calibration, int batch,
                        const std::string& layout) {
  ServingPlan p;
  p.batch = std::max(1, batch);
  p.note = servingNote(base);
  const Model& serving = servingModel(base);
  p.model = &serving;
  p.serving = servingTransformed(base);
  // The archive as loaded (servingNote says why), or an already transformed
  // graph: nothing to calibrate.
  if (&serving == &base || (layout == "auto" && calibration.empty())) return p;
  // With one input channel, channels-last is the same bytes: nothing to try.
  const auto& shape = base.manifest().inputShape;
  if (shape.size() != 3 || shape[0] <= 1) {
    p.note += "; contiguous input (one channel: channels-last is the same layout)";
    return p;
  }
  if (layout == "contiguous") {
    p.note += "; contiguous input ([runtime] layout)";
    return p;
  }
  if (layout == "channels-last") {
    auto cl = makeServingModel(base, true);
    if (!cl.ok()) {
      p.note += "; channels-last not possible: " + cl.error().message();
      return p;
    }
    p.owned = *cl;
    p.model = p.owned.get();
    p.layout = "channels-last";
    p.note += "; input channels-last ([runtime] layout)";
    return p;
  }
  const std::size_t n = std::min<std::size_t>({calibration.size(), static_cast<std::size_t>(p.batch), 64});
  const std::vector<const Image*> imgs(calibration.begin(), calibration.begin() + static_cast<long>(n));
  p.calibrationImages = static_cast<int>(n);
  p.contiguousMs = timePasses(serving, imgs, p.batch);
  auto cl = makeServingModel(base, true);
  if (!cl.ok()) {
    p.note += "; channels-last not possible: " + cl.error().message();
    return p;
  }
  p.channelsLastMs = timePasses(**cl, imgs, p.batch);
  if (p.channelsLastMs < 0.95 * p.contiguousMs) {
    p.owned = *cl;
    p.model = p.owned.get();
    p.layout = "channels-last";
    p.note += "; input channels-last (calibration " + std::to_string(p.channelsLastMs) + " ms vs " +
              std::to_string(p.contiguousMs) + " ms contiguous)";
  } else {
    p.note += "; contiguous input (channels-last not 5 % faster in calibration)";
  }
  spdlog::info("'{}': serving plan: {} input, batch {} ({:.1f} ms contiguous, {:.1f} ms channels-last on {} images)",
               base.manifest().name, p.layout, p.batch, p.contiguousMs, p.channelsLastMs, n);
  return p;
}

/// Run the plan's graph on batches of the evaluation's size (the images over
/// again; no larger than the evaluation) until it has settled:
/// TorchScript's executor profiles and re-optimises a graph for each new
/// input shape, and the first calls at a shape are not the model's speed:
/// V1 at batch 256, one call of ~60 ms (the compile), then calls of 0.3-1.2
/// ms falling to 0.17-0.2 ms by about the ninth (allocator and kernel caches
/// warming; a stray call of 3 ms among them). Settled: at least 8 calls, the
/// last three none of them 10 % faster than the fastest before it (a rule
/// "from the third call, within 1.5x of the fastest" stopped with the
/// fastest still at 0.5-3 ms); at most 30 calls, and no call begun after
/// 1 s of warm-up but the first at the full size (a ResNet-class model at
/// batch 256 takes seconds a call, and compiling is a small part of that).
/// Only timed, never scored.
void warmUp(ServingPlan& p, const std::vector<const Image*>& images, std::size_t evaluationImages) {
  if (images.empty() || evaluationImages == 0) return;
  const std::size_t size = std::min(static_cast<std::size_t>(p.batch), evaluationImages);
  std::vector<const Image*> full;
  full.reserve(size);
  for (std::size_t i = 0; full.size() < size; ++i) full.push_back(images[i % images.size()]);
  p.warmupBatch = static_cast<int>(size);
  auto call = [&](const std::vector<const Image*>& batch) {
    const auto t0 = Clock::now();
    (void)runPipeline(*p.model, batch, p.batch);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ++p.warmupCalls;
    p.warmupMs += ms;
    spdlog::debug("'{}': warm-up call {} at batch {}: {:.3f} ms", p.model->manifest().name, p.warmupCalls,
                  batch.size(), ms);
    return ms;
  };
  // The evaluation's last batch, when partial, is a shape of its own, first:
  // its first call compiles, and a compile in one graph slowed the other
  // model's next calls (V2 at 256: two calls of 27-30 ms after V1's first
  // batch of 16, against 3.5 ms).
  const std::size_t tail = evaluationImages > size ? evaluationImages % size : 0;
  if (tail > 0) {
    p.warmupTailBatch = static_cast<int>(tail);
    const std::vector<const Image*> last(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(tail));
    for (int k = 0; k < 2 && (k == 0 || p.warmupMs < 1000); ++k) (void)call(last);
  }
  double fastest = 0;
  int steady = 0;  // calls in a row that were not 10 % faster than the fastest before them
  // The full size always gets one call, even after a tail that took 1 s:
  // that shape is the one the evaluation runs, and the first batch paces it.
  for (int k = 0; k < kWarmupMaxCalls && (k == 0 || p.warmupMs < 1000); ++k) {
    const double ms = call(full);
    p.warmupLastMs = ms;
    steady = k > 0 && ms >= 0.9 * fastest ? steady + 1 : 0;
    fastest = k == 0 ? ms : std::min(fastest, ms);
    if (steady >= 3 && k + 1 >= kWarmupMinCalls) break;
  }
}

nlohmann::json toJson(const ServingPlan& p) {
  return {{"graph", p.serving ? "serving" : "archive"},
          {"layout", p.layout},
          {"note", p.note},
          {"batch_size", p.batch},
          {"calibration", {{"images", p.calibrationImages},
                           {"contiguous_ms", p.contiguousMs},
                           {"channels_last_ms", p.channelsLastMs > 0 ? nlohmann::json(p.channelsLastMs)
                                                                     : nlohmann::json(nullptr)}}},
          {"warmup", {{"batch_size", p.warmupBatch}, {"tail_batch_size", p.warmupTailBatch}, {"calls", p.warmupCalls},
                      {"ms", p.warmupMs}, {"last_call_ms", p.warmupLastMs}}}};
}

ServingParity compareServing(const Model& archive, const Model& serving, const std::vector<Sample>& samples,
                             int batch, double threshold) {
  std::vector<const Image*> imgs;
  imgs.reserve(samples.size());
  for (const auto& s : samples) imgs.push_back(&s.image);
  const auto a = runPipeline(archive, imgs, batch);
  const auto b = runPipeline(serving, imgs, batch);
  ServingParity p;
  p.n = samples.size();
  for (std::size_t i = 0; i < samples.size(); ++i) {
    bool differs = false;
    if (a[i].ok != b[i].ok) {
      differs = true;
    } else if (a[i].ok) {
      if (a[i].top1 != b[i].top1) {
        ++p.top1Differ;
        differs = true;
      }
      if ((a[i].confidence >= threshold) != (b[i].confidence >= threshold)) differs = true;
      for (std::size_t j = 0; j < std::min(a[i].probs.size(), b[i].probs.size()); ++j)
        p.maxProbDiff = std::max(p.maxProbDiff, static_cast<double>(std::fabs(a[i].probs[j] - b[i].probs[j])));
    }
    if (differs) {
      ++p.decisionDiffer;
      if (p.differing.size() < 20) p.differing.push_back(samples[i].id);
    }
  }
  return p;
}

nlohmann::json toJson(const ServingParity& p) {
  return {{"samples", p.n},
          {"top1_differ", p.top1Differ},
          {"decisions_differ", p.decisionDiffer},
          {"max_abs_prob_diff", p.maxProbDiff},
          {"differing_ids", p.differing}};
}

}  // namespace cvgate

#include "compliance/Compliance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Strings.h"
#include "compliance/Metrics.h"
#include "registry/Registry.h"
#include "report/Feed.h"
#include "runtime/Golden.h"
#include "runtime/Roofline.h"
#include "runtime/Runtime.h"
#include "runtime/Serving.h"

namespace cvgate::compliance {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// "T-shirt/top" and "t_shirt_top" are the same class name for ImageFolder,
/// whose directory names cannot hold a '/'.
std::string looseName(const std::string& s) {
  std::string out;
  for (char ch : s)
    if (std::isalnum(static_cast<unsigned char>(ch))) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  return out;
}

/// Data set label index -> model label index. IDX labels (and a list's
/// index labels) are output indices; ImageFolder classes and a list's label
/// names are matched to the manifest labels by name. A list may hold only
/// some of the model's classes.
Expected<std::vector<int>> mapClasses(const Dataset& ds, const DatasetConfig& dcfg, const Model& model) {
  const auto& labels = model.manifest().labels;
  const auto& classes = ds.classes();
  const std::string what = "dataset '" + ds.describe() + "'";
  const std::string modelWhat = "model '" + model.manifest().name + "' (" +
                                std::to_string(labels.size()) + " labels)";
  const bool subset = dcfg.format == "list";
  std::vector<int> map(classes.size(), -1);
  if (ds.classesAreIndices()) {
    if (classes.size() > labels.size())
      return badInput(what + ": labels 0.." + std::to_string(classes.size() - 1) +
                      ": expected labels in 0.." + std::to_string(labels.size() - 1) + " of " +
                      modelWhat + " (labels out of range)");
    if (classes.size() < labels.size() && !subset)
      return badInput(what + ": " + std::to_string(classes.size()) +
                      " classes (labels 0.." + std::to_string(classes.size() - 1) +
                      "): expected the " + std::to_string(labels.size()) + " classes of " + modelWhat);
    for (std::size_t i = 0; i < classes.size(); ++i) map[i] = static_cast<int>(i);
    return map;
  }
  if (subset ? classes.size() > labels.size() : classes.size() != labels.size())
    return badInput(what + ": " + std::to_string(classes.size()) + (subset ? " label names" : " class directories") +
                    ": expected " + (subset ? "at most " : "") + "the " + std::to_string(labels.size()) +
                    " labels of " + modelWhat + ": " + join(labels, ", "));
  for (std::size_t i = 0; i < classes.size(); ++i) {
    for (std::size_t j = 0; j < labels.size() && map[i] < 0; ++j)
      if (classes[i] == labels[j]) map[i] = static_cast<int>(j);
    for (std::size_t j = 0; j < labels.size() && map[i] < 0; ++j)
      if (looseName(classes[i]) == looseName(labels[j])) map[i] = static_cast<int>(j);
    if (map[i] < 0)
      return badInput(what + ": class '" + classes[i] + "': expected one of the labels of " +
                      modelWhat + didYouMean(classes[i], labels));
  }
  std::vector<int> seen(labels.size(), 0);
  for (int j : map)
    if (seen[static_cast<std::size_t>(j)]++)
      return badInput(what + (subset ? ": two label names" : ": two class directories") + " name the label '" +
                      labels[static_cast<std::size_t>(j)] + "' of " + modelWhat);
  return map;
}

/// Candidate output index -> current label index, by label name.
Expected<std::vector<int>> mapCandidate(const Manifest& current, const Manifest& candidate) {
  std::vector<int> map;
  auto differ = [&] {
    return badInput("candidate model '" + candidate.name + "': labels [" + join(candidate.labels, ", ") +
                    "]: expected the labels of current model '" + current.name + "' [" +
                    join(current.labels, ", ") + "] (in any order)");
  };
  if (candidate.labels.size() != current.labels.size()) return differ();
  for (const auto& l : candidate.labels) {
    auto it = std::find(current.labels.begin(), current.labels.end(), l);
    if (it == current.labels.end()) return differ();
    map.push_back(static_cast<int>(it - current.labels.begin()));
  }
  return map;
}

/// The pipeline's predictions as Answers in the current model's label space.
std::vector<Answer> toAnswers(std::vector<Prediction>&& preds, const Manifest& m,
                              const std::vector<int>& outMap) {
  const bool probOut = m.output == "probabilities";
  std::vector<Answer> out(preds.size());
  for (std::size_t i = 0; i < preds.size(); ++i) {
    Prediction& p = preds[i];
    Answer& a = out[i];
    a.ok = p.ok && p.top1 >= 0 && p.probs.size() == outMap.size();
    if (!a.ok) {
      a.error = p.error.empty() ? "no answer" : p.error;
      continue;
    }
    a.top1 = outMap[static_cast<std::size_t>(p.top1)];
    a.confidence = p.confidence;
    a.probs.assign(outMap.size(), 0.0);
    a.logits.assign(outMap.size(), 0.0);
    for (std::size_t j = 0; j < outMap.size(); ++j) {
      const auto t = static_cast<std::size_t>(outMap[j]);
      a.probs[t] = p.probs[j];
      double raw = j < p.logits.size() ? p.logits[j] : p.probs[j];
      a.logits[t] = probOut ? std::log(std::max(raw, 1e-12)) : raw;
    }
  }
  return out;
}

struct Run {
  std::vector<Answer> answers;
  double wallMs = 0;
  StageTimes stages;
};

/// Append one chunk's answers of a model to its run, timing the pipeline.
void evaluateChunk(Run& run, const Model& model, const std::vector<const Image*>& images, int batch,
                   const std::vector<int>& outMap) {
  auto t0 = Clock::now();
  StageTimes st;
  auto preds = runPipeline(model, images, batch, &st);
  run.wallMs += msSince(t0);
  run.stages.preprocessMs += st.preprocessMs;
  run.stages.forwardMs += st.forwardMs;
  run.stages.postprocessMs += st.postprocessMs;
  auto answers = toAnswers(std::move(preds), model.manifest(), outMap);
  for (auto& a : answers) run.answers.push_back(std::move(a));
}

/// Decoded images held at once while evaluating: a chunk ends at this many
/// bytes of pixels (or 8 batches), so memory does not grow with the data set.
constexpr std::size_t kChunkPixelBytes = std::size_t{256} << 20;

/// Production's blessed compliance figure: the "compliance" object of the
/// registry's blessed record for its sha256 (null when there is none).
json readBlessedCompliance(const std::string& stateDir, const std::string& sha, std::string* why,
                           std::string* path) {
  *path = (fs::path(stateDir) / "registry" / "objects" / (sha + ".blessed.json")).string();
  auto rec = readBlessedRecord(stateDir, sha);
  if (!rec) {
    *why = "production's blessed record cannot be read: " + rec.error().message();
    return nullptr;
  }
  if (rec->is_null()) {
    *why = "no blessed compliance figure for production " + sha.substr(0, 12) +
           " (adopted, or deployed without a compliance report of its own)";
    return nullptr;
  }
  if (!rec->is_object() || !rec->contains("compliance") || !(*rec)["compliance"].is_object()) {
    *why = "'" + *path + "': no 'compliance' object";
    return nullptr;
  }
  return (*rec)["compliance"];
}

/// How a subject was run: its serving plan, its decisions against the
/// archive's on the golden set, and its rate against the machine's roofline.
struct Served {
  ServingPlan plan;
  ServingParity parity;
  std::string paritySet;           ///< which samples the parity ran on
  json flops;                      ///< FlopCount as JSON, or {"error": ...}
  double flopsPerImage = 0;
};

Served serveSubject(const Model& model, const std::vector<Sample>& paritySamples, const std::string& paritySet,
                    int batch, double threshold) {
  Served s;
  std::vector<const Image*> calib;
  for (const auto& smp : paritySamples) calib.push_back(&smp.image);
  s.plan = planServing(model, calib, batch);
  s.paritySet = paritySet;
  s.parity = compareServing(model, *s.plan.model, paritySamples, batch, threshold);
  if (s.parity.decisionDiffer > 0)
    spdlog::warn("'{}': the serving graph's decisions differ from the archive's on {} of {} {} samples",
                 model.manifest().name, s.parity.decisionDiffer, s.parity.n, paritySet);
  auto f = countFlops(model);
  if (f.ok()) {
    s.flops = toJson(*f);
    s.flopsPerImage = f->perImage;
  } else {
    s.flops = {{"error", f.error().message()}};
  }
  return s;
}

json subjectJson(const Model& model, const SubjectMetrics& m, const Run& run, std::size_t images,
                 const Served& served, const Roofline& roof) {
  json j = toJson(m);
  j["model"] = model.manifest().name;
  j["sha256"] = model.sha256();
  j["wall_ms"] = run.wallMs;
  j["images_evaluated"] = images;
  const double rate = run.wallMs > 0 ? 1000.0 * static_cast<double>(images) / run.wallMs : 0.0;
  j["images_per_s"] = rate;
  j["forward_images_per_s"] =
      run.stages.forwardMs > 0 ? 1000.0 * static_cast<double>(images) / run.stages.forwardMs : 0.0;
  json sv = toJson(served.plan);
  sv["parity"] = toJson(served.parity);
  sv["parity"]["set"] = served.paritySet;
  j["serving"] = sv;
  j["flops"] = served.flops;
  j["roofline"] = rooflineJson(roof, served.flopsPerImage, rate);
  j["stage_ms"] = {{"preprocess", run.stages.preprocessMs}, {"forward", run.stages.forwardMs},
                   {"postprocess", run.stages.postprocessMs}};
  return j;
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

Status runCompliance(const ToolContext& ctx, const ComplianceOptions& opts, Report& report) {
  const Config& cfg = ctx.config;
  const ComplianceConfig& cc = cfg.compliance;
  auto t0 = Clock::now();
  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));

  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  report.inputs["dataset_sha256"] = ds->sha256();
  CVGATE_TRY_ASSIGN(current, loadSubject(cfg.models.current, cfg.models.currentSha256, "current", report));
  std::shared_ptr<Model> candidate;
  if (!cfg.models.candidate.empty()) {
    CVGATE_TRY_ASSIGN(c, loadSubject(cfg.models.candidate, cfg.models.candidateSha256, "candidate", report));
    candidate = std::move(c);
  }
  const Manifest& cm = current->manifest();
  const std::vector<std::string>& labelNames = cm.labels;
  CVGATE_TRY_ASSIGN(classMap, mapClasses(*ds, cfg.dataset, *current));
  std::vector<int> identity(labelNames.size());
  for (std::size_t j = 0; j < identity.size(); ++j) identity[j] = static_cast<int>(j);
  std::vector<int> candMap;
  if (candidate) {
    CVGATE_TRY_ASSIGN(m, mapCandidate(cm, candidate->manifest()));
    candMap = std::move(m);
  }

  // Every sample has a key (docs/data.md); its draws decide the evaluation
  // order and its side of the split, so the same images in any layout are
  // evaluated in the same batches and give the same figures.
  const std::size_t n = ds->size();
  spdlog::info("reading {}", ds->describe());
  std::vector<std::string> keys(n);
  {
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < n; ++i) {
      keys[i] = ds->key(i);
      if (auto [it, fresh] = seen.emplace(keys[i], i); !fresh)
        return badInput("dataset '" + ds->describe() + "': samples " + std::to_string(it->second) + " and " +
                        std::to_string(i) + " have the same key '" + keys[i] + "': expected unique sample keys");
    }
  }
  if (cc.sliceGate) {
    bool anySlice = false;
    for (std::size_t i = 0; i < n && !anySlice; ++i) anySlice = !ds->slice(i).empty();
    if (!anySlice)
      return badInput("[compliance] slice_gate = true: dataset '" + ds->describe() +
                      "' has no slices: expected a list with a slice column ([dataset] format = \"list\")");
  }
  const std::vector<std::size_t> order = evaluationOrder(keys, cc.seed);
  const std::size_t planned = cc.maxSamples > 0 ? std::min(n, static_cast<std::size_t>(cc.maxSamples)) : n;
  const double budgetS = cc.timeBudgetS > 0 ? cc.timeBudgetS : 0.8 * cfg.heartbeat.evalComplianceTimeoutS;
  std::vector<int> labels(n, 0);
  std::vector<std::string> ids(n), slices(n);
  const int batch = std::max(cfg.runtime.batchSize, cc.batchSize);
  Run curRun, candRun;  // answers in evaluation order

  // The models run as they are served (frozen + optimize_for_inference, the
  // layout a short calibration found faster); their decisions are compared
  // with the archive's as loaded on the golden set first.
  std::vector<Sample> paritySamples;
  std::string paritySet = "golden";
  {
    auto g = goldenSamples(*ds, cfg.golden);
    if (g.ok()) {
      paritySamples = std::move(*g);
    } else {
      const std::size_t k = std::min<std::size_t>(n, static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.golden.count)));
      for (std::size_t i = 0; i < k; ++i) {
        CVGATE_TRY_ASSIGN(smp, ds->get(i));
        paritySamples.push_back(std::move(smp));
      }
      paritySet = "first " + std::to_string(k) + " (the golden set does not fit the data set)";
    }
  }
  const Served curServed = serveSubject(*current, paritySamples, paritySet, batch, cc.threshold);
  Served candServed;
  if (candidate) candServed = serveSubject(*candidate, paritySamples, paritySet, batch, cc.threshold);
  const GemmResult gemm = gemmBench(256, 0.5);
  const Roofline roof{gemm.gflops, coresUsed(1, cfg.runtime.intraOpThreads)};
  std::vector<Sample> chunk;
  std::size_t chunkBytes = 0;
  auto flush = [&]() {
    if (chunk.empty()) return;
    std::vector<const Image*> images;
    images.reserve(chunk.size());
    for (const auto& s : chunk) images.push_back(&s.image);
    evaluateChunk(curRun, *curServed.plan.model, images, batch, identity);
    if (candidate) evaluateChunk(candRun, *candServed.plan.model, images, batch, candMap);
    chunk.clear();
    chunkBytes = 0;
  };
  spdlog::info("evaluating '{}'{} on up to {} of {} images (batch {}, time budget {} s)", current->manifest().name,
               candidate ? " and '" + candidate->manifest().name + "'" : std::string(), planned, n, batch,
               fmtNum(budgetS, 0));
  // A chunk at a time: memory is bounded by the chunk, and the time budget is
  // checked between chunks, each no longer than what the budget has left at
  // the pace measured so far (the first one a small probe).
  std::size_t done = 0;
  double secondsPerImage = 0;
  bool stoppedByTime = false;
  while (done < planned) {
    const double elapsedS = msSince(t0) / 1000.0;
    std::size_t want = std::min<std::size_t>(planned - done, static_cast<std::size_t>(batch));
    if (done == 0) want = std::min<std::size_t>(want, 32);
    if (secondsPerImage > 0) {
      const double fit = std::floor((budgetS - elapsedS) / secondsPerImage);
      if (fit < 1) {
        stoppedByTime = true;
        break;
      }
      want = std::min(want, static_cast<std::size_t>(fit));
    } else if (elapsedS >= budgetS) {
      stoppedByTime = true;
      break;
    }
    auto tc = Clock::now();
    const std::size_t from = done;
    while (done < from + want && chunkBytes < kChunkPixelBytes) {
      const std::size_t i = order[done];
      CVGATE_TRY_ASSIGN(s, ds->get(i));
      if (s.label < 0 || static_cast<std::size_t>(s.label) >= classMap.size())
        return badInput("dataset '" + ds->describe() + "': sample '" + s.id + "': label " +
                        std::to_string(s.label) + ": expected a label in 0.." +
                        std::to_string(labelNames.size() - 1) + " of model '" + cm.name + "'");
      labels[i] = classMap[static_cast<std::size_t>(s.label)];
      ids[i] = s.id;
      slices[i] = s.slice;
      chunkBytes += s.image.pixels.size();
      chunk.push_back(std::move(s));
      ++done;
    }
    flush();
    secondsPerImage = std::max(secondsPerImage, msSince(tc) / 1000.0 / static_cast<double>(done - from));
  }
  for (Run* r : {&curRun, &candRun})
    if (r->wallMs > 0)
      spdlog::info("{} images in {:.0f} ms ({:.0f} images/s)", r->answers.size(), r->wallMs,
                   1000.0 * static_cast<double>(r->answers.size()) / r->wallMs);

  // Answers by sample index; the split of the samples evaluated.
  std::vector<std::size_t> used(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(done));
  auto byIndex = [&](Run& r) {
    std::vector<Answer> out(n);
    for (std::size_t p = 0; p < r.answers.size() && p < done; ++p) out[order[p]] = std::move(r.answers[p]);
    r.answers = std::move(out);
  };
  byIndex(curRun);
  if (candidate) byIndex(candRun);
  const Split split = makeSplit(keys, used, cc.calibrationFraction, cc.seed);
  const std::vector<std::size_t> plannedSet(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(planned));
  const std::size_t plannedEval = makeSplit(keys, plannedSet, cc.calibrationFraction, cc.seed).evaluation.size();

  SubjectMetrics cur = evaluateSubject(curRun.answers, labels, labelNames, split, cc.threshold, cc.eceBins);
  SubjectMetrics cand;
  if (candidate) cand = evaluateSubject(candRun.answers, labels, labelNames, split, cc.threshold, cc.eceBins);

  // results
  json& res = report.results;
  res["threshold"] = cc.threshold;
  res["objective"] = {{"min_compliance_uplift", cfg.objectives.minComplianceUplift},
                      {"max_error_rate", cfg.objectives.maxErrorRate},
                      {"confidence", cfg.objectives.confidence}};
  res["dataset"] = {{"describe", ds->describe()}, {"sha256", ds->sha256()}, {"n", n}, {"evaluated", done},
                    {"n_eval", split.evaluation.size()}, {"n_calibration", split.calibration.size()},
                    {"calibration_fraction", cc.calibrationFraction}, {"seed", cc.seed},
                    {"split", kSplitScheme}};
  res["labels"] = labelNames;
  res["batch_size"] = batch;
  res["threads"] = {{"intra_op", cfg.runtime.intraOpThreads}, {"inter_op", cfg.runtime.interOpThreads}};
  res["machine"] = {{"gemm_gflops_per_core", gemm.gflops}, {"gemm_n", gemm.n}, {"gemm_seconds", gemm.seconds},
                    {"cores", roof.cores}};
  res["current"] = subjectJson(*current, cur, curRun, n, curServed, roof);

  std::vector<std::size_t> evalPerClass(labelNames.size(), 0);
  for (std::size_t i : split.evaluation) ++evalPerClass[static_cast<std::size_t>(labels[i])];
  report.checks.push_back(dataCheck(labelNames, evalPerClass, cc.minPerClass, cc.calibrationFraction));
  report.checks.push_back(errorRateCheck("current", cur.errors, cur.n, cfg.objectives.maxErrorRate,
                                         cfg.objectives.confidence));
  if (candidate)
    report.checks.push_back(errorRateCheck("candidate", cand.errors, cand.n,
                                           cfg.objectives.maxErrorRate, cfg.objectives.confidence));

  // The figures this cycle offers as blessed ones, keyed by what produced
  // them, and production's regression against its own blessed figure.
  const BlessingKey key{ds->sha256(), cc.threshold, cc.calibrationFraction, cc.seed, plannedEval};
  res["blessing"] = {{"current", blessingJson(key, cur.compliant, cur.n)},
                     {"candidate", candidate ? blessingJson(key, cand.compliant, cand.n) : json(nullptr)}};
  std::string why, blessedPath;
  const json blessed = readBlessedCompliance(ctx.stateDir, current->sha256(), &why, &blessedPath);
  report.checks.push_back(regressionCheck(cur.compliant, cur.n, blessed, key, cfg.objectives.confidence, why));
  res["blessed"] = {{"record", blessedPath}, {"compliance", blessed}};

  std::map<std::string, std::string> thumbnails;
  if (candidate) {
    res["candidate"] = subjectJson(*candidate, cand, candRun, n, candServed, roof);
    PairedMetrics paired = comparePaired(cur, cand, curRun.answers, candRun.answers, labels, keys, ids,
                                         labelNames, split, cc.threshold,
                                         static_cast<std::size_t>(cc.bootstrapResamples), cc.seed,
                                         cfg.objectives.confidence,
                                         static_cast<std::size_t>(cc.regressionsListed));
    json pj = toJson(paired, cfg.objectives.confidence);
    for (auto& [k, v] : pj.items()) res[k] = v;
    report.checks.push_back(upliftCheck(paired.uplift, cfg.objectives.minComplianceUplift,
                                        cfg.objectives.confidence, cc.calibrationFraction));
    for (const auto& d : paired.perClass)
      report.checks.push_back(classCheck(d, cc.minPerClass, cfg.objectives.confidence));
    if (!opts.html.empty()) {
      std::map<std::string, std::size_t> byId;
      for (std::size_t i = 0; i < ids.size(); ++i) byId[ids[i]] = i;
      for (const auto& r : paired.regressions) {
        auto s = ds->get(byId[r.id]);  // decoded again: only the few listed
        if (!s.ok()) continue;
        auto png = encodePng(s->image);
        if (png.ok()) thumbnails[r.id] = "data:image/png;base64," + base64(*png);
      }
    }
  } else {
    res["candidate"] = nullptr;
    res["uplift"] = nullptr;
    res["mcnemar"] = nullptr;
    res["per_class_delta"] = json::array();
    res["regressions"] = json::array();
    res["regressions_total"] = 0;
    report.checks.push_back(noCandidateCheck());
  }

  // Slices: the paired statistics per slice, a check each, and the gate.
  const std::vector<SliceMetrics> sliceMetrics =
      compareSlices(cur, candidate ? &cand : nullptr, slices, split,
                    static_cast<std::size_t>(cc.bootstrapResamples), cc.seed, cfg.objectives.confidence);
  res["slices"] = toJson(sliceMetrics, cfg.objectives.confidence);
  {
    const SliceGate gate{cc.sliceGate, cc.sliceMinSamples, cc.sliceMinUplift};
    std::vector<Check> sliceChecks;
    std::set<std::string> slugs;
    for (const auto& sm : sliceMetrics) {
      std::string slug = labelSlug(sm.slice);
      for (int k = 2; !slugs.insert(slug).second; ++k) slug = labelSlug(sm.slice) + "_" + std::to_string(k);
      sliceChecks.push_back(sliceCheck(sm, slug, gate, cfg.objectives.confidence));
    }
    for (const auto& c : sliceChecks) report.checks.push_back(c);
    report.checks.push_back(slicesCheck(sliceChecks, gate, static_cast<bool>(candidate)));
  }

  // The budget: how many samples were used, why no more, what that buys.
  {
    const std::size_t ne = split.evaluation.size();
    const double conf = cfg.objectives.confidence;
    const std::string stoppedBy = stoppedByTime ? "time" : planned < n ? "samples" : "none";
    const double errorBound = ne ? 1.0 - std::pow(1.0 - conf, 1.0 / static_cast<double>(ne)) : 1.0;
    json up = res.contains("uplift") ? res["uplift"] : json();
    const bool haveCi = up.is_object() && up["lo"].is_number() && up["hi"].is_number();
    const double half = haveCi ? (up["hi"].get<double>() - up["lo"].get<double>()) / 2 : std::nan("");
    std::string msg = "evaluated " + std::to_string(done) + " of " + std::to_string(n) + " images" +
                      (stoppedBy == "time"      ? " (stopped by the time budget of " + fmtNum(budgetS, 0) + " s)"
                       : stoppedBy == "samples" ? " (the sample budget, [compliance] max_samples = " +
                                                      std::to_string(cc.maxSamples) + ")"
                                                : "") +
                      ": " + std::to_string(ne) + " evaluation images; " +
                      (haveCi ? "the uplift is known to +/-" + fmtNum(100.0 * half, 1) + " points at " +
                                    fmtNum(100.0 * conf, 0) + " %; "
                              : std::string()) +
                      "with no failed request the error rate would be shown below " +
                      fmtNum(100.0 * errorBound, 2) + " %";
    res["budget"] = {{"available", n},
                     {"max_samples", cc.maxSamples},
                     {"planned", planned},
                     {"evaluated", done},
                     {"time_budget_s", budgetS},
                     {"stopped_by", stoppedBy},
                     {"seconds_per_image", secondsPerImage},
                     {"n_eval", ne},
                     {"confidence", conf},
                     {"uplift_ci_halfwidth", haveCi ? json(half) : json(nullptr)},
                     {"error_rate_bound_if_no_errors", errorBound},
                     {"message", msg}};
    if (stoppedBy == "none") spdlog::info("{}", msg);
    else spdlog::warn("{}", msg);
  }

  // Temperature patches: relay those that lower ECE by the margin.
  json patches = json::array();
  auto patch = [&](const char* role, const Model& model, const SubjectMetrics& m) -> Status {
    if (!std::isfinite(m.temperature) || !std::isfinite(m.ece) || !std::isfinite(m.eceAfterTemperature))
      return okStatus();
    const double gain = m.ece - m.eceAfterTemperature;
    json p = {{"subject", role}, {"model", model.manifest().name}, {"sha256", model.sha256()},
              {"temperature", m.temperature}, {"ece_before", m.ece},
              {"ece_after", m.eceAfterTemperature}, {"ece_gain", gain},
              {"nll_before", m.nll}, {"nll_after", m.nllAfterTemperature},
              {"margin", cc.temperatureMargin}, {"recommended", gain >= cc.temperatureMargin}};
    // decide relays recommended patches to innovation_relay, deduplicated
    // across cycles: one owner of the relay feed, one record format.
    patches.push_back(p);
    return okStatus();
  };
  CVGATE_TRY(patch("current", *current, cur));
  if (candidate) CVGATE_TRY(patch("candidate", *candidate, cand));
  res["temperature_patches"] = patches;
  res["wall_ms"] = msSince(t0);

  if (!opts.html.empty()) {
    report.settleStatus();
    CVGATE_TRY(writeOutputFile(opts.html, renderDashboard(toJson(report), thumbnails)));
    spdlog::info("dashboard written to {}", opts.html);
  }
  return okStatus();
}

}  // namespace cvgate::compliance

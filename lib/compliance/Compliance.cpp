#include "compliance/Compliance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "common/Fs.h"
#include "common/Sha256.h"
#include "common/Version.h"
#include "common/Json.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "compliance/Metrics.h"
#include "compliance/Outcomes.h"
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

/// Time spent running one model (timing fields of the report).
struct Run {
  double wallMs = 0;
  StageTimes stages;
};

/// One piece's answers of a model, timing the pipeline into `run`.
std::vector<Answer> evaluatePiece(Run& run, const Model& model, const std::vector<const Image*>& images, int batch,
                                  const std::vector<int>& outMap) {
  auto t0 = Clock::now();
  StageTimes st;
  auto preds = runPipeline(model, images, batch, &st);
  run.wallMs += msSince(t0);
  run.stages.preprocessMs += st.preprocessMs;
  run.stages.forwardMs += st.forwardMs;
  run.stages.postprocessMs += st.postprocessMs;
  return toAnswers(std::move(preds), model.manifest(), outMap);
}

/// Decoded images held at once while evaluating: a grid batch is run in
/// pieces that end at this many bytes of pixels (cut the same way from the
/// batch's start on every host, so a batch's composition never depends on
/// where a shard began), and pieces are gathered into a chunk until it holds
/// this many bytes (or a twentieth of the time budget); memory stays under
/// twice this plus one image, whatever the data set.
constexpr std::size_t kChunkPixelBytes = std::size_t{128} << 20;

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
                    int batch, double threshold, const std::string& layout, std::size_t evaluationImages) {
  Served s;
  std::vector<const Image*> calib;
  for (const auto& smp : paritySamples) calib.push_back(&smp.image);
  s.plan = planServing(model, calib, batch, layout);
  s.paritySet = paritySet;
  s.parity = compareServing(model, *s.plan.model, paritySamples, batch, threshold);
  warmUp(s.plan, calib, evaluationImages);  // last: a call at the parity's size would undo it
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

/// What scoring needs of one subject: who it is, its answers by sample
/// index, and how it was run (host-dependent, reported as it was measured).
struct ScoreSubject {
  std::string model;               ///< manifest name
  std::string sha256;              ///< archive sha256
  std::vector<Answer> answers;     ///< by sample index (default Answer where not evaluated)
  json serving;                    ///< results.<subject>.serving
  json flops;                      ///< results.<subject>.flops
  double flopsPerImage = 0;
  Run run;                         ///< evaluation time
};

json servingJson(const Served& s) {
  json sv = toJson(s.plan);
  sv["parity"] = toJson(s.parity);
  sv["parity"]["set"] = s.paritySet;
  return sv;
}

json subjectJson(const ScoreSubject& s, const SubjectMetrics& m, std::size_t images, const Roofline& roof) {
  json j = toJson(m);
  j["model"] = s.model;
  j["sha256"] = s.sha256;
  j["wall_ms"] = s.run.wallMs;
  j["images_evaluated"] = images;
  const double rate = s.run.wallMs > 0 ? 1000.0 * static_cast<double>(images) / s.run.wallMs : 0.0;
  j["images_per_s"] = rate;
  j["forward_images_per_s"] =
      s.run.stages.forwardMs > 0 ? 1000.0 * static_cast<double>(images) / s.run.stages.forwardMs : 0.0;
  j["serving"] = s.serving;
  j["flops"] = s.flops;
  j["roofline"] = rooflineJson(roof, s.flopsPerImage, rate);
  j["stage_ms"] = {{"preprocess", s.run.stages.preprocessMs}, {"forward", s.run.stages.forwardMs},
                   {"postprocess", s.run.stages.postprocessMs}};
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


/// Everything an evaluation needs before its first batch: the data set, the
/// models as served, the sample keys and the evaluation order.
struct Prepared {
  std::unique_ptr<Dataset> ds;
  std::shared_ptr<Model> current, candidate;
  std::vector<int> classMap;       ///< data set label -> current model label
  std::vector<int> identity;       ///< current model output -> label
  std::vector<int> candMap;        ///< candidate output -> current label
  std::size_t n = 0;
  std::vector<std::string> keys;   ///< by sample index
  bool hasSlices = false;
  std::vector<std::size_t> order;  ///< evaluation order: position -> sample index
  std::size_t planned = 0;         ///< positions the sample budget allows
  int batch = 1;                   ///< grid batch size
  double budgetS = 0;              ///< time budget, s
  Served curServed, candServed;
  GemmResult gemm;
  Roofline roof;
};

/// Open the data set and models, check them, and plan serving with `layout`.
Expected<std::unique_ptr<Prepared>> prepare(const ToolContext& ctx, Report& report, const std::string& layout) {
  const Config& cfg = ctx.config;
  const ComplianceConfig& cc = cfg.compliance;
  auto p = std::make_unique<Prepared>();
  CVGATE_TRY(applyThreadSettings({cfg.runtime.intraOpThreads, cfg.runtime.interOpThreads}));
  CVGATE_TRY_ASSIGN(ds, openDataset(cfg.dataset));
  p->ds = std::move(ds);
  report.inputs["dataset_sha256"] = p->ds->sha256();
  CVGATE_TRY_ASSIGN(current, loadSubject(cfg.models.current, cfg.models.currentSha256, "current", report));
  p->current = std::move(current);
  if (!cfg.models.candidate.empty()) {
    CVGATE_TRY_ASSIGN(c, loadSubject(cfg.models.candidate, cfg.models.candidateSha256, "candidate", report));
    p->candidate = std::move(c);
  }
  const Manifest& cm = p->current->manifest();
  CVGATE_TRY_ASSIGN(classMap, mapClasses(*p->ds, cfg.dataset, *p->current));
  p->classMap = std::move(classMap);
  p->identity.resize(cm.labels.size());
  for (std::size_t j = 0; j < p->identity.size(); ++j) p->identity[j] = static_cast<int>(j);
  if (p->candidate) {
    CVGATE_TRY_ASSIGN(m, mapCandidate(cm, p->candidate->manifest()));
    p->candMap = std::move(m);
  }

  // Every sample has a key (docs/data.md); its draws decide the evaluation
  // order and its side of the split, so the same images in any layout are
  // evaluated in the same batches and give the same figures.
  const Dataset& d = *p->ds;
  p->n = d.size();
  spdlog::info("reading {}", d.describe());
  p->keys.resize(p->n);
  {
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < p->n; ++i) {
      p->keys[i] = d.key(i);
      if (auto [it, fresh] = seen.emplace(p->keys[i], i); !fresh)
        return badInput("dataset '" + d.describe() + "': samples " + std::to_string(it->second) + " and " +
                        std::to_string(i) + " have the same key '" + p->keys[i] + "': expected unique sample keys");
    }
  }
  for (std::size_t i = 0; i < p->n && !p->hasSlices; ++i) p->hasSlices = !d.slice(i).empty();
  if (cc.sliceGate && !p->hasSlices)
    return badInput("[compliance] slice_gate = true: dataset '" + d.describe() +
                    "' has no slices: expected a list with a slice column ([dataset] format = \"list\")");
  p->order = evaluationOrder(p->keys, cc.seed);
  p->planned = cc.maxSamples > 0 ? std::min(p->n, static_cast<std::size_t>(cc.maxSamples)) : p->n;
  p->budgetS = toolBudgetS(cc.timeBudgetS, cfg.heartbeat.evalComplianceTimeoutS);
  p->batch = std::max(cfg.runtime.batchSize, cc.batchSize);

  // The models run as they are served (frozen + optimize_for_inference, in
  // the layout [runtime] layout names or a short calibration found faster);
  // their decisions are compared with the archive's as loaded on the golden
  // set first.
  std::vector<Sample> paritySamples;
  std::string paritySet = "golden";
  {
    auto g = goldenSamples(d, cfg.golden);
    if (g.ok()) {
      paritySamples = std::move(*g);
    } else {
      const std::size_t k = std::min<std::size_t>(p->n, static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.golden.count)));
      for (std::size_t i = 0; i < k; ++i) {
        CVGATE_TRY_ASSIGN(smp, d.get(i));
        paritySamples.push_back(std::move(smp));
      }
      paritySet = "first " + std::to_string(k) + " (the golden set does not fit the data set)";
    }
  }
  p->gemm = gemmBench(kRooflineGemmN, kRooflineGemmSeconds);
  p->roof = Roofline{p->gemm.gflops, coresUsed(1, cfg.runtime.intraOpThreads)};
  p->curServed = serveSubject(*p->current, paritySamples, paritySet, p->batch, cc.threshold, layout, p->planned);
  if (p->candidate)
    p->candServed = serveSubject(*p->candidate, paritySamples, paritySet, p->batch, cc.threshold, layout, p->planned);
  return p;
}

json machineJson(const Prepared& p) {
  return {{"gemm_gflops_per_core", p.gemm.gflops}, {"gemm_n", p.gemm.n}, {"gemm_seconds", p.gemm.seconds},
          {"gemm", toJson(p.gemm)}, {"cores", p.roof.cores}};
}

/// What evaluating a range of positions produced.
struct Evaluated {
  std::vector<SampleOutcome> samples;  ///< in position order, from the range's start
  Run cur, cand;
  bool stoppedByTime = false;
  double secondsPerImage = 0;      ///< slowest pace of a chunk (decoding and both models)
};

/// Evaluate the grid batches of `range` (which starts and ends on the grid)
/// a chunk at a time, each model over the whole chunk before the other (run
/// alternately batch by batch, the two models evicted each other's weights
/// from the cache: V1's calls took 0.2-0.3 ms after a V2 call against 0.13
/// ms in a row), in turns: the model that ends one chunk begins the next (a
/// model's first call after the other's took V2 10-30 ms against 4). The
/// first batch is a chunk of its own, the probe of the pace; the time budget (counted from `t0`) is checked before each batch is
/// decoded, which must fit, with the batches decoded but not yet run, in
/// what is left at the slowest pace measured so far.
Expected<Evaluated> evaluateRange(const Prepared& p, PositionRange range,
                                  Clock::time_point t0) {
  const Dataset& d = *p.ds;
  const Manifest& cm = p.current->manifest();
  const auto batch = static_cast<std::size_t>(p.batch);
  Evaluated ev;
  ev.samples.reserve(range.size());
  std::vector<Sample> chunk;
  std::vector<std::size_t> pieceEnds;  // where each piece of the chunk ends
  std::size_t chunkBytes = 0, pieceBytes = 0, chunkFrom = 0;
  auto chunkStart = Clock::now();
  // Whether the next chunk runs the candidate before the current model: the
  // candidate first at the start, the model warmed up last.
  bool candidateFirst = p.candidate != nullptr;
  auto cutPiece = [&]() {
    if (chunk.size() > (pieceEnds.empty() ? 0 : pieceEnds.back())) pieceEnds.push_back(chunk.size());
    pieceBytes = 0;
  };
  // Each model over every piece of the chunk (one runPipeline call a piece),
  // then the pace of the chunk.
  auto flush = [&]() {
    cutPiece();
    if (chunk.empty()) return;
    auto runModel = [&](Run& run, const Model& model, const std::vector<int>& outMap) {
      std::vector<Answer> all;
      all.reserve(chunk.size());
      std::size_t from = 0;
      for (std::size_t to : pieceEnds) {
        std::vector<const Image*> images;
        images.reserve(to - from);
        for (std::size_t k = from; k < to; ++k) images.push_back(&chunk[k].image);
        for (auto& a : evaluatePiece(run, model, images, p.batch, outMap)) all.push_back(std::move(a));
        from = to;
      }
      return all;
    };
    // The model that ran last runs first: one switch of model a chunk, not
    // two (the first calls after the other model's were the slow ones).
    std::vector<Answer> cur, cand;
    if (p.candidate && candidateFirst) cand = runModel(ev.cand, *p.candServed.plan.model, p.candMap);
    cur = runModel(ev.cur, *p.curServed.plan.model, p.identity);
    if (p.candidate && !candidateFirst) cand = runModel(ev.cand, *p.candServed.plan.model, p.candMap);
    candidateFirst = !candidateFirst;
    for (std::size_t k = 0; k < chunk.size(); ++k) {
      ev.samples[chunkFrom + k].current = std::move(cur[k]);
      if (p.candidate) ev.samples[chunkFrom + k].candidate = std::move(cand[k]);
    }
    ev.secondsPerImage =
        std::max(ev.secondsPerImage, msSince(chunkStart) / 1000.0 / static_cast<double>(chunk.size()));
    chunk.clear();
    pieceEnds.clear();
    chunkBytes = 0;
    chunkFrom = ev.samples.size();
    chunkStart = Clock::now();
  };
  spdlog::info("evaluating '{}'{} on positions [{}, {}) of {} planned of {} images (batch {}, time budget {} s)",
               cm.name, p.candidate ? " and '" + p.candidate->manifest().name + "'" : std::string(), range.from,
               range.to, p.planned, p.n, p.batch, fmtNum(p.budgetS, 0));
  const std::size_t firstBatch = range.from / batch;
  for (std::size_t b = firstBatch; b < gridBatches(p.planned, batch); ++b) {
    const PositionRange gb = gridBatch(b, p.planned, batch);
    if (gb.from >= range.to) break;
    const double leftS = p.budgetS - msSince(t0) / 1000.0 - ev.secondsPerImage * static_cast<double>(chunk.size());
    if (ev.secondsPerImage > 0 ? leftS / ev.secondsPerImage < static_cast<double>(gb.size()) : leftS <= 0) {
      ev.stoppedByTime = true;
      break;
    }
    for (std::size_t pos = gb.from; pos < gb.to; ++pos) {
      const std::size_t i = p.order[pos];
      CVGATE_TRY_ASSIGN(s, d.get(i));
      if (s.label < 0 || static_cast<std::size_t>(s.label) >= p.classMap.size())
        return badInput("dataset '" + d.describe() + "': sample '" + s.id + "': label " + std::to_string(s.label) +
                        ": expected a label in 0.." + std::to_string(cm.labels.size() - 1) + " of model '" + cm.name +
                        "'");
      SampleOutcome o;
      o.position = pos;
      o.index = i;
      o.key = p.keys[i];
      o.id = s.id;
      o.slice = s.slice;
      o.label = p.classMap[static_cast<std::size_t>(s.label)];
      ev.samples.push_back(std::move(o));
      chunkBytes += s.image.pixels.size();
      pieceBytes += s.image.pixels.size();
      chunk.push_back(std::move(s));
      if (pieceBytes >= kChunkPixelBytes) {
        cutPiece();
        if (chunkBytes >= kChunkPixelBytes) flush();
      }
    }
    cutPiece();  // a batch ends a piece
    // Run the chunk at its size, or once its predicted time is a twentieth
    // of the budget: the pace is measured again every few minutes at most.
    if (ev.secondsPerImage == 0 || chunkBytes >= kChunkPixelBytes ||
        ev.secondsPerImage * static_cast<double>(chunk.size()) >= p.budgetS / 20)
      flush();
  }
  flush();
  for (const Run* r : {&ev.cur, &ev.cand})
    if (r->wallMs > 0)
      spdlog::info("{} images in {:.0f} ms ({:.0f} images/s)", ev.samples.size(), r->wallMs,
                   1000.0 * static_cast<double>(ev.samples.size()) / r->wallMs);
  return ev;
}

/// Everything the report is computed from: the outcomes by sample index and
/// what the evaluation was. The single-machine run and the merge fill it
/// from their own sources; score() is the one computation.
struct ScoreInput {
  std::string datasetDescribe, datasetSha256;
  std::size_t n = 0;               ///< samples in the data set
  std::vector<std::string> labelNames;
  std::vector<std::string> keys, ids, slices;  ///< by sample index ("" where not evaluated)
  std::vector<int> labels;         ///< by sample index
  std::vector<std::size_t> used;   ///< sample indices evaluated, in evaluation order
  std::size_t planned = 0;
  std::size_t plannedEval = 0;     ///< evaluation-split size of the planned samples
  int batch = 1;
  double budgetS = 0;
  bool stoppedByTime = false;
  double secondsPerImage = 0;
  json machine;
  Roofline roof;
  ScoreSubject current;
  bool hasCandidate = false;
  ScoreSubject candidate;
  /// A sample's image by index, for the dashboard's thumbnails (null: none).
  std::function<Expected<Sample>(std::size_t)> sample;
};

/// The evaluation-split size of `plannedKeys` (all planned samples' keys).
std::size_t evalSplitSize(const std::vector<std::string>& plannedKeys, double fraction, std::uint64_t seed) {
  std::vector<std::size_t> all(plannedKeys.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  return makeSplit(plannedKeys, all, fraction, seed).evaluation.size();
}

/// The checks and results of `in` (and the dashboard with --html).
Status score(const ToolContext& ctx, const ComplianceOptions& opts, const ScoreInput& in, Report& report,
             Clock::time_point t0) {
  const Config& cfg = ctx.config;
  const ComplianceConfig& cc = cfg.compliance;
  const std::vector<std::string>& labelNames = in.labelNames;
  const std::size_t n = in.n;
  const std::size_t done = in.used.size();
  const bool haveCandidate = in.hasCandidate;
  const Split split = makeSplit(in.keys, in.used, cc.calibrationFraction, cc.seed);

  SubjectMetrics cur = evaluateSubject(in.current.answers, in.labels, labelNames, split, cc.threshold, cc.eceBins);
  SubjectMetrics cand;
  if (haveCandidate)
    cand = evaluateSubject(in.candidate.answers, in.labels, labelNames, split, cc.threshold, cc.eceBins);

  // results
  json& res = report.results;
  res["threshold"] = cc.threshold;
  res["objective"] = {{"min_compliance_uplift", cfg.objectives.minComplianceUplift},
                      {"max_error_rate", cfg.objectives.maxErrorRate},
                      {"confidence", cfg.objectives.confidence}};
  res["dataset"] = {{"describe", in.datasetDescribe}, {"sha256", in.datasetSha256}, {"n", n}, {"evaluated", done},
                    {"n_eval", split.evaluation.size()}, {"n_calibration", split.calibration.size()},
                    {"calibration_fraction", cc.calibrationFraction}, {"seed", cc.seed},
                    {"split", kSplitScheme}};
  res["labels"] = labelNames;
  res["batch_size"] = in.batch;
  res["threads"] = {{"intra_op", cfg.runtime.intraOpThreads}, {"inter_op", cfg.runtime.interOpThreads}};
  res["machine"] = in.machine;
  res["current"] = subjectJson(in.current, cur, n, in.roof);

  std::vector<std::size_t> evalPerClass(labelNames.size(), 0);
  for (std::size_t i : split.evaluation) ++evalPerClass[static_cast<std::size_t>(in.labels[i])];
  report.checks.push_back(dataCheck(labelNames, evalPerClass, cc.minPerClass, cc.calibrationFraction));
  report.checks.push_back(errorRateCheck("current", cur.errors, cur.n, cfg.objectives.maxErrorRate,
                                         cfg.objectives.confidence));
  if (haveCandidate)
    report.checks.push_back(errorRateCheck("candidate", cand.errors, cand.n,
                                           cfg.objectives.maxErrorRate, cfg.objectives.confidence));

  // The figures this cycle offers as blessed ones, keyed by what produced
  // them, and production's regression against its own blessed figure.
  const BlessingKey key{in.datasetSha256, cc.threshold, cc.calibrationFraction, cc.seed, in.plannedEval};
  res["blessing"] = {{"current", blessingJson(key, cur.compliant, cur.n)},
                     {"candidate", haveCandidate ? blessingJson(key, cand.compliant, cand.n) : json(nullptr)}};
  std::string why, blessedPath;
  const json blessed = readBlessedCompliance(ctx.stateDir, in.current.sha256, &why, &blessedPath);
  report.checks.push_back(regressionCheck(cur.compliant, cur.n, blessed, key, cfg.objectives.confidence, why));
  res["blessed"] = {{"record", blessedPath}, {"compliance", blessed}};

  std::map<std::string, std::string> thumbnails;
  if (haveCandidate) {
    res["candidate"] = subjectJson(in.candidate, cand, n, in.roof);
    PairedMetrics paired = comparePaired(cur, cand, in.current.answers, in.candidate.answers, in.labels, in.keys,
                                         in.ids, labelNames, split, cc.threshold,
                                         static_cast<std::size_t>(cc.bootstrapResamples), cc.seed,
                                         cfg.objectives.confidence,
                                         static_cast<std::size_t>(cc.regressionsListed));
    json pj = toJson(paired, cfg.objectives.confidence);
    for (auto& [k, v] : pj.items()) res[k] = v;
    report.checks.push_back(upliftCheck(paired.uplift, cfg.objectives.minComplianceUplift,
                                        cfg.objectives.confidence, cc.calibrationFraction));
    for (const auto& d : paired.perClass)
      report.checks.push_back(classCheck(d, cc.minPerClass, cfg.objectives.confidence));
    if (!opts.html.empty() && in.sample) {
      std::map<std::string, std::size_t> byId;
      for (std::size_t i : in.used) byId[in.ids[i]] = i;
      for (const auto& r : paired.regressions) {
        auto s = in.sample(byId[r.id]);  // decoded again: only the few listed
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
      compareSlices(cur, haveCandidate ? &cand : nullptr, in.slices, split,
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
    report.checks.push_back(slicesCheck(sliceChecks, gate, haveCandidate));
  }

  // The budget: how many samples were used, why no more, what that buys.
  {
    const std::size_t ne = split.evaluation.size();
    const double conf = cfg.objectives.confidence;
    const std::string stoppedBy = in.stoppedByTime ? "time" : in.planned < n ? "samples" : "none";
    const double errorBound = ne ? 1.0 - std::pow(1.0 - conf, 1.0 / static_cast<double>(ne)) : 1.0;
    json up = res.contains("uplift") ? res["uplift"] : json();
    const bool haveCi = up.is_object() && up["lo"].is_number() && up["hi"].is_number();
    const double half = haveCi ? (up["hi"].get<double>() - up["lo"].get<double>()) / 2 : std::nan("");
    std::string msg = "evaluated " + std::to_string(done) + " of " + std::to_string(n) + " images" +
                      (stoppedBy == "time"      ? " (stopped by the time budget of " + fmtNum(in.budgetS, 0) + " s)"
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
                     {"planned", in.planned},
                     {"evaluated", done},
                     {"time_budget_s", in.budgetS},
                     {"stopped_by", stoppedBy},
                     {"seconds_per_image", in.secondsPerImage},
                     {"n_eval", ne},
                     {"confidence", conf},
                     {"uplift_ci_halfwidth", haveCi ? json(half) : json(nullptr)},
                     {"error_rate_bound_if_no_errors", errorBound},
                     {"message", msg}};
    if (stoppedBy == "none") spdlog::info("{}", msg);
    else spdlog::warn("{}", msg);
  }

  // Temperature patches: those that lower ECE by the margin are recommended.
  json patches = json::array();
  auto patch = [&](const char* role, const ScoreSubject& s, const SubjectMetrics& m) {
    if (!std::isfinite(m.temperature) || !std::isfinite(m.ece) || !std::isfinite(m.eceAfterTemperature)) return;
    const double gain = m.ece - m.eceAfterTemperature;
    json p = {{"subject", role}, {"model", s.model}, {"sha256", s.sha256},
              {"temperature", m.temperature}, {"ece_before", m.ece},
              {"ece_after", m.eceAfterTemperature}, {"ece_gain", gain},
              {"nll_before", m.nll}, {"nll_after", m.nllAfterTemperature},
              {"margin", cc.temperatureMargin}, {"recommended", gain >= cc.temperatureMargin}};
    // decide relays recommended patches to innovation_relay, deduplicated
    // across cycles: one owner of the relay feed, one record format.
    patches.push_back(p);
  };
  patch("current", in.current, cur);
  if (haveCandidate) patch("candidate", in.candidate, cand);
  res["temperature_patches"] = patches;
  res["wall_ms"] = msSince(t0);

  if (!opts.html.empty()) {
    report.settleStatus();
    CVGATE_TRY(writeOutputFile(opts.html, renderDashboard(toJson(report), thumbnails)));
    spdlog::info("dashboard written to {}", opts.html);
  }
  return okStatus();
}

ScoreSubject scoreSubject(const Model& m, const Served& served, const Run& run, std::size_t n) {
  ScoreSubject s;
  s.model = m.manifest().name;
  s.sha256 = m.sha256();
  s.answers.resize(n);
  s.serving = servingJson(served);
  s.flops = served.flops;
  s.flopsPerImage = served.flopsPerImage;
  s.run = run;
  return s;
}

OutcomeSubject outcomeSubject(const Model& m, const Served& served, const Run& run) {
  OutcomeSubject s;
  s.model = m.manifest().name;
  s.sha256 = m.sha256();
  s.layout = served.plan.layout;
  s.serving = servingJson(served);
  s.flops = served.flops;
  s.flopsPerImage = served.flopsPerImage;
  s.wallMs = run.wallMs;
  s.preprocessMs = run.stages.preprocessMs;
  s.forwardMs = run.stages.forwardMs;
  s.postprocessMs = run.stages.postprocessMs;
  return s;
}

/// The sha256 of the model the command line names for `role`, as loadSubject
/// would read it (its pin checked), without loading it.
Expected<std::string> modelSha256(const std::string& path, const std::string& pin, const std::string& role) {
  if (path.empty()) return badInput("no " + role + " model: set [models] " + role + " or --" + role);
  auto sha = sha256File(path);
  if (!sha.ok()) return sha.error().context(role + " model");
  if (!pin.empty() && *sha != pin)
    return badInput(role + " model: '" + path + "': sha256 " + sha->substr(0, 12) + "… does not match the expected " +
                    pin.substr(0, 12) + "… (tampered or wrong file)");
  return *sha;
}

}  // namespace

Status runCompliance(const ToolContext& ctx, const ComplianceOptions& opts, Report& report) {
  auto t0 = Clock::now();
  CVGATE_TRY_ASSIGN(p, prepare(ctx, report, ctx.config.runtime.layout));
  CVGATE_TRY_ASSIGN(ev, evaluateRange(*p, {0, p->planned}, t0));
  const ComplianceConfig& cc = ctx.config.compliance;

  ScoreInput in;
  in.datasetDescribe = p->ds->describe();
  in.datasetSha256 = p->ds->sha256();
  in.n = p->n;
  in.labelNames = p->current->manifest().labels;
  in.keys = p->keys;
  in.ids.resize(p->n);
  in.slices.resize(p->n);
  in.labels.assign(p->n, 0);
  in.planned = p->planned;
  in.batch = p->batch;
  in.budgetS = p->budgetS;
  in.stoppedByTime = ev.stoppedByTime;
  in.secondsPerImage = ev.secondsPerImage;
  in.machine = machineJson(*p);
  in.roof = p->roof;
  in.current = scoreSubject(*p->current, p->curServed, ev.cur, p->n);
  in.hasCandidate = static_cast<bool>(p->candidate);
  if (p->candidate) in.candidate = scoreSubject(*p->candidate, p->candServed, ev.cand, p->n);
  for (auto& s : ev.samples) {
    in.used.push_back(s.index);
    in.ids[s.index] = s.id;
    in.slices[s.index] = s.slice;
    in.labels[s.index] = s.label;
    in.current.answers[s.index] = std::move(s.current);
    if (p->candidate) in.candidate.answers[s.index] = std::move(s.candidate);
  }
  std::vector<std::string> plannedKeys;
  plannedKeys.reserve(p->planned);
  for (std::size_t pos = 0; pos < p->planned; ++pos) plannedKeys.push_back(p->keys[p->order[pos]]);
  in.plannedEval = evalSplitSize(plannedKeys, cc.calibrationFraction, cc.seed);
  const Dataset* ds = p->ds.get();
  in.sample = [ds](std::size_t i) { return ds->get(i); };
  return score(ctx, opts, in, report, t0);
}

Status runShard(const ToolContext& ctx, const ComplianceOptions& opts) {
  auto t0 = Clock::now();
  CVGATE_TRY_ASSIGN(spec, parseShardSpec(opts.shard));
  const Config& cfg = ctx.config;
  const ComplianceConfig& cc = cfg.compliance;
  // A layout timed on each node could come out differently: shards of one
  // evaluation run the same layout, contiguous unless the config names one.
  const std::string layout = cfg.runtime.layout == "auto" ? "contiguous" : cfg.runtime.layout;
  Report scratch = newReport(ctx.tool, kKind, ctx.cycleId);
  CVGATE_TRY_ASSIGN(p, prepare(ctx, scratch, layout));
  const PositionRange range = shardRange(spec.k, spec.n, p->planned, static_cast<std::size_t>(p->batch));
  spdlog::info("shard {}/{}: positions [{}, {}) of {} planned ({} batches of {})", spec.k, spec.n, range.from, range.to,
               p->planned, gridBatches(p->planned, static_cast<std::size_t>(p->batch)), p->batch);
  CVGATE_TRY_ASSIGN(ev, evaluateRange(*p, range, t0));

  OutcomeHeader h;
  h.toolVersion = kVersion;
  h.piecePixelBytes = static_cast<std::int64_t>(kChunkPixelBytes);
  h.datasetSha256 = p->ds->sha256();
  h.datasetDescribe = p->ds->describe();
  h.datasetN = p->n;
  h.labels = p->current->manifest().labels;
  h.hasSlices = p->hasSlices;
  h.current = outcomeSubject(*p->current, p->curServed, ev.cur);
  h.hasCandidate = static_cast<bool>(p->candidate);
  if (p->candidate) h.candidate = outcomeSubject(*p->candidate, p->candServed, ev.cand);
  h.configSha256 = cfg.sha256;
  h.threshold = cc.threshold;
  h.seed = cc.seed;
  h.calibrationFraction = cc.calibrationFraction;
  h.batch = p->batch;
  h.maxSamples = cc.maxSamples;
  h.planned = p->planned;
  h.shard = spec;
  h.range = range;
  h.evaluated = ev.samples.size();
  h.stoppedBy = ev.stoppedByTime ? "time" : p->planned < p->n ? "samples" : "none";
  h.timeBudgetS = p->budgetS;
  h.secondsPerImage = ev.secondsPerImage;
  h.machine = machineJson(*p);
  h.cores = p->roof.cores;
  for (std::size_t pos = range.from + ev.samples.size(); pos < range.to; ++pos)
    h.unevaluatedKeys.push_back(p->keys[p->order[pos]]);
  CVGATE_TRY(writeOutputFile(opts.outcomesOut, writeOutcomes(h, ev.samples)));
  spdlog::info("shard {}/{}: {} of {} outcomes written to {}{}", spec.k, spec.n, ev.samples.size(), range.size(),
               opts.outcomesOut, ev.stoppedByTime ? " (stopped by the time budget)" : "");
  return okStatus();
}

Status runMerge(const ToolContext& ctx, const ComplianceOptions& opts, Report& report) {
  auto t0 = Clock::now();
  const Config& cfg = ctx.config;
  const ComplianceConfig& cc = cfg.compliance;
  CVGATE_TRY_ASSIGN(paths, expandMergeArgs(opts.merge));
  std::vector<OutcomeFile> files;
  for (const auto& path : paths) {
    CVGATE_TRY_ASSIGN(f, readOutcomes(path));
    files.push_back(std::move(f));
  }
  MergeExpect expect;
  expect.configSha256 = cfg.sha256;
  CVGATE_TRY_ASSIGN(curSha, modelSha256(cfg.models.current, cfg.models.currentSha256, "current"));
  expect.currentSha256 = curSha;
  if (!cfg.models.candidate.empty()) {
    CVGATE_TRY_ASSIGN(candSha, modelSha256(cfg.models.candidate, cfg.models.candidateSha256, "candidate"));
    expect.candidateSha256 = candSha;
  }
  CVGATE_TRY(verifyShards(files, expect));
  const OutcomeHeader& h0 = files.front().header;
  report.inputs["dataset_sha256"] = h0.datasetSha256;
  report.subjects["current"] = Subject{h0.current.model, h0.current.sha256, cfg.models.current};
  if (h0.hasCandidate) report.subjects["candidate"] = Subject{h0.candidate.model, h0.candidate.sha256, cfg.models.candidate};

  ScoreInput in;
  in.datasetDescribe = h0.datasetDescribe;
  in.datasetSha256 = h0.datasetSha256;
  in.n = h0.datasetN;
  in.labelNames = h0.labels;
  in.keys.resize(in.n);
  in.ids.resize(in.n);
  in.slices.resize(in.n);
  in.labels.assign(in.n, 0);
  in.planned = h0.planned;
  in.batch = static_cast<int>(h0.batch);
  in.budgetS = toolBudgetS(cfg.compliance.timeBudgetS, cfg.heartbeat.evalComplianceTimeoutS);
  in.machine = h0.machine;
  in.roof = Roofline{h0.machine.value("gemm_gflops_per_core", 0.0), h0.cores};
  auto subject = [&](const OutcomeSubject& o) {
    ScoreSubject s;
    s.model = o.model;
    s.sha256 = o.sha256;
    s.answers.resize(in.n);
    s.serving = o.serving;
    s.flops = o.flops;
    s.flopsPerImage = o.flopsPerImage;
    return s;
  };
  in.current = subject(h0.current);
  in.hasCandidate = h0.hasCandidate;
  if (in.hasCandidate) in.candidate = subject(h0.candidate);
  std::vector<std::string> plannedKeys;
  plannedKeys.reserve(in.planned);
  std::vector<std::uint8_t> seen(in.n, 0);
  for (auto& f : files) {
    const OutcomeHeader& h = f.header;
    // Timing: the shards' evaluation time added up; the slowest pace.
    auto addRun = [](Run& r, const OutcomeSubject& o) {
      r.wallMs += o.wallMs;
      r.stages.preprocessMs += o.preprocessMs;
      r.stages.forwardMs += o.forwardMs;
      r.stages.postprocessMs += o.postprocessMs;
    };
    addRun(in.current.run, h.current);
    if (in.hasCandidate) addRun(in.candidate.run, h.candidate);
    in.secondsPerImage = std::max(in.secondsPerImage, h.secondsPerImage);
    in.stoppedByTime = in.stoppedByTime || h.stoppedBy == "time";
    for (auto& s : f.samples) {
      if (seen[s.index]++)
        return badInput("'" + f.path + "': sample index " + std::to_string(s.index) +
                        " evaluated twice: expected each sample in one shard (a corrupted or forged file)");
      plannedKeys.push_back(s.key);
      in.used.push_back(s.index);
      in.keys[s.index] = s.key;
      in.ids[s.index] = s.id;
      in.slices[s.index] = s.slice;
      in.labels[s.index] = s.label;
      in.current.answers[s.index] = std::move(s.current);
      if (in.hasCandidate) in.candidate.answers[s.index] = std::move(s.candidate);
    }
    for (const auto& k : h.unevaluatedKeys) plannedKeys.push_back(k);
  }
  in.plannedEval = evalSplitSize(plannedKeys, cc.calibrationFraction, cc.seed);
  spdlog::info("merged {} shards: {} of {} planned samples evaluated", files.size(), in.used.size(), in.planned);
  if (in.stoppedByTime)
    spdlog::warn("a shard stopped by its time budget: the merged report covers the samples evaluated, "
                 "not those a single run would have");

  // The dashboard's thumbnails need the images: the configured data set, if
  // it is the one the shards evaluated.
  std::unique_ptr<Dataset> ds;
  if (!opts.html.empty() && in.hasCandidate) {
    auto opened = openDataset(cfg.dataset);
    if (opened.ok() && (*opened)->sha256() == in.datasetSha256) {
      ds = std::move(*opened);
      const Dataset* d = ds.get();
      in.sample = [d](std::size_t i) { return d->get(i); };
    } else {
      spdlog::warn("the dashboard has no thumbnails: {}",
                   opened.ok() ? "the configured data set is not the one the shards evaluated"
                               : opened.error().message());
    }
  }
  return score(ctx, opts, in, report, t0);
}

}  // namespace cvgate::compliance

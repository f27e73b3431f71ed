// Sharded evaluation: the fixed grid of batches over the evaluation order,
// which contiguous run of it a shard K/N evaluates, and the per-sample
// outcome file a shard writes and a merge reads (docs/outcomes.md). Torch-
// free: an outcome file is hostile input, read within the limits and
// refused with one line naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/Error.h"
#include "compliance/Metrics.h"

namespace cvgate::compliance {

/// The schema of an outcome file's header line.
inline constexpr const char* kOutcomesSchema = "cvgate.outcomes/1";

/// Positions [from, to) of the evaluation order.
struct PositionRange {
  std::size_t from = 0;
  std::size_t to = 0;
  std::size_t size() const { return to - from; }
  bool operator==(const PositionRange& o) const { return from == o.from && to == o.to; }
};

/// Batches of `batch` positions over the first `planned` positions of the
/// evaluation order: batch b is [b*batch, min((b+1)*batch, planned)). Every
/// evaluation, sharded or not, runs exactly these batches, so a forward pass
/// sees the same images whatever the shard count.
std::size_t gridBatches(std::size_t planned, std::size_t batch);
PositionRange gridBatch(std::size_t b, std::size_t planned, std::size_t batch);

/// Shard k of n: the whole grid batches [floor(k*nb/n), floor((k+1)*nb/n))
/// as positions (empty when n > nb and this shard gets none).
PositionRange shardRange(std::size_t k, std::size_t n, std::size_t planned, std::size_t batch);

/// --shard "K/N": 0 <= K < N, N >= 1. BadInput naming the value otherwise.
struct ShardSpec {
  std::size_t k = 0;
  std::size_t n = 1;
};
Expected<ShardSpec> parseShardSpec(const std::string& text);

/// One sample's outcome: where it is and what each model answered.
struct SampleOutcome {
  std::size_t position = 0;        ///< place in the evaluation order
  std::size_t index = 0;           ///< sample index in the data set
  std::string key;                 ///< sample key (docs/data.md)
  std::string id;                  ///< sample id
  std::string slice;               ///< slice ("" none)
  int label = 0;                   ///< true label in the current model's label space
  Answer current;
  Answer candidate;                ///< unused without a candidate
};

/// What was evaluated, and under what, for one subject.
struct OutcomeSubject {
  std::string model;               ///< manifest name
  std::string sha256;              ///< archive sha256
  std::string layout;              ///< serving input layout the shard ran
  nlohmann::json serving;          ///< results.<subject>.serving of this host (plan and parity)
  nlohmann::json flops;            ///< results.<subject>.flops
  double flopsPerImage = 0;
  double wallMs = 0;               ///< evaluation time of this shard (timing)
  double preprocessMs = 0, forwardMs = 0, postprocessMs = 0;  ///< stage times (timing)
};

/// The header line of an outcome file.
struct OutcomeHeader {
  std::string toolVersion;
  std::string datasetSha256;
  std::string datasetDescribe;
  std::size_t datasetN = 0;        ///< samples in the data set
  std::vector<std::string> labels; ///< the evaluation's label names
  bool hasSlices = false;          ///< some sample of the data set has a slice
  OutcomeSubject current;
  bool hasCandidate = false;
  OutcomeSubject candidate;
  std::string configSha256;
  double threshold = 0;
  std::uint64_t seed = 0;
  double calibrationFraction = 0;
  std::int64_t batch = 0;          ///< grid batch size
  std::int64_t maxSamples = 0;
  /// Bytes of pixels at which a grid batch is cut into model calls (0: not
  /// recorded, a file from before the field): shards cut at another size
  /// can answer the same batch differently.
  std::int64_t piecePixelBytes = 0;
  std::size_t planned = 0;         ///< positions of the evaluation order planned (all shards)
  ShardSpec shard;
  PositionRange range;             ///< this shard's positions
  std::size_t evaluated = 0;       ///< outcomes in the file: positions [from, from+evaluated)
  std::string stoppedBy = "none";  ///< "time", "samples" or "none"
  double timeBudgetS = 0;
  double secondsPerImage = 0;      ///< pace measured (timing)
  nlohmann::json machine;          ///< results.machine of this host (timing)
  int cores = 1;                   ///< roofline cores of this host
  std::vector<std::string> unevaluatedKeys; ///< keys of positions [from+evaluated, to) (a time stop)
  std::string recordsSha256;       ///< sha256 of the bytes after the header line
};

/// The file: a header line, then one JSON line per outcome in position order.
std::string writeOutcomes(const OutcomeHeader& header, const std::vector<SampleOutcome>& samples);

/// A parsed file.
struct OutcomeFile {
  std::string path;
  OutcomeHeader header;
  std::vector<SampleOutcome> samples;
};

/// Parse `text` (from `path`, which errors name): schema, field types,
/// counts, the records' checksum, positions in order within the range,
/// answers of the label count. Errors are BadInput "'<path>': ...".
Expected<OutcomeFile> parseOutcomes(const std::string& text, const std::string& path);

/// readFile (within limits().maxFileBytes) + parseOutcomes.
Expected<OutcomeFile> readOutcomes(const std::string& path);

/// The files a --merge argument names: a file as it is; a directory: every
/// regular file in it whose name contains ".outcomes", sorted by name. An
/// empty result is an error naming the directory.
Expected<std::vector<std::string>> expandMergeArgs(const std::vector<std::string>& args);

/// What a merge must agree with: the command line's config and models.
struct MergeExpect {
  std::string configSha256;
  std::string currentSha256;
  std::string candidateSha256;     ///< "" when no candidate is configured
};

/// Check that `files` are the N shards of one evaluation: one each of 0..N-1,
/// the same inputs in every header, ranges the grid gives each K, and the
/// command line's config and models. Sorts `files` by K. The error names
/// the file at fault (or the shard that is missing).
Status verifyShards(std::vector<OutcomeFile>& files, const MergeExpect& expect);

/// Fields of a compliance report measured by a clock or on a host, which a
/// merged report cannot reproduce, as JSON pointers (a "*" segment is each
/// subject): what the comparison of a merged and a single-machine report
/// removes, and docs/outcomes.md lists.
const std::vector<std::string>& timingFields();

/// `report` (a whole report, or {"checks", "results"}) without timingFields().
nlohmann::json withoutTimingFields(nlohmann::json report);

}  // namespace cvgate::compliance

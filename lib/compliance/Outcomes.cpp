#include "compliance/Outcomes.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Limits.h"
#include "common/Sha256.h"
#include "common/Version.h"

namespace cvgate::compliance {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::size_t gridBatches(std::size_t planned, std::size_t batch) {
  if (batch == 0) return 0;
  return planned / batch + (planned % batch ? 1 : 0);
}

PositionRange gridBatch(std::size_t b, std::size_t planned, std::size_t batch) {
  const std::size_t from = std::min(planned, b * batch);
  return {from, std::min(planned, from + batch)};
}

PositionRange shardRange(std::size_t k, std::size_t n, std::size_t planned, std::size_t batch) {
  const std::size_t nb = gridBatches(planned, batch);
  if (n == 0 || k >= n) return {planned, planned};
  // floor(k * nb / n) without overflow for any realistic nb and n.
  const auto first = static_cast<std::size_t>((static_cast<unsigned __int128>(k) * nb) / n);
  const auto last = static_cast<std::size_t>((static_cast<unsigned __int128>(k + 1) * nb) / n);
  return {std::min(planned, first * batch), std::min(planned, last * batch)};
}

Expected<ShardSpec> parseShardSpec(const std::string& text) {
  auto bad = [&] {
    return badInput("--shard '" + text + "': expected K/N with 0 <= K < N (K counts from 0, e.g. 0/3)");
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return bad();
  auto number = [](const std::string& s, std::size_t* out) {
    if (s.empty() || s.size() > 9) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    *out = static_cast<std::size_t>(std::stoul(s));
    return true;
  };
  ShardSpec s;
  if (!number(text.substr(0, slash), &s.k) || !number(text.substr(slash + 1), &s.n)) return bad();
  if (s.n < 1 || s.k >= s.n) return bad();
  return s;
}

// ---------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------

namespace {

/// A double as JSON: a non-finite one (never in an answered request) as null.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json numbers(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(num(x));
  return a;
}

json answerJson(const Answer& a) {
  return {{"ok", a.ok}, {"error", a.error}, {"top1", a.top1}, {"confidence", num(a.confidence)},
          {"probs", numbers(a.probs)}, {"logits", numbers(a.logits)}};
}

json subjectJson(const OutcomeSubject& s) {
  return {{"model", s.model},
          {"sha256", s.sha256},
          {"layout", s.layout},
          {"serving", s.serving},
          {"flops", s.flops},
          {"flops_per_image", s.flopsPerImage},
          {"wall_ms", s.wallMs},
          {"stage_ms", {{"preprocess", s.preprocessMs}, {"forward", s.forwardMs}, {"postprocess", s.postprocessMs}}}};
}

}  // namespace

std::string writeOutcomes(const OutcomeHeader& h, const std::vector<SampleOutcome>& samples) {
  std::string records;
  for (const auto& s : samples) {
    json r = {{"p", s.position}, {"i", s.index},   {"key", s.key},
              {"id", s.id},      {"label", s.label}, {"slice", s.slice},
              {"current", answerJson(s.current)},
              {"candidate", h.hasCandidate ? answerJson(s.candidate) : json(nullptr)}};
    records += r.dump();
    records += '\n';
  }
  json head = {{"schema", kOutcomesSchema},
               {"tool", "eval-compliance"},
               {"tool_version", h.toolVersion},
               {"dataset", {{"sha256", h.datasetSha256}, {"describe", h.datasetDescribe}, {"n", h.datasetN},
                            {"has_slices", h.hasSlices}}},
               {"labels", h.labels},
               {"subjects", {{"current", subjectJson(h.current)},
                             {"candidate", h.hasCandidate ? subjectJson(h.candidate) : json(nullptr)}}},
               {"config_sha256", h.configSha256},
               {"threshold", h.threshold},
               {"seed", h.seed},
               {"calibration_fraction", h.calibrationFraction},
               {"batch", h.batch},
               {"max_samples", h.maxSamples},
               {"piece_pixel_bytes", h.piecePixelBytes},
               {"planned", h.planned},
               {"shard", {{"k", h.shard.k}, {"n", h.shard.n}}},
               {"range", {{"from", h.range.from}, {"to", h.range.to}}},
               {"count", h.range.size()},
               {"evaluated", samples.size()},
               {"stopped_by", h.stoppedBy},
               {"time_budget_s", h.timeBudgetS},
               {"seconds_per_image", h.secondsPerImage},
               {"machine", h.machine},
               {"cores", h.cores},
               {"unevaluated_keys", h.unevaluatedKeys},
               {"records_sha256", sha256Hex(records)}};
  return head.dump() + "\n" + records;
}

// ---------------------------------------------------------------------------
// Reading: every field checked, every failure one line naming the file.
// ---------------------------------------------------------------------------

namespace {

/// Thrown inside the parser only; parseOutcomes turns it into a BadInput.
struct Bad {
  std::string what;
};

const json& field(const json& o, const char* k, const std::string& where) {
  if (!o.is_object()) throw Bad{where + ": expected an object"};
  auto it = o.find(k);
  if (it == o.end()) throw Bad{where + ": no field '" + k + "'"};
  return *it;
}

std::string str(const json& o, const char* k, const std::string& where) {
  const json& v = field(o, k, where);
  if (!v.is_string()) throw Bad{where + ": field '" + k + "': expected a string"};
  return v.get<std::string>();
}

bool boolean(const json& o, const char* k, const std::string& where) {
  const json& v = field(o, k, where);
  if (!v.is_boolean()) throw Bad{where + ": field '" + k + "': expected true or false"};
  return v.get<bool>();
}

std::uint64_t count(const json& o, const char* k, const std::string& where) {
  const json& v = field(o, k, where);
  if (!v.is_number_unsigned()) throw Bad{where + ": field '" + k + "': expected an integer >= 0"};
  return v.get<std::uint64_t>();
}

std::int64_t integer(const json& o, const char* k, const std::string& where) {
  const json& v = field(o, k, where);
  if (!v.is_number_integer()) throw Bad{where + ": field '" + k + "': expected an integer"};
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw Bad{where + ": field '" + k + "': expected an integer in range"};
  return v.get<std::int64_t>();
}

/// A number; null is NaN (how a non-finite value is written).
double number(const json& v, const std::string& what) {
  if (v.is_null()) return std::nan("");
  if (!v.is_number()) throw Bad{what + ": expected a number"};
  return v.get<double>();
}

double number(const json& o, const char* k, const std::string& where) {
  return number(field(o, k, where), where + ": field '" + k + "'");
}

std::vector<double> numbers(const json& o, const char* k, const std::string& where, std::size_t want) {
  const json& v = field(o, k, where);
  if (!v.is_array()) throw Bad{where + ": field '" + k + "': expected an array of numbers"};
  if (v.size() != 0 && v.size() != want)
    throw Bad{where + ": field '" + k + "': " + std::to_string(v.size()) + " numbers: expected " +
              std::to_string(want) + " (one per label)"};
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& x : v) out.push_back(number(x, where + ": field '" + k + "'"));
  return out;
}

std::vector<std::string> strings(const json& o, const char* k, const std::string& where) {
  const json& v = field(o, k, where);
  if (!v.is_array()) throw Bad{where + ": field '" + k + "': expected an array of strings"};
  std::vector<std::string> out;
  out.reserve(v.size());
  for (const auto& x : v) {
    if (!x.is_string()) throw Bad{where + ": field '" + k + "': expected an array of strings"};
    out.push_back(x.get<std::string>());
  }
  return out;
}

Answer readAnswer(const json& j, const std::string& where, std::size_t labels) {
  Answer a;
  a.ok = boolean(j, "ok", where);
  a.error = str(j, "error", where);
  const std::int64_t top1 = integer(j, "top1", where);
  if (top1 < -1 || top1 >= static_cast<std::int64_t>(labels))
    throw Bad{where + ": field 'top1': " + std::to_string(top1) + ": expected -1.." + std::to_string(labels - 1)};
  a.top1 = static_cast<int>(top1);
  a.confidence = number(j, "confidence", where);
  a.probs = numbers(j, "probs", where, labels);
  a.logits = numbers(j, "logits", where, labels);
  if (a.ok && (a.top1 < 0 || a.probs.size() != labels || a.logits.size() != labels))
    throw Bad{where + ": an answered request needs top1 >= 0 and " + std::to_string(labels) +
              " probs and logits"};
  return a;
}

OutcomeSubject readSubject(const json& j, const std::string& where) {
  OutcomeSubject s;
  s.model = str(j, "model", where);
  s.sha256 = str(j, "sha256", where);
  s.layout = str(j, "layout", where);
  s.serving = field(j, "serving", where);
  s.flops = field(j, "flops", where);
  s.flopsPerImage = number(j, "flops_per_image", where);
  s.wallMs = number(j, "wall_ms", where);
  const json& st = field(j, "stage_ms", where);
  s.preprocessMs = number(st, "preprocess", where + ".stage_ms");
  s.forwardMs = number(st, "forward", where + ".stage_ms");
  s.postprocessMs = number(st, "postprocess", where + ".stage_ms");
  return s;
}

OutcomeHeader readHeader(const json& j) {
  const std::string w = "header";
  OutcomeHeader h;
  const std::string schema = str(j, "schema", w);
  if (schema != kOutcomesSchema)
    throw Bad{"schema '" + schema + "': expected '" + kOutcomesSchema + "' (an eval-compliance --shard outcome file)"};
  h.toolVersion = str(j, "tool_version", w);
  const json& d = field(j, "dataset", w);
  h.datasetSha256 = str(d, "sha256", "header.dataset");
  h.datasetDescribe = str(d, "describe", "header.dataset");
  h.datasetN = count(d, "n", "header.dataset");
  h.hasSlices = boolean(d, "has_slices", "header.dataset");
  h.labels = strings(j, "labels", w);
  if (h.labels.empty()) throw Bad{"header: field 'labels': expected at least one label"};
  const json& subj = field(j, "subjects", w);
  h.current = readSubject(field(subj, "current", "header.subjects"), "header.subjects.current");
  const json& cand = field(subj, "candidate", "header.subjects");
  h.hasCandidate = !cand.is_null();
  if (h.hasCandidate) h.candidate = readSubject(cand, "header.subjects.candidate");
  h.configSha256 = str(j, "config_sha256", w);
  h.threshold = number(j, "threshold", w);
  h.seed = count(j, "seed", w);
  h.calibrationFraction = number(j, "calibration_fraction", w);
  h.batch = integer(j, "batch", w);
  if (h.batch < 1) throw Bad{"header: field 'batch': expected at least 1"};
  h.maxSamples = integer(j, "max_samples", w);
  h.piecePixelBytes = j.contains("piece_pixel_bytes") ? integer(j, "piece_pixel_bytes", w) : 0;
  if (h.piecePixelBytes < 0) throw Bad{"header: field 'piece_pixel_bytes': expected at least 0"};
  h.planned = count(j, "planned", w);
  if (h.planned > h.datasetN) throw Bad{"header: planned " + std::to_string(h.planned) + ": expected at most the data set's " + std::to_string(h.datasetN)};
  const json& sh = field(j, "shard", w);
  h.shard.k = count(sh, "k", "header.shard");
  h.shard.n = count(sh, "n", "header.shard");
  if (h.shard.n < 1 || h.shard.k >= h.shard.n) throw Bad{"header: shard " + std::to_string(h.shard.k) + "/" + std::to_string(h.shard.n) + ": expected K/N with 0 <= K < N"};
  const json& r = field(j, "range", w);
  h.range.from = count(r, "from", "header.range");
  h.range.to = count(r, "to", "header.range");
  if (h.range.from > h.range.to || h.range.to > h.planned)
    throw Bad{"header: range [" + std::to_string(h.range.from) + "," + std::to_string(h.range.to) +
              "): expected from <= to <= planned (" + std::to_string(h.planned) + ")"};
  if (count(j, "count", w) != h.range.size())
    throw Bad{"header: count " + std::to_string(count(j, "count", w)) + ": expected to - from = " + std::to_string(h.range.size())};
  h.evaluated = count(j, "evaluated", w);
  if (h.evaluated > h.range.size())
    throw Bad{"header: evaluated " + std::to_string(h.evaluated) + ": expected at most count " + std::to_string(h.range.size())};
  h.stoppedBy = str(j, "stopped_by", w);
  if (h.stoppedBy != "time" && h.stoppedBy != "samples" && h.stoppedBy != "none")
    throw Bad{"header: stopped_by '" + h.stoppedBy + "': expected time, samples or none"};
  h.timeBudgetS = number(j, "time_budget_s", w);
  h.secondsPerImage = number(j, "seconds_per_image", w);
  h.machine = field(j, "machine", w);
  h.cores = static_cast<int>(std::clamp<std::int64_t>(integer(j, "cores", w), 1, 1 << 20));
  h.unevaluatedKeys = strings(j, "unevaluated_keys", w);
  if (h.unevaluatedKeys.size() != h.range.size() - h.evaluated)
    throw Bad{"header: " + std::to_string(h.unevaluatedKeys.size()) + " unevaluated_keys: expected count - evaluated = " +
              std::to_string(h.range.size() - h.evaluated)};
  h.recordsSha256 = str(j, "records_sha256", w);
  return h;
}

}  // namespace

Expected<OutcomeFile> parseOutcomes(const std::string& text, const std::string& path) {
  const std::string what = "'" + path + "'";
  OutcomeFile f;
  f.path = path;
  const auto nl = text.find('\n');
  if (nl == std::string::npos)
    return badInput(what + ": no header line: expected an eval-compliance --shard outcome file (truncated?)");
  CVGATE_TRY_ASSIGN(head, parseJson(text.substr(0, nl), what + ": header line"));
  try {
    f.header = readHeader(head);
  } catch (const Bad& b) {
    return badInput(what + ": " + b.what);
  }
  const OutcomeHeader& h = f.header;
  const std::string_view records(text.data() + nl + 1, text.size() - nl - 1);
  if (sha256Hex(records) != h.recordsSha256)
    return badInput(what + ": the sample records do not match the header's records_sha256: "
                    "expected an intact file (truncated or corrupted)");
  const std::size_t labels = h.labels.size();
  std::size_t pos = 0, line = 1;
  f.samples.reserve(h.evaluated);
  while (pos < records.size()) {
    ++line;
    const auto end = records.find('\n', pos);
    if (end == std::string_view::npos)
      return badInput(what + " line " + std::to_string(line) + ": no newline at its end (truncated?)");
    if (f.samples.size() == h.evaluated)
      return badInput(what + " line " + std::to_string(line) + ": more sample records than the header's evaluated " +
                      std::to_string(h.evaluated));
    const std::string where = what + " line " + std::to_string(line);
    CVGATE_TRY_ASSIGN(r, parseJson(std::string(records.substr(pos, end - pos)), where));
    pos = end + 1;
    try {
      SampleOutcome s;
      s.position = count(r, "p", "record");
      const std::size_t want = h.range.from + f.samples.size();
      if (s.position != want)
        throw Bad{"position " + std::to_string(s.position) + ": expected " + std::to_string(want) +
                  " (records in evaluation order from the range's start)"};
      s.index = count(r, "i", "record");
      if (s.index >= h.datasetN)
        throw Bad{"sample index " + std::to_string(s.index) + ": expected below the data set's " + std::to_string(h.datasetN)};
      s.key = str(r, "key", "record");
      s.id = str(r, "id", "record");
      s.slice = str(r, "slice", "record");
      const std::int64_t label = integer(r, "label", "record");
      if (label < 0 || label >= static_cast<std::int64_t>(labels))
        throw Bad{"label " + std::to_string(label) + ": expected 0.." + std::to_string(labels - 1)};
      s.label = static_cast<int>(label);
      s.current = readAnswer(field(r, "current", "record"), "current", labels);
      const json& c = field(r, "candidate", "record");
      if (h.hasCandidate != !c.is_null())
        throw Bad{h.hasCandidate ? "candidate: expected an answer (the header names a candidate)"
                                 : "candidate: expected null (the header names no candidate)"};
      if (h.hasCandidate) s.candidate = readAnswer(c, "candidate", labels);
      f.samples.push_back(std::move(s));
    } catch (const Bad& b) {
      return badInput(where + ": " + b.what);
    }
  }
  if (f.samples.size() != h.evaluated)
    return badInput(what + ": " + std::to_string(f.samples.size()) + " sample records: expected the header's evaluated " +
                    std::to_string(h.evaluated) + " (truncated?)");
  return f;
}

Expected<OutcomeFile> readOutcomes(const std::string& path) {
  CVGATE_TRY_ASSIGN(text, readFile(path, limits().maxFileBytes));
  return parseOutcomes(text, path);
}

Expected<std::vector<std::string>> expandMergeArgs(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (!fs::is_directory(a, ec)) {
      out.push_back(a);
      continue;
    }
    std::vector<std::string> inDir;
    for (fs::directory_iterator it(a, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find(".outcomes") == std::string::npos || name.front() == '.') continue;
      std::error_code ec2;
      if (it->is_regular_file(ec2)) inDir.push_back(it->path().string());
    }
    if (ec) return badInput("'" + a + "': cannot list the directory: " + ec.message());
    if (inDir.empty()) return badInput("'" + a + "': no *.outcomes* file: expected the shards' outcome files");
    std::sort(inDir.begin(), inDir.end());
    out.insert(out.end(), inDir.begin(), inDir.end());
  }
  if (out.empty()) return badInput("--merge: expected outcome files or a directory of them");
  return out;
}

Status verifyShards(std::vector<OutcomeFile>& files, const MergeExpect& expect) {
  if (files.empty()) return badInput("--merge: expected outcome files or a directory of them");
  const OutcomeHeader& h0 = files.front().header;
  const std::string first = "'" + files.front().path + "'";
  auto differ = [&](const OutcomeFile& f, const std::string& what, const std::string& got, const std::string& want) {
    return badInput("'" + f.path + "': " + what + " " + got + ": expected " + want + " as in " + first +
                    " (shards of another evaluation)");
  };
  auto fmt = [](double v) { return json(v).dump(); };
  for (const auto& f : files) {
    const OutcomeHeader& h = f.header;
    if (h.shard.n != h0.shard.n)
      return differ(f, "shard count", std::to_string(h.shard.n), std::to_string(h0.shard.n));
    if (h.datasetSha256 != h0.datasetSha256) return differ(f, "data set sha256", h.datasetSha256, h0.datasetSha256);
    if (h.datasetN != h0.datasetN) return differ(f, "data set size", std::to_string(h.datasetN), std::to_string(h0.datasetN));
    if (h.labels != h0.labels) return differ(f, "labels", "[" + json(h.labels).dump() + "]", json(h0.labels).dump());
    if (h.current.sha256 != h0.current.sha256) return differ(f, "current model sha256", h.current.sha256, h0.current.sha256);
    if (h.hasCandidate != h0.hasCandidate)
      return differ(f, "candidate", h.hasCandidate ? h.candidate.sha256 : "none",
                    h0.hasCandidate ? h0.candidate.sha256 : "none");
    if (h.hasCandidate && h.candidate.sha256 != h0.candidate.sha256)
      return differ(f, "candidate model sha256", h.candidate.sha256, h0.candidate.sha256);
    if (h.current.layout != h0.current.layout) return differ(f, "current layout", h.current.layout, h0.current.layout);
    if (h.hasCandidate && h.candidate.layout != h0.candidate.layout)
      return differ(f, "candidate layout", h.candidate.layout, h0.candidate.layout);
    if (h.configSha256 != h0.configSha256) return differ(f, "config sha256", h.configSha256, h0.configSha256);
    if (h.toolVersion != h0.toolVersion) return differ(f, "tool version", h.toolVersion, h0.toolVersion);
    if (!(h.threshold == h0.threshold)) return differ(f, "threshold", fmt(h.threshold), fmt(h0.threshold));
    if (h.seed != h0.seed) return differ(f, "seed", std::to_string(h.seed), std::to_string(h0.seed));
    if (!(h.calibrationFraction == h0.calibrationFraction))
      return differ(f, "calibration fraction", fmt(h.calibrationFraction), fmt(h0.calibrationFraction));
    if (h.batch != h0.batch) return differ(f, "batch", std::to_string(h.batch), std::to_string(h0.batch));
    if (h.maxSamples != h0.maxSamples)
      return differ(f, "max_samples", std::to_string(h.maxSamples), std::to_string(h0.maxSamples));
    if (h.piecePixelBytes != h0.piecePixelBytes) {
      auto bytes = [](std::int64_t b) { return b > 0 ? std::to_string(b) : std::string("(not recorded)"); };
      return differ(f, "piece size in bytes of pixels", bytes(h.piecePixelBytes), bytes(h0.piecePixelBytes));
    }
    if (h.planned != h0.planned) return differ(f, "planned", std::to_string(h.planned), std::to_string(h0.planned));
    // The command line's config and models.
    if (h.configSha256 != expect.configSha256)
      return badInput("'" + f.path + "': config sha256 " + h.configSha256 + ": expected " + expect.configSha256 +
                      ", the sha256 of the config given to the merge");
    if (h.current.sha256 != expect.currentSha256)
      return badInput("'" + f.path + "': current model sha256 " + h.current.sha256 + ": expected " +
                      expect.currentSha256 + ", the current model given to the merge");
    const std::string cand = h.hasCandidate ? h.candidate.sha256 : "";
    if (cand != expect.candidateSha256)
      return badInput("'" + f.path + "': candidate model " + (cand.empty() ? "none" : "sha256 " + cand) +
                      ": expected " + (expect.candidateSha256.empty() ? "none" : expect.candidateSha256) +
                      ", the candidate given to the merge");
  }
  const std::size_t n = h0.shard.n;
  std::map<std::size_t, const OutcomeFile*> byK;
  for (const auto& f : files) {
    auto [it, fresh] = byK.emplace(f.header.shard.k, &f);
    if (!fresh)
      return badInput("'" + f.path + "': shard " + std::to_string(f.header.shard.k) + "/" + std::to_string(n) +
                      " given twice (also '" + it->second->path + "'): expected each shard once");
  }
  for (std::size_t k = 0; k < n; ++k)
    if (!byK.count(k))
      return badInput("shard " + std::to_string(k) + "/" + std::to_string(n) + " missing: expected " +
                      std::to_string(n) + " outcome files, one per shard; got " + std::to_string(files.size()) +
                      " (first " + first + ")");
  std::sort(files.begin(), files.end(),
            [](const OutcomeFile& a, const OutcomeFile& b) { return a.header.shard.k < b.header.shard.k; });
  std::size_t next = 0;
  for (const auto& f : files) {
    const OutcomeHeader& h = f.header;
    const PositionRange want = shardRange(h.shard.k, n, h.planned, static_cast<std::size_t>(h.batch));
    auto range = [](const PositionRange& r) {
      return "[" + std::to_string(r.from) + "," + std::to_string(r.to) + ")";
    };
    if (h.range.from != next)
      return badInput("'" + f.path + "': positions " + range(h.range) + ": expected to start at " +
                      std::to_string(next) + (h.range.from < next ? " (overlaps the shard before)" : " (a gap after the shard before)"));
    if (!(h.range == want))
      return badInput("'" + f.path + "': positions " + range(h.range) + ": expected " + range(want) + ", shard " +
                      std::to_string(h.shard.k) + "/" + std::to_string(n) + " of the grid of " +
                      std::to_string(h.batch) + "-image batches over " + std::to_string(h.planned) + " positions");
    next = h.range.to;
  }
  if (next != h0.planned)
    return badInput("'" + files.back().path + "': positions end at " + std::to_string(next) + ": expected " +
                    std::to_string(h0.planned) + " (a shard missing at the end)");
  return okStatus();
}

const std::vector<std::string>& timingFields() {
  static const std::vector<std::string> fields = {
      "/results/wall_ms",
      "/results/machine",
      "/results/budget/seconds_per_image",
      "/results/*/wall_ms",
      "/results/*/images_per_s",
      "/results/*/forward_images_per_s",
      "/results/*/stage_ms",
      "/results/*/roofline",
      "/results/*/serving/note",
      "/results/*/serving/layout",
      "/results/*/serving/calibration",
      "/results/*/serving/warmup",
      "/results/*/serving/parity/max_abs_prob_diff",
  };
  return fields;
}

json withoutTimingFields(json report) {
  for (const auto& f : timingFields()) {
    std::vector<std::string> pointers;
    const auto star = f.find("/*/");
    if (star == std::string::npos) {
      pointers.push_back(f);
    } else {
      for (const char* s : {"current", "candidate"})
        pointers.push_back(f.substr(0, star) + "/" + s + f.substr(star + 2));
    }
    for (const auto& p : pointers) {
      const json::json_pointer ptr(p);
      if (!report.contains(ptr)) continue;
      const json::json_pointer parent = ptr.parent_pointer();
      json& obj = report.at(parent);
      if (obj.is_object()) obj.erase(ptr.back());
    }
  }
  return report;
}

}  // namespace cvgate::compliance

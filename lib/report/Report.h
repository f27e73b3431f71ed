// The report envelope of DESIGN.md section 3: one definition used by every
// writer and every reader.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

using json = nlohmann::json;

/// The three-valued outcome of a check plus "error" (no evidence could be made).
enum class Outcome { Pass, Fail, Inconclusive, Error };

std::string toString(Outcome o);
Expected<Outcome> outcomeFromString(const std::string& s);
/// Worst of two: error > fail > inconclusive > pass.
Outcome worst(Outcome a, Outcome b);
/// Tool exit code for a report's status (0 pass, 10 fail, 11 inconclusive, 1 error).
int exitCodeFor(Outcome o);

/// One gate or finding, read generically by decide.
struct Check {
  std::string id;                  ///< dotted id, e.g. "latency.p95"
  std::string subject;             ///< "current", "candidate", "" for the environment
  Outcome status = Outcome::Inconclusive;
  std::optional<double> value;     ///< measured value
  std::optional<double> threshold; ///< objective it was compared with
  std::string unit;                ///< "ms", "1/s", "fraction", ...
  std::optional<std::pair<double, double>> ci; ///< confidence interval of value
  std::string message;             ///< one line for a person
  std::string severity;            ///< optional: "severe", "minor", ...
  json need;                       ///< inconclusive: how much more evidence, e.g. {"samples": 1200}
  json detail;                     ///< optional extra fields (before/after, ...)
};

/// The model a report is about.
struct Subject {
  std::string model;               ///< manifest name
  std::string sha256;              ///< archive sha256
  std::string path;                ///< where it was read from
};

/// The envelope.
struct Report {
  std::string schema;              ///< "cvgate.latency/1"
  std::string tool;
  std::string toolVersion;
  std::string cycleId;
  std::string startedAt;
  std::string finishedAt;
  std::map<std::string, Subject> subjects; ///< "current", "candidate", ...
  json inputs = json::object();    ///< config_sha256, dataset_sha256, env_hash
  Outcome status = Outcome::Inconclusive;
  std::vector<Check> checks;
  json results = json::object();   ///< tool-specific detail
  std::string error;               ///< status error: why no evidence could be made

  /// Set status to the worst of the checks (inconclusive when there are none).
  void settleStatus();
  const Check* findCheck(const std::string& id, const std::string& subject = "") const;
};

json toJson(const Check& c);
Expected<Check> checkFromJson(const json& j);
json toJson(const Report& r);

/// Schema kinds and the newest version of each that this build reads and writes.
struct SchemaInfo {
  const char* kind;                ///< "cvgate.latency"
  int version;                     ///< newest version
  int oldestReadable;              ///< oldest version still read
  const char* channel;             ///< feed channel of DESIGN.md section 4
};
const std::vector<SchemaInfo>& knownSchemas();
/// "cvgate.latency/1" for a kind.
std::string currentSchema(const std::string& kind);

/// Parse and validate an envelope. `kind` empty: any known schema.
/// An unknown schema, a newer version or a missing field is a BadInput error.
Expected<Report> reportFromJson(const json& j, const std::string& kind = "");

/// Read a report file (see reportFromJson); errors name the file.
Expected<Report> readReport(const std::string& path, const std::string& kind = "");

/// Write a report atomically ("-" = stdout), pretty-printed.
Status writeReport(const std::string& path, const Report& r);

/// A report with the envelope filled in for `tool` and `kind`; started now.
Report newReport(const std::string& tool, const std::string& kind, const std::string& cycleId);

/// An error report: status error, the reason, no checks. For a tool that
/// could not make evidence but must still leave a report for the cycle.
Report errorReport(const std::string& tool, const std::string& kind, const std::string& cycleId,
                   const std::string& why);

}  // namespace cvgate

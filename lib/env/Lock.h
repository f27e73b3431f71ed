// The environment lock: the blessed environment, written by
// `verify-env --record` and compared against by every later run. JSON,
// schema "cvgate.envlock/1", written atomically.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

inline constexpr const char* kEnvLockSchema = "cvgate.envlock/1";

/// A model as the lock knows it.
struct LockedModel {
  std::string model;               ///< manifest name ("" when it could not be read)
  std::string sha256;              ///< archive sha256
  std::string path;                ///< where it was read from
};

/// The blessed KPIs of the current model, copied from the newest compliance
/// and latency reports for its sha256 when the lock was recorded. In the lock
/// file: "baseline_kpis" (eval-compliance reads baseline_kpis.compliance).
struct BaselineKpis {
  std::optional<double> accuracy;  ///< fraction
  std::optional<double> compliance;///< compliance rate, fraction
  std::optional<double> p95Ms;     ///< P95 latency, ms
  nlohmann::json sources = nlohmann::json::object(); ///< kpi -> {"report": path, "field": json pointer}
  std::vector<std::string> notes;  ///< why a KPI is null
};
nlohmann::json toJson(const BaselineKpis& b);
BaselineKpis baselineFromJson(const nlohmann::json& j);

struct EnvLock {
  std::string recordedAt;          ///< ISO-8601 UTC
  std::string cycleId;             ///< cycle of the recording run
  std::string toolVersion;         ///< cvgate version that recorded it
  std::string envHash;             ///< env_hash at recording
  std::vector<std::string> hashedParts; ///< parts in env_hash
  nlohmann::json parts = nlohmann::json::object(); ///< fingerprint part -> value
  std::map<std::string, LockedModel> models;       ///< "current", "candidate"
  std::string configPath;          ///< config file at recording
  std::string configSha256;
  std::string datasetSha256;
  std::string dataset;             ///< human description of the data set
  int intraOpThreads = 0;          ///< thread settings at recording (also parts)
  int interOpThreads = 0;
  std::int64_t goldenOffset = 0;   ///< golden set [offset, offset + count)
  std::int64_t goldenCount = 0;
  nlohmann::json golden;           ///< toJson(GoldenRecord) of the current model
  BaselineKpis baseline;
};

nlohmann::json toJson(const EnvLock& l);
/// Validate and read a lock; `what` names it in errors. A wrong schema or a
/// missing field is a BadInput error.
Expected<EnvLock> lockFromJson(const nlohmann::json& j, const std::string& what);

/// Read the lock at `path`: nullopt when there is none; corrupt JSON or a
/// bad lock is a BadInput error ("lock '<path>': ...").
Expected<std::optional<EnvLock>> readLock(const std::string& path);
/// Write the lock atomically (temp file, fsync, rename).
Status writeLock(const std::string& path, const EnvLock& lock);

/// Find a KPI in a report's checks/results: the first number found, in
/// order, at results.<role>.<key>, results.subjects.<role>.<key>,
/// results.models.<role>.<key>, then anywhere under an object named <role>,
/// then at results.<key>, for each key of `keys` in turn. An object found
/// there gives its "value", "rate", "point" or "estimate". Returns the value
/// and the JSON pointer it was read from.
std::optional<std::pair<double, std::string>> findKpi(const nlohmann::json& results,
                                                      const std::vector<std::string>& keys,
                                                      const std::string& role = "current");

/// The baseline KPIs of the model with `currentSha256`, from the newest
/// matching reports in <stateDir>/feeds/v1_compliance_feed and v1_latency_feed.
/// A missing feed or field leaves the KPI null with a note; never an error.
BaselineKpis collectBaseline(const std::string& stateDir, const std::string& currentSha256);

}  // namespace cvgate

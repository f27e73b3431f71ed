// The model registry and deployment state of DESIGN.md section 5: a
// content-addressed model store, state.json, and the current.pt symlink that
// production loads, changed only by crash-safe operations under a lock.
//
// Layout under <state_dir>/registry/:
//   objects/<sha256>.pt           model bytes, read-only (0444), named by their hash
//   objects/<sha256>.golden.json  golden outputs recorded for that model (optional, opaque)
//   objects/<sha256>.blessed.json blessed figures of that model, keyed by what produced them (optional)
//   state.json                    current, previous (known-good stack), candidate, history
//   current.pt                    relative symlink -> objects/<sha256>.pt
//   journal.json                  intent record of an operation in progress
//   registry.lock                 flock(2) held by the process changing the registry
//
// Every change goes the same way: take the lock, finish or undo any interrupted
// operation, write journal.json {op, before, after} atomically, flip current.pt
// by rename(2) of a temporary symlink, fsync the directory, write state.json
// atomically, remove the journal, fsync. open() and every operation recover
// from a journal left by a crash: the result is exactly the before-state or the
// after-state (plus one "recover" history entry that says which), never a mix.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

using json = nlohmann::json;

/// One model in the registry.
struct Entry {
  std::string sha256;    ///< hex digest of the model bytes; the object's name
  std::string name;      ///< model name (manifest name, as given to stage)
  std::string version;   ///< model version
  std::string stagedAt;  ///< ISO-8601 UTC time the bytes entered the registry
  std::string path;      ///< "objects/<sha256>.pt", relative to the registry directory
  /// Where the stored bytes came from when the registry made them (a sidecar
  /// manifest embedded at stage time): {archive, archive_sha256, manifest,
  /// manifest_sha256}; null when the archive was stored as given.
  json source;
};

/// One line of the registry's story.
struct HistoryRecord {
  std::string op;                   ///< stage|deploy|rollback|init|prune|recover
  std::string at;                   ///< ISO-8601 UTC
  std::optional<std::string> cycleId;
  std::optional<std::string> from;  ///< sha256 current (candidate for stage) before, if any
  std::optional<std::string> to;    ///< sha256 current (candidate for stage) after, if any
  std::string note;                 ///< one line for a person
};

/// The content of state.json.
struct RegistryState {
  std::optional<Entry> current;       ///< what current.pt points at
  std::vector<Entry> previous;        ///< known-good stack, newest first
  std::optional<Entry> candidate;     ///< staged, not yet deployed
  std::vector<HistoryRecord> history; ///< oldest first
};

inline constexpr const char* kRegistrySchema = "cvgate.registry/1";

json toJson(const Entry& e);
json toJson(const HistoryRecord& h);
json toJson(const RegistryState& s);
Expected<Entry> entryFromJson(const json& j);
/// Parse state.json's content; an unknown schema or a missing field is a BadInput error.
Expected<RegistryState> registryStateFromJson(const json& j);

/// What verify() found. ok is true when problems is empty.
struct VerifyReport {
  bool ok = true;
  int objectsChecked = 0;                      ///< model objects hashed
  std::vector<std::string> problems;           ///< one line each
  std::vector<std::string> corrupt;            ///< sha256 of objects whose bytes do not match
  std::vector<std::string> unreferenced;       ///< objects no state entry refers to (prune removes them)
};
json toJson(const VerifyReport& r);

/// A model's bytes, read once, ready to enter the store.
struct ModelBytes {
  std::string bytes;               ///< the archive exactly as it will be stored
  std::string sha256;              ///< of `bytes`
  std::string source;              ///< where they came from, for messages
  json origin;                     ///< recorded as the entry's source (see Entry::source); null: none
};
/// Read a model file once (a regular file within [limits] max_model_mb).
Expected<ModelBytes> readModelBytes(const std::string& path);

/// The blessed record of a model, read without the registry's lock (it is
/// written atomically): <stateDir>/registry/objects/<sha>.blessed.json; null
/// when there is none. For readers that must not create or lock anything.
Expected<json> readBlessedRecord(const std::string& stateDir, const std::string& sha256);

/// How to open a registry.
struct RegistryOptions {
  /// How long an operation waits for another process's lock before failing with
  /// "registry busy". 0: do not wait (the default; the heartbeat retries next cycle).
  std::chrono::milliseconds lockTimeout{0};
};

/// True when `e` is the "registry busy" error (another process holds the lock);
/// a tool's main maps it to exitcode::kBusy.
bool isRegistryBusy(const Error& e);
/// True when a compare-and-swap deploy or rollback was refused because the
/// registry no longer holds what the caller expected.
bool isRegistryConflict(const Error& e);

/// Fault-injection hook for tests: when $CVGATE_REGISTRY_CRASH_AT names a step,
/// the process _exit(86)s there; when $CVGATE_REGISTRY_STALL_AT names it, the
/// process sleeps there (holding the lock) until killed; when
/// $CVGATE_REGISTRY_FAIL_AT names one or more of "state-write", "undo-link"
/// (comma-separated), that write fails as on a full disk (ENOSPC). Steps:
///   after-object            stage/init: object file renamed into objects/, no journal yet
///   after-journal           journal.json written, nothing else changed
///   after-link-temp         temporary symlink made, not yet renamed over current.pt
///   after-symlink           current.pt flipped, state.json still old
///   after-state             state.json new, journal still present
///   after-journal-removed   journal removed (operation complete)
///   prune-mid-delete        prune: state committed, first unreferenced object deleted
///   recover-after-symlink   recovery: current.pt set to the chosen state
///   recover-after-state     recovery: state.json written, journal still present
inline constexpr int kCrashExitCode = 86;
/// The sidecar files an object may have in objects/, beside <sha>.pt.
const std::vector<std::string>& objectSidecarSuffixes();
/// The step names above, in order.
const std::vector<std::string>& registryCrashPoints();

/// A model registry in <state_dir>/registry. The object does not hold the lock
/// between calls; each operation takes it, re-reads state.json, recovers if a
/// journal is present, and commits.
class Registry {
 public:
  /// Create the directories if missing, take the lock, recover an interrupted
  /// operation (see the file comment), and load state.json (an empty registry
  /// when there is none). A corrupt state.json with no journal to recover from,
  /// an unknown schema, or a busy lock is an error.
  static Expected<Registry> open(const std::string& stateDir, const RegistryOptions& options = {});

  /// The state as of the last open() or operation by this object.
  const RegistryState& state() const { return state_; }
  /// Re-read state.json under the lock (recovering first if needed).
  Status refresh();

  /// Store `model`'s bytes in objects/ (temp file, fsync, rename; the copy is
  /// re-hashed from disk and must match the bytes the caller validated),
  /// record `golden` (unless null) as objects/<sha>.golden.json, and make it
  /// the candidate (replacing any). Staging the current model is an error.
  Expected<Entry> stage(const ModelBytes& model, const std::string& name, const std::string& version,
                        const json& golden, const std::string& cycleId);
  /// stage() of the file at `modelPath`, read once.
  Expected<Entry> stage(const std::string& modelPath, const std::string& name,
                        const std::string& version, const json& golden,
                        const std::string& cycleId);

  /// Compare-and-swap deploy: the candidate `installSha` becomes current, only
  /// if current is `expectCurrent` ("" : no current model) and the staged
  /// candidate is `installSha`; otherwise a BadInput error that says what the
  /// registry holds. The old current goes on top of previous. The candidate's
  /// bytes are re-hashed first; a mismatch is refused. `blessed` (unless null)
  /// is recorded as the new current's blessed figures in the same operation.
  Status deploy(const std::string& cycleId, const std::string& expectCurrent, const std::string& installSha,
                const json& blessed = nullptr);

  /// Compare-and-swap rollback: only if current is `expectCurrent`; then current
  /// -> the newest known-good whose bytes verify (or `targetSha`, which must be
  /// in previous and verify). The target leaves previous; the old current is
  /// dropped from the known-good stack (its object stays until prune); a
  /// candidate with the target's sha256 is cleared. Returns the new current.
  Expected<Entry> rollback(const std::string& cycleId, const std::string& expectCurrent,
                           const std::string& targetSha = "");

  /// Record blessed figures for a model the registry holds (current,
  /// candidate or known-good) as objects/<sha>.blessed.json.
  Status bless(const std::string& sha256, const json& blessed);
  /// Re-record the golden outputs of a model the registry holds (the golden
  /// set or data set changed since it was staged).
  Status setGolden(const std::string& sha256, const json& golden);
  /// Blessed figures recorded for a model; null when none were.
  Expected<json> blessed(const std::string& sha256) const;

  /// The entry rollback() would choose, without changing anything.
  Expected<Entry> rollbackTarget(const std::string& targetSha = "") const;

  /// Bootstrap ("init"/adopt): store the model and make it current in one
  /// operation. Only when there is no current model.
  Status setCurrent(const ModelBytes& model, const std::string& name, const std::string& version,
                    const json& golden, const std::string& cycleId);
  Status setCurrent(const std::string& modelPath, const std::string& name,
                    const std::string& version, const json& golden, const std::string& cycleId);

  /// Keep the newest `keepKnownGood` entries of previous, drop the rest, and
  /// delete every object no remaining entry refers to (orphans of crashed stages
  /// included). Records a "prune" history entry when anything changed.
  Status prune(int keepKnownGood, const std::string& cycleId = "");

  /// Hash every object against its name, parse every golden file, check that
  /// current.pt points at state's current (and is absent when there is none),
  /// that every entry's object exists, and that no journal is pending.
  /// Problems are reported, not returned as an error; an error means the check
  /// itself could not run (e.g. registry busy).
  Expected<VerifyReport> verify() const;

  /// Re-hash one object; an error says the bytes do not match or are missing.
  Status verifyObject(const std::string& sha256) const;
  /// Golden outputs recorded for a model; null when none were recorded.
  Expected<json> golden(const std::string& sha256) const;

  std::string registryDir() const { return dir_; }
  /// <registry>/current.pt
  std::string currentLinkPath() const;
  /// <registry>/objects/<sha>.pt
  std::string objectPath(const std::string& sha256) const;
  /// <registry>/objects/<sha>.golden.json
  std::string goldenPath(const std::string& sha256) const;
  /// <registry>/objects/<sha>.blessed.json
  std::string blessedPath(const std::string& sha256) const;
  std::string statePath() const;
  std::string journalPath() const;

 private:
  Registry(std::string dir, RegistryOptions options) : dir_(std::move(dir)), options_(options) {}

  /// Write objects/<sha><suffix> for a model the registry holds, under the lock.
  Status writeSidecar(const std::string& sha256, const std::string& path, const json& doc, const char* what);

  std::string dir_;
  RegistryOptions options_;
  RegistryState state_;
};

}  // namespace cvgate

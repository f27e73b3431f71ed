// The drill's sandbox: a private copy of the production registry, taken under
// a shared lock on registry.lock, so that the rehearsed rollback changes only
// the copy. Production's state.json, current.pt and objects are read, never
// written. A fingerprint of the real registry taken before and after the drill
// shows that it stayed intact.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"
#include "registry/Registry.h"

namespace cvgate {

/// What the real registry looks like on disk, cheaply: the sha256 of
/// state.json, the current.pt link text, whether a journal is pending, and
/// name/size/mtime/mode of every object file.
struct RegistryFingerprint {
  bool exists = false;             ///< state.json or journal.json present
  std::string stateSha256;         ///< "" when there is no state.json
  std::string linkText;            ///< "" when there is no current.pt
  bool journalPending = false;
  std::vector<std::string> objects;///< "name size mtime_ns mode", sorted
  bool operator==(const RegistryFingerprint& o) const;
  bool operator!=(const RegistryFingerprint& o) const { return !(*this == o); }
};
nlohmann::json toJson(const RegistryFingerprint& f);
RegistryFingerprint fingerprintRegistry(const std::string& registryDir);

/// A private copy of a registry: <root>/base/registry/... . Removes <root>
/// when destroyed (unless keep() was called).
class Snapshot {
 public:
  Snapshot() = default;
  ~Snapshot();
  Snapshot(Snapshot&& o) noexcept;
  Snapshot& operator=(Snapshot&&) = delete;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  std::string root;                ///< private temp directory
  std::string realRegistryDir;     ///< <state_dir>/registry of production
  bool empty = true;               ///< production has no state.json and no journal
  bool journalPending = false;     ///< production had an interrupted operation
  std::vector<std::string> missingObjects; ///< referenced by production but absent
  RegistryFingerprint before;      ///< production, as it was when copied

  /// State directory of the base copy (its registry is <baseStateDir>/registry).
  std::string baseStateDir() const { return root + "/base"; }
  void keep() { keep_ = true; }

 private:
  bool keep_ = false;
};

/// Copy production's registry (state.json, journal.json, the objects the state
/// and journal refer to with their golden outputs, and the current.pt link) into
/// a new directory under `parentDir` (empty: the system temp dir), holding a
/// shared flock on registry.lock while copying. A held exclusive lock past
/// `lockTimeout` is the "registry busy" error (see isRegistryBusy).
Expected<Snapshot> snapshotRegistry(const std::string& stateDir, const std::string& parentDir,
                                    std::chrono::milliseconds lockTimeout);

/// A fresh sandbox state directory <root>/<name> cloned from the base copy:
/// state.json and current.pt copied, objects hard-linked (read-only, never
/// written by a rollback) or, with `copyObjects`, copied (for fault injection,
/// which damages them). Returns the sandbox's state directory.
Expected<std::string> cloneSandbox(const Snapshot& snap, const std::string& name, bool copyObjects);

/// Rewrite a sandbox registry into the state right after a GO: the candidate
/// becomes current and the old current the only known-good. Sandbox only.
Status simulateGo(const std::string& registryDir, const RegistryState& s);

/// The text of a symlink, "" when there is none.
std::string readLinkText(const std::string& path);

}  // namespace cvgate

#include "registry/Registry.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Limits.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"

namespace cvgate {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// JSON

namespace {

json optString(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

Expected<std::string> needString(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return badInput(where + ": missing or non-string field '" + key + "'");
  return it->get<std::string>();
}

Expected<std::optional<std::string>> optStringField(const json& j, const char* key,
                                                    const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return badInput(where + ": field '" + key + "' must be a string or null");
  return std::optional<std::string>{it->get<std::string>()};
}

bool isSha(const std::string& s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string shortSha(const std::string& sha) { return sha.substr(0, 12); }

std::string describe(const Entry& e) { return e.name + " " + e.version + " (" + shortSha(e.sha256) + ")"; }

}  // namespace

json toJson(const Entry& e) {
  json j{{"sha256", e.sha256}, {"name", e.name}, {"version", e.version},
         {"staged_at", e.stagedAt}, {"path", e.path}};
  if (!e.source.is_null()) j["source"] = e.source;
  return j;
}

json toJson(const HistoryRecord& h) {
  return json{{"op", h.op}, {"at", h.at}, {"cycle_id", optString(h.cycleId)},
              {"from", optString(h.from)}, {"to", optString(h.to)}, {"note", h.note}};
}

json toJson(const RegistryState& s) {
  json prev = json::array();
  for (const auto& e : s.previous) prev.push_back(toJson(e));
  json hist = json::array();
  for (const auto& h : s.history) hist.push_back(toJson(h));
  return json{{"schema", kRegistrySchema},
              {"current", s.current ? toJson(*s.current) : json(nullptr)},
              {"previous", prev},
              {"candidate", s.candidate ? toJson(*s.candidate) : json(nullptr)},
              {"history", hist}};
}

Expected<Entry> entryFromJson(const json& j) {
  if (!j.is_object()) return badInput("registry entry: expected an object");
  Entry e;
  CVGATE_TRY_ASSIGN(sha, needString(j, "sha256", "registry entry"));
  if (!isSha(sha)) return badInput("registry entry: 'sha256' is not a lower-case hex sha256: '" + sha + "'");
  e.sha256 = sha;
  const std::string where = "registry entry " + shortSha(sha);
  CVGATE_TRY_ASSIGN(name, needString(j, "name", where));
  CVGATE_TRY_ASSIGN(version, needString(j, "version", where));
  CVGATE_TRY_ASSIGN(stagedAt, needString(j, "staged_at", where));
  CVGATE_TRY_ASSIGN(path, needString(j, "path", where));
  if (path != "objects/" + sha + ".pt")
    return badInput(where + ": 'path' must be 'objects/" + sha + ".pt', not '" + path + "'");
  e.name = name;
  e.version = version;
  e.stagedAt = stagedAt;
  e.path = path;
  if (j.contains("source") && !j["source"].is_null()) {
    if (!j["source"].is_object()) return badInput(where + ": 'source': expected an object");
    e.source = j["source"];
  }
  return e;
}

namespace {

Expected<std::optional<Entry>> optEntry(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return badInput(std::string("missing field '") + key + "'");
  if (it->is_null()) return std::optional<Entry>{};
  auto e = entryFromJson(*it);
  if (!e) return e.error().context(std::string("'") + key + "'");
  return std::optional<Entry>{std::move(*e)};
}

}  // namespace

Expected<RegistryState> registryStateFromJson(const json& j) {
  if (!j.is_object()) return badInput("expected a JSON object");
  auto schema = j.find("schema");
  if (schema == j.end() || !schema->is_string())
    return badInput("missing 'schema' (expected '" + std::string(kRegistrySchema) + "')");
  if (*schema != kRegistrySchema)
    return badInput("unknown schema '" + schema->get<std::string>() + "' (this build reads '" +
                    kRegistrySchema + "')");
  RegistryState s;
  CVGATE_TRY_ASSIGN(cur, optEntry(j, "current"));
  CVGATE_TRY_ASSIGN(cand, optEntry(j, "candidate"));
  s.current = cur;
  s.candidate = cand;
  auto prev = j.find("previous");
  if (prev == j.end() || !prev->is_array()) return badInput("'previous' must be an array");
  for (const auto& pe : *prev) {
    auto e = entryFromJson(pe);
    if (!e) return e.error().context("'previous'");
    s.previous.push_back(std::move(*e));
  }
  auto hist = j.find("history");
  if (hist == j.end() || !hist->is_array()) return badInput("'history' must be an array");
  for (const auto& he : *hist) {
    if (!he.is_object()) return badInput("'history': expected objects");
    HistoryRecord h;
    CVGATE_TRY_ASSIGN(op, needString(he, "op", "'history'"));
    CVGATE_TRY_ASSIGN(at, needString(he, "at", "'history'"));
    CVGATE_TRY_ASSIGN(cycle, optStringField(he, "cycle_id", "'history'"));
    CVGATE_TRY_ASSIGN(from, optStringField(he, "from", "'history'"));
    CVGATE_TRY_ASSIGN(to, optStringField(he, "to", "'history'"));
    CVGATE_TRY_ASSIGN(note, optStringField(he, "note", "'history'"));
    h.op = op;
    h.at = at;
    h.cycleId = cycle;
    h.from = from;
    h.to = to;
    h.note = note.value_or("");
    s.history.push_back(std::move(h));
  }
  return s;
}

json toJson(const VerifyReport& r) {
  return json{{"ok", r.ok},
              {"objects_checked", r.objectsChecked},
              {"problems", r.problems},
              {"corrupt", r.corrupt},
              {"unreferenced", r.unreferenced}};
}

// ---------------------------------------------------------------------------
// Fault injection, lock, links, files

namespace {

constexpr const char* kBusyMarker = "registry busy";
constexpr const char* kConflictMarker = "registry changed";

void faultPoint(const char* step) {
  if (const char* c = std::getenv("CVGATE_REGISTRY_CRASH_AT"); c && std::strcmp(c, step) == 0)
    ::_exit(kCrashExitCode);
  if (const char* s = std::getenv("CVGATE_REGISTRY_STALL_AT"); s && std::strcmp(s, step) == 0)
    for (;;) ::pause();
}

std::string errnoText() { return std::strerror(errno); }

/// $CVGATE_REGISTRY_FAIL_AT (tests): the named write fails as on a full disk.
bool injectedFailure(const char* what) {
  const char* v = std::getenv("CVGATE_REGISTRY_FAIL_AT");
  if (!v) return false;
  const std::string list = std::string(",") + v + ",";
  return list.find(std::string(",") + what + ",") != std::string::npos;
}

Error injectedEnospc(const std::string& path) {
  return badInput("'" + path + "': write failed: " + std::strerror(ENOSPC) + " (injected)");
}

/// Exclusive flock on <registry>/registry.lock, released by the destructor.
class Lock {
 public:
  static Expected<Lock> acquire(const std::string& dir, std::chrono::milliseconds timeout) {
    std::string path = dir + "/registry.lock";
    // O_NOFOLLOW: a symlink planted here must not get its target truncated.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0 && errno == ELOOP)
      return badInput("'" + path + "': a symlink where the registry keeps its lock file; refusing to open it "
                      "(remove it)");
    if (fd < 0 && errno == EISDIR)
      return badInput("'" + path + "': not a regular file where the registry keeps its lock file (remove it)");
    if (fd < 0) return internalError("'" + path + "': cannot open lock file: " + errnoText());
    struct stat lst {};
    if (::fstat(fd, &lst) != 0 || !S_ISREG(lst.st_mode)) {
      ::close(fd);
      return badInput("'" + path + "': not a regular file where the registry keeps its lock file (remove it)");
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) break;
      if (errno == EINTR) continue;
      if (errno != EWOULDBLOCK) {
        std::string why = errnoText();
        ::close(fd);
        return internalError("'" + path + "': flock failed: " + why);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        char buf[32] = {0};
        ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        ::close(fd);
        return internalError("'" + path + "': " + kBusyMarker + ": another process" +
                             (holder.empty() ? "" : " (pid " + holder + ")") +
                             " is changing the registry; try again later");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) {
      ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
      (void)ignored;
    }
    return Lock(fd);
  }
  Lock(Lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Lock& operator=(Lock&&) = delete;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  ~Lock() {
    if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
  }

 private:
  explicit Lock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

/// What current.pt is on disk.
struct LinkState {
  bool present = false;              ///< something exists at current.pt
  std::optional<std::string> sha;    ///< set when it is a symlink "objects/<sha>.pt"
  std::string raw;                   ///< the link text, for messages
};

LinkState readLink(const std::string& dir) {
  LinkState l;
  std::string path = dir + "/current.pt";
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    if (errno == ENOENT) return l;
    l.present = true;  // a regular file or unreadable: matches no state
    l.raw = "(not a symlink)";
    return l;
  }
  l.present = true;
  l.raw.assign(buf, static_cast<std::size_t>(n));
  const std::string prefix = "objects/", suffix = ".pt";
  if (l.raw.size() == prefix.size() + 64 + suffix.size() && l.raw.compare(0, prefix.size(), prefix) == 0 &&
      l.raw.compare(l.raw.size() - suffix.size(), suffix.size(), suffix) == 0) {
    std::string sha = l.raw.substr(prefix.size(), 64);
    if (isSha(sha)) l.sha = sha;
  }
  return l;
}

std::optional<std::string> linkOf(const RegistryState& s) {
  if (s.current) return s.current->sha256;
  return std::nullopt;
}

bool linkIs(const LinkState& l, const std::optional<std::string>& want) {
  if (!want) return !l.present;
  return l.present && l.sha == want;
}

/// Point current.pt at objects/<sha>.pt (or remove it for none) with a rename
/// of a temporary symlink, then fsync the directory.
Status setLink(const std::string& dir, const std::optional<std::string>& sha, const char* tempStep,
               const char* doneStep, const char* failName = nullptr) {
  std::string link = dir + "/current.pt";
  if (failName && injectedFailure(failName)) return injectedEnospc(link);
  if (!sha) {
    if (::unlink(link.c_str()) != 0 && errno != ENOENT)
      return internalError("'" + link + "': cannot remove: " + errnoText());
  } else {
    std::string tmp = dir + "/.current.pt.tmp." + std::to_string(::getpid());
    ::unlink(tmp.c_str());
    std::string target = "objects/" + *sha + ".pt";
    if (::symlink(target.c_str(), tmp.c_str()) != 0)
      return internalError("'" + tmp + "': cannot create symlink: " + errnoText());
    if (tempStep) faultPoint(tempStep);
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
      std::string why = errnoText();
      ::unlink(tmp.c_str());
      return internalError("'" + link + "': cannot replace: " + why);
    }
  }
  CVGATE_TRY(fsyncDir(dir));
  faultPoint(doneStep);
  return okStatus();
}

bool isTempName(const std::string& name) {
  return !name.empty() && name[0] == '.' && name.find(".tmp.") != std::string::npos;
}

/// Remove temporaries left by a crashed process. Only under the lock.
void removeTemps(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/objects"}) {
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(d, ec)) {
      if (isTempName(de.path().filename().string())) fs::remove(de.path(), ec);
    }
  }
}

Status checkObject(const std::string& dir, const std::string& sha) {
  std::string path = dir + "/objects/" + sha + ".pt";
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return badInput("'" + path + "': model object missing");
  if (!S_ISREG(st.st_mode))
    return badInput("'" + path + "': not a regular file (a symlink or other node in the object store is "
                    "refused: objects are copies the registry owns)");
  auto got = sha256File(path);
  if (!got) return badInput("'" + path + "': model object missing or unreadable");
  if (*got != sha)
    return badInput("'" + path + "': bytes hash to " + *got + ", not the recorded sha256 " + sha +
                    " (tampered or corrupt)");
  return okStatus();
}

Expected<std::optional<RegistryState>> readStateFile(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<RegistryState>{};
    return badInput("'" + path + "': " + errnoText());
  }
  if (!S_ISREG(st.st_mode))
    return badInput("'" + path + "': not a regular file where the registry keeps its state (a symlink, FIFO "
                    "or device is refused)");
  CVGATE_TRY_ASSIGN(text, readFile(path));
  auto parsed = parseJson(text, "'" + path + "'");
  if (!parsed) return badInput(parsed.error().message() + " (truncated or corrupt)");
  const json& j = *parsed;
  auto s = registryStateFromJson(j);
  if (!s) return s.error().context("'" + path + "'");
  return std::optional<RegistryState>{std::move(*s)};
}

bool sameState(const RegistryState& a, const RegistryState& b) { return toJson(a) == toJson(b); }

/// Number of "recover" entries `s` has on top of `base`, or -1 when `s` is not
/// `base` plus zero or more trailing recover entries.
int recoverSuffix(const RegistryState& s, const RegistryState& base) {
  if (s.history.size() < base.history.size()) return -1;
  RegistryState trimmed = s;
  trimmed.history.resize(base.history.size());
  if (!sameState(trimmed, base)) return -1;
  for (std::size_t i = base.history.size(); i < s.history.size(); ++i)
    if (s.history[i].op != "recover") return -1;
  return static_cast<int>(s.history.size() - base.history.size());
}

std::optional<std::string> cycleOpt(const std::string& c) {
  if (c.empty()) return std::nullopt;
  return c;
}

/// If journal.json exists, finish or undo the interrupted operation so that the
/// state is exactly its before- or after-state plus one "recover" entry.
Status recoverLocked(const std::string& dir) {
  removeTemps(dir);
  const std::string journalPath = dir + "/journal.json";
  std::error_code ec;
  if (!fs::exists(journalPath, ec)) return okStatus();

  CVGATE_TRY_ASSIGN(text, readFile(journalPath));
  auto parsed = parseJson(text, "'" + journalPath + "'");
  const json j = parsed ? *parsed : json();
  if (!j.is_object() || !j.contains("before") || !j.contains("after"))
    return badInput("'" + journalPath +
                    "': interrupted operation with an unreadable journal; refusing to guess, "
                    "inspect state.json and current.pt by hand");
  auto before = registryStateFromJson(j["before"]);
  if (!before) return before.error().context("'" + journalPath + "': 'before'");
  auto after = registryStateFromJson(j["after"]);
  if (!after) return after.error().context("'" + journalPath + "': 'after'");
  JsonFields jf(j, "'" + journalPath + "'");
  const std::string op = jf.str("op", "?");
  const std::string cycle = jf.str("cycle_id");
  if (!jf.ok())
    return internalError(jf.status().error().message() +
                         "; refusing to guess, inspect state.json and current.pt by hand");
  const std::string statePath = dir + "/state.json";

  auto onDisk = readStateFile(statePath);
  std::optional<RegistryState> s;
  if (onDisk) s = *onDisk;
  LinkState l = readLink(dir);
  const auto beforeLink = linkOf(*before), afterLink = linkOf(*after);
  auto afterVerifies = [&] { return !afterLink || checkObject(dir, *afterLink).ok(); };

  const RegistryState* target = nullptr;
  bool recorded = false;  // a previous recovery already wrote its decision
  std::string why;
  if (s && recoverSuffix(*s, *after) > 0) {
    target = &*after;
    recorded = true;
    why = "completed by an earlier recovery";
  } else if (s && recoverSuffix(*s, *before) > 0) {
    target = &*before;
    recorded = true;
    why = "undone by an earlier recovery";
  } else if (s && sameState(*s, *after)) {
    target = &*after;
    why = "state.json was already written";
  } else if (s && sameState(*s, *before)) {
    if (afterLink != beforeLink && linkIs(l, afterLink) && afterVerifies()) {
      target = &*after, why = "current.pt had been flipped; state.json completed";
    } else {
      target = &*before, why = afterLink != beforeLink && linkIs(l, afterLink)
                                   ? "current.pt had been flipped to an object that no longer verifies"
                                   : "current.pt had not been flipped";
    }
  } else {
    bool forward = linkIs(l, afterLink) && afterVerifies();
    target = forward ? &*after : &*before;
    why = std::string("state.json matched neither side") + (onDisk ? "" : " (" + onDisk.error().message() + ")") +
          "; followed current.pt";
  }
  const bool forward = target == &*after;

  RegistryState result = *target;
  if (!recorded) {
    HistoryRecord h;
    h.op = "recover";
    h.at = nowIsoUtc();
    h.cycleId = cycleOpt(cycle);
    h.from = l.sha;
    h.to = linkOf(*target);
    h.note = "interrupted " + op + (cycle.empty() ? "" : " (cycle " + cycle + ")") + " " +
             (forward ? "rolled forward" : "rolled back") + ": " + why;
    result.history.push_back(std::move(h));
  } else {
    result = *s;
  }

  if (!linkIs(l, linkOf(*target)))
    CVGATE_TRY(setLink(dir, linkOf(*target), nullptr, "recover-after-symlink"));
  if (!s || !sameState(*s, result)) {
    CVGATE_TRY(atomicWriteFile(statePath, toJson(result).dump(2) + "\n"));
    faultPoint("recover-after-state");
  }
  if (::unlink(journalPath.c_str()) != 0 && errno != ENOENT)
    return internalError("'" + journalPath + "': cannot remove: " + errnoText());
  CVGATE_TRY(fsyncDir(dir));
  spdlog::warn("registry '{}': interrupted {}{} {}: {}", dir, op,
               cycle.empty() ? "" : " (cycle " + cycle + ")", forward ? "rolled forward" : "rolled back",
               why);
  return okStatus();
}

/// Recover, then load state.json (creating an empty one for a new registry).
Expected<RegistryState> loadLocked(const std::string& dir) {
  CVGATE_TRY(recoverLocked(dir));
  const std::string statePath = dir + "/state.json";
  CVGATE_TRY_ASSIGN(s, readStateFile(statePath));
  if (s) return std::move(*s);
  LinkState l = readLink(dir);
  if (l.present)
    return badInput("'" + statePath + "': missing while current.pt exists (-> " + l.raw +
                    "); refusing to guess the registry's state");
  RegistryState empty;
  CVGATE_TRY(atomicWriteFile(statePath, toJson(empty).dump(2) + "\n"));
  return empty;
}

/// The journaled commit: journal, flip current.pt, state.json, remove journal.
Status commitLocked(const std::string& dir, const RegistryState& before, const RegistryState& after,
                    const std::string& op, const std::string& cycleId) {
  const std::string journalPath = dir + "/journal.json";
  json j{{"schema", "cvgate.registry-journal/1"},
         {"op", op},
         {"cycle_id", cycleId},
         {"pid", static_cast<long>(::getpid())},
         {"started_at", nowIsoUtc()},
         {"before", toJson(before)},
         {"after", toJson(after)}};
  CVGATE_TRY(atomicWriteFile(journalPath, j.dump(2) + "\n"));
  faultPoint("after-journal");
  Status applied = [&]() -> Status {
    if (!linkIs(readLink(dir), linkOf(after)))
      CVGATE_TRY(setLink(dir, linkOf(after), "after-link-temp", "after-symlink"));
    if (injectedFailure("state-write")) return injectedEnospc(dir + "/state.json");
    return atomicWriteFile(dir + "/state.json", toJson(after).dump(2) + "\n");
  }();
  if (!applied) {
    // Nothing of an operation reported as failed may stay in effect: put
    // current.pt back (state.json was not replaced) and drop the journal.
    Status undone = [&]() -> Status {
      if (!linkIs(readLink(dir), linkOf(before)))
        CVGATE_TRY(setLink(dir, linkOf(before), nullptr, "recover-after-symlink", "undo-link"));
      if (::unlink(journalPath.c_str()) != 0 && errno != ENOENT)
        return internalError("'" + journalPath + "': cannot remove: " + errnoText());
      return fsyncDir(dir);
    }();
    if (undone) return Error(applied.error().message() + "; " + op + " undone, the registry is unchanged",
                             ErrorKind::Internal);
    const std::string now = readLink(dir).raw;
    return internalError(applied.error().message() + "; undoing the " + op + " failed too (" +
                         undone.error().message() + "): current.pt now points at '" +
                         (now.empty() ? std::string("(nothing)") : now) +
                         "'; the next registry access completes or undoes it from journal.json");
  }
  faultPoint("after-state");
  if (::unlink(journalPath.c_str()) != 0)
    return internalError("'" + journalPath + "': cannot remove: " + errnoText());
  faultPoint("after-journal-removed");
  return fsyncDir(dir);
}

/// Store bytes the caller has validated in objects/<sha>.pt: temp file,
/// fsync, read-only, re-hashed from disk (it must be the caller's sha256),
/// rename. An intact object already there is kept; anything else there (a
/// corrupt copy, a symlink) is replaced.
Status ingestBytes(const std::string& dir, const ModelBytes& m) {
  if (!isSha(m.sha256) || sha256Hex(m.bytes) != m.sha256)
    return internalError("'" + m.source + "': the bytes to store do not hash to their recorded sha256");
  const std::string objects = dir + "/objects";
  const std::string finalPath = objects + "/" + m.sha256 + ".pt";
  if (checkObject(dir, m.sha256).ok()) return okStatus();  // already stored, intact
  std::random_device rd;
  std::string tmp = objects + "/.ingest.tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (out < 0) return internalError("'" + tmp + "': cannot create: " + errnoText());
  auto fail = [&](Error e) -> Status {
    if (out >= 0) ::close(out);
    ::unlink(tmp.c_str());
    return e;
  };
  const char* p = m.bytes.data();
  std::size_t left = m.bytes.size();
  while (left > 0) {
    ssize_t w = ::write(out, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(internalError("'" + tmp + "': write failed: " + errnoText()));
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (::fsync(out) != 0 || ::fchmod(out, 0444) != 0)
    return fail(internalError("'" + tmp + "': fsync failed: " + errnoText()));
  ::close(out);
  out = -1;
  auto copied = sha256File(tmp);
  if (!copied || *copied != m.sha256)
    return fail(internalError("'" + tmp + "': the stored copy of '" + m.source + "' does not hash to " +
                              m.sha256 + " (a disk error)"));
  struct stat st {};
  if (::lstat(finalPath.c_str(), &st) == 0)
    spdlog::warn("registry: replacing '{}' (corrupt, or not a regular file) with good bytes", finalPath);
  if (::rename(tmp.c_str(), finalPath.c_str()) != 0)
    return fail(internalError("'" + finalPath + "': rename failed: " + errnoText()));
  return fsyncDir(objects);
}

Entry makeEntry(const std::string& sha, const std::string& name, const std::string& version) {
  return Entry{sha, name, version, nowIsoUtc(), "objects/" + sha + ".pt", nullptr};
}

void eraseSha(std::vector<Entry>& v, const std::string& sha) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](const Entry& e) { return e.sha256 == sha; }), v.end());
}

Status checkNameVersion(const std::string& name, const std::string& version) {
  if (name.empty()) return badInput("model name: must not be empty");
  if (version.empty()) return badInput("model version: must not be empty");
  return okStatus();
}

/// Pick the rollback target from `s`: the named one, or the newest whose bytes verify.
Expected<std::pair<Entry, std::string>> chooseTarget(const std::string& dir, const RegistryState& s,
                                                     const std::string& targetSha) {
  if (s.previous.empty())
    return badInput("'" + dir + "': no known-good model to roll back to (previous is empty)");
  if (!targetSha.empty()) {
    std::vector<const Entry*> hits;
    for (const auto& e : s.previous)
      if (e.sha256.compare(0, targetSha.size(), targetSha) == 0) hits.push_back(&e);
    if (hits.size() != 1) {
      std::vector<std::string> known;
      for (const auto& e : s.previous) known.push_back(describe(e));
      if (s.current && s.current->sha256.compare(0, targetSha.size(), targetSha) == 0)
        return badInput("'" + targetSha + "': is the current model already");
      return badInput("'" + targetSha + "': " +
                      (hits.empty() ? std::string("not a known-good model") : "ambiguous prefix") +
                      "; known-good: " + join(known, ", "));
    }
    Status ok = checkObject(dir, hits[0]->sha256);
    if (!ok) return ok.error().context("refusing to roll back to " + describe(*hits[0]));
    return std::make_pair(*hits[0], std::string());
  }
  std::vector<std::string> skipped;
  for (const auto& e : s.previous) {
    Status ok = checkObject(dir, e.sha256);
    if (ok) {
      std::string note;
      if (!skipped.empty()) note = "; skipped known-good that failed verification: " + join(skipped, ", ");
      return std::make_pair(e, note);
    }
    skipped.push_back(describe(e));
  }
  return badInput("'" + dir + "': no verified known-good model to roll back to; every candidate " +
                  "failed verification: " + join(skipped, ", "));
}

}  // namespace

bool isRegistryBusy(const Error& e) { return e.message().find(kBusyMarker) != std::string::npos; }
bool isRegistryConflict(const Error& e) { return e.message().find(kConflictMarker) != std::string::npos; }

const std::vector<std::string>& objectSidecarSuffixes() {
  static const std::vector<std::string> s = {".golden.json", ".blessed.json"};
  return s;
}

const std::vector<std::string>& registryCrashPoints() {
  static const std::vector<std::string> points = {
      "after-object",          "after-journal",    "after-link-temp",
      "after-symlink",         "after-state",      "after-journal-removed",
      "prune-mid-delete",      "recover-after-symlink", "recover-after-state"};
  return points;
}

// ---------------------------------------------------------------------------
// Registry

std::string Registry::currentLinkPath() const { return dir_ + "/current.pt"; }
std::string Registry::objectPath(const std::string& sha) const { return dir_ + "/objects/" + sha + ".pt"; }
std::string Registry::goldenPath(const std::string& sha) const {
  return dir_ + "/objects/" + sha + ".golden.json";
}
std::string Registry::blessedPath(const std::string& sha) const {
  return dir_ + "/objects/" + sha + ".blessed.json";
}
std::string Registry::statePath() const { return dir_ + "/state.json"; }
std::string Registry::journalPath() const { return dir_ + "/journal.json"; }

Expected<Registry> Registry::open(const std::string& stateDir, const RegistryOptions& options) {
  if (stateDir.empty()) return badInput("state directory: must not be empty");
  Registry r(stateDir + "/registry", options);
  CVGATE_TRY(ensureDir(r.dir_ + "/objects"));
  CVGATE_TRY(r.refresh());
  return r;
}

Status Registry::refresh() {
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(s, loadLocked(dir_));
  state_ = std::move(s);
  return okStatus();
}

Expected<json> readBlessedRecord(const std::string& stateDir, const std::string& sha) {
  if (!isSha(sha)) return json(nullptr);
  const std::string path = stateDir + "/registry/objects/" + sha + ".blessed.json";
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return json(nullptr);
  return readJsonFile(path);
}

Expected<ModelBytes> readModelBytes(const std::string& path) {
  CVGATE_TRY_ASSIGN(bytes, readFile(path, limits().maxModelBytes));
  ModelBytes m;
  m.sha256 = sha256Hex(bytes);
  m.bytes = std::move(bytes);
  m.source = path;
  return m;
}

Expected<Entry> Registry::stage(const std::string& modelPath, const std::string& name,
                                const std::string& version, const json& golden, const std::string& cycleId) {
  CVGATE_TRY_ASSIGN(m, readModelBytes(modelPath));
  return stage(m, name, version, golden, cycleId);
}

Expected<Entry> Registry::stage(const ModelBytes& model, const std::string& name, const std::string& version,
                                const json& golden, const std::string& cycleId) {
  CVGATE_TRY(checkNameVersion(name, version));
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(before, loadLocked(dir_));
  state_ = before;
  const std::string& sha = model.sha256;
  if (before.current && before.current->sha256 == sha)
    return badInput("'" + model.source + "': is the current model already (" + describe(*before.current) +
                    "); nothing to stage");
  CVGATE_TRY(ingestBytes(dir_, model));
  if (!golden.is_null()) CVGATE_TRY(atomicWriteFile(goldenPath(sha), golden.dump(2) + "\n"));
  faultPoint("after-object");

  Entry e = makeEntry(sha, name, version);
  e.source = model.origin;
  RegistryState after = before;
  after.candidate = e;
  HistoryRecord h{"stage", e.stagedAt, cycleOpt(cycleId),
                  before.candidate ? std::optional<std::string>(before.candidate->sha256) : std::nullopt, sha,
                  "staged " + describe(e) + " as candidate" +
                      (before.candidate ? ", replacing " + describe(*before.candidate) : "")};
  after.history.push_back(std::move(h));
  CVGATE_TRY(commitLocked(dir_, before, after, "stage", cycleId));
  state_ = std::move(after);
  return e;
}

namespace {
std::string nameOf(const std::optional<Entry>& e) { return e ? describe(*e) : std::string("none"); }
}  // namespace

Status Registry::deploy(const std::string& cycleId, const std::string& expectCurrent,
                        const std::string& installSha, const json& blessed) {
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(before, loadLocked(dir_));
  state_ = before;
  const std::string haveCurrent = before.current ? before.current->sha256 : "";
  if (haveCurrent != expectCurrent)
    return badInput("'" + dir_ + "': refusing to deploy: " + std::string(kConflictMarker) + ": current is " + nameOf(before.current) +
                    ", expected " + (expectCurrent.empty() ? "none" : shortSha(expectCurrent)));
  if (!before.candidate) return badInput("'" + dir_ + "': no candidate staged; nothing to deploy");
  const Entry cand = *before.candidate;
  if (cand.sha256 != installSha)
    return badInput("'" + dir_ + "': refusing to deploy " + shortSha(installSha) + ": " + kConflictMarker +
                    ": the staged candidate is " + describe(cand));
  if (before.current && before.current->sha256 == cand.sha256)
    return badInput("'" + dir_ + "': candidate " + describe(cand) + " is the current model already");
  Status ok = checkObject(dir_, cand.sha256);
  if (!ok) return ok.error().context("refusing to deploy candidate " + describe(cand));
  if (!blessed.is_null()) CVGATE_TRY(atomicWriteFile(blessedPath(cand.sha256), blessed.dump(2) + "\n"));

  RegistryState after = before;
  after.candidate.reset();
  after.current = cand;
  eraseSha(after.previous, cand.sha256);
  if (before.current) {
    eraseSha(after.previous, before.current->sha256);
    after.previous.insert(after.previous.begin(), *before.current);
  }
  HistoryRecord h{"deploy", nowIsoUtc(), cycleOpt(cycleId),
                  before.current ? std::optional<std::string>(before.current->sha256) : std::nullopt,
                  cand.sha256,
                  "deployed " + describe(cand) +
                      (before.current ? " over " + describe(*before.current) : " (no current model before)")};
  after.history.push_back(std::move(h));
  CVGATE_TRY(commitLocked(dir_, before, after, "deploy", cycleId));
  state_ = std::move(after);
  return okStatus();
}

Expected<Entry> Registry::rollbackTarget(const std::string& targetSha) const {
  CVGATE_TRY_ASSIGN(choice, chooseTarget(dir_, state_, targetSha));
  return choice.first;
}

Expected<Entry> Registry::rollback(const std::string& cycleId, const std::string& expectCurrent,
                                   const std::string& targetSha) {
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(before, loadLocked(dir_));
  state_ = before;
  const std::string haveCurrent = before.current ? before.current->sha256 : "";
  if (haveCurrent != expectCurrent)
    return badInput("'" + dir_ + "': refusing to roll back: " + std::string(kConflictMarker) + ": current is " +
                    nameOf(before.current) + ", expected " +
                    (expectCurrent.empty() ? "none" : shortSha(expectCurrent)));
  CVGATE_TRY_ASSIGN(choice, chooseTarget(dir_, before, targetSha));
  const Entry target = choice.first;

  RegistryState after = before;
  after.current = target;
  eraseSha(after.previous, target.sha256);
  std::string cleared;
  if (after.candidate && after.candidate->sha256 == target.sha256) {
    after.candidate.reset();  // the candidate is the model now current: nothing left to deploy
    cleared = "; candidate was the same model and is cleared";
  }
  HistoryRecord h{"rollback", nowIsoUtc(), cycleOpt(cycleId),
                  before.current ? std::optional<std::string>(before.current->sha256) : std::nullopt,
                  target.sha256,
                  "rolled back " + (before.current ? "from " + describe(*before.current) + " " : std::string()) +
                      "to known-good " + describe(target) + choice.second + cleared};
  after.history.push_back(std::move(h));
  CVGATE_TRY(commitLocked(dir_, before, after, "rollback", cycleId));
  state_ = std::move(after);
  return target;
}

Status Registry::setCurrent(const std::string& modelPath, const std::string& name,
                            const std::string& version, const json& golden, const std::string& cycleId) {
  CVGATE_TRY_ASSIGN(m, readModelBytes(modelPath));
  return setCurrent(m, name, version, golden, cycleId);
}

Status Registry::setCurrent(const ModelBytes& model, const std::string& name, const std::string& version,
                            const json& golden, const std::string& cycleId) {
  CVGATE_TRY(checkNameVersion(name, version));
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(before, loadLocked(dir_));
  state_ = before;
  if (before.current)
    return badInput("'" + dir_ + "': already has a current model, " + describe(*before.current) +
                    "; stage and deploy instead");
  const std::string& sha = model.sha256;
  CVGATE_TRY(ingestBytes(dir_, model));
  if (!golden.is_null()) CVGATE_TRY(atomicWriteFile(goldenPath(sha), golden.dump(2) + "\n"));
  faultPoint("after-object");
  Status ok = checkObject(dir_, sha);
  if (!ok) return ok.error().context("refusing to adopt '" + model.source + "'");

  Entry e = makeEntry(sha, name, version);
  e.source = model.origin;
  RegistryState after = before;
  after.current = e;
  eraseSha(after.previous, sha);
  if (after.candidate && after.candidate->sha256 == sha) after.candidate.reset();
  after.history.push_back(HistoryRecord{"init", e.stagedAt, cycleOpt(cycleId), std::nullopt, sha,
                                        "adopted " + describe(e) + " as the current model"});
  CVGATE_TRY(commitLocked(dir_, before, after, "init", cycleId));
  state_ = std::move(after);
  return okStatus();
}

Status Registry::prune(int keepKnownGood, const std::string& cycleId) {
  if (keepKnownGood < 0)
    return badInput("keep: expected a non-negative number of known-good models, got " +
                    std::to_string(keepKnownGood));
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(before, loadLocked(dir_));
  state_ = before;

  RegistryState after = before;
  std::vector<std::string> dropped;
  const auto keep = static_cast<std::size_t>(keepKnownGood);
  for (std::size_t i = keep; i < after.previous.size(); ++i) dropped.push_back(describe(after.previous[i]));
  if (after.previous.size() > keep) after.previous.resize(keep);

  std::set<std::string> referenced;
  if (after.current) referenced.insert(after.current->sha256);
  if (after.candidate) referenced.insert(after.candidate->sha256);
  for (const auto& e : after.previous) referenced.insert(e.sha256);
  std::vector<fs::path> doomed;
  std::set<std::string> doomedShas;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_ + "/objects", ec)) {
    const std::string fname = de.path().filename().string();
    if (fname.size() < 64 || !isSha(fname.substr(0, 64))) continue;
    const std::string rest = fname.substr(64);
    const auto& side = objectSidecarSuffixes();
    if (rest != ".pt" && std::find(side.begin(), side.end(), rest) == side.end()) continue;
    if (referenced.count(fname.substr(0, 64))) continue;
    doomed.push_back(de.path());
    doomedShas.insert(fname.substr(0, 64));
  }
  if (ec) return internalError("'" + dir_ + "/objects': cannot list: " + ec.message());
  if (dropped.empty() && doomed.empty()) return okStatus();
  // Golden files first: an interrupted prune then leaves only unreferenced
  // model objects, which verify accepts, never golden outputs without a model.
  std::stable_partition(doomed.begin(), doomed.end(),
                        [](const fs::path& p) { return p.extension() == ".json"; });

  std::string note = "kept " + std::to_string(after.previous.size()) + " known-good";
  if (!dropped.empty()) note += "; dropped " + join(dropped, ", ");
  if (!doomedShas.empty()) note += "; deleted " + std::to_string(doomedShas.size()) + " unreferenced model objects";
  after.history.push_back(HistoryRecord{"prune", nowIsoUtc(), cycleOpt(cycleId), std::nullopt, std::nullopt, note});
  CVGATE_TRY(commitLocked(dir_, before, after, "prune", cycleId));
  state_ = std::move(after);

  bool first = true;
  for (const auto& p : doomed) {
    fs::remove(p, ec);
    if (ec) return internalError("'" + p.string() + "': cannot remove: " + ec.message());
    if (first) faultPoint("prune-mid-delete");
    first = false;
  }
  return fsyncDir(dir_ + "/objects");
}

Status Registry::verifyObject(const std::string& sha) const { return checkObject(dir_, sha); }

Status Registry::writeSidecar(const std::string& sha, const std::string& path, const json& doc, const char* what) {
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  CVGATE_TRY_ASSIGN(s, loadLocked(dir_));
  state_ = s;
  bool held = (s.current && s.current->sha256 == sha) || (s.candidate && s.candidate->sha256 == sha);
  for (const auto& e : s.previous) held = held || e.sha256 == sha;
  if (!held) return badInput("'" + shortSha(sha) + "': not a model of the registry; no " + what + " to record");
  return atomicWriteFile(path, doc.dump(2) + "\n");
}

Status Registry::bless(const std::string& sha, const json& blessed) {
  return writeSidecar(sha, blessedPath(sha), blessed, "blessed figures");
}

Status Registry::setGolden(const std::string& sha, const json& golden) {
  return writeSidecar(sha, goldenPath(sha), golden, "golden outputs");
}

Expected<json> Registry::blessed(const std::string& sha) const {
  struct stat st {};
  const std::string path = blessedPath(sha);
  if (::lstat(path.c_str(), &st) != 0) return json(nullptr);
  return readJsonFile(path);
}

Expected<json> Registry::golden(const std::string& sha) const {
  struct stat st {};
  const std::string path = goldenPath(sha);
  if (::lstat(path.c_str(), &st) != 0) return json(nullptr);
  auto j = readJsonFile(path);
  if (!j) return badInput(j.error().message() + " (golden outputs)");
  return j;
}

Expected<VerifyReport> Registry::verify() const {
  CVGATE_TRY_ASSIGN(lock, Lock::acquire(dir_, options_.lockTimeout));
  VerifyReport r;
  auto problem = [&](std::string p) { r.problems.push_back(std::move(p)); };

  std::error_code ec;
  if (fs::exists(journalPath(), ec))
    problem("'" + journalPath() + "': an interrupted operation is pending; open the registry to recover it");

  auto st = readStateFile(statePath());
  std::optional<RegistryState> s;
  if (!st) {
    problem(st.error().message());
  } else if (!*st) {
    problem("'" + statePath() + "': missing");
  } else {
    s = **st;
  }

  std::set<std::string> referenced;
  if (s) {
    auto need = [&](const Entry& e, const std::string& role) {
      referenced.insert(e.sha256);
      if (!fs::exists(objectPath(e.sha256), ec))
        problem("'" + objectPath(e.sha256) + "': missing object for " + role + " " + describe(e));
    };
    if (s->current) need(*s->current, "current");
    if (s->candidate) need(*s->candidate, "candidate");
    for (const auto& e : s->previous) need(e, "known-good");

    LinkState l = readLink(dir_);
    auto want = linkOf(*s);
    if (!linkIs(l, want)) {
      if (want)
        problem("'" + currentLinkPath() + "': points at '" + (l.present ? l.raw : std::string("(missing)")) +
                "', state.json says current is objects/" + *want + ".pt");
      else
        problem("'" + currentLinkPath() + "': exists (-> " + l.raw + ") but state.json has no current model");
    }
  }

  std::vector<fs::path> files;
  for (const auto& de : fs::directory_iterator(dir_ + "/objects", ec)) files.push_back(de.path());
  if (ec) problem("'" + dir_ + "/objects': cannot list: " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    const std::string fname = p.filename().string();
    if (isTempName(fname)) continue;
    const std::string sha = fname.size() >= 64 ? fname.substr(0, 64) : "";
    const std::string rest = fname.size() >= 64 ? fname.substr(64) : fname;
    const auto& side = objectSidecarSuffixes();
    if (!isSha(sha) || (rest != ".pt" && std::find(side.begin(), side.end(), rest) == side.end())) {
      problem("'" + p.string() + "': unexpected file in the object store");
      continue;
    }
    if (rest == ".pt") {
      ++r.objectsChecked;
      Status ok = checkObject(dir_, sha);
      if (!ok) {
        problem(ok.error().message());
        r.corrupt.push_back(sha);
      }
      if (s && !referenced.count(sha)) r.unreferenced.push_back(sha);
    } else {
      auto g = rest == ".golden.json" ? golden(sha) : blessed(sha);
      if (!g) problem(g.error().message());
      if (!fs::exists(objectPath(sha), ec)) problem("'" + p.string() + "': " + (rest == ".golden.json" ? "golden outputs" : "blessed figures") +
                                              " without a model object");
    }
  }
  r.ok = r.problems.empty();
  return r;
}

}  // namespace cvgate

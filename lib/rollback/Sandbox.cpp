#include "rollback/Sandbox.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/Time.h"

namespace cvgate {

namespace fs = std::filesystem;

bool RegistryFingerprint::operator==(const RegistryFingerprint& o) const {
  return exists == o.exists && stateSha256 == o.stateSha256 && linkText == o.linkText &&
         journalPending == o.journalPending && objects == o.objects;
}

nlohmann::json toJson(const RegistryFingerprint& f) {
  return {{"exists", f.exists},
          {"state_sha256", f.stateSha256},
          {"current_link", f.linkText},
          {"journal_pending", f.journalPending},
          {"objects", f.objects.size()}};
}

std::string readLinkText(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return "";
  return std::string(buf, static_cast<std::size_t>(n));
}

RegistryFingerprint fingerprintRegistry(const std::string& dir) {
  RegistryFingerprint f;
  std::error_code ec;
  const std::string state = dir + "/state.json";
  f.journalPending = fs::exists(dir + "/journal.json", ec);
  if (fs::exists(state, ec)) {
    auto sha = sha256File(state);
    f.stateSha256 = sha ? *sha : "unreadable";
  }
  f.exists = !f.stateSha256.empty() || f.journalPending;
  f.linkText = readLinkText(dir + "/current.pt");
  if (f.linkText.empty() && fs::exists(fs::symlink_status(dir + "/current.pt", ec)))
    f.linkText = "(not a symlink)";
  for (const auto& de : fs::directory_iterator(dir + "/objects", ec)) {
    struct stat st {};
    if (::lstat(de.path().c_str(), &st) != 0) continue;
    long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    f.objects.push_back(de.path().filename().string() + " " + std::to_string(st.st_size) + " " +
                        std::to_string(mtime) + " " + std::to_string(st.st_mode & 07777));
  }
  std::sort(f.objects.begin(), f.objects.end());
  return f;
}

Snapshot::~Snapshot() {
  if (root.empty() || keep_) return;
  std::error_code ec;
  // Objects are read-only; remove_all unlinks them regardless (the directory is writable).
  fs::remove_all(root, ec);
  if (ec) spdlog::warn("cannot remove drill sandbox '{}': {}", root, ec.message());
}

Snapshot::Snapshot(Snapshot&& o) noexcept
    : root(std::move(o.root)),
      realRegistryDir(std::move(o.realRegistryDir)),
      empty(o.empty),
      journalPending(o.journalPending),
      missingObjects(std::move(o.missingObjects)),
      before(std::move(o.before)),
      keep_(o.keep_) {
  o.root.clear();
}

namespace {

/// A shared flock on registry.lock: registry operations (exclusive) wait or
/// fail busy while the drill copies, and the drill never copies a half-done
/// operation's files.
class SharedLock {
 public:
  ~SharedLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status acquire(const std::string& registryDir, std::chrono::milliseconds timeout) {
    const std::string path = registryDir + "/registry.lock";
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ENOENT) return okStatus();  // never opened by the registry: nobody to exclude
      return internalError("'" + path + "': cannot open lock file: " + std::strerror(errno));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (::flock(fd_, LOCK_SH | LOCK_NB) == 0) return okStatus();
      if (errno == EINTR) continue;
      if (errno != EWOULDBLOCK)
        return internalError("'" + path + "': flock failed: " + std::strerror(errno));
      if (std::chrono::steady_clock::now() >= deadline) {
        char buf[32] = {0};
        ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        // "registry busy" is what isRegistryBusy() looks for.
        return internalError("'" + path + "': registry busy: another process" +
                             (holder.empty() ? "" : " (pid " + holder + ")") +
                             " is changing the registry; try again later");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  int fd_ = -1;
};

Status copyFile(const std::string& from, const std::string& to, bool readOnly) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return internalError("cannot copy '" + from + "' to '" + to + "': " + ec.message());
  if (readOnly)
    fs::permissions(to, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read, ec);
  return okStatus();
}

/// Link `to` to `from` (same file system), or copy it.
Status linkOrCopy(const std::string& from, const std::string& to, bool readOnly) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return okStatus();
  return copyFile(from, to, readOnly);
}

void collectShas(const nlohmann::json& state, std::set<std::string>& out) {
  if (!state.is_object()) return;
  for (const char* k : {"current", "candidate"})
    if (state.contains(k) && state[k].is_object() && state[k].contains("sha256") && state[k]["sha256"].is_string())
      out.insert(state[k]["sha256"].get<std::string>());
  if (state.contains("previous") && state["previous"].is_array())
    for (const auto& e : state["previous"])
      if (e.is_object() && e.contains("sha256") && e["sha256"].is_string()) out.insert(e["sha256"].get<std::string>());
}

bool safeSha(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status recreateLink(const std::string& registryDir, const std::string& text, bool regularFile) {
  const std::string link = registryDir + "/current.pt";
  ::unlink(link.c_str());
  if (!text.empty()) {
    if (::symlink(text.c_str(), link.c_str()) != 0)
      return internalError("'" + link + "': cannot create symlink: " + std::strerror(errno));
  } else if (regularFile) {
    CVGATE_TRY(atomicWriteFile(link, "not a symlink\n"));
  }
  return okStatus();
}

}  // namespace

Expected<Snapshot> snapshotRegistry(const std::string& stateDir, const std::string& parentDir,
                                    std::chrono::milliseconds lockTimeout) {
  Snapshot snap;
  snap.realRegistryDir = stateDir + "/registry";
  std::string parent = parentDir.empty() ? fs::temp_directory_path().string() : parentDir;
  CVGATE_TRY(ensureDir(parent));
  std::string tmpl = parent + "/cvgate-rollback-drill-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    return badInput("'" + parent + "': cannot create a drill sandbox: " + std::strerror(errno));
  snap.root = tmpl;
  // The sandbox must not be the registry itself or inside it.
  std::error_code ec;
  auto realAbs = fs::weakly_canonical(snap.realRegistryDir, ec).string();
  auto rootAbs = fs::weakly_canonical(snap.root, ec).string();
  if (!realAbs.empty() && rootAbs.rfind(realAbs + "/", 0) == 0)
    return badInput("'" + parent + "': the drill sandbox must not be inside the registry");

  const std::string real = snap.realRegistryDir;
  const std::string base = snap.baseStateDir() + "/registry";
  CVGATE_TRY(ensureDir(base + "/objects"));
  if (!fs::is_directory(real, ec)) return snap;  // empty: no registry at all

  SharedLock lock;
  CVGATE_TRY(lock.acquire(real, lockTimeout));
  snap.before = fingerprintRegistry(real);
  snap.empty = !snap.before.exists;
  snap.journalPending = snap.before.journalPending;
  if (snap.empty) return snap;

  std::set<std::string> shas;
  for (const char* f : {"state.json", "journal.json"}) {
    const std::string from = real + "/" + f;
    if (!fs::exists(from, ec)) continue;
    CVGATE_TRY(copyFile(from, base + "/" + f, false));
    auto text = readFile(from);
    if (!text) continue;
    auto parsed = parseJson(*text, "'" + from + "'");
    if (!parsed) continue;  // the sandbox's open() will report it
    const nlohmann::json& j = *parsed;
    if (std::string(f) == "journal.json") {
      if (j.contains("before")) collectShas(j["before"], shas);
      if (j.contains("after")) collectShas(j["after"], shas);
    } else {
      collectShas(j, shas);
    }
  }
  for (const auto& sha : shas) {
    if (!safeSha(sha)) continue;
    const std::string obj = real + "/objects/" + sha + ".pt";
    if (fs::exists(obj, ec)) CVGATE_TRY(copyFile(obj, base + "/objects/" + sha + ".pt", true));
    else snap.missingObjects.push_back(sha);
    const std::string gold = real + "/objects/" + sha + ".golden.json";
    if (fs::exists(gold, ec)) CVGATE_TRY(copyFile(gold, base + "/objects/" + sha + ".golden.json", false));
  }
  const std::string link = readLinkText(real + "/current.pt");
  const bool regular = link.empty() && fs::exists(fs::symlink_status(real + "/current.pt", ec));
  CVGATE_TRY(recreateLink(base, link, regular));
  return snap;
}

Expected<std::string> cloneSandbox(const Snapshot& snap, const std::string& name, bool copyObjects) {
  const std::string from = snap.baseStateDir() + "/registry";
  const std::string dirState = snap.root + "/" + name;
  const std::string to = dirState + "/registry";
  std::error_code ec;
  fs::remove_all(dirState, ec);
  CVGATE_TRY(ensureDir(to + "/objects"));
  for (const char* f : {"state.json", "journal.json"})
    if (fs::exists(from + "/" + f, ec)) CVGATE_TRY(copyFile(from + "/" + f, to + "/" + f, false));
  for (const auto& de : fs::directory_iterator(from + "/objects", ec)) {
    const std::string fname = de.path().filename().string();
    if (!fname.empty() && fname[0] == '.') continue;
    const bool model = de.path().extension() == ".pt";
    const std::string dst = to + "/objects/" + fname;
    if (copyObjects || !model) CVGATE_TRY(copyFile(de.path().string(), dst, model));
    else CVGATE_TRY(linkOrCopy(de.path().string(), dst, true));
  }
  if (ec) return internalError("'" + from + "/objects': cannot list: " + ec.message());
  const std::string link = readLinkText(from + "/current.pt");
  const bool regular = link.empty() && fs::exists(fs::symlink_status(from + "/current.pt", ec));
  CVGATE_TRY(recreateLink(to, link, regular));
  return dirState;
}

Status simulateGo(const std::string& registryDir, const RegistryState& s) {
  if (!s.current || !s.candidate) return badInput("simulated GO: needs a current and a candidate model");
  RegistryState after = s;
  after.previous.insert(after.previous.begin(), *s.current);
  after.current = *s.candidate;
  after.candidate.reset();
  after.history.push_back(HistoryRecord{"deploy", nowIsoUtc(), std::nullopt, s.current->sha256,
                                        s.candidate->sha256,
                                        "simulated GO by the rollback drill (sandbox only)"});
  const std::string tmp = registryDir + "/.current.pt.tmp.drill";
  ::unlink(tmp.c_str());
  const std::string target = "objects/" + s.candidate->sha256 + ".pt";
  if (::symlink(target.c_str(), tmp.c_str()) != 0 ||
      ::rename(tmp.c_str(), (registryDir + "/current.pt").c_str()) != 0)
    return internalError("'" + registryDir + "/current.pt': cannot flip: " + std::strerror(errno));
  return atomicWriteFile(registryDir + "/state.json", toJson(after).dump(2) + "\n");
}

}  // namespace cvgate

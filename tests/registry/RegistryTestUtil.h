// Helpers shared by the registry tests: scratch directories, fake model files
// (random bytes: the registry never loads a model), child processes.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "registry/Registry.h"

namespace cvgate::test {

/// A fresh directory, removed on destruction: under the test temp dir, or with
/// `inMemory` under /dev/shm when it is a writable tmpfs (falls back otherwise).
class ScratchDir {
 public:
  explicit ScratchDir(bool inMemory = false);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Write `size` pseudo-random bytes from `seed` to `path`; returns their sha256.
std::string writeFakeModel(const std::string& path, unsigned seed, std::size_t size = 24 * 1024);

/// The text of a symlink, "" when there is none.
std::string linkText(const std::string& path);

/// Overwrite an object's bytes (it is read-only) with something else.
void tamper(const std::string& objectPath);

/// Run `body` in a forked child with the given environment variables set;
/// the child _exits with body's return value. Returns the child's pid.
pid_t spawn(const std::function<int()>& body,
            const std::vector<std::pair<std::string, std::string>>& env = {});

/// Wait for a child: its exit code, or 128+signal when killed.
int waitChild(pid_t pid);

/// state without history, for comparisons that ignore the story.
json stateCore(const RegistryState& s);

/// Files whose name marks them as temporaries, in the registry dir and objects/.
std::vector<std::string> tempFiles(const std::string& registryDir);

/// Read and parse a JSON file; null when it does not exist.
json readJsonFile(const std::string& path);

}  // namespace cvgate::test

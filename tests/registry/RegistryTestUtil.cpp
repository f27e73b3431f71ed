#include "RegistryTestUtil.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/Sha256.h"

namespace cvgate::test {

namespace fs = std::filesystem;

ScratchDir::ScratchDir(bool inMemory) {
  std::string base = ::testing::TempDir();
  if (inMemory && ::access("/dev/shm", W_OK) == 0) base = "/dev/shm/";
  if (base.empty() || base.back() != '/') base += '/';
  std::string templ = base + "cvgate-registry-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) std::abort();
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string writeFakeModel(const std::string& path, unsigned seed, std::size_t size) {
  std::mt19937 gen(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(gen() & 0xFF);
  std::ofstream(path, std::ios::binary) << bytes;
  return sha256Hex(bytes);
}

std::string linkText(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

void tamper(const std::string& objectPath) {
  fs::permissions(objectPath, fs::perms::owner_write, fs::perm_options::add);
  std::fstream f(objectPath, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(100);
  f.put('\x5a');
  f.put('\xa5');
}

pid_t spawn(const std::function<int()>& body,
            const std::vector<std::pair<std::string, std::string>>& env) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    int rc = body();
    ::_exit(rc);
  }
  return pid;
}

int waitChild(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

json stateCore(const RegistryState& s) {
  json j = toJson(s);
  j.erase("history");
  return j;
}

std::vector<std::string> tempFiles(const std::string& registryDir) {
  std::vector<std::string> out;
  for (const std::string& d : {registryDir, registryDir + "/objects"}) {
    std::error_code ec;
    for (const auto& de : fs::directory_iterator(d, ec)) {
      std::string name = de.path().filename().string();
      if (!name.empty() && name[0] == '.' && name.find(".tmp.") != std::string::npos)
        out.push_back(de.path().string());
    }
  }
  return out;
}

json readJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  return json::parse(in, nullptr, false);
}

}  // namespace cvgate::test

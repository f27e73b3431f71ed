#include "common/Fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

namespace cvgate {

namespace fs = std::filesystem;

Expected<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return badInput("'" + path + "': cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return badInput("'" + path + "': read error");
  return ss.str();
}

Status ensureDir(const std::string& path) {
  if (path.empty()) return okStatus();
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return badInput("'" + path + "': cannot create directory: " + ec.message());
  return okStatus();
}

Status fsyncDir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return internalError("'" + dir + "': cannot open directory: " + std::strerror(errno));
  ::fsync(fd);
  ::close(fd);
  return okStatus();
}

Status atomicWriteFile(const std::string& path, const std::string& content) {
  if (path == "-") {
    std::cout << content << std::flush;
    return okStatus();
  }
  fs::path p(path);
  std::string dir = p.parent_path().string();
  CVGATE_TRY(ensureDir(dir));
  std::random_device rd;
  std::string tmp = (dir.empty() ? std::string(".") : dir) + "/." + p.filename().string() +
                    ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return badInput("'" + tmp + "': cannot create: " + std::strerror(errno));
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return badInput("'" + path + "': write failed: " + why);
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return badInput("'" + path + "': fsync failed: " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return badInput("'" + path + "': rename failed: " + why);
  }
  return fsyncDir(dir.empty() ? "." : dir);
}

}  // namespace cvgate

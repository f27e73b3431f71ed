#include "common/Fs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <string_view>
#include <thread>

#include "common/Limits.h"
#include "common/Sha256.h"

namespace cvgate {

namespace fs = std::filesystem;

namespace {

std::string errnoText() { return std::strerror(errno); }

/// A failed write: the user's to fix (a path they named that cannot be
/// written: exit 2), or the machine's (a full disk, an I/O error: exit 1).
Error writeError(const std::string& what, int err) {
  const std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case EACCES: case EPERM: case EROFS: case ENOENT: case ENOTDIR: case EISDIR: case ELOOP:
    case ENAMETOOLONG: case ENXIO: case EEXIST:
      return badInput(msg);
    default:
      return internalError(msg);
  }
}

const char* kindOf(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symlink";
  return "not a regular file";
}

/// Write all of `content` to `fd`; false with errno set on failure.
bool writeAll(int fd, std::string_view content) {
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a FIFO or socket opened non-blocking: wait until writable
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Fills a temporary file (open for writing as `fd`, named `tmp`) before it
/// is renamed into place; an error keeps the old file.
using FillFn = std::function<Status(int fd, const std::string& tmp)>;

/// Temp file beside `path`, filled by `fill`, fsync, rename over it, fsync
/// the directory. The temp file is removed on any failure.
Status replaceAtomicallyWith(const std::string& path, const FillFn& fill) {
  fs::path p(path);
  std::string dir = p.parent_path().string();
  CVGATE_TRY(ensureDir(dir));
  std::random_device rd;
  std::string tmp = (dir.empty() ? std::string(".") : dir) + "/." + p.filename().string() + ".tmp." +
                    std::to_string(::getpid()) + "." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return writeError("'" + path + "': cannot create a temporary file beside it", errno);
  auto fail = [&](const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return writeError("'" + path + "': " + what, err);
  };
  if (Status st = fill(fd, tmp); !st.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::fsync(fd) != 0) return fail("fsync failed");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename failed");
  return fsyncDir(dir.empty() ? "." : dir);
}

Status replaceAtomically(const std::string& path, const std::string& content) {
  return replaceAtomicallyWith(path, [&](int fd, const std::string&) -> Status {
    if (!writeAll(fd, content)) return writeError("'" + path + "': write failed", errno);
    return okStatus();
  });
}

/// Open a FIFO for writing, waiting up to `waitS` for a reader (an open
/// without one would block forever).
Expected<int> openFifo(const std::string& path, double waitS) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(waitS);
  for (;;) {
    int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno != ENXIO) return writeError("'" + path + "': cannot open the FIFO for writing", errno);
    if (std::chrono::steady_clock::now() >= deadline)
      return badInput("'" + path + "': a FIFO with no reader (waited " + std::to_string(static_cast<int>(waitS)) +
                      " s); start its reader first");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status writeThrough(const std::string& path, mode_t mode, const std::string& content) {
  int fd = -1;
  if (S_ISFIFO(mode)) {
    CVGATE_TRY_ASSIGN(f, openFifo(path, 10.0));
    fd = f;
  } else if (S_ISSOCK(mode)) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return internalError("socket: " + errnoText());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      ::close(fd);
      return badInput("'" + path + "': socket path too long");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::string why = errnoText();
      ::close(fd);
      return badInput("'" + path + "': cannot connect to the socket: " + why);
    }
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return writeError("'" + path + "': cannot open for writing", errno);
  }
  bool ok = writeAll(fd, content);
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) return writeError("'" + path + "': write failed", err);
  return okStatus();
}

}  // namespace

Expected<int> openRegularFile(const std::string& path, std::uint64_t* size) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return badInput("'" + path + "': cannot open: " + errnoText());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errnoText();
    ::close(fd);
    return badInput("'" + path + "': cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return badInput("'" + path + "': " + kindOf(st.st_mode) + ", expected a regular file");
  }
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size) *size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

Expected<std::string> readFile(const std::string& path, std::uint64_t maxBytes) {
  if (maxBytes == 0) maxBytes = limits().maxFileBytes;
  std::uint64_t size = 0;
  CVGATE_TRY_ASSIGN(fd, openRegularFile(path, &size));
  if (size > maxBytes) {
    ::close(fd);
    return badInput("'" + path + "': " + fmtBytes(size) + ", larger than the limit of " + fmtBytes(maxBytes) +
                    " ([limits] in the config)");
  }
  std::string out;
  out.resize(static_cast<std::size_t>(size));
  std::size_t got = 0;
  // Read what stat promised, then make sure the file did not grow past the cap.
  for (;;) {
    if (got == out.size()) {
      if (out.size() >= maxBytes + 1) break;
      out.resize(std::min<std::uint64_t>(maxBytes + 1, out.size() + (1 << 16)));
    }
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errnoText();
      ::close(fd);
      return badInput("'" + path + "': read error: " + why);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > maxBytes)
    return badInput("'" + path + "': larger than the limit of " + fmtBytes(maxBytes) + " ([limits] in the config)");
  out.resize(got);
  return out;
}

Status ensureDir(const std::string& path) {
  if (path.empty()) return okStatus();
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return writeError("'" + path + "': cannot create directory", ec.value());
  return okStatus();
}

Status fsyncDir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return internalError("'" + dir + "': cannot open directory: " + errnoText());
  ::fsync(fd);
  ::close(fd);
  return okStatus();
}

Status atomicWriteFile(const std::string& path, const std::string& content) {
  if (path == "-") {
    std::cout << content << std::flush;
    if (!std::cout) return internalError("stdout: write failed");
    return okStatus();
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return badInput("'" + path + "': " + kindOf(st.st_mode) +
                    " where cvgate keeps a state file; refusing to replace it (move it away)");
  return replaceAtomically(path, content);
}

namespace {
/// Where an output named `path` is written: a symlink is followed to what it
/// finally names (the link itself stays). `st` gets the target's lstat;
/// `exists` says whether there is one. Errors name the path.
Expected<std::string> outputTarget(const std::string& path, struct stat& st, bool& exists) {
  std::string target = path;
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path resolved = fs::weakly_canonical(fs::path(path), ec);
    if (ec) return badInput("'" + path + "': cannot resolve the symlink: " + ec.message());
    target = resolved.string();
  }
  exists = ::lstat(target.c_str(), &st) == 0;
  if (!exists && errno != ENOENT)
    return badInput("'" + path + "'" + (target == path ? "" : " -> '" + target + "'") + ": " + errnoText());
  return target;
}
}  // namespace

Status writeOutputFile(const std::string& path, const std::string& content) {
  if (path == "-") return atomicWriteFile(path, content);
  if (path.empty()) return badInput("output path: must not be empty (use '-' for stdout)");
  struct stat st {};
  bool exists = false;
  CVGATE_TRY_ASSIGN(target, outputTarget(path, st, exists));
  if (!exists) return replaceAtomically(target, content);  // a missing file, or a dangling link's target
  if (S_ISREG(st.st_mode)) {
    if (::access(target.c_str(), W_OK) != 0)
      return badInput("'" + target + "': not writable: " + errnoText());
    return replaceAtomically(target, content);
  }
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
    return writeThrough(target, st.st_mode, content);
  return badInput("'" + target + "': " + kindOf(st.st_mode) + ", cannot write a report there");
}

Status copyOutputFile(const std::string& from, const std::string& to, const std::string& expectedSha256) {
  if (to.empty() || to == "-") return badInput("output path '" + to + "': expected a file");
  struct stat st {};
  bool exists = false;
  CVGATE_TRY_ASSIGN(target, outputTarget(to, st, exists));
  if (exists) {
    if (!S_ISREG(st.st_mode)) return badInput("'" + target + "': " + kindOf(st.st_mode) + ", cannot copy a file there");
    if (::access(target.c_str(), W_OK) != 0) return badInput("'" + target + "': not writable: " + errnoText());
  }
  return replaceAtomicallyWith(target, [&](int fd, const std::string& tmp) -> Status {
    CVGATE_TRY_ASSIGN(in, openRegularFile(from));
    std::string buf(1 << 20, '\0');
    for (;;) {
      const ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(in);
        return writeError("'" + from + "': read failed", err);
      }
      if (n == 0) break;
      if (!writeAll(fd, std::string_view(buf.data(), static_cast<std::size_t>(n)))) {
        const int err = errno;
        ::close(in);
        return writeError("'" + target + "': write failed", err);
      }
    }
    ::close(in);
    if (!expectedSha256.empty()) {
      CVGATE_TRY_ASSIGN(sha, sha256File(tmp));
      if (sha != expectedSha256)
        return internalError("'" + target + "': the copy of '" + from + "' has sha256 " + sha + ", expected " +
                             expectedSha256);
    }
    return okStatus();
  });
}

std::string fmtBytes(std::uint64_t b) {
  char buf[64];
  const double v = static_cast<double>(b);
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", v / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1ull << 20));
  else if (b >= (1ull << 10)) std::snprintf(buf, sizeof buf, "%.1f KiB", v / (1ull << 10));
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace cvgate

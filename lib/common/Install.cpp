#include "common/Install.h"

#include <filesystem>

// Set by lib/CMakeLists.txt from the configured install directories.
#ifndef CVGATE_INSTALL_PREFIX
#define CVGATE_INSTALL_PREFIX "/usr/local"
#endif
#ifndef CVGATE_BIN_TO_PREFIX
#define CVGATE_BIN_TO_PREFIX ".."
#endif
#ifndef CVGATE_PREFIX_TO_DATA
#define CVGATE_PREFIX_TO_DATA "share/cvgate"
#endif

namespace cvgate {

namespace fs = std::filesystem;

std::string sysconfDirFor(const std::string& prefix) {
  fs::path p = fs::path(prefix).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "/usr/" -> "/usr"
  if (p.filename() == "usr") return (p.parent_path() / "etc").string();
  return (p / "etc").string();
}

InstallLayout layoutFor(const std::string& exePath) {
  InstallLayout l;
  std::error_code ec;
  fs::path prefix = (fs::path(exePath).parent_path() / CVGATE_BIN_TO_PREFIX).lexically_normal();
  if (!exePath.empty() && fs::is_directory(prefix / CVGATE_PREFIX_TO_DATA, ec)) {
    l.installed = true;
  } else {
    prefix = CVGATE_INSTALL_PREFIX;
  }
  if (!prefix.has_filename()) prefix = prefix.parent_path();
  l.dataDir = (prefix / CVGATE_PREFIX_TO_DATA).string();
  l.configFile = (fs::path(sysconfDirFor(prefix.string())) / "cvgate" / "cvgate.toml").string();
  return l;
}

const InstallLayout& installLayout() {
  static const InstallLayout layout = [] {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return layoutFor(ec ? std::string() : exe.string());
  }();
  return layout;
}

}  // namespace cvgate

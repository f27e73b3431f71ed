// Where a cvgate tool finds its data files and its default config: relative
// to the running binary (/proc/self/exe), so that an install works under any
// prefix and after it is moved (an unpacked package tree, /opt/cvgate).
#pragma once

#include <string>

namespace cvgate {

/// What the running binary knows about its installation.
struct InstallLayout {
  bool installed = false;  ///< <prefix>/share/cvgate sits beside the binary's <prefix>/bin
  std::string dataDir;     ///< reference models, schemas, docs: <prefix>/share/cvgate
  std::string configFile;  ///< the installed default config: <sysconfdir>/cvgate/cvgate.toml
};

/// The configuration directory of an installation prefix, as GNUInstallDirs
/// chooses it and the install rules use it: a prefix named "usr" keeps its
/// configuration beside itself (/usr -> /etc, and <root>/usr -> <root>/etc in
/// an unpacked package), any other prefix inside it (/usr/local -> /usr/local/etc).
std::string sysconfDirFor(const std::string& prefix);

/// The layout of a binary at `exePath`. An installed binary's data and config
/// are found from its own directory; a binary outside an install (a build
/// tree) gets the locations of the prefix it was configured for.
InstallLayout layoutFor(const std::string& exePath);

/// The layout of the running binary (read once).
const InstallLayout& installLayout();

}  // namespace cvgate

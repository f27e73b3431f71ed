// File-system helpers: whole-file read, crash-safe atomic write, directories.
#pragma once

#include <string>

#include "common/Error.h"

namespace cvgate {

/// Whole file as bytes; a missing file is a BadInput error naming the path.
Expected<std::string> readFile(const std::string& path);

/// Write `content` to `path` so that readers see the old file or the new one,
/// never a part: temp file in the same directory, fsync, rename, fsync the
/// directory. Creates missing parent directories. "-" writes to stdout.
Status atomicWriteFile(const std::string& path, const std::string& content);

/// mkdir -p.
Status ensureDir(const std::string& path);

/// fsync a directory so that a rename inside it is durable.
Status fsyncDir(const std::string& dir);

}  // namespace cvgate

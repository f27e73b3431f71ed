// File-system helpers: bounded whole-file reads of regular files only, the
// crash-safe atomic write of the state directory's own files, and the writer
// of what a user asked for (-o, --html, ...), which writes through devices,
// FIFOs, sockets and symlinks instead of replacing them.
#pragma once

#include <cstdint>
#include <string>

#include "common/Error.h"

namespace cvgate {

/// Open `path` for reading, refusing anything but a regular file (a FIFO, a
/// device, a socket or a directory would hang or mislead a reader). The
/// descriptor is O_CLOEXEC; the caller closes it. `size` (optional) gets
/// st_size. Errors name the path (BadInput).
Expected<int> openRegularFile(const std::string& path, std::uint64_t* size = nullptr);

/// Whole regular file as bytes, at most `maxBytes` (0: limits().maxFileBytes);
/// a missing, non-regular or larger file is a BadInput error naming the path.
Expected<std::string> readFile(const std::string& path, std::uint64_t maxBytes = 0);

/// Write one of the state directory's own files (feeds, registry, locks) so
/// that readers see the old file or the new one, never a part: temp file in
/// the same directory, fsync, rename, fsync the directory. Creates missing
/// parent directories. A symlink, FIFO, device or directory found at `path`
/// is an error naming it, never replaced. "-" writes to stdout.
Status atomicWriteFile(const std::string& path, const std::string& content);

/// Write a file the user asked for (--out, --html, --prom, ...): "-" is
/// stdout; a missing path or a regular file is replaced atomically as by
/// atomicWriteFile; a character device, FIFO or socket is written through as
/// it is (a FIFO waits up to 10 s for a reader); a symlink is followed and its
/// target written by these same rules, never replaced by a file. A block
/// device or a directory is refused. Errors name the path.
Status writeOutputFile(const std::string& path, const std::string& content);

/// Install a copy of the regular file `from` at `to`, by writeOutputFile's
/// rules for a regular or missing file (a symlink is followed; any other kind
/// of file is refused): atomically, and only when the copy's sha256 is
/// `expectedSha256` (empty: not checked). Errors name the path.
Status copyOutputFile(const std::string& from, const std::string& to, const std::string& expectedSha256);

/// mkdir -p.
Status ensureDir(const std::string& path);

/// fsync a directory so that a rename inside it is durable.
Status fsyncDir(const std::string& dir);

/// "1.5 GiB", "300 MiB", "12 KiB", "17 B".
std::string fmtBytes(std::uint64_t bytes);

}  // namespace cvgate

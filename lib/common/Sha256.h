// SHA-256 via OpenSSL's EVP interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/Error.h"

namespace cvgate {

/// Incremental hasher for streams (datasets, large files).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, std::size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  /// Lower-case hex digest; the hasher is finished afterwards.
  std::string hexdigest();

 private:
  void* ctx_;
};

/// Hex digest of a byte string.
std::string sha256Hex(std::string_view bytes);
/// Hex digest of a file's contents; a missing or unreadable file is an error.
Expected<std::string> sha256File(const std::string& path);

}  // namespace cvgate

// Fixture helpers for the data tests: a temp dir, IDX/gzip/PNG/JPEG writers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/Dataset.h"

namespace cvgate::testutil {

/// A fresh directory under $TMPDIR (or /tmp), removed with its content on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

/// IDX idx3 ubyte images file: header + pixels (count*rows*cols bytes).
std::string idxImages(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                      const std::vector<std::uint8_t>& pixels);
/// IDX idx1 ubyte labels file.
std::string idxLabels(const std::vector<std::uint8_t>& labels);

/// Write bytes to a file (parents created); fails the test on error.
void writeFile(const std::string& path, const std::string& bytes);
/// Write bytes gzipped with zlib's gzopen/gzwrite.
void writeGz(const std::string& path, const std::string& bytes);
/// Bytes of a gzip stream of `bytes`, in memory.
std::string gzBytes(const std::string& bytes);
/// Read a whole file.
std::string readAll(const std::string& path);
/// `img` encoded as PNG bytes; fails the test on error.
std::string png(const Image& img);
/// The error message of a failed open, or "<no error>".
std::string errorOf(const Expected<std::unique_ptr<Dataset>>& r);

/// A width x height image, every pixel the given value(s).
Image solid(int width, int height, std::vector<std::uint8_t> value);
/// A width x height image whose bytes follow a simple pattern seeded by `seed`.
Image pattern(int width, int height, int channels, int seed);

/// JPEG bytes written with libjpeg (channels 1 or 3).
std::string encodeJpeg(const Image& img, int quality);

}  // namespace cvgate::testutil

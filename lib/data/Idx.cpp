// IDX reader: idx3 ubyte images and idx1 ubyte labels (MNIST, Fashion-MNIST),
// each gzipped or plain, loaded into memory at open and checked against the
// lengths their headers promise.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/Fs.h"
#include "common/Limits.h"
#include "common/Sha256.h"
#include "data/Dataset.h"

namespace cvgate {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dims
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dim
constexpr std::uint32_t kMaxSide = 65535;            // rows and cols must fit Image's int

std::string quote(const std::string& path) { return "'" + path + "'"; }

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string magicName(std::uint32_t magic) {
  if (magic == kImagesMagic) return " (IDX images)";
  if (magic == kLabelsMagic) return " (IDX labels)";
  return "";
}

std::uint32_t readBe32(const std::string& s, std::size_t at) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

bool isGzip(const std::string& raw) {
  return raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
         static_cast<unsigned char>(raw[1]) == 0x8b;
}

/// Decompressed bytes of a gzip file, and whether the stream ended properly.
struct Inflated {
  std::string bytes;
  bool complete = false;  ///< the last member ended (trailer checked) before the input did
};

/// Inflate the gzip member(s) in `raw`, stopping once `maxOut` bytes are out, so a
/// lying header or a gzip bomb costs no more memory than the caller allows.
/// Data after the last member that is not another gzip member is ignored, as gzip does.
Expected<Inflated> gunzip(const std::string& raw, std::size_t maxOut, const std::string& path) {
  if (raw.size() > UINT_MAX) return badInput(quote(path) + ": gzip file too large");
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return internalError("zlib: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  Inflated out;
  out.bytes.reserve(std::min<std::size_t>(maxOut, raw.size() * 1032 + 1));
  constexpr std::size_t kChunk = 1 << 20;
  while (out.bytes.size() < maxOut) {
    std::size_t old = out.bytes.size();
    std::size_t want = std::min(maxOut - old, kChunk);
    out.bytes.resize(old + want);
    zs.next_out = reinterpret_cast<Bytef*>(&out.bytes[old]);
    zs.avail_out = static_cast<uInt>(want);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.bytes.resize(old + want - zs.avail_out);
    if (rc == Z_STREAM_END) {
      bool another = zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b;
      if (!another) {
        out.complete = true;
        break;
      }
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_BUF_ERROR) break;  // no progress possible: the input ended mid-stream
    if (rc != Z_OK) {
      std::string why = zs.msg ? zs.msg : ("zlib error " + std::to_string(rc));
      inflateEnd(&zs);
      return badInput(quote(path) + ": corrupt gzip data: " + why);
    }
    if (zs.avail_in == 0 && zs.avail_out > 0) break;  // all input used, stream not ended
  }
  inflateEnd(&zs);
  return out;
}

/// One IDX file in memory: its (decompressed) bytes and its dimensions.
struct IdxFile {
  std::string bytes;
  std::vector<std::uint32_t> dims;
  std::size_t headerSize = 0;
};

Expected<IdxFile> readIdx(const std::string& path, std::uint32_t wantMagic) {
  CVGATE_TRY_ASSIGN(raw, readFile(path, limits().maxDataBytes));
  const bool gz = isGzip(raw);
  const std::string what = wantMagic == kImagesMagic ? "IDX images" : "IDX labels";
  const std::size_t ndims = wantMagic & 0xff;
  const std::size_t headerSize = 4 + 4 * ndims;

  // The header first, so the full read knows how many bytes to expect.
  std::string head;
  if (gz) {
    CVGATE_TRY_ASSIGN(h, gunzip(raw, headerSize, path));
    head = std::move(h.bytes);
  } else {
    head = raw.substr(0, headerSize);
  }
  if (head.size() < 4)
    return badInput(quote(path) + ": truncated IDX file: expected at least " +
                    std::to_string(headerSize) + " bytes, got " + std::to_string(head.size()));
  std::uint32_t magic = readBe32(head, 0);
  if (magic != wantMagic)
    return badInput(quote(path) + ": bad IDX magic " + hex32(magic) + magicName(magic) +
                    ": expected " + hex32(wantMagic) + " (" + what + ")");
  if (head.size() < headerSize)
    return badInput(quote(path) + ": truncated IDX file: expected at least " +
                    std::to_string(headerSize) + " bytes, got " + std::to_string(head.size()));

  IdxFile f;
  f.headerSize = headerSize;
  std::uint64_t expected = 1;
  for (std::size_t d = 0; d < ndims; ++d) {
    std::uint32_t n = readBe32(head, 4 + 4 * d);
    f.dims.push_back(n);
    if (d > 0 && (n == 0 || n > kMaxSide))
      return badInput(quote(path) + ": bad IDX dimension " + std::to_string(n) +
                      ": expected 1.." + std::to_string(kMaxSide));
    if (n != 0 && expected > (std::numeric_limits<std::uint64_t>::max() / 2) / n)
      return badInput(quote(path) + ": IDX dimensions too large");
    expected *= n;
  }
  if (f.dims[0] == 0) return badInput(quote(path) + ": IDX file holds no " +
                                      (wantMagic == kImagesMagic ? "images" : "labels"));
  expected += headerSize;
  // What the header claims is checked before anything is allocated for it:
  // against the data limit, and against what the file can hold at all.
  if (expected > limits().maxDataBytes)
    return badInput(quote(path) + ": the IDX header claims " + std::to_string(f.dims[0]) + " items, " +
                    fmtBytes(expected) + " of data, more than the limit of " + fmtBytes(limits().maxDataBytes) +
                    " ([limits] max_data_gb)");
  // deflate cannot compress better than 1032:1, so a gzip file of n bytes
  // inflates to at most 1032 n: a header claiming more is a lie (a
  // truncated file, or a bomb), found without inflating anything.
  constexpr std::uint64_t kMaxDeflateRatio = 1032;
  if (gz && expected > static_cast<std::uint64_t>(raw.size()) * kMaxDeflateRatio)
    return badInput(quote(path) + ": truncated IDX file: the header claims " + fmtBytes(expected) +
                    " of data, more than a gzip file of " + fmtBytes(raw.size()) + " can hold");

  if (gz) {
    // One byte more than expected reveals trailing data without reading it all.
    std::size_t limit = expected >= std::numeric_limits<std::size_t>::max()
                            ? std::numeric_limits<std::size_t>::max()
                            : static_cast<std::size_t>(expected) + 1;
    CVGATE_TRY_ASSIGN(full, gunzip(raw, limit, path));
    if (full.bytes.size() < expected)
      return badInput(quote(path) + ": truncated IDX file: expected " + std::to_string(expected) +
                      " bytes, got " + std::to_string(full.bytes.size()));
    if (full.bytes.size() > expected)
      return badInput(quote(path) + ": IDX file longer than its header says: expected " +
                      std::to_string(expected) + " bytes, got more");
    if (!full.complete)
      return badInput(quote(path) + ": truncated gzip stream: the data is complete but the " +
                      "gzip trailer is missing");
    f.bytes = std::move(full.bytes);
  } else {
    if (raw.size() < expected)
      return badInput(quote(path) + ": truncated IDX file: expected " + std::to_string(expected) +
                      " bytes, got " + std::to_string(raw.size()));
    if (raw.size() > expected)
      return badInput(quote(path) + ": IDX file longer than its header says: expected " +
                      std::to_string(expected) + " bytes, got " + std::to_string(raw.size()));
    f.bytes = std::move(raw);
  }
  return f;
}

/// "t10k-images-idx3-ubyte.gz" -> "t10k-images-idx3-ubyte"; "t10k-images.idx3-ubyte" -> "t10k-images".
std::string idPrefix(const std::string& path) {
  std::filesystem::path p(path);
  std::string name = p.filename().string();
  if (name.size() > 3) {
    std::string tail = name.substr(name.size() - 3);
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (tail == ".gz") name.resize(name.size() - 3);
  }
  std::string stem = std::filesystem::path(name).stem().string();
  return stem.empty() ? name : stem;
}

class IdxDataset final : public Dataset {
 public:
  IdxDataset(std::string imagesPath, IdxFile images, IdxFile labels)
      : imagesPath_(std::move(imagesPath)),
        images_(std::move(images.bytes)),
        labels_(std::move(labels.bytes)),
        imagesOffset_(images.headerSize),
        labelsOffset_(labels.headerSize),
        count_(images.dims[0]),
        rows_(static_cast<int>(images.dims[1])),
        cols_(static_cast<int>(images.dims[2])),
        idPrefix_(idPrefix(imagesPath_)) {
    Sha256 h;
    h.update(images_);
    h.update(labels_);
    sha_ = h.hexdigest();
    unsigned maxLabel = 0;
    for (std::size_t i = 0; i < count_; ++i)
      maxLabel = std::max(maxLabel, static_cast<unsigned>(static_cast<unsigned char>(labels_[labelsOffset_ + i])));
    for (unsigned c = 0; c <= maxLabel; ++c) classes_.push_back(std::to_string(c));
  }

  std::size_t size() const override { return count_; }
  const std::vector<std::string>& classes() const override { return classes_; }
  const std::string& sha256() const override { return sha_; }
  std::string describe() const override {
    return "idx:" + imagesPath_ + " (" + std::to_string(count_) + " images)";
  }

  Expected<Sample> get(std::size_t i) const override {
    if (i >= count_)
      return internalError("'" + imagesPath_ + "': sample index " + std::to_string(i) +
                           " out of range (size " + std::to_string(count_) + ")");
    const std::size_t n = static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_);
    const auto* px = reinterpret_cast<const std::uint8_t*>(images_.data()) + imagesOffset_ + i * n;
    Sample s;
    s.image.width = cols_;
    s.image.height = rows_;
    s.image.channels = 1;
    s.image.pixels.assign(px, px + n);
    s.label = static_cast<unsigned char>(labels_[labelsOffset_ + i]);
    s.id = idPrefix_ + ":" + std::to_string(i);
    s.key = key(i);
    return s;
  }
  std::string key(std::size_t i) const override { return std::to_string(i); }
  bool classesAreIndices() const override { return true; }

 private:
  std::string imagesPath_;
  std::string images_;  ///< whole decompressed images file, header included
  std::string labels_;  ///< whole decompressed labels file, header included
  std::size_t imagesOffset_;
  std::size_t labelsOffset_;
  std::size_t count_;
  int rows_;
  int cols_;
  std::string idPrefix_;
  std::string sha_;
  std::vector<std::string> classes_;
};

}  // namespace

Expected<std::unique_ptr<Dataset>> openIdx(const std::string& imagesPath,
                                           const std::string& labelsPath) {
  CVGATE_TRY_ASSIGN(images, readIdx(imagesPath, kImagesMagic));
  CVGATE_TRY_ASSIGN(labels, readIdx(labelsPath, kLabelsMagic));
  if (images.dims[0] != labels.dims[0])
    return badInput(quote(labelsPath) + ": " + std::to_string(labels.dims[0]) +
                    " labels do not match the " + std::to_string(images.dims[0]) + " images in " +
                    quote(imagesPath));
  std::unique_ptr<Dataset> ds =
      std::make_unique<IdxDataset>(imagesPath, std::move(images), std::move(labels));
  return ds;
}

}  // namespace cvgate

// The byte-preserving rewrite of a TorchScript archive that embeds a manifest,
// with PyTorch's own zip reader and writer (caffe2::serialize), so that the
// result is exactly what torch.jit.load reads.
#include "runtime/Embed.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "model/Manifest.h"

namespace cvgate {

namespace {

namespace ser = caffe2::serialize;

/// The archive's bytes as PyTorch's reader sees a file, without a copy.
class StringReader final : public ser::ReadAdapterInterface {
 public:
  explicit StringReader(const std::string& s) : s_(s) {}
  size_t size() const override { return s_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= s_.size()) return 0;
    const size_t k = std::min<size_t>(n, s_.size() - static_cast<size_t>(pos));
    std::memcpy(buf, s_.data() + pos, k);
    return k;
  }

 private:
  const std::string& s_;
};

const std::string kExtraRecord = std::string("extra/") + kManifestExtraFile;

std::string firstLine(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

Expected<std::unique_ptr<ser::PyTorchStreamReader>> openArchive(const std::string& archive,
                                                                const std::string& what) {
  try {
    return std::make_unique<ser::PyTorchStreamReader>(std::make_shared<StringReader>(archive));
  } catch (const std::exception& e) {
    return badInput("'" + what + "': not a TorchScript archive (a PyTorch zip): " + firstLine(e));
  }
}

}  // namespace

Expected<bool> hasEmbeddedManifest(const std::string& archive, const std::string& what) {
  CVGATE_TRY_ASSIGN(reader, openArchive(archive, what));
  try {
    return reader->hasRecord(kExtraRecord);
  } catch (const std::exception& e) {
    return badInput("'" + what + "': unreadable TorchScript archive: " + firstLine(e));
  }
}

Expected<std::string> embedManifest(const std::string& archive, const std::string& manifestText,
                                    const std::string& what) {
  CVGATE_TRY_ASSIGN(reader, openArchive(archive, what));
  std::string out;
  out.reserve(archive.size() + manifestText.size() + 4096);
  try {
    ser::PyTorchStreamWriter writer([&out](const void* buf, size_t n) -> size_t {
      out.append(static_cast<const char*>(buf), n);
      return n;
    });
    // The writer records the format version at the end; keep the original's.
    writer.setMinVersion(static_cast<uint64_t>(reader->version()));
    for (const std::string& name : reader->getAllRecords()) {
      if (name == "version" || name == ".data/version" || name == kExtraRecord) continue;
      auto [data, size] = reader->getRecord(name);
      writer.writeRecord(name, data.get(), size);
    }
    writer.writeRecord(kExtraRecord, manifestText.data(), manifestText.size());
    writer.writeEndOfFile();
  } catch (const std::exception& e) {
    return badInput("'" + what + "': cannot rewrite the archive with its manifest: " + firstLine(e));
  }
  return out;
}

}  // namespace cvgate

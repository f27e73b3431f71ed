// ImageFolder reader: root/<class>/<image>.png|jpg|jpeg, the layout of
// torchvision.datasets.ImageFolder. Listed and hashed at open, decoded on get().
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/Fs.h"
#include "common/Sha256.h"
#include "data/Dataset.h"

namespace cvgate {

namespace {

namespace fs = std::filesystem;

std::string quote(const std::string& s) { return "'" + s + "'"; }

bool isHidden(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

bool isImageName(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

struct Entry {
  std::string rel;  ///< "class/file.png", '/'-separated, relative to the root
  int label = 0;
  std::string key;  ///< Dataset::key(): the file name without extension, or rel
};

/// Image files under one class directory, relative to the class directory,
/// sorted bytewise. Sub-directories are walked as torchvision does (hidden ones
/// skipped; symlinked directories not followed, so a link loop cannot hang us).
Expected<std::vector<std::string>> listImages(const fs::path& classDir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(classDir, ec), end;
  if (ec) return badInput(quote(classDir.string()) + ": cannot list directory: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& e = *it;
    if (isHidden(e.path())) {
      if (e.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!e.is_regular_file(ec) || !isImageName(e.path())) continue;  // symlinks to files count
    out.push_back(e.path().lexically_relative(classDir).generic_string());
  }
  if (ec) return badInput(quote(classDir.string()) + ": cannot list directory: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

void hashU64(Sha256& h, std::uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
  h.update(b, sizeof b);
}

class ImageFolderDataset final : public Dataset {
 public:
  ImageFolderDataset(std::string root, std::vector<std::string> classes, std::vector<Entry> entries,
                     std::string sha)
      : root_(std::move(root)),
        classes_(std::move(classes)),
        entries_(std::move(entries)),
        sha_(std::move(sha)) {}

  std::size_t size() const override { return entries_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  const std::string& sha256() const override { return sha_; }
  std::string describe() const override {
    return "imagefolder:" + root_ + " (" + std::to_string(entries_.size()) + " images, " +
           std::to_string(classes_.size()) + " classes)";
  }

  Expected<std::string> encoded(std::size_t i) const override {
    if (i >= entries_.size())
      return internalError(quote(root_) + ": sample index " + std::to_string(i) + " out of range");
    return readFile((fs::path(root_) / entries_[i].rel).string());
  }

  Expected<Sample> get(std::size_t i) const override {
    if (i >= entries_.size())
      return internalError(quote(root_) + ": sample index " + std::to_string(i) +
                           " out of range (size " + std::to_string(entries_.size()) + ")");
    const Entry& e = entries_[i];
    const std::string path = (fs::path(root_) / e.rel).string();
    CVGATE_TRY_ASSIGN(bytes, readFile(path));
    CVGATE_TRY_ASSIGN(image, decodeImage(bytes, path));
    Sample s;
    s.image = std::move(image);
    s.label = e.label;
    s.id = e.rel;
    s.key = e.key;
    return s;
  }
  std::string key(std::size_t i) const override { return i < entries_.size() ? entries_[i].key : std::string(); }

 private:
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<Entry> entries_;
  std::string sha_;
};

}  // namespace

Expected<std::unique_ptr<Dataset>> openImageFolder(const std::string& root) {
  std::error_code ec;
  fs::file_status st = fs::status(root, ec);
  if (ec || !fs::exists(st)) return badInput(quote(root) + ": no such directory");
  if (!fs::is_directory(st)) return badInput(quote(root) + ": not a directory");

  std::vector<std::string> classes;
  fs::directory_iterator it(root, ec), end;
  if (ec) return badInput(quote(root) + ": cannot list directory: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    if (!isHidden(it->path()) && it->is_directory(ec)) classes.push_back(it->path().filename().string());
  }
  if (ec) return badInput(quote(root) + ": cannot list directory: " + ec.message());
  std::sort(classes.begin(), classes.end());  // bytewise: char_traits<char> compares as unsigned

  // The hash covers the class list (an empty class still shifts the labels
  // after it), then each file's relative path and bytes, length-prefixed.
  Sha256 h;
  h.update("cvgate.imagefolder/1\n");
  hashU64(h, classes.size());
  for (const std::string& c : classes) {
    hashU64(h, c.size());
    h.update(c);
  }
  std::vector<Entry> entries;
  for (std::size_t label = 0; label < classes.size(); ++label) {
    CVGATE_TRY_ASSIGN(files, listImages(fs::path(root) / classes[label]));
    for (const std::string& f : files) {
      Entry e;
      e.rel = classes[label] + "/" + f;
      e.label = static_cast<int>(label);
      CVGATE_TRY_ASSIGN(bytes, readFile((fs::path(root) / e.rel).string()));
      hashU64(h, e.rel.size());
      h.update(e.rel);
      hashU64(h, bytes.size());
      h.update(bytes);
      entries.push_back(std::move(e));
    }
  }
  if (entries.empty()) return badInput("no images under " + quote(root));
  std::vector<std::string> rels;
  for (const auto& e : entries) rels.push_back(e.rel);
  const std::vector<std::string> keys = sampleKeysFromPaths(rels);
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].key = keys[i];
  std::unique_ptr<Dataset> ds = std::make_unique<ImageFolderDataset>(
      root, std::move(classes), std::move(entries), h.hexdigest());
  return ds;
}

}  // namespace cvgate

// Labelled image data: the IDX format (MNIST, Fashion-MNIST; gzipped or not),
// the ImageFolder layout (root/<class>/<image>.png|jpg) and labelled lists (a
// CSV or JSON Lines file of path, label, id, slice). Deterministic order, a
// sha256 over the content, a stable key per sample (docs/data.md), clear
// errors for corrupt input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

/// A decoded image: 8-bit, interleaved channels (HWC), row-major.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;                ///< 1 (grey) or 3 (RGB)
  std::vector<std::uint8_t> pixels;///< width*height*channels bytes
};

/// One labelled sample.
struct Sample {
  Image image;
  int label = -1;                  ///< index into Dataset::classes()
  std::string id;                  ///< where it is: "t10k-images-idx3-ubyte:123", "class/file.png", a list's path
  std::string key;                 ///< what it is, in any layout: Dataset::key()
  std::string slice;               ///< Dataset::slice(); "" for none
};

/// A random-access labelled data set, in a deterministic order.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::size_t size() const = 0;
  /// Class names, in label order. IDX has none: "0".."<max label>" ("0".."9" for
  /// MNIST-like sets); callers take real names from the model manifest.
  virtual const std::vector<std::string>& classes() const = 0;
  /// Decode sample i (0 <= i < size()); safe to call from several threads at once.
  /// An index out of range is an Internal error; an undecodable file a BadInput one.
  virtual Expected<Sample> get(std::size_t i) const = 0;
  /// The sample's bytes as stored when they are an encoded image (a PNG or
  /// JPEG file) that a pipeline decodes per request; "" for formats that
  /// store raw pixels (IDX).
  virtual Expected<std::string> encoded(std::size_t i) const {
    (void)i;
    return std::string();
  }
  /// The sample's key, its identity in any layout (docs/data.md, "Sample
  /// identity"): the IDX index ("123"); in an ImageFolder the file name
  /// without its extension ("123" for Trouser/123.png) when no two files share
  /// one, else every key is the path relative to the root; in a list the id
  /// column, else the same rule on its paths. Unique within the data set, known
  /// without decoding.
  virtual std::string key(std::size_t i) const = 0;
  /// The slice of sample i (a list's slice column: a camera, a site, a time
  /// window); "" when the data set has none.
  virtual std::string slice(std::size_t i) const {
    (void)i;
    return std::string();
  }
  /// True when classes() are output indices ("0".."k": IDX, a list labelled by
  /// index) that map to the model's labels by position; false when they are
  /// names matched to the manifest's labels by name.
  virtual bool classesAreIndices() const { return false; }
  /// sha256 over the data set's content (files' bytes in order).
  virtual const std::string& sha256() const = 0;
  /// Human description, e.g. "idx:/usr/share/.../t10k-images-idx3-ubyte.gz (10000 images)".
  virtual std::string describe() const = 0;
};

/// IDX images (idx3, ubyte) and labels (idx1, ubyte), each gzipped or plain.
/// A truncated file, a bad magic number or a count mismatch is an error.
Expected<std::unique_ptr<Dataset>> openIdx(const std::string& imagesPath,
                                           const std::string& labelsPath);

/// ImageFolder: one sub-directory per class (sorted by name = label order),
/// PNG and JPEG files inside, sorted by name. Files are decoded on get().
/// Hidden entries and other files are skipped; nested directories inside a class
/// are walked as torchvision does (ids "class/sub/file.png", sorted bytewise).
Expected<std::unique_ptr<Dataset>> openImageFolder(const std::string& root);

/// A labelled list: a CSV file (a header row naming the columns path, label
/// and optionally id and slice) or JSON Lines (one object a line with those
/// keys). A path is relative to the list file's directory, absolute, or a
/// file:// URI; a label is a class name (matched to the model's labels by
/// name) or, in every line, an output index. A missing file, a duplicate path
/// or id, an unknown column or a malformed line is an error naming the line.
/// Files are hashed at open and decoded on get() (docs/data.md).
Expected<std::unique_ptr<Dataset>> openList(const std::string& listPath);

/// A view of the first `limit` samples of another data set (limit 0: all). A real
/// prefix has its own sha256 (derived from the inner one and the limit); a limit of
/// 0 or >= size() returns `inner` itself.
std::unique_ptr<Dataset> limitDataset(std::unique_ptr<Dataset> inner, std::size_t limit);

/// The keys of samples stored as files, by the rule of Dataset::key(): each
/// path's file name without its extension when no two are the same, else the
/// paths themselves (as given, '/'-separated).
std::vector<std::string> sampleKeysFromPaths(const std::vector<std::string>& paths);

/// Decode PNG or JPEG bytes (by signature) to the pixels Pillow's
/// convert("RGB") / convert("L") gives, EXIF orientation applied; an image over
/// limits().maxImagePixels is refused from its header. `what` names the source
/// in errors (docs/manifest.md).
Expected<Image> decodeImage(const std::string& bytes, const std::string& what);

/// Encode an image as PNG (tests and fixtures write ImageFolders with it).
Expected<std::string> encodePng(const Image& img);

}  // namespace cvgate

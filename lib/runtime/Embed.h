// A manifest travels inside its TorchScript archive as the extra file
// cvgate.json (DESIGN.md section 2). For models exported by plain PyTorch with
// a sidecar manifest, cvgate writes it in: a byte-preserving rewrite of the
// archive's zip that copies every record as it is and adds extra/cvgate.json,
// so that the archive's sha256 covers the manifest. No torch in this header.
#pragma once

#include <string>

#include "common/Error.h"

namespace cvgate {

/// Whether the TorchScript archive `archive` (its bytes) holds the extra file
/// cvgate.json, read from the zip directory without loading the model. Bytes
/// that are not a TorchScript archive: a BadInput error naming `what`.
Expected<bool> hasEmbeddedManifest(const std::string& archive, const std::string& what);

/// The archive with `manifestText` as its extra file cvgate.json: every other
/// record is copied byte for byte, in order, under the archive root
/// "archive/" (PyTorch's name when it saves to a stream); an existing
/// cvgate.json is replaced; the format version is kept. The same inputs give
/// the same bytes. `manifestText` must be a valid manifest (the caller checks).
Expected<std::string> embedManifest(const std::string& archive, const std::string& manifestText,
                                    const std::string& what);

}  // namespace cvgate

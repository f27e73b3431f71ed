// Resource limits on everything cvgate reads: how large a file, how deep a
// JSON document, how many pixels an image, how long one model call. They keep
// a hostile or broken input from exhausting memory, the stack or time.
//
// One process-wide value, set once by a tool after it has read its config
// ([limits] in cvgate.toml) and read by the parsers; library code never
// changes it. The config file itself is read under the defaults.
#pragma once

#include <cstdint>

namespace cvgate {

struct Limits {
  std::uint64_t maxFileBytes = 256ull << 20;  ///< a file read whole: config, report, manifest, state, image
  std::uint64_t maxJsonBytes = 64ull << 20;   ///< a JSON document (report, manifest, feed entry, state)
  int maxJsonDepth = 64;                      ///< nesting of arrays and objects in a JSON document
  std::uint64_t maxImagePixels = 64ull << 20; ///< width * height of one decoded image (64 Mpx)
  std::uint64_t maxDataBytes = 8ull << 30;    ///< an IDX file, decompressed
  std::uint64_t maxModelBytes = 4ull << 30;   ///< a model archive
  double modelTimeoutS = 120;                 ///< one model load or forward pass, seconds
};

/// The limits in force (the defaults until a tool sets them).
const Limits& limits();
/// Set by a tool's main (through openToolContext) from the config.
void setLimits(const Limits& l);

}  // namespace cvgate

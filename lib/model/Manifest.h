// A model's manifest: what the pipeline needs to feed it and read it. It
// travels inside the TorchScript archive as the extra file "cvgate.json", or
// beside it as <model>.manifest.json (or <model>.pt.manifest.json).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

inline constexpr const char* kManifestSchema = "cvgate.manifest/1";
inline constexpr const char* kManifestExtraFile = "cvgate.json";

struct Manifest {
  std::string schema = kManifestSchema;
  std::string name;                 ///< e.g. "fashion-mlp-v1"
  std::string version = "1";        ///< model version
  std::string task = "image-classification";
  std::vector<std::int64_t> inputShape; ///< one input, without batch: {C, H, W}
  std::string dtype = "float32";    ///< input dtype
  std::string colour = "grey";      ///< "grey" (1 channel) or "rgb" (3)
  int resizeH = 0, resizeW = 0;     ///< resize to this before crop (0: no resize)
  int resizeShorter = 0;            ///< >0: resize the shorter side to this, keeping the aspect
                                    ///< ratio (torchvision's Resize(S)); resizeH/W are then 0
  std::string interpolation = "bilinear"; ///< "bilinear", "bicubic" or "nearest"
  bool antialias = false;           ///< true: PIL's Image.resize, as torchvision resizes a PIL
                                    ///< image; false: point sampling on float pixels (torch's
                                    ///< interpolate without antialias), cvgate's original resize
  int cropH = 0, cropW = 0;         ///< centre crop (0: input H/W)
  std::string channelOrder = "rgb"; ///< "rgb" or "bgr": order of the colour planes fed to the model
  double scale = 1.0 / 255.0;       ///< pixel byte -> float
  std::vector<double> mean;         ///< per channel, after scale
  std::vector<double> std;          ///< per channel, after scale
  std::string output = "logits";    ///< "logits" or "probabilities"
  std::vector<std::string> labels;  ///< class names in output order
  nlohmann::json training;          ///< how it was made (free form, optional)

  int channels() const { return colour == "rgb" ? 3 : 1; }
  int height() const { return static_cast<int>(inputShape.at(1)); }
  int width() const { return static_cast<int>(inputShape.at(2)); }
  std::size_t inputSize() const;    ///< C*H*W
};

nlohmann::json toJson(const Manifest& m);
/// Validates every field; errors say which and what was expected.
Expected<Manifest> manifestFromJson(const nlohmann::json& j);
/// The resize in one line for people: "shorter side 256, bicubic, antialias",
/// "28x28, bilinear", "none, bilinear".
std::string resizeSummary(const Manifest& m);
Expected<Manifest> parseManifest(const std::string& text, const std::string& what);

}  // namespace cvgate

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
  int outputIndex = -1;             ///< >= 0: forward returns a tuple or list; this element is the output
  std::string outputKey;            ///< non-empty: forward returns a dict; this entry is the output
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

/// The sidecar manifest of a model file, the first that exists of
/// <model without extension>.manifest.json and <model>.manifest.json; "" when
/// there is none.
std::string findSidecarManifest(const std::string& modelPath);
/// The sidecar name a message suggests: <model without extension>.manifest.json.
std::string sidecarManifestName(const std::string& modelPath);

/// What `model-registry manifest` needs besides the transform.
struct TransformManifestOptions {
  std::string name;                 ///< the model's name
  std::string version = "1";        ///< its version
  std::vector<std::int64_t> inputShape; ///< {C, H, W}
  std::vector<std::string> labels;  ///< class names in output order
  std::string output = "logits";    ///< "logits" or "probabilities"
  int outputIndex = -1;             ///< see Manifest::outputIndex
  std::string outputKey;            ///< see Manifest::outputKey
};

/// A manifest from a torchvision transform description, e.g.
/// "Resize(256), CenterCrop(224), ToTensor(), Normalize(mean=[0.485, 0.456, 0.406],
/// std=[0.229, 0.224, 0.225])" (an optional Compose([...]) around it, optional
/// "T."/"transforms." prefixes). Understood: Resize(size[, interpolation=...,
/// antialias=...]), CenterCrop(size), Grayscale([num_output_channels=1]),
/// ToTensor(), PILToTensor() + ConvertImageDtype(torch.float), Normalize(mean,
/// std). The transforms are read as torchvision applies them to a PIL image
/// (antialias true unless antialias=False is given). Anything else is a
/// one-line error naming it. The result is validated as a manifest.
Expected<Manifest> manifestFromTransform(const std::string& transform, const TransformManifestOptions& o);

/// "3x224x224" -> {3, 224, 224}.
Expected<std::vector<std::int64_t>> parseInputShape(const std::string& text);

}  // namespace cvgate

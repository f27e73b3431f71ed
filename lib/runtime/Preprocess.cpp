// The torch-free stages of the pipeline: preprocess and postprocess.
#include <algorithm>
#include <cmath>
#include <string>

#include "runtime/Runtime.h"

namespace cvgate {

namespace {

/// Bilinear sample of channel c at (y, x) in source coordinates.
float sampleBilinear(const Image& img, int c, float y, float x, int srcC, int toC) {
  y = std::clamp(y, 0.f, static_cast<float>(img.height - 1));
  x = std::clamp(x, 0.f, static_cast<float>(img.width - 1));
  int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
  int y1 = std::min(y0 + 1, img.height - 1), x1 = std::min(x0 + 1, img.width - 1);
  float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
  auto px = [&](int yy, int xx) -> float {
    const std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(yy) * static_cast<std::size_t>(img.width) +
                                         static_cast<std::size_t>(xx)) * static_cast<std::size_t>(srcC)];
    if (srcC == toC) return p[c];
    if (toC == 1) return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];  // rgb -> grey (ITU-R 601)
    return p[0];                                                         // grey -> rgb
  };
  float top = px(y0, x0) * (1 - fx) + px(y0, x1) * fx;
  float bot = px(y1, x0) * (1 - fx) + px(y1, x1) * fx;
  return top * (1 - fy) + bot * fy;
}

}  // namespace

Status preprocess(const Manifest& m, const Image& img, float* out) {
  if (img.width <= 0 || img.height <= 0 || (img.channels != 1 && img.channels != 3) ||
      img.pixels.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) *
                               static_cast<std::size_t>(img.channels))
    return badInput("image: expected non-empty 8-bit grey or RGB pixels");
  const int C = m.channels(), H = m.height(), W = m.width();
  // Resize target (defaults to the input size when the manifest has none).
  const int rH = m.resizeH ? m.resizeH : (m.cropH ? img.height : H);
  const int rW = m.resizeW ? m.resizeW : (m.cropW ? img.width : W);
  if (rH < H || rW < W) return badInput("manifest: resize smaller than the input size");
  const int offY = (rH - H) / 2, offX = (rW - W) / 2;
  const float sy = static_cast<float>(img.height) / static_cast<float>(rH);
  const float sx = static_cast<float>(img.width) / static_cast<float>(rW);
  const bool identity = rH == img.height && rW == img.width;
  for (int c = 0; c < C; ++c) {
    const float mean = static_cast<float>(m.mean[static_cast<std::size_t>(c)]);
    const float invStd = 1.f / static_cast<float>(m.std[static_cast<std::size_t>(c)]);
    const float scale = static_cast<float>(m.scale);
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        int ry = y + offY, rx = x + offX;
        float v;
        if (identity && img.channels == C) {
          v = img.pixels[(static_cast<std::size_t>(ry) * static_cast<std::size_t>(img.width) +
                          static_cast<std::size_t>(rx)) * static_cast<std::size_t>(C) + static_cast<std::size_t>(c)];
        } else {
          // Align pixel centres (half-pixel), as PIL and torchvision do.
          float srcY = (static_cast<float>(ry) + 0.5f) * sy - 0.5f;
          float srcX = (static_cast<float>(rx) + 0.5f) * sx - 0.5f;
          v = sampleBilinear(img, c, srcY, srcX, img.channels, C);
        }
        out[(static_cast<std::size_t>(c) * static_cast<std::size_t>(H) + static_cast<std::size_t>(y)) *
                static_cast<std::size_t>(W) + static_cast<std::size_t>(x)] = (v * scale - mean) * invStd;
      }
    }
  }
  return okStatus();
}

Prediction postprocess(const float* row, std::size_t n, bool outputsAreProbabilities) {
  Prediction p;
  p.logits.assign(row, row + n);
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(row[i])) {
      p.error = "non-finite output";
      return p;
    }
  }
  p.probs.resize(n);
  if (outputsAreProbabilities) {
    std::copy(row, row + n, p.probs.begin());
  } else {
    float mx = *std::max_element(row, row + n);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - mx));
    for (std::size_t i = 0; i < n; ++i)
      p.probs[i] = static_cast<float>(std::exp(static_cast<double>(row[i] - mx)) / sum);
  }
  auto it = std::max_element(p.probs.begin(), p.probs.end());
  p.top1 = static_cast<int>(it - p.probs.begin());
  p.confidence = *it;
  p.ok = true;
  return p;
}

}  // namespace cvgate

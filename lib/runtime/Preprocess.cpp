// The torch-free stages of the pipeline: preprocess and postprocess.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/Resample.h"
#include "runtime/Runtime.h"

namespace cvgate {

namespace {

std::size_t idx(int y, int x, int w, int c) {
  return (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) *
         static_cast<std::size_t>(c);
}

/// Channel c of the source pixel (yy, xx), converted to `toC` channels in float:
/// rgb -> grey is ITU-R 601 luma, grey -> rgb replicates.
float sourceValue(const Image& img, int c, int yy, int xx, int toC) {
  const std::uint8_t* p = &img.pixels[idx(yy, xx, img.width, img.channels)];
  if (img.channels == toC) return p[c];
  if (toC == 1) return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
  return p[0];
}

/// Bilinear sample of channel c at (y, x) in source coordinates.
float sampleBilinear(const Image& img, int c, float y, float x, int toC) {
  y = std::clamp(y, 0.f, static_cast<float>(img.height - 1));
  x = std::clamp(x, 0.f, static_cast<float>(img.width - 1));
  int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
  int y1 = std::min(y0 + 1, img.height - 1), x1 = std::min(x0 + 1, img.width - 1);
  float fy = y - static_cast<float>(y0), fx = x - static_cast<float>(x0);
  auto px = [&](int yy, int xx) { return sourceValue(img, c, yy, xx, toC); };
  float top = px(y0, x0) * (1 - fx) + px(y0, x1) * fx;
  float bot = px(y1, x0) * (1 - fx) + px(y1, x1) * fx;
  return top * (1 - fy) + bot * fy;
}

/// torch's cubic convolution weights (A = -0.75) for the four taps around t.
void cubicWeights(float t, float w[4]) {
  constexpr float A = -0.75f;
  auto near = [&](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
  auto far = [&](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
  w[0] = far(t + 1.f);
  w[1] = near(t);
  w[2] = near(1.f - t);
  w[3] = far(2.f - t);
}

/// Bicubic sample as torch's upsample_bicubic2d (align_corners=False): taps
/// clamped to the image, rows interpolated first, then the column.
float sampleBicubic(const Image& img, int c, float y, float x, int toC) {
  const int y0 = std::min(static_cast<int>(std::floor(y)), img.height - 1);
  const int x0 = std::min(static_cast<int>(std::floor(x)), img.width - 1);
  float wy[4], wx[4];
  cubicWeights(std::clamp(y - static_cast<float>(y0), 0.f, 1.f), wy);
  cubicWeights(std::clamp(x - static_cast<float>(x0), 0.f, 1.f), wx);
  float v = 0;
  for (int i = 0; i < 4; ++i) {
    const int yy = std::clamp(y0 - 1 + i, 0, img.height - 1);
    float row = 0;
    for (int j = 0; j < 4; ++j) row += sourceValue(img, c, yy, std::clamp(x0 - 1 + j, 0, img.width - 1), toC) * wx[j];
    v += row * wy[i];
  }
  return v;
}

/// torch's nearest source index (mode "nearest"): floor(dst * in / out).
int nearestSource(int dst, int in, int out) {
  if (in == out) return dst;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<int>(std::floor(static_cast<float>(dst) * scale)), in - 1);
}

/// Each plane c of the CHW input: its source colour channel sc (the planes
/// reversed for "bgr"), its normalisation (value * scale - mean[c]) * invStd,
/// and where it goes: fn(sc, scale, mean, invStd, plane).
template <class Fn>
void forEachPlane(const Manifest& m, float* out, Fn fn) {
  const int C = m.channels();
  const std::size_t planeSize = static_cast<std::size_t>(m.height()) * static_cast<std::size_t>(m.width());
  const bool bgr = m.channelOrder == "bgr";
  const float scale = static_cast<float>(m.scale);
  for (int c = 0; c < C; ++c) {
    const float mean = static_cast<float>(m.mean[static_cast<std::size_t>(c)]);
    const float invStd = 1.f / static_cast<float>(m.std[static_cast<std::size_t>(c)]);
    fn(bgr ? C - 1 - c : c, scale, mean, invStd, out + static_cast<std::size_t>(c) * planeSize);
  }
}

/// Write the CHW input: plane c is (value * scale - mean[c]) / std[c], where
/// value(sc, y, x) is source colour channel sc at output pixel (y, x).
template <class Value>
void writeNormalised(const Manifest& m, float* out, Value value) {
  const int H = m.height(), W = m.width();
  forEachPlane(m, out, [&](int sc, float scale, float mean, float invStd, float* plane) {
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        plane[static_cast<std::size_t>(y) * static_cast<std::size_t>(W) + static_cast<std::size_t>(x)] =
            (value(sc, y, x) * scale - mean) * invStd;
  });
}

/// The size before the crop: torchvision's Resize (shorter side S: the longer
/// one int(S * long / short)), an exact [H, W], or none (the crop, else the input
/// size).
void resizedSize(const Manifest& m, const Image& img, int& rH, int& rW) {
  if (m.resizeShorter) {
    const bool portrait = img.width <= img.height;
    const int shortSide = portrait ? img.width : img.height, longSide = portrait ? img.height : img.width;
    const int newLong = static_cast<int>(static_cast<double>(std::int64_t{m.resizeShorter} * longSide) /
                                         static_cast<double>(shortSide));
    rH = portrait ? newLong : m.resizeShorter;
    rW = portrait ? m.resizeShorter : newLong;
    return;
  }
  rH = m.resizeH ? m.resizeH : (m.cropH ? img.height : m.height());
  rW = m.resizeW ? m.resizeW : (m.cropW ? img.width : m.width());
}

/// The first resized row (column) of torchvision's CenterCrop of `crop` from
/// `size`: int(round((size - crop) / 2.0)), Python rounding half to even; a crop
/// larger than the image pads (crop - size) // 2 before, i.e. starts before 0.
int centreCropStart(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  const int d = size - crop;
  int half = d / 2;
  if (d % 2 == 1 && half % 2 == 1) ++half;  // x.5 rounds to the even neighbour
  return half;
}

/// The input is the image's own pixels (no resize; a centre crop at most), in
/// its own channels: each output row is one strided run of a source row, so
/// the per-pixel work is a load, a convert and the normalisation (the same
/// arithmetic as writeNormalised, in the same order: the same floats).
void copyNormalised(const Manifest& m, const Image& img, int offY, int offX, float* out) {
  const int C = m.channels(), H = m.height(), W = m.width();
  forEachPlane(m, out, [&](int sc, float scale, float mean, float invStd, float* plane) {
    for (int y = 0; y < H; ++y) {
      const std::uint8_t* src = &img.pixels[idx(y + offY, offX, img.width, C)] + sc;
      float* dst = plane + static_cast<std::size_t>(y) * static_cast<std::size_t>(W);
      if (C == 1) {
        for (int x = 0; x < W; ++x) dst[x] = (static_cast<float>(src[x]) * scale - mean) * invStd;
      } else {
        for (int x = 0; x < W; ++x)
          dst[x] = (static_cast<float>(src[static_cast<std::size_t>(x) * static_cast<std::size_t>(C)]) * scale - mean) *
                   invStd;
      }
    }
  });
}

/// antialias false: cvgate's original resize, point sampling on float pixels at
/// pixel centres (torch's interpolate, align_corners=False, antialias=False),
/// the crop offset floor((size - crop) / 2).
Status pointSampled(const Manifest& m, const Image& img, float* out) {
  const int C = m.channels(), H = m.height(), W = m.width();
  int rH = 0, rW = 0;
  resizedSize(m, img, rH, rW);
  if (rH < H || rW < W) return badInput("manifest: resize smaller than the input size");
  const int offY = (rH - H) / 2, offX = (rW - W) / 2;
  const float sy = static_cast<float>(img.height) / static_cast<float>(rH);
  const float sx = static_cast<float>(img.width) / static_cast<float>(rW);
  const bool identity = rH == img.height && rW == img.width;
  if (identity && img.channels == C) {
    copyNormalised(m, img, offY, offX, out);
    return okStatus();
  }
  const bool nearest = m.interpolation == "nearest", bicubic = m.interpolation == "bicubic";
  writeNormalised(m, out, [&](int sc, int y, int x) -> float {
    const int ry = y + offY, rx = x + offX;
    if (identity && img.channels == C) return img.pixels[idx(ry, rx, img.width, C) + static_cast<std::size_t>(sc)];
    if (nearest) return sourceValue(img, sc, nearestSource(ry, img.height, rH), nearestSource(rx, img.width, rW), C);
    // Align pixel centres (half-pixel), as PIL and torchvision do.
    const float srcY = (static_cast<float>(ry) + 0.5f) * sy - 0.5f;
    const float srcX = (static_cast<float>(rx) + 0.5f) * sx - 0.5f;
    return bicubic ? sampleBicubic(img, sc, srcY, srcX, C) : sampleBilinear(img, sc, srcY, srcX, C);
  });
  return okStatus();
}

/// antialias true: torchvision's transforms on a PIL image, byte for byte:
/// convert to the model's colour (PIL's convert), Resize (PIL's Image.resize),
/// CenterCrop (zero padding where the crop is larger), ToTensor, Normalize.
/// Only the pixels the crop keeps are resampled.
Status pilExact(const Manifest& m, const Image& img, float* out) {
  const int C = m.channels(), H = m.height(), W = m.width();
  // A grey model converts first, as convert("L") does; an RGB model resamples a
  // grey image as one plane and replicates it (the planes would be equal).
  const Image* src = &img;
  Image grey;
  if (C == 1 && img.channels == 3) {
    grey = pilLuma(img);
    src = &grey;
  }
  int rH = 0, rW = 0;
  resizedSize(m, *src, rH, rW);
  const int top = centreCropStart(rH, H), left = centreCropStart(rW, W);
  PixelWindow win;
  win.y = std::max(top, 0);
  win.x = std::max(left, 0);
  win.h = std::min(rH, top + H) - win.y;
  win.w = std::min(rW, left + W) - win.x;
  const PilFilter filter = m.interpolation == "nearest"   ? PilFilter::Nearest
                           : m.interpolation == "bicubic" ? PilFilter::Bicubic
                                                          : PilFilter::Bilinear;
  const Image kept = pilResize(*src, rH, rW, filter, win);
  writeNormalised(m, out, [&](int sc, int y, int x) -> float {
    const int ky = y + top - win.y, kx = x + left - win.x;
    if (ky < 0 || ky >= kept.height || kx < 0 || kx >= kept.width) return 0.f;  // padding
    return kept.pixels[idx(ky, kx, kept.width, kept.channels) + static_cast<std::size_t>(kept.channels == 1 ? 0 : sc)];
  });
  return okStatus();
}

}  // namespace

Status preprocess(const Manifest& m, const Image& img, float* out) {
  if (img.width <= 0 || img.height <= 0 || (img.channels != 1 && img.channels != 3) ||
      img.pixels.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) *
                               static_cast<std::size_t>(img.channels))
    return badInput("image: expected non-empty 8-bit grey or RGB pixels");
  return m.antialias ? pilExact(m, img, out) : pointSampled(m, img, out);
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
    // Each exponential once, in double (as before: the same floats).
    float mx = *std::max_element(row, row + n);
    thread_local std::vector<double> e;
    e.resize(n);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += e[i] = std::exp(static_cast<double>(row[i] - mx));
    for (std::size_t i = 0; i < n; ++i) p.probs[i] = static_cast<float>(e[i] / sum);
  }
  auto it = std::max_element(p.probs.begin(), p.probs.end());
  p.top1 = static_cast<int>(it - p.probs.begin());
  p.confidence = *it;
  p.ok = true;
  return p;
}

}  // namespace cvgate

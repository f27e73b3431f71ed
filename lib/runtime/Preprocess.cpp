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

/// Channel c of the source pixel at p (of `fromC` channels), converted to `toC`
/// channels in float: rgb -> grey is ITU-R 601 luma, grey -> rgb replicates.
float sourceValue(const std::uint8_t* p, int fromC, int c, int toC) {
  if (fromC == toC) return p[c];
  if (toC == 1) return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
  return p[0];
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

/// How one output axis (rows or columns) samples the source axis in torch's
/// interpolate (align_corners=False, antialias=False): for each output
/// coordinate o (counted after the crop offset), the source indices of its
/// taps, clamped to the source, and their weights, as torch computes them per
/// pixel. Nearest: one tap, no weight; bilinear: two, (1 - t, t); bicubic:
/// four, cubicWeights.
struct AxisTaps {
  int taps = 1;
  std::vector<int> index;     ///< [o * taps + k]
  std::vector<float> weight;  ///< [o * taps + k]
};

AxisTaps axisTaps(const std::string& interpolation, int n, int offset, int in, int resized) {
  AxisTaps a;
  const auto count = static_cast<std::size_t>(n);
  if (interpolation == "nearest") {
    a.index.resize(count);
    for (int o = 0; o < n; ++o) a.index[static_cast<std::size_t>(o)] = nearestSource(o + offset, in, resized);
    return a;
  }
  const bool bicubic = interpolation == "bicubic";
  a.taps = bicubic ? 4 : 2;
  a.index.resize(count * static_cast<std::size_t>(a.taps));
  a.weight.resize(a.index.size());
  const float scale = static_cast<float>(in) / static_cast<float>(resized);
  for (int o = 0; o < n; ++o) {
    int* srcIdx = &a.index[static_cast<std::size_t>(o * a.taps)];
    float* w = &a.weight[static_cast<std::size_t>(o * a.taps)];
    // Align pixel centres (half-pixel), as PIL and torchvision do.
    const float src = (static_cast<float>(o + offset) + 0.5f) * scale - 0.5f;
    if (bicubic) {
      const int i0 = std::min(static_cast<int>(std::floor(src)), in - 1);
      cubicWeights(std::clamp(src - static_cast<float>(i0), 0.f, 1.f), w);
      for (int k = 0; k < 4; ++k) srcIdx[k] = std::clamp(i0 - 1 + k, 0, in - 1);
    } else {
      const float c = std::clamp(src, 0.f, static_cast<float>(in - 1));
      srcIdx[0] = static_cast<int>(c);
      srcIdx[1] = std::min(srcIdx[0] + 1, in - 1);
      const float t = c - static_cast<float>(srcIdx[0]);
      w[0] = 1 - t;
      w[1] = t;
    }
  }
  return a;
}

/// The horizontal pass of a separable resample: source row `row`, colour
/// channel sc (converted as sourceValue), sampled at every output column.
/// Bilinear sums its taps as p0 * w0 + p1 * w1, bicubic from 0 in tap order:
/// the per-pixel order of torch's kernels, so the same floats.
void resampleRow(const Image& img, int sc, int toC, int row, const AxisTaps& cols, float* dst) {
  const int W = static_cast<int>(cols.index.size()) / cols.taps;
  const std::uint8_t* src = &img.pixels[idx(row, 0, img.width, img.channels)];
  auto px = [&](int x) {
    return sourceValue(src + static_cast<std::size_t>(x) * static_cast<std::size_t>(img.channels), img.channels, sc,
                       toC);
  };
  const int* ix = cols.index.data();
  const float* wx = cols.weight.data();
  if (cols.taps == 1) {
    for (int x = 0; x < W; ++x) dst[x] = px(ix[x]);
  } else if (cols.taps == 2) {
    for (int x = 0; x < W; ++x) dst[x] = px(ix[2 * x]) * wx[2 * x] + px(ix[2 * x + 1]) * wx[2 * x + 1];
  } else {
    for (int x = 0; x < W; ++x) {
      float v = 0;
      for (int k = 0; k < 4; ++k) v += px(ix[4 * x + k]) * wx[4 * x + k];
      dst[x] = v;
    }
  }
}

/// antialias false: cvgate's original resize, point sampling on float pixels at
/// pixel centres (torch's interpolate, align_corners=False, antialias=False),
/// the crop offset floor((size - crop) / 2). Separable: each source row the
/// output needs is resampled across once (per distinct source plane: a grey
/// image feeds all three planes of an RGB model from one), then the output
/// rows combine those rows, torch's per-pixel sums in its order (rows first,
/// then the column), so the same floats as sampling pixel by pixel.
Status pointSampled(const Manifest& m, const Image& img, float* out) {
  const int C = m.channels(), H = m.height(), W = m.width();
  int rH = 0, rW = 0;
  resizedSize(m, img, rH, rW);
  if (rH < H || rW < W) return badInput("manifest: resize smaller than the input size");
  const int offY = (rH - H) / 2, offX = (rW - W) / 2;
  if (rH == img.height && rW == img.width && img.channels == C) {
    copyNormalised(m, img, offY, offX, out);
    return okStatus();
  }
  const AxisTaps rows = axisTaps(m.interpolation, H, offY, img.height, rH);
  const AxisTaps cols = axisTaps(m.interpolation, W, offX, img.width, rW);
  // The source rows the output reads, each resampled once into its slot.
  std::vector<int> slotOf(static_cast<std::size_t>(img.height), -1);
  int slots = 0;
  for (int r : rows.index)
    if (slotOf[static_cast<std::size_t>(r)] < 0) slotOf[static_cast<std::size_t>(r)] = slots++;
  thread_local std::vector<float> across;
  across.resize(static_cast<std::size_t>(slots) * static_cast<std::size_t>(W));
  int filledFor = -1;  // the source plane `across` holds
  const std::size_t w = static_cast<std::size_t>(W);
  forEachPlane(m, out, [&](int sc, float scale, float mean, float invStd, float* plane) {
    const int key = img.channels == C ? sc : 0;  // a grey image: one source plane for all three
    if (key != filledFor) {
      for (int r = 0; r < img.height; ++r)
        if (slotOf[static_cast<std::size_t>(r)] >= 0)
          resampleRow(img, sc, C, r, cols, &across[static_cast<std::size_t>(slotOf[static_cast<std::size_t>(r)]) * w]);
      filledFor = key;
    }
    auto at = [&](int y, int k) {
      return &across[static_cast<std::size_t>(slotOf[static_cast<std::size_t>(
                         rows.index[static_cast<std::size_t>(y * rows.taps + k)])]) *
                     w];
    };
    for (int y = 0; y < H; ++y) {
      float* dst = plane + static_cast<std::size_t>(y) * w;
      const float* wy = rows.taps == 1 ? nullptr : &rows.weight[static_cast<std::size_t>(y * rows.taps)];
      if (rows.taps == 1) {
        const float* a = at(y, 0);
        for (std::size_t x = 0; x < w; ++x) dst[x] = (a[x] * scale - mean) * invStd;
      } else if (rows.taps == 2) {
        const float *a = at(y, 0), *b = at(y, 1);
        const float w0 = wy[0], w1 = wy[1];
        for (std::size_t x = 0; x < w; ++x) dst[x] = ((a[x] * w0 + b[x] * w1) * scale - mean) * invStd;
      } else {
        const float *a = at(y, 0), *b = at(y, 1), *c = at(y, 2), *d = at(y, 3);
        for (std::size_t x = 0; x < w; ++x) {
          float v = 0;
          v += a[x] * wy[0];
          v += b[x] * wy[1];
          v += c[x] * wy[2];
          v += d[x] * wy[3];
          dst[x] = (v * scale - mean) * invStd;
        }
      }
    }
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

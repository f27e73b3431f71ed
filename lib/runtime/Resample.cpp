// Pillow's resampling, reproduced operation for operation (see Resample.h).
// Every rounding below is Pillow's: the coefficient arithmetic in double, the
// fixed-point coefficients with 22 fractional bits, the +0.5 bias before each
// 8-bit store, and the accumulated (not multiplied) coordinates of the
// nearest-neighbour scaler.
#include "runtime/Resample.h"

#include <algorithm>
#include <cmath>

namespace cvgate {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Resample.c: PRECISION_BITS

double bilinearFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/// One pass's coefficients: for output index i, `count[i]` taps from input
/// index `first[i]`, fixed-point weights at k[i * ksize ...].
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<std::int32_t> k;
};

/// Resample.c precompute_coeffs + normalize_coeffs_8bpc, for the whole input
/// (box 0..inSize).
Taps precomputeTaps(int inSize, int outSize, PilFilter f) {
  double (*filter)(double) = f == PilFilter::Bicubic ? bicubicFilter : bilinearFilter;
  const double filterSupport = f == PilFilter::Bicubic ? 2.0 : 1.0;
  const float in0 = 0.f, in1 = static_cast<float>(inSize);
  const double scale = static_cast<double>(in1 - in0) / outSize;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filterSupport * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<std::size_t>(outSize));
  t.count.resize(static_cast<std::size_t>(outSize));
  t.k.assign(static_cast<std::size_t>(outSize) * static_cast<std::size_t>(t.ksize), 0);
  std::vector<double> w(static_cast<std::size_t>(t.ksize));
  for (int xx = 0; xx < outSize; ++xx) {
    const double center = static_cast<double>(in0) + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[static_cast<std::size_t>(x)] = filter((x + xmin - center + 0.5) * ss);
      ww += w[static_cast<std::size_t>(x)];
    }
    std::int32_t* k = &t.k[static_cast<std::size_t>(xx) * static_cast<std::size_t>(t.ksize)];
    for (int x = 0; x < xmax; ++x) {
      double v = w[static_cast<std::size_t>(x)];
      if (ww != 0.0) v /= ww;
      k[x] = v < 0 ? static_cast<std::int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<std::int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    t.first[static_cast<std::size_t>(xx)] = xmin;
    t.count[static_cast<std::size_t>(xx)] = xmax;
  }
  return t;
}

/// Resample.c clip8: the accumulator (with its +0.5 bias) to a byte.
std::uint8_t clip8(std::int32_t ss) {
  const std::int32_t v = ss >> kPrecisionBits;  // arithmetic shift, as Pillow's C
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

/// Geometry.c ImagingScaleAffine's source index per output index: the
/// coordinate starts at half a step and is accumulated, as Pillow does.
std::vector<int> nearestIndex(int inSize, int outSize) {
  const double step = static_cast<double>(static_cast<float>(inSize) - 0.f) / outSize;
  std::vector<int> idx(static_cast<std::size_t>(outSize));
  double o = 0.0 + step * 0.5;
  for (int i = 0; i < outSize; ++i) {
    idx[static_cast<std::size_t>(i)] = std::min(o < 0.0 ? 0 : static_cast<int>(o), inSize - 1);
    o += step;
  }
  return idx;
}

std::size_t at(int y, int x, int w, int c) {
  return (static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x)) *
         static_cast<std::size_t>(c);
}

Image blank(int h, int w, int c) {
  Image out;
  out.height = h;
  out.width = w;
  out.channels = c;
  out.pixels.resize(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c));
  return out;
}

Image nearestResize(const Image& in, int outH, int outW, const PixelWindow& win) {
  const std::vector<int> ys = nearestIndex(in.height, outH), xs = nearestIndex(in.width, outW);
  const int C = in.channels;
  Image out = blank(win.h, win.w, C);
  for (int y = 0; y < win.h; ++y)
    for (int x = 0; x < win.w; ++x)
      std::copy_n(&in.pixels[at(ys[static_cast<std::size_t>(win.y + y)], xs[static_cast<std::size_t>(win.x + x)],
                                in.width, C)],
                  C, &out.pixels[at(y, x, win.w, C)]);
  return out;
}

}  // namespace

Image pilResize(const Image& in, int outH, int outW, PilFilter filter, const PixelWindow& win) {
  if (filter == PilFilter::Nearest) return nearestResize(in, outH, outW, win);
  const int C = in.channels;
  const bool needH = outW != in.width, needV = outH != in.height;
  const Taps th = needH ? precomputeTaps(in.width, outW, filter) : Taps{};
  const Taps tv = needV ? precomputeTaps(in.height, outH, filter) : Taps{};
  // Source rows the window's vertical taps read (all of them: no vertical pass
  // reads exactly the window's rows).
  const int rowFirst = needV ? tv.first[static_cast<std::size_t>(win.y)] : win.y;
  const int rowLast = needV ? tv.first[static_cast<std::size_t>(win.y + win.h - 1)] +
                                  tv.count[static_cast<std::size_t>(win.y + win.h - 1)]
                            : win.y + win.h;
  // Horizontal pass over those rows, for the window's columns, rounded to bytes.
  Image mid = blank(rowLast - rowFirst, win.w, C);
  for (int y = rowFirst; y < rowLast; ++y) {
    for (int x = 0; x < win.w; ++x) {
      std::uint8_t* dst = &mid.pixels[at(y - rowFirst, x, win.w, C)];
      if (!needH) {
        std::copy_n(&in.pixels[at(y, win.x + x, in.width, C)], C, dst);
        continue;
      }
      const std::size_t xx = static_cast<std::size_t>(win.x + x);
      const int xmin = th.first[xx], n = th.count[xx];
      const std::int32_t* k = &th.k[xx * static_cast<std::size_t>(th.ksize)];
      const std::uint8_t* src = &in.pixels[at(y, xmin, in.width, C)];
      for (int c = 0; c < C; ++c) {
        std::int32_t ss = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < n; ++i) ss += src[i * C + c] * k[i];
        dst[c] = clip8(ss);
      }
    }
  }
  if (!needV) return mid;
  // Vertical pass.
  Image out = blank(win.h, win.w, C);
  for (int y = 0; y < win.h; ++y) {
    const std::size_t yy = static_cast<std::size_t>(win.y + y);
    const int ymin = tv.first[yy] - rowFirst, n = tv.count[yy];
    const std::int32_t* k = &tv.k[yy * static_cast<std::size_t>(tv.ksize)];
    for (int x = 0; x < win.w; ++x) {
      for (int c = 0; c < C; ++c) {
        std::int32_t ss = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < n; ++i) ss += mid.pixels[at(ymin + i, x, win.w, C) + static_cast<std::size_t>(c)] * k[i];
        out.pixels[at(y, x, win.w, C) + static_cast<std::size_t>(c)] = clip8(ss);
      }
    }
  }
  return out;
}

Image pilLuma(const Image& rgb) {
  Image out = blank(rgb.height, rgb.width, 1);
  for (std::size_t i = 0; i < out.pixels.size(); ++i) {
    const std::uint8_t* p = &rgb.pixels[i * 3];
    out.pixels[i] = static_cast<std::uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  }
  return out;
}

}  // namespace cvgate

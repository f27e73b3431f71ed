// Resizing 8-bit images exactly as Pillow 9.4 does (Image.resize), which is
// what torchvision's Resize does to a PIL image: a separable convolution whose
// support widens with the downscale factor (antialiasing), in fixed point, in
// two passes (horizontal, then vertical) with the intermediate rounded to 8
// bits; or, for "nearest", PIL's affine nearest-neighbour scaling. Ported from
// Pillow's src/libImaging/Resample.c and Geometry.c (ImagingScaleAffine), and
// from Convert.c for the RGB -> L luma. No torch here.
#pragma once

#include <cstdint>
#include <vector>

#include "data/Dataset.h"

namespace cvgate {

enum class PilFilter { Nearest, Bilinear, Bicubic };

/// A rectangle of an image, in pixels: rows [y, y+h), columns [x, x+w).
struct PixelWindow {
  int y = 0, x = 0, h = 0, w = 0;
};

/// Pillow's Image.resize((outW, outH), filter) of `in` (1 or 3 channels),
/// evaluated only on `win` (inside the outH x outW result): the returned image is
/// win.h x win.w and equals that window of the full resize byte for byte.
Image pilResize(const Image& in, int outH, int outW, PilFilter filter, const PixelWindow& win);

/// Pillow's convert("L") of an RGB image: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16,
/// its fixed-point form of ITU-R 601-2 luma (299/587/114 per mille).
Image pilLuma(const Image& rgb);

}  // namespace cvgate

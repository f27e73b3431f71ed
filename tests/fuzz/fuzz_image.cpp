// Fuzz target: the PNG/JPEG decoder (decodeImage). An image that decodes has
// the pixels its size says and re-encodes as a PNG that decodes to the same
// pixels; anything else is a BadInput error.
//
// The pixel budget is lowered to 4 Mpx (the shipped default is 64 Mpx): a
// header claiming 64 Mpx costs a 192 MB buffer per input, which would make
// the fuzzer slow without reaching other code. The budget check itself is
// the same code at any value.
#include <cstdint>

#include "FuzzUtil.h"
#include "common/Limits.h"
#include "data/Dataset.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  cvgate::Limits l = cvgate::limits();
  l.maxImagePixels = 4u << 20;
  cvgate::setLimits(l);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto img = cvgate::decodeImage(cvgate::fuzz::asString(data, size), "'fuzz-image'");
  if (!img) {
    FUZZ_CHECK(img.error().kind() == cvgate::ErrorKind::BadInput, "an undecodable image is bad input");
    return 0;
  }
  FUZZ_CHECK(img->width > 0 && img->height > 0, "a decoded image has a size");
  FUZZ_CHECK(img->channels == 1 || img->channels == 3, "grey or RGB");
  FUZZ_CHECK(static_cast<std::uint64_t>(img->width) * static_cast<std::uint64_t>(img->height) <=
                 cvgate::limits().maxImagePixels,
             "the pixel budget holds");
  FUZZ_CHECK(img->pixels.size() == static_cast<std::size_t>(img->width) * static_cast<std::size_t>(img->height) *
                                       static_cast<std::size_t>(img->channels),
             "width*height*channels bytes");
  auto png = cvgate::encodePng(*img);
  FUZZ_CHECK(png.ok(), "a decoded image encodes");
  auto back = cvgate::decodeImage(*png, "'re-encoded'");
  FUZZ_CHECK(back.ok(), "a re-encoded image decodes");
  FUZZ_CHECK(back->pixels == img->pixels && back->channels == img->channels, "PNG round trip is lossless");
  return 0;
}

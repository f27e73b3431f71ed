// PNG/JPEG codecs: round trips, Pillow's conversions (alpha dropped, 16-bit
// colour cut to the high byte, 16-bit grey clipped, palette and tRNS expanded),
// EXIF orientation, the pixel budget checked on the header, and errors for
// corrupt, truncated or unknown data.
#include <gtest/gtest.h>
#include <png.h>

#include <zlib.h>

#include <cstdlib>
#include <cstring>

#include "TestUtil.h"
#include "common/Limits.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testutil;

namespace {

/// PNG bytes from libpng's simplified writer, for formats encodePng does not write.
std::string simplePng(int width, int height, png_uint_32 format, const void* pixels,
                      const void* colormap = nullptr, int colormapEntries = 0) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = format;
  image.colormap_entries = static_cast<png_uint_32>(colormapEntries);
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_get_memory_size(image, size, 0, pixels, 0, colormap))
      << image.message;
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels, 0, colormap))
      << image.message;
  out.resize(size);
  return out;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string le16(std::uint32_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string le32(std::uint32_t v) { return le16(v & 0xffff) + le16(v >> 16); }

/// A PNG chunk: length, type, data, CRC.
std::string pngChunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  return be32(static_cast<std::uint32_t>(data.size())) + body +
         be32(static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                               static_cast<uInt>(body.size()))));
}

/// A little-endian EXIF TIFF structure whose IFD0 holds Orientation = k.
std::string exifTiff(int k) {
  return std::string("II*\0", 4) + le32(8) + le16(1) + le16(0x0112) + le16(3) + le32(1) +
         le16(static_cast<std::uint32_t>(k)) + le16(0) + le32(0);
}

/// `png` with an eXIf chunk (orientation k) inserted before its first IDAT.
std::string withExifChunk(const std::string& png, int k) {
  const std::size_t idat = png.find("IDAT") - 4;
  return png.substr(0, idat) + pngChunk("eXIf", exifTiff(k)) + png.substr(idat);
}

/// `jpg` with an APP1 "Exif" segment (orientation k) right after SOI.
std::string withExifSegment(const std::string& jpg, int k) {
  const std::string payload = std::string("Exif\0\0", 6) + exifTiff(k);
  const std::uint32_t len = static_cast<std::uint32_t>(payload.size() + 2);
  return jpg.substr(0, 2) + "\xff\xe1" + std::string{static_cast<char>(len >> 8), static_cast<char>(len)} +
         payload + jpg.substr(2);
}

/// A PNG whose header says width x height (8-bit RGB) and whose data is a stub:
/// decoding must stop at the header.
std::string pngHeaderOnly(std::uint32_t width, std::uint32_t height) {
  const std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", ihdr) + pngChunk("IDAT", "x") +
         pngChunk("IEND", "");
}

/// Limits with another pixel budget for the scope of a test.
struct PixelBudget {
  explicit PixelBudget(std::uint64_t pixels) : saved(limits()) {
    Limits l = saved;
    l.maxImagePixels = pixels;
    setLimits(l);
  }
  ~PixelBudget() { setLimits(saved); }
  Limits saved;
};

}  // namespace

TEST(Codec, PngRoundTripGreyAndRgb) {
  for (int channels : {1, 3}) {
    Image img = pattern(7, 5, channels, channels);
    auto bytes = encodePng(img);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message();
    EXPECT_EQ(bytes->substr(1, 3), "PNG");
    auto back = decodeImage(*bytes, "x.png");
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back->width, 7);
    EXPECT_EQ(back->height, 5);
    EXPECT_EQ(back->channels, channels);
    EXPECT_EQ(back->pixels, img.pixels);
  }
}

TEST(Codec, PngEncodingIsDeterministic) {
  Image img = pattern(9, 9, 3, 1);
  auto a = encodePng(img);
  auto b = encodePng(img);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(Codec, EncodePngRejectsBadImages) {
  Image twoChannels = pattern(2, 2, 2, 0);
  auto a = encodePng(twoChannels);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message(), "cannot encode PNG: expected 1 or 3 channels, got 2");
  Image wrongSize = pattern(2, 2, 3, 0);
  wrongSize.pixels.pop_back();
  auto b = encodePng(wrongSize);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(), "cannot encode PNG: expected 12 pixel bytes, got 11");
  Image empty;
  empty.channels = 1;
  EXPECT_FALSE(encodePng(empty).ok());
}

TEST(Codec, PngAlphaIsDroppedNotComposited) {
  const unsigned char rgba[] = {10, 20, 30, 0, 40, 50, 60, 128};
  auto img = decodeImage(simplePng(2, 1, PNG_FORMAT_RGBA, rgba), "rgba.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 3);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{10, 20, 30, 40, 50, 60}));
  const unsigned char ga[] = {77, 0, 99, 255};
  auto grey = decodeImage(simplePng(2, 1, PNG_FORMAT_GA, ga), "ga.png");
  ASSERT_TRUE(grey.ok()) << grey.error().message();
  EXPECT_EQ(grey->channels, 1);
  EXPECT_EQ(grey->pixels, (std::vector<std::uint8_t>{77, 99}));
}

TEST(Codec, Png16BitGreyIsClippedAsPillowDoes) {
  // Pillow opens 16-bit grey as 32-bit "I"; convert("L"/"RGB") clips to 255.
  const png_uint_16 px[] = {0x00cd, 0x0012, 0x0100, 0xabcd};
  auto img = decodeImage(simplePng(4, 1, PNG_FORMAT_LINEAR_Y, px), "16.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 1);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{0xcd, 0x12, 0xff, 0xff}));
}

TEST(Codec, Png16BitColourKeepsTheHighByte) {
  const png_uint_16 px[] = {0xabcd, 0x1234, 0x00ff, 0xff00, 0x0101, 0x8080};
  auto img = decodeImage(simplePng(2, 1, PNG_FORMAT_LINEAR_RGB, px), "rgb16.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 3);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{0xab, 0x12, 0x00, 0xff, 0x01, 0x80}));
}

TEST(Codec, PngPaletteWithTransparencyDropsIt) {
  const unsigned char colormap[] = {255, 0, 0, 0, 0, 0, 255, 128};  // RGBA entries: a tRNS chunk
  const unsigned char index[] = {1, 0, 1};
  auto img = decodeImage(simplePng(3, 1, PNG_FORMAT_RGBA_COLORMAP, index, colormap, 2), "trns.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 3);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{0, 0, 255, 255, 0, 0, 0, 0, 255}));
}

TEST(Codec, PngExifOrientationIsApplied) {
  // 3 wide, 2 high: a b c / d e f.
  Image img = pattern(3, 2, 1, 0);
  for (std::size_t i = 0; i < 6; ++i) img.pixels[i] = static_cast<std::uint8_t>(10 * (i + 1));
  auto png = encodePng(img);
  ASSERT_TRUE(png.ok());
  // Orientation 6 is shown rotated 90 degrees clockwise: d a / e b / f c.
  auto six = decodeImage(withExifChunk(*png, 6), "six.png");
  ASSERT_TRUE(six.ok()) << six.error().message();
  EXPECT_EQ(six->width, 2);
  EXPECT_EQ(six->height, 3);
  EXPECT_EQ(six->pixels, (std::vector<std::uint8_t>{40, 10, 50, 20, 60, 30}));
  // 8, anticlockwise: c f / b e / a d.
  auto eight = decodeImage(withExifChunk(*png, 8), "eight.png");
  ASSERT_TRUE(eight.ok()) << eight.error().message();
  EXPECT_EQ(eight->pixels, (std::vector<std::uint8_t>{30, 60, 20, 50, 10, 40}));
  // 2, mirrored: c b a / f e d; 1 and out-of-range values change nothing.
  auto two = decodeImage(withExifChunk(*png, 2), "two.png");
  ASSERT_TRUE(two.ok()) << two.error().message();
  EXPECT_EQ(two->pixels, (std::vector<std::uint8_t>{30, 20, 10, 60, 50, 40}));
  for (int k : {1, 0, 9}) {
    auto same = decodeImage(withExifChunk(*png, k), "same.png");
    ASSERT_TRUE(same.ok()) << same.error().message();
    EXPECT_EQ(same->pixels, img.pixels) << k;
  }
}

TEST(Codec, JpegExifOrientationIsApplied) {
  Image wide = solid(32, 16, {0});
  for (int y = 0; y < 16; ++y)
    for (int x = 16; x < 32; ++x) wide.pixels[static_cast<std::size_t>(y * 32 + x)] = 255;  // right half white
  const std::string jpg = encodeJpeg(wide, 95);
  auto plain = decodeImage(jpg, "plain.jpg");
  auto turned = decodeImage(withExifSegment(jpg, 6), "turned.jpg");
  ASSERT_TRUE(plain.ok() && turned.ok());
  EXPECT_EQ(plain->width, 32);
  EXPECT_EQ(turned->width, 16);
  EXPECT_EQ(turned->height, 32);
  // Rotated clockwise, the white half is at the bottom.
  EXPECT_LT(turned->pixels[2 * 16 + 8], 20);
  EXPECT_GT(turned->pixels[29 * 16 + 8], 235);
}

TEST(Codec, PixelBudgetIsCheckedOnTheHeader) {
  // 16384 x 16384 = 268M pixels over the default 64M: refused from the header,
  // before the (stub) pixel data is read.
  auto huge = decodeImage(pngHeaderOnly(16384, 16384), "huge.png");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().message(),
            "'huge.png': image of 16384x16384 pixels is larger than the limit of 67108864 pixels "
            "([limits] max_image_megapixels)");
  // A JPEG whose frame header says 16384 x 16384.
  std::string jpg = encodeJpeg(solid(16, 16, {9}), 90);
  const std::size_t sof = jpg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpg.replace(sof + 5, 4, std::string("\x40\x00\x40\x00", 4));
  auto bigJpeg = decodeImage(jpg, "huge.jpg");
  ASSERT_FALSE(bigJpeg.ok());
  EXPECT_EQ(bigJpeg.error().message().rfind("'huge.jpg': image of 16384x16384 pixels is larger", 0), 0u)
      << bigJpeg.error().message();
  // The budget is the configured one.
  PixelBudget budget(200);
  EXPECT_TRUE(decodeImage(*encodePng(pattern(20, 10, 3, 1)), "fits.png").ok());
  auto over = decodeImage(*encodePng(pattern(21, 10, 3, 1)), "over.png");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message().find("21x10 pixels is larger than the limit of 200"), std::string::npos);
  EXPECT_FALSE(decodeImage(encodeJpeg(solid(15, 15, {1}), 90), "over.jpg").ok());
}

TEST(Codec, PngPaletteBecomesRgb) {
  const unsigned char colormap[] = {255, 0, 0, 0, 0, 255};
  const unsigned char index[] = {1, 0, 1};
  auto img = decodeImage(simplePng(3, 1, PNG_FORMAT_RGB_COLORMAP, index, colormap, 2), "p.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 3);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{0, 0, 255, 255, 0, 0, 0, 0, 255}));
}

TEST(Codec, JpegDecodesGreyAndColour) {
  auto grey = decodeImage(encodeJpeg(solid(8, 8, {128}), 90), "g.jpg");
  ASSERT_TRUE(grey.ok()) << grey.error().message();
  EXPECT_EQ(grey->channels, 1);
  EXPECT_EQ(grey->pixels.size(), 64u);
  for (auto p : grey->pixels) EXPECT_NEAR(p, 128, 2);

  Image gradient = solid(32, 16, {0, 0, 0});
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 32; ++x) {
      auto* p = &gradient.pixels[static_cast<std::size_t>((y * 32 + x) * 3)];
      p[0] = static_cast<std::uint8_t>(x * 8);
      p[1] = static_cast<std::uint8_t>(y * 16);
      p[2] = 128;
    }
  auto colour = decodeImage(encodeJpeg(gradient, 100), "c.jpg");
  ASSERT_TRUE(colour.ok()) << colour.error().message();
  EXPECT_EQ(colour->channels, 3);
  EXPECT_EQ(colour->width, 32);
  EXPECT_EQ(colour->height, 16);
  ASSERT_EQ(colour->pixels.size(), gradient.pixels.size());
  double err = 0;
  for (std::size_t i = 0; i < gradient.pixels.size(); ++i)
    err += std::abs(int(colour->pixels[i]) - int(gradient.pixels[i]));
  EXPECT_LT(err / static_cast<double>(gradient.pixels.size()), 4.0);
}

TEST(Codec, TruncatedJpegIsAnError) {
  std::string jpg = encodeJpeg(pattern(32, 32, 3, 7), 90);
  auto cut = decodeImage(jpg.substr(0, jpg.size() / 2), "'cut'.jpg");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().message(), "''cut'.jpg': corrupt JPEG: premature end of JPEG file");
  auto head = decodeImage(jpg.substr(0, 40), "head.jpg");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.error().message().rfind("'head.jpg': corrupt JPEG: ", 0), 0u)
      << head.error().message();
}

TEST(Codec, GarbageAfterJpegSignatureIsAnError) {
  std::string junk = "\xff\xd8\xff";
  junk += std::string(100, '\x42');
  auto img = decodeImage(junk, "junk.jpg");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().message().rfind("'junk.jpg': corrupt JPEG: ", 0), 0u)
      << img.error().message();
}

TEST(Codec, PngCutInsideTheHeader) {
  auto bytes = encodePng(pattern(4, 4, 1, 0));
  ASSERT_TRUE(bytes.ok());
  auto img = decodeImage(bytes->substr(0, 20), "h.png");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().message(), "'h.png': corrupt PNG: unexpected end of data (truncated file)");
}

TEST(Codec, PngMissingIendIsTruncated) {
  auto bytes = encodePng(pattern(4, 4, 1, 0));
  ASSERT_TRUE(bytes.ok());
  auto img = decodeImage(bytes->substr(0, bytes->size() - 12), "noend.png");
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message().find("corrupt PNG"), std::string::npos);
}

TEST(Codec, UnknownAndEmptyInput) {
  auto gif = decodeImage("GIF89a", "a.gif");
  ASSERT_FALSE(gif.ok());
  EXPECT_EQ(gif.error().message(), "'a.gif': unknown image format: expected PNG or JPEG");
  auto empty = decodeImage("", "e.png");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "'e.png': empty image file");
}

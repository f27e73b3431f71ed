// PNG/JPEG codecs: round trips, PIL-like conversions (alpha dropped, 16-bit cut,
// palette expanded), and errors for corrupt, truncated or unknown data.
#include <gtest/gtest.h>
#include <png.h>

#include <cstdlib>

#include "TestUtil.h"
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

TEST(Codec, Png16BitKeepsTheHighByte) {
  const png_uint_16 px[] = {0xabcd, 0x1234};
  auto img = decodeImage(simplePng(2, 1, PNG_FORMAT_LINEAR_Y, px), "16.png");
  ASSERT_TRUE(img.ok()) << img.error().message();
  EXPECT_EQ(img->channels, 1);
  EXPECT_EQ(img->pixels, (std::vector<std::uint8_t>{0xab, 0x12}));
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

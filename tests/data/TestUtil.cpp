#include "TestUtil.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdio>  // before jpeglib.h
#include <filesystem>
#include <fstream>
#include <sstream>

#include <jpeglib.h>

namespace cvgate::testutil {

namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cvgate-data-test.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    return;
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

namespace {
void putBe32(std::string& s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}
}  // namespace

std::string idxImages(std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                      const std::vector<std::uint8_t>& pixels) {
  std::string s;
  putBe32(s, 0x00000803);
  putBe32(s, count);
  putBe32(s, rows);
  putBe32(s, cols);
  s.append(pixels.begin(), pixels.end());
  return s;
}

std::string idxLabels(const std::vector<std::uint8_t>& labels) {
  std::string s;
  putBe32(s, 0x00000801);
  putBe32(s, static_cast<std::uint32_t>(labels.size()));
  s.append(labels.begin(), labels.end());
  return s;
}

void writeFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

void writeGz(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr) << "gzopen " << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

std::string gzBytes(const std::string& bytes) {
  TempDir dir;
  writeGz(dir / "x.gz", bytes);
  return readAll(dir / "x.gz");
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Image solid(int width, int height, std::vector<std::uint8_t> value) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = static_cast<int>(value.size());
  for (int i = 0; i < width * height; ++i) img.pixels.insert(img.pixels.end(), value.begin(), value.end());
  return img;
}

Image pattern(int width, int height, int channels, int seed) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<std::size_t>(width * height * channels));
  for (std::size_t i = 0; i < img.pixels.size(); ++i)
    img.pixels[i] = static_cast<std::uint8_t>((i * 37 + static_cast<std::size_t>(seed) * 11) & 0xff);
  return img;
}

std::string encodeJpeg(const Image& img, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(img.width);
  cinfo.image_height = static_cast<JDIMENSION>(img.height);
  cinfo.input_components = img.channels;
  cinfo.in_color_space = img.channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(img.width * img.channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<const char*>(buf), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buf);
  return out;
}

std::string png(const Image& img) {
  auto bytes = encodePng(img);
  EXPECT_TRUE(bytes.ok()) << bytes.error().message();
  return bytes.ok() ? *bytes : std::string();
}

std::string errorOf(const Expected<std::unique_ptr<Dataset>>& r) {
  return r.ok() ? std::string("<no error>") : r.error().message();
}

}  // namespace cvgate::testutil

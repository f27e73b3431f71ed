// PNG and JPEG decoding (libpng, libjpeg-turbo) and PNG encoding, all in memory.
//
// Both C libraries report errors by longjmp. Each setjmp sits in a small
// function whose C++ objects all live in a state struct owned by the caller, so
// a longjmp never skips a destructor, and a corrupt file is an Error, never an
// exit(). The conversions follow what PIL's convert("L"/"RGB") does, so the
// pixels match a PyTorch pipeline: no gamma correction, alpha dropped (not
// composited), 16-bit samples cut to their high byte, palettes expanded to RGB.
#include <png.h>

#include <cctype>
#include <csetjmp>
#include <cstdint>
#include <cstdio>  // before jpeglib.h, which needs FILE and size_t
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "data/Dataset.h"

namespace cvgate {

namespace {

constexpr std::uint32_t kMaxSide = 32768;                 // per side, either format
constexpr std::uint64_t kMaxPixels = std::uint64_t{1} << 28;  // 268M pixels

std::string quote(const std::string& s) { return "'" + s + "'"; }

bool startsWith(const std::string& bytes, const unsigned char* sig, std::size_t n) {
  return bytes.size() >= n && std::memcmp(bytes.data(), sig, n) == 0;
}

const unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
const unsigned char kJpegSig[3] = {0xff, 0xd8, 0xff};

// ---------------------------------------------------------------- PNG read

struct PngRead {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  char error[200] = {0};
  std::vector<png_bytep> rows;
  Image* out = nullptr;
  std::string tooLarge;  ///< set (outside libpng) when the image exceeds the limits
};

void pngOnError(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngRead*>(png_get_error_ptr(png));
  std::snprintf(st->error, sizeof st->error, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void pngOnWarning(png_structp, png_const_charp) {}  // e.g. "known incorrect sRGB profile"

void pngReadFn(png_structp png, png_bytep dst, png_size_t n) {
  auto* st = static_cast<PngRead*>(png_get_io_ptr(png));
  if (st->size - st->pos < n) png_error(png, "unexpected end of data (truncated file)");
  std::memcpy(dst, st->data + st->pos, n);
  st->pos += n;
}

/// Decode into st->out; false on a libpng error (message in st->error).
bool pngDecode(PngRead* st) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  png_set_read_fn(st->png, st, pngReadFn);
  png_set_user_limits(st->png, kMaxSide, kMaxSide);
  png_read_info(st->png, st->info);
  png_uint_32 w = png_get_image_width(st->png, st->info);
  png_uint_32 h = png_get_image_height(st->png, st->info);
  int colorType = png_get_color_type(st->png, st->info);
  int bitDepth = png_get_bit_depth(st->png, st->info);
  if (static_cast<std::uint64_t>(w) * h > kMaxPixels) {
    std::snprintf(st->error, sizeof st->error, "image too large: %ux%u pixels", w, h);
    return false;
  }
  const bool colour = (colorType & PNG_COLOR_MASK_COLOR) != 0;  // palette images included
  if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
  if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  if (bitDepth == 16) png_set_strip_16(st->png);
  if (colorType & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(st->png);
  int passes = png_set_interlace_handling(st->png);
  (void)passes;
  png_read_update_info(st->png, st->info);
  const int channels = colour ? 3 : 1;
  if (png_get_channels(st->png, st->info) != channels ||
      png_get_rowbytes(st->png, st->info) != static_cast<std::size_t>(w) * channels) {
    std::snprintf(st->error, sizeof st->error, "unsupported pixel layout");
    return false;
  }
  st->out->width = static_cast<int>(w);
  st->out->height = static_cast<int>(h);
  st->out->channels = channels;
  st->out->pixels.resize(static_cast<std::size_t>(w) * h * static_cast<std::size_t>(channels));
  st->rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y)
    st->rows[y] = st->out->pixels.data() + static_cast<std::size_t>(y) * w * channels;
  png_read_image(st->png, st->rows.data());
  png_read_end(st->png, nullptr);  // a file cut before IEND is truncated, too
  return true;
}

Expected<Image> decodePng(const std::string& bytes, const std::string& what) {
  Image img;
  PngRead st;
  st.data = reinterpret_cast<const unsigned char*>(bytes.data());
  st.size = bytes.size();
  st.out = &img;
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, pngOnError, pngOnWarning);
  if (!st.png) return internalError("libpng: cannot create read struct");
  st.info = png_create_info_struct(st.png);
  if (!st.info) {
    png_destroy_read_struct(&st.png, nullptr, nullptr);
    return internalError("libpng: cannot create info struct");
  }
  bool ok = pngDecode(&st);
  png_destroy_read_struct(&st.png, &st.info, nullptr);
  if (!ok) return badInput(quote(what) + ": corrupt PNG: " + st.error);
  return img;
}

// ---------------------------------------------------------------- PNG write

struct PngWrite {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char error[200] = {0};
  std::string out;
  std::vector<png_bytep> rows;
  const Image* img = nullptr;
};

void pngWriteError(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngWrite*>(png_get_error_ptr(png));
  std::snprintf(st->error, sizeof st->error, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

void pngWriteFn(png_structp png, png_bytep src, png_size_t n) {
  auto* st = static_cast<PngWrite*>(png_get_io_ptr(png));
  st->out.append(reinterpret_cast<const char*>(src), n);
}

void pngFlushFn(png_structp) {}

bool pngEncode(PngWrite* st) {
  if (setjmp(png_jmpbuf(st->png))) return false;
  const Image& img = *st->img;
  png_set_write_fn(st->png, st, pngWriteFn, pngFlushFn);
  png_set_IHDR(st->png, st->info, static_cast<png_uint_32>(img.width),
               static_cast<png_uint_32>(img.height), 8,
               img.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(st->png, st->info);
  png_write_image(st->png, st->rows.data());
  png_write_end(st->png, nullptr);
  return true;
}

// ---------------------------------------------------------------- JPEG read

struct JpegError {
  jpeg_error_mgr mgr;  // first member: libjpeg hands us a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpegOnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

/// Warnings that mean the pixels are wrong (truncated or damaged data) are
/// errors; the rest (unknown JFIF revision, stray bytes between markers) pass.
void jpegOnMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
      jpegOnError(cinfo);
      break;
    default:
      cinfo->err->num_warnings++;
  }
}

void jpegNoOutput(j_common_ptr) {}

struct JpegRead {
  jpeg_decompress_struct cinfo;
  JpegError err;
  const std::string* bytes = nullptr;
  Image* out = nullptr;
  char error[JMSG_LENGTH_MAX + 64] = {0};
};

bool jpegDecode(JpegRead* st) {
  if (setjmp(st->err.jump)) {
    std::snprintf(st->error, sizeof st->error, "%s", st->err.message);
    // House style is lower case: "Premature end" -> "premature end", "JPEG ..." stays.
    if (std::isupper(static_cast<unsigned char>(st->error[0])) &&
        std::islower(static_cast<unsigned char>(st->error[1])))
      st->error[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(st->error[0])));
    return false;
  }
  jpeg_create_decompress(&st->cinfo);
  jpeg_mem_src(&st->cinfo, reinterpret_cast<const unsigned char*>(st->bytes->data()),
               static_cast<unsigned long>(st->bytes->size()));
  jpeg_read_header(&st->cinfo, TRUE);
  switch (st->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      st->cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      std::snprintf(st->error, sizeof st->error, "unsupported colour space (CMYK)");
      return false;
    default:
      st->cinfo.out_color_space = JCS_RGB;
  }
  jpeg_calc_output_dimensions(&st->cinfo);
  const std::uint32_t w = st->cinfo.output_width;
  const std::uint32_t h = st->cinfo.output_height;
  if (w == 0 || h == 0 || w > kMaxSide || h > kMaxSide ||
      static_cast<std::uint64_t>(w) * h > kMaxPixels) {
    std::snprintf(st->error, sizeof st->error, "bad image size %ux%u", w, h);
    return false;
  }
  jpeg_start_decompress(&st->cinfo);
  const int channels = st->cinfo.output_components;
  if (channels != 1 && channels != 3) {
    std::snprintf(st->error, sizeof st->error, "unsupported component count %d", channels);
    return false;
  }
  st->out->width = static_cast<int>(w);
  st->out->height = static_cast<int>(h);
  st->out->channels = channels;
  st->out->pixels.resize(static_cast<std::size_t>(w) * h * static_cast<std::size_t>(channels));
  while (st->cinfo.output_scanline < h) {
    JSAMPROW row = st->out->pixels.data() +
                   static_cast<std::size_t>(st->cinfo.output_scanline) * w * channels;
    jpeg_read_scanlines(&st->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&st->cinfo);
  return true;
}

Expected<Image> decodeJpeg(const std::string& bytes, const std::string& what) {
  Image img;
  JpegRead st;
  std::memset(&st.cinfo, 0, sizeof st.cinfo);
  st.cinfo.err = jpeg_std_error(&st.err.mgr);
  st.err.mgr.error_exit = jpegOnError;
  st.err.mgr.emit_message = jpegOnMessage;
  st.err.mgr.output_message = jpegNoOutput;
  st.bytes = &bytes;
  st.out = &img;
  bool ok = jpegDecode(&st);
  jpeg_destroy_decompress(&st.cinfo);
  if (!ok) return badInput(quote(what) + ": corrupt JPEG: " + st.error);
  return img;
}

}  // namespace

Expected<Image> decodeImage(const std::string& bytes, const std::string& what) {
  if (startsWith(bytes, kPngSig, sizeof kPngSig)) return decodePng(bytes, what);
  if (startsWith(bytes, kJpegSig, sizeof kJpegSig)) return decodeJpeg(bytes, what);
  if (bytes.empty()) return badInput(quote(what) + ": empty image file");
  return badInput(quote(what) + ": unknown image format: expected PNG or JPEG");
}

Expected<std::string> encodePng(const Image& img) {
  if (img.channels != 1 && img.channels != 3)
    return badInput("cannot encode PNG: expected 1 or 3 channels, got " +
                    std::to_string(img.channels));
  if (img.width <= 0 || img.height <= 0 || static_cast<std::uint32_t>(img.width) > kMaxSide ||
      static_cast<std::uint32_t>(img.height) > kMaxSide)
    return badInput("cannot encode PNG: bad size " + std::to_string(img.width) + "x" +
                    std::to_string(img.height));
  const std::size_t rowBytes = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.channels);
  if (img.pixels.size() != rowBytes * static_cast<std::size_t>(img.height))
    return badInput("cannot encode PNG: expected " + std::to_string(rowBytes * static_cast<std::size_t>(img.height)) +
                    " pixel bytes, got " + std::to_string(img.pixels.size()));
  PngWrite st;
  st.img = &img;
  st.rows.resize(static_cast<std::size_t>(img.height));
  for (std::size_t y = 0; y < st.rows.size(); ++y)
    st.rows[y] = const_cast<png_bytep>(img.pixels.data() + y * rowBytes);
  st.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, pngWriteError, pngOnWarning);
  if (!st.png) return internalError("libpng: cannot create write struct");
  st.info = png_create_info_struct(st.png);
  if (!st.info) {
    png_destroy_write_struct(&st.png, nullptr);
    return internalError("libpng: cannot create info struct");
  }
  bool ok = pngEncode(&st);
  png_destroy_write_struct(&st.png, &st.info);
  if (!ok) return internalError(std::string("libpng: cannot encode PNG: ") + st.error);
  return std::move(st.out);
}

}  // namespace cvgate

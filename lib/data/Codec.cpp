// PNG and JPEG decoding (libpng, libjpeg-turbo) and PNG encoding, all in memory.
//
// Both C libraries report errors by longjmp. Each setjmp sits in a small
// function whose C++ objects all live in a state struct owned by the caller, so
// a longjmp never skips a destructor, and a corrupt file is an Error, never an
// exit(). The pixels are those of Pillow 9.4's Image.open(f).convert("RGB") (or
// "L" for a grey file), so they match a PyTorch pipeline: no gamma correction,
// alpha dropped (not composited), palettes (and their tRNS) expanded to RGB,
// 16-bit colour and grey+alpha cut to their high byte, 16-bit grey clipped to
// 255 (Pillow opens it as 32-bit "I" and converts by clipping, not shifting).
// The EXIF orientation (JPEG APP1 or PNG eXIf) is applied as
// PIL.ImageOps.exif_transpose does. The pixel budget (limits().maxImagePixels)
// is checked on the header, before any pixel memory is allocated.
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

#include "common/Limits.h"
#include "data/Dataset.h"

namespace cvgate {

namespace {

constexpr std::uint32_t kMaxSide = 32768;  // per side, either format

std::string quote(const std::string& s) { return "'" + s + "'"; }

/// The pixel budget, checked on the header: "" when w x h fits, else why not.
std::string overBudget(std::uint64_t w, std::uint64_t h) {
  const std::uint64_t limit = limits().maxImagePixels;
  if (w * h <= limit) return "";
  return "image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is larger than the limit of " +
         std::to_string(limit) + " pixels ([limits] max_image_megapixels)";
}

// ---------------------------------------------------------------- EXIF

std::uint32_t readUint(const unsigned char* p, int n, bool bigEndian) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<std::uint32_t>(p[bigEndian ? i : n - 1 - i]) << (8 * (n - 1 - i));
  return v;
}

/// The Orientation tag (0x0112) of IFD0 of an EXIF TIFF structure; 1 (as
/// stored) when absent, malformed or not one value in 1..8.
int exifOrientation(const unsigned char* d, std::size_t n) {
  if (n < 8) return 1;
  const bool be = d[0] == 'M' && d[1] == 'M';
  if (!be && !(d[0] == 'I' && d[1] == 'I')) return 1;
  if (readUint(d + 2, 2, be) != 42) return 1;
  const std::size_t ifd = readUint(d + 4, 4, be);
  if (ifd > n - 2) return 1;
  const std::size_t count = readUint(d + ifd, 2, be);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t e = ifd + 2 + 12 * i;
    if (e + 12 > n) break;
    if (readUint(d + e, 2, be) != 0x0112) continue;
    const std::uint32_t type = readUint(d + e + 2, 2, be), values = readUint(d + e + 4, 4, be);
    if (values != 1) return 1;
    const std::uint32_t v = type == 3 ? readUint(d + e + 8, 2, be) : type == 4 ? readUint(d + e + 8, 4, be) : 0;
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

/// The image as PIL.ImageOps.exif_transpose shows it: orientation 2 flips left
/// to right, 3 rotates 180, 4 flips top to bottom, 5 transposes, 6 rotates 90
/// clockwise, 7 transverses, 8 rotates 90 anticlockwise.
Image applyOrientation(Image img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const int W = img.width, H = img.height, C = img.channels;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.channels = C;
  out.pixels.resize(img.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the source pixel of output (x, y)
      switch (orientation) {
        case 2: sx = W - 1 - x; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break;  // 8
      }
      std::memcpy(&out.pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(out.width) +
                               static_cast<std::size_t>(x)) * static_cast<std::size_t>(C)],
                  &img.pixels[(static_cast<std::size_t>(sy) * static_cast<std::size_t>(W) +
                               static_cast<std::size_t>(sx)) * static_cast<std::size_t>(C)],
                  static_cast<std::size_t>(C));
    }
  }
  return out;
}

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
  std::vector<png_byte> wide;  ///< 16-bit grey rows, clipped to 8 bits after reading
  Image* out = nullptr;
  std::string tooLarge;  ///< set when the header exceeds the pixel budget
  int orientation = 1;   ///< from an eXIf chunk
};

/// The orientation of a PNG's eXIf chunk, if libpng has read one by now.
int pngOrientation(PngRead* st) {
  png_uint_32 n = 0;
  png_bytep exif = nullptr;
  if (!png_get_eXIf_1(st->png, st->info, &n, &exif) || !exif) return st->orientation;
  return exifOrientation(exif, n);
}

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
  st->tooLarge = overBudget(w, h);
  if (!st->tooLarge.empty()) return false;
  const bool colour = (colorType & PNG_COLOR_MASK_COLOR) != 0;  // palette images included
  // Pillow opens 16-bit grey as 32-bit "I" and its convert clips to 0..255.
  const bool wideGrey = colorType == PNG_COLOR_TYPE_GRAY && bitDepth == 16;
  if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);  // tRNS becomes alpha
  if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
  if (bitDepth == 16 && !wideGrey) png_set_strip_16(st->png);  // the high byte
  if ((colorType & PNG_COLOR_MASK_ALPHA) || png_get_valid(st->png, st->info, PNG_INFO_tRNS))
    png_set_strip_alpha(st->png);
  int passes = png_set_interlace_handling(st->png);
  (void)passes;
  png_read_update_info(st->png, st->info);
  const int channels = colour ? 3 : 1;
  const std::size_t rowBytes = static_cast<std::size_t>(w) * static_cast<std::size_t>(channels) * (wideGrey ? 2 : 1);
  if (png_get_channels(st->png, st->info) != channels || png_get_rowbytes(st->png, st->info) != rowBytes) {
    std::snprintf(st->error, sizeof st->error, "unsupported pixel layout");
    return false;
  }
  st->out->width = static_cast<int>(w);
  st->out->height = static_cast<int>(h);
  st->out->channels = channels;
  st->out->pixels.resize(static_cast<std::size_t>(w) * h * static_cast<std::size_t>(channels));
  if (wideGrey) st->wide.resize(rowBytes * h);
  png_bytep base = wideGrey ? st->wide.data() : st->out->pixels.data();
  st->rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) st->rows[y] = base + static_cast<std::size_t>(y) * rowBytes;
  png_read_image(st->png, st->rows.data());
  st->orientation = pngOrientation(st);
  png_read_end(st->png, st->info);  // a file cut before IEND is truncated, too; eXIf may follow IDAT
  st->orientation = pngOrientation(st);
  for (std::size_t i = 0; wideGrey && i < st->out->pixels.size(); ++i)  // big-endian samples
    st->out->pixels[i] = st->wide[2 * i] ? png_byte{255} : st->wide[2 * i + 1];
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
  if (!st.tooLarge.empty()) return badInput(quote(what) + ": " + st.tooLarge);
  if (!ok) return badInput(quote(what) + ": corrupt PNG: " + st.error);
  return applyOrientation(std::move(img), st.orientation);
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
  std::string tooLarge;  ///< set when the header exceeds the pixel budget
  int orientation = 1;   ///< from the first APP1 "Exif" segment
};

/// The orientation in the first APP1 segment that starts "Exif\0" (the one
/// Pillow keeps), 1 when there is none.
int jpegOrientation(const jpeg_decompress_struct& cinfo) {
  static const unsigned char kExif[6] = {'E', 'x', 'i', 'f', 0, 0};
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 5 || std::memcmp(m->data, kExif, 5) != 0) continue;
    if (m->data_length < 6 || m->data[5] != 0) return 1;
    return exifOrientation(m->data + 6, m->data_length - 6);
  }
  return 1;
}

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
  jpeg_save_markers(&st->cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&st->cinfo, TRUE);
  st->tooLarge = overBudget(st->cinfo.image_width, st->cinfo.image_height);
  if (!st->tooLarge.empty()) return false;
  st->orientation = jpegOrientation(st->cinfo);
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
  if (w == 0 || h == 0 || w > kMaxSide || h > kMaxSide) {
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
  if (!st.tooLarge.empty()) return badInput(quote(what) + ": " + st.tooLarge);
  if (!ok) return badInput(quote(what) + ": corrupt JPEG: " + st.error);
  return applyOrientation(std::move(img), st.orientation);
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

// Fuzz target: the IDX reader (openIdx), plain and gzipped. Each input is an
// images file and a labels file, written to a scratch directory and opened;
// a data set that opens must give every sample it claims.
//
// Input layout: byte 0 flags (bit 0: gzip the images file, bit 1: gzip the
// labels file, as the harness writes them: the fuzzer mutates the IDX bytes,
// not the deflate stream; an input that is itself gzip data is read as such
// too); bytes 1-2 the length of the images file (big-endian); the images
// file; the rest is the labels file.
#include <zlib.h>

#include <cstdint>

#include "FuzzUtil.h"
#include "data/Dataset.h"

namespace {

std::string gzip(const std::string& raw) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const unsigned flags = data[0];
  const std::size_t ilen = std::min<std::size_t>(size - 3, (std::size_t{data[1]} << 8) | data[2]);
  std::string images = cvgate::fuzz::asString(data + 3, ilen);
  std::string labels = cvgate::fuzz::asString(data + 3 + ilen, size - 3 - ilen);
  if (flags & 1) images = gzip(images);
  if (flags & 2) labels = gzip(labels);

  cvgate::fuzz::ScratchDir tmp;
  const std::string ip = tmp.path() + "/fuzz-images-idx3-ubyte" + (flags & 1 ? ".gz" : "");
  const std::string lp = tmp.path() + "/fuzz-labels-idx1-ubyte" + (flags & 2 ? ".gz" : "");
  cvgate::fuzz::writeBytes(ip, images);
  cvgate::fuzz::writeBytes(lp, labels);
  auto ds = cvgate::openIdx(ip, lp);
  if (!ds) {
    FUZZ_CHECK(ds.error().kind() == cvgate::ErrorKind::BadInput, "a corrupt IDX file is bad input");
    FUZZ_CHECK(ds.error().message().find('\'') == 0, "an IDX error names the file first");
    return 0;
  }
  const auto& d = **ds;
  FUZZ_CHECK(d.size() > 0, "an opened IDX set is not empty");
  FUZZ_CHECK(!d.classes().empty(), "an opened IDX set has classes");
  for (std::size_t i : {std::size_t{0}, d.size() / 2, d.size() - 1}) {
    auto s = d.get(i);
    FUZZ_CHECK(s.ok(), "every sample of an opened IDX set decodes");
    FUZZ_CHECK(s->image.pixels.size() ==
                   static_cast<std::size_t>(s->image.width) * static_cast<std::size_t>(s->image.height),
               "an IDX sample has width*height pixels");
    FUZZ_CHECK(s->label >= 0 && static_cast<std::size_t>(s->label) < d.classes().size(), "a label has a class");
  }
  FUZZ_CHECK(!d.get(d.size()).ok(), "a sample past the end is an error");
  return 0;
}

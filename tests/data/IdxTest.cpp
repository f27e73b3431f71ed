// IDX reader: plain and gzipped files, ids, classes, sha256, and the errors for
// truncated, mislabelled and mismatched files; plus the real Fashion-MNIST test set.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "TestUtil.h"
#include "common/Sha256.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testutil;

namespace {

// Three 2x3 images with distinct bytes, labels 3, 0, 1.
const std::vector<std::uint8_t> kPixels = {0,  1,  2,  3,  4,  5,  10, 11, 12,
                                           13, 14, 15, 200, 201, 202, 203, 204, 255};
const std::vector<std::uint8_t> kLabels = {3, 0, 1};

std::string images() { return idxImages(3, 2, 3, kPixels); }
std::string labels() { return idxLabels(kLabels); }

}  // namespace

TEST(Idx, PlainFilesLoadWithIdsClassesAndPixels) {
  TempDir dir;
  writeFile(dir / "imgs-idx3-ubyte", images());
  writeFile(dir / "labels-idx1-ubyte", labels());
  auto ds = openIdx(dir / "imgs-idx3-ubyte", dir / "labels-idx1-ubyte");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  const Dataset& d = **ds;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d.classes(), (std::vector<std::string>{"0", "1", "2", "3"}));  // "0".."max label"
  EXPECT_NE(d.describe().find("idx:" + (dir / "imgs-idx3-ubyte")), std::string::npos) << d.describe();
  EXPECT_NE(d.describe().find("3 images"), std::string::npos) << d.describe();
  for (std::size_t i = 0; i < 3; ++i) {
    auto s = d.get(i);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->image.width, 3);
    EXPECT_EQ(s->image.height, 2);
    EXPECT_EQ(s->image.channels, 1);
    EXPECT_EQ(s->image.pixels, std::vector<std::uint8_t>(kPixels.begin() + static_cast<long>(i * 6),
                                                         kPixels.begin() + static_cast<long>(i * 6 + 6)));
    EXPECT_EQ(s->label, kLabels[i]);
    EXPECT_EQ(s->id, "imgs-idx3-ubyte:" + std::to_string(i));
  }
}

TEST(Idx, Sha256IsOverImagesThenLabelsDecompressed) {
  TempDir dir;
  writeFile(dir / "i", images());
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i", dir / "l");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->sha256(), sha256Hex(images() + labels()));
}

TEST(Idx, GzippedFilesGiveTheSameSamplesAndHash) {
  TempDir dir;
  writeFile(dir / "t10k-images-idx3-ubyte", images());
  writeFile(dir / "t10k-labels-idx1-ubyte", labels());
  writeGz(dir / "t10k-images-idx3-ubyte.gz", images());
  writeGz(dir / "t10k-labels-idx1-ubyte.gz", labels());
  auto plain = openIdx(dir / "t10k-images-idx3-ubyte", dir / "t10k-labels-idx1-ubyte");
  auto gz = openIdx(dir / "t10k-images-idx3-ubyte.gz", dir / "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(plain.ok()) << errorOf(plain);
  ASSERT_TRUE(gz.ok()) << errorOf(gz);
  EXPECT_EQ((*gz)->sha256(), (*plain)->sha256());
  ASSERT_EQ((*gz)->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    auto a = (*plain)->get(i);
    auto b = (*gz)->get(i);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->image.pixels, b->image.pixels);
    EXPECT_EQ(a->label, b->label);
    EXPECT_EQ(b->id, "t10k-images-idx3-ubyte:" + std::to_string(i));  // ".gz" is not in the id
  }
}

TEST(Idx, MixedGzippedAndPlain) {
  TempDir dir;
  writeGz(dir / "i.gz", images());
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->size(), 3u);
}

TEST(Idx, MultiMemberGzipIsReadWhole) {
  TempDir dir;
  std::string all = images();
  writeFile(dir / "i.gz", gzBytes(all.substr(0, 20)) + gzBytes(all.substr(20)));
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  auto s = (*ds)->get(2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->image.pixels.back(), 255);
}

TEST(Idx, IdDropsTheExtension) {
  TempDir dir;
  writeFile(dir / "t10k-images.idx3-ubyte", images());
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "t10k-images.idx3-ubyte", dir / "l");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->get(1)->id, "t10k-images:1");
}

TEST(Idx, ContentChangeChangesHash) {
  TempDir dir;
  writeFile(dir / "i", images());
  writeFile(dir / "l", labels());
  auto before = openIdx(dir / "i", dir / "l");
  ASSERT_TRUE(before.ok());
  std::string changed = images();
  changed.back() = static_cast<char>(254);
  writeFile(dir / "i", changed);
  auto after = openIdx(dir / "i", dir / "l");
  ASSERT_TRUE(after.ok());
  EXPECT_NE((*after)->sha256(), (*before)->sha256());
  auto again = openIdx(dir / "i", dir / "l");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->sha256(), (*after)->sha256());
}

TEST(Idx, TruncatedPlainFileNamesFileAndSizes) {
  TempDir dir;
  writeFile(dir / "i", images().substr(0, 30));
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.error().message(),
            "'" + (dir / "i") + "': truncated IDX file: expected 34 bytes, got 30");
  EXPECT_EQ(ds.error().kind(), ErrorKind::BadInput);
}

TEST(Idx, TruncatedContentInsideGzip) {
  TempDir dir;
  writeGz(dir / "i.gz", images().substr(0, 20));
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.error().message(),
            "'" + (dir / "i.gz") + "': truncated IDX file: expected 34 bytes, got 20");
}

TEST(Idx, TruncatedGzipStream) {
  TempDir dir;
  // Enough varied content that the compressed stream is long enough to cut.
  std::vector<std::uint8_t> px(100 * 28 * 28);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>((i * 7919) >> 3);
  std::string gz = gzBytes(idxImages(100, 28, 28, px));
  writeFile(dir / "i.gz", gz.substr(0, gz.size() / 2));
  writeFile(dir / "l", idxLabels(std::vector<std::uint8_t>(100, 1)));
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.error().message().find("'" + (dir / "i.gz") + "': truncated IDX file: expected 78416 bytes, got "),
            std::string::npos)
      << ds.error().message();
}

TEST(Idx, GzipMissingTrailer) {
  TempDir dir;
  std::string gz = gzBytes(images());
  writeFile(dir / "i.gz", gz.substr(0, gz.size() - 8));  // CRC32 and ISIZE cut off
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.error().message().find("truncated gzip stream"), std::string::npos)
      << ds.error().message();
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  std::string gz = gzBytes(images());
  for (std::size_t i = 10; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(0xff);
  writeFile(dir / "i.gz", gz);
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.error().message().find("'" + (dir / "i.gz") + "': corrupt gzip data: "),
            std::string::npos)
      << ds.error().message();
}

TEST(Idx, BadMagicSaysWhatItFoundAndExpected) {
  TempDir dir;
  writeFile(dir / "l", labels());
  auto swapped = openIdx(dir / "l", dir / "l");
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error().message(), "'" + (dir / "l") +
                                           "': bad IDX magic 0x00000801 (IDX labels): expected "
                                           "0x00000803 (IDX images)");
  writeFile(dir / "i", images());
  std::string le = images();
  le[0] = 3;  // the magic written little-endian
  le[1] = 8;
  le[2] = 0;
  le[3] = 0;
  writeFile(dir / "le", le);
  auto bad = openIdx(dir / "le", dir / "l");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("bad IDX magic 0x03080000: expected 0x00000803"),
            std::string::npos)
      << bad.error().message();
  auto badLabels = openIdx(dir / "i", dir / "i");
  ASSERT_FALSE(badLabels.ok());
  EXPECT_NE(badLabels.error().message().find("expected 0x00000801 (IDX labels)"), std::string::npos);
}

TEST(Idx, HeaderShorterThanMagicOrDims) {
  TempDir dir;
  writeFile(dir / "l", labels());
  writeFile(dir / "tiny", std::string("\x00\x00", 2));
  auto tiny = openIdx(dir / "tiny", dir / "l");
  ASSERT_FALSE(tiny.ok());
  EXPECT_EQ(tiny.error().message(),
            "'" + (dir / "tiny") + "': truncated IDX file: expected at least 16 bytes, got 2");
  writeFile(dir / "short", images().substr(0, 10));
  auto shortHead = openIdx(dir / "short", dir / "l");
  ASSERT_FALSE(shortHead.ok());
  EXPECT_EQ(shortHead.error().message(),
            "'" + (dir / "short") + "': truncated IDX file: expected at least 16 bytes, got 10");
  writeFile(dir / "empty", "");
  EXPECT_FALSE(openIdx(dir / "empty", dir / "l").ok());
}

TEST(Idx, TrailingBytesAreAnError) {
  TempDir dir;
  writeFile(dir / "i", images() + "xx");
  writeGz(dir / "i.gz", images() + "xx");
  writeFile(dir / "l", labels());
  auto plain = openIdx(dir / "i", dir / "l");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().message(),
            "'" + (dir / "i") + "': IDX file longer than its header says: expected 34 bytes, got 36");
  auto gz = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(gz.ok());
  EXPECT_NE(gz.error().message().find("longer than its header says"), std::string::npos);
}

TEST(Idx, CountMismatchNamesBothFiles) {
  TempDir dir;
  writeFile(dir / "i", images());
  writeFile(dir / "l", idxLabels({1, 2}));
  auto ds = openIdx(dir / "i", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.error().message(),
            "'" + (dir / "l") + "': 2 labels do not match the 3 images in '" + (dir / "i") + "'");
}

TEST(Idx, ZeroDimensionsAreErrors) {
  TempDir dir;
  writeFile(dir / "l0", idxLabels({}));
  writeFile(dir / "i0", idxImages(0, 2, 3, {}));
  auto none = openIdx(dir / "i0", dir / "l0");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("holds no images"), std::string::npos);
  writeFile(dir / "rows0", idxImages(3, 0, 3, {}));
  writeFile(dir / "l", labels());
  auto rows0 = openIdx(dir / "rows0", dir / "l");
  ASSERT_FALSE(rows0.ok());
  EXPECT_NE(rows0.error().message().find("bad IDX dimension 0"), std::string::npos);
}

TEST(Idx, HugeHeaderOnTinyFileFailsWithoutAllocating) {
  TempDir dir;
  writeGz(dir / "i.gz", idxImages(0xffffffffu, 100, 100, {1, 2, 3}));  // 42.9 TB promised
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.error().message(), "'" + (dir / "i.gz") +
                                      "': the IDX header claims 4294967295 items, 40000.0 GiB of data, more than the "
                                      "limit of 8.0 GiB ([limits] max_data_gb)");
  // Within the limit, but more than the gzip file can hold at deflate's best
  // ratio: refused before inflating (defect: a 2 MB gzip claiming 4.29e9
  // images reached 4.4 GB of memory before its "truncated" error).
  writeGz(dir / "lie.gz", idxImages(1000000, 28, 28, {1, 2, 3}));  // 784 MB promised by 20 bytes
  auto lie = openIdx(dir / "lie.gz", dir / "l");
  ASSERT_FALSE(lie.ok());
  EXPECT_NE(lie.error().message().find("more than a gzip file of"), std::string::npos) << lie.error().message();
  writeGz(dir / "big.gz", idxImages(0xffffffffu, 65535, 65535, {1, 2, 3}));  // overflows
  auto big = openIdx(dir / "big.gz", dir / "l");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message().find("IDX dimensions too large"), std::string::npos)
      << big.error().message();
}

TEST(Idx, MissingFileIsNamed) {
  TempDir dir;
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "nope.gz", dir / "l");
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.error().message().find("'" + (dir / "nope.gz") + "'"), std::string::npos);
  EXPECT_EQ(ds.error().kind(), ErrorKind::BadInput);
}

TEST(Idx, GetOutOfRangeIsAnInternalError) {
  TempDir dir;
  writeFile(dir / "i", images());
  writeFile(dir / "l", labels());
  auto ds = openIdx(dir / "i", dir / "l");
  ASSERT_TRUE(ds.ok());
  auto s = (*ds)->get(3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::Internal);
  EXPECT_NE(s.error().message().find("out of range"), std::string::npos);
}

TEST(Idx, RealFashionMnistTestSet) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string imagesPath = dir + "t10k-images-idx3-ubyte.gz";
  const std::string labelsPath = dir + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(imagesPath) || !std::filesystem::exists(labelsPath))
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  auto ds = openIdx(imagesPath, labelsPath);
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  const Dataset& d = **ds;
  ASSERT_EQ(d.size(), 10000u);
  EXPECT_EQ(d.classes().size(), 10u);
  EXPECT_EQ(d.sha256().size(), 64u);
  std::set<int> seen;
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto s = d.get(i);
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_EQ(s->image.width, 28);
    ASSERT_EQ(s->image.height, 28);
    ASSERT_EQ(s->image.channels, 1);
    ASSERT_EQ(s->image.pixels.size(), 784u);
    ASSERT_GE(s->label, 0);
    ASSERT_LE(s->label, 9);
    seen.insert(s->label);
  }
  EXPECT_EQ(seen.size(), 10u);
  auto first = d.get(0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->label, 9);  // ankle boot
  EXPECT_EQ(first->id, "t10k-images-idx3-ubyte:0");
}

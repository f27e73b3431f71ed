// ImageFolder reader: class and file order, what is skipped, decoding on get(),
// sha256 stability and sensitivity, and errors for empty, missing and corrupt input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "TestUtil.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testutil;

namespace fs = std::filesystem;

namespace {

/// root/
///   a/grey.JPG a/img.jpeg            (JPEG, grey and colour)
///   b/z.png b/a.PNG b/sub/deep.png   (PNG; a nested directory is walked)
///   b/notes.txt b/.hidden.png b/.cache/x.png   (ignored)
///   c/                               (empty class)
///   .git/x.png  stray.png            (ignored: hidden class, file at top level)
void makeTree(const std::string& root) {
  writeFile(root + "/a/grey.JPG", encodeJpeg(solid(16, 16, {90}), 95));
  writeFile(root + "/a/img.jpeg", encodeJpeg(solid(16, 8, {200, 100, 50}), 95));
  writeFile(root + "/b/z.png", png(pattern(4, 3, 1, 1)));
  writeFile(root + "/b/a.PNG", png(pattern(5, 2, 3, 2)));
  writeFile(root + "/b/sub/deep.png", png(pattern(2, 2, 1, 3)));
  writeFile(root + "/b/notes.txt", "not an image");
  writeFile(root + "/b/.hidden.png", "not a png either");
  writeFile(root + "/b/.cache/x.png", "junk");
  fs::create_directories(root + "/c");
  writeFile(root + "/.git/x.png", "junk");
  writeFile(root + "/stray.png", png(pattern(2, 2, 1, 4)));
}

}  // namespace

TEST(ImageFolder, OrderLabelsIdsAndPixels) {
  TempDir dir;
  const std::string root = dir / "root";
  makeTree(root);
  auto ds = openImageFolder(root);
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  const Dataset& d = **ds;
  EXPECT_EQ(d.classes(), (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(d.size(), 5u);
  const std::vector<std::string> ids = {"a/grey.JPG", "a/img.jpeg", "b/a.PNG", "b/sub/deep.png",
                                        "b/z.png"};
  const std::vector<int> labels = {0, 0, 1, 1, 1};
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto s = d.get(i);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->id, ids[i]);
    EXPECT_EQ(s->label, labels[i]);
  }
  EXPECT_NE(d.describe().find("5 images, 3 classes"), std::string::npos) << d.describe();

  auto grey = d.get(0);
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->image.channels, 1);
  EXPECT_EQ(grey->image.width, 16);
  for (auto p : grey->image.pixels) EXPECT_NEAR(p, 90, 2);

  auto colour = d.get(1);
  ASSERT_TRUE(colour.ok());
  EXPECT_EQ(colour->image.channels, 3);
  EXPECT_EQ(colour->image.width, 16);
  EXPECT_EQ(colour->image.height, 8);
  ASSERT_EQ(colour->image.pixels.size(), 16u * 8u * 3u);
  EXPECT_NEAR(colour->image.pixels[0], 200, 3);
  EXPECT_NEAR(colour->image.pixels[1], 100, 3);
  EXPECT_NEAR(colour->image.pixels[2], 50, 3);

  auto rgbPng = d.get(2);
  ASSERT_TRUE(rgbPng.ok());
  EXPECT_EQ(rgbPng->image.pixels, pattern(5, 2, 3, 2).pixels);  // PNG is lossless
  EXPECT_EQ(rgbPng->image.channels, 3);
  auto greyPng = d.get(4);
  ASSERT_TRUE(greyPng.ok());
  EXPECT_EQ(greyPng->image.pixels, pattern(4, 3, 1, 1).pixels);
  EXPECT_EQ(greyPng->image.channels, 1);
}

TEST(ImageFolder, ClassesSortBytewise) {
  TempDir dir;
  for (const char* c : {"a", "B", "_x", "\xc3\xa9t\xc3\xa9"})
    writeFile(dir / (std::string(c) + "/1.png"), png(pattern(1, 1, 1, 0)));
  auto ds = openImageFolder(dir.path());
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->classes(), (std::vector<std::string>{"B", "_x", "a", "\xc3\xa9t\xc3\xa9"}));
}

TEST(ImageFolder, Sha256IsStableAndIndependentOfTheRootPath) {
  TempDir dir;
  makeTree(dir / "one");
  makeTree(dir / "two");
  auto a = openImageFolder(dir / "one");
  auto a2 = openImageFolder(dir / "one");
  auto b = openImageFolder(dir / "two");
  ASSERT_TRUE(a.ok() && a2.ok() && b.ok());
  EXPECT_EQ((*a)->sha256().size(), 64u);
  EXPECT_EQ((*a)->sha256(), (*a2)->sha256());
  EXPECT_EQ((*a)->sha256(), (*b)->sha256());
}

TEST(ImageFolder, Sha256ChangesWithContentNamesAndClasses) {
  TempDir dir;
  const std::string root = dir / "root";
  makeTree(root);
  auto base = openImageFolder(root);
  ASSERT_TRUE(base.ok());
  const std::string sha0 = (*base)->sha256();

  // One pixel of one file.
  writeFile(root + "/b/z.png", png(pattern(4, 3, 1, 9)));
  auto changed = openImageFolder(root);
  ASSERT_TRUE(changed.ok());
  EXPECT_NE((*changed)->sha256(), sha0);
  writeFile(root + "/b/z.png", png(pattern(4, 3, 1, 1)));
  auto restored = openImageFolder(root);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ((*restored)->sha256(), sha0);

  // A rename: same bytes, different path.
  fs::rename(root + "/b/z.png", root + "/b/y.png");
  auto renamed = openImageFolder(root);
  ASSERT_TRUE(renamed.ok());
  EXPECT_NE((*renamed)->sha256(), sha0);
  fs::rename(root + "/b/y.png", root + "/b/z.png");

  // An empty class shifts labels, so it changes the hash too.
  fs::create_directories(root + "/aa");
  auto moreClasses = openImageFolder(root);
  ASSERT_TRUE(moreClasses.ok());
  EXPECT_NE((*moreClasses)->sha256(), sha0);
  EXPECT_EQ((*moreClasses)->get(2)->label, 2);  // b is now the third class

  // Ignored files do not count.
  fs::remove(root + "/aa");
  writeFile(root + "/b/README.md", "hello");
  auto ignored = openImageFolder(root);
  ASSERT_TRUE(ignored.ok());
  EXPECT_EQ((*ignored)->sha256(), sha0);
}

TEST(ImageFolder, CorruptPngIsAnErrorOnGetNamingTheFile) {
  TempDir dir;
  const std::string good = png(pattern(8, 8, 3, 5));
  writeFile(dir / "cls/0good.png", good);
  std::string crc = good;
  crc[crc.size() - 20] = static_cast<char>(crc[crc.size() - 20] ^ 0x55);  // inside IDAT
  writeFile(dir / "cls/1crc.png", crc);
  writeFile(dir / "cls/2cut.png", good.substr(0, good.size() / 2));
  writeFile(dir / "cls/3notpng.png", "GIF89a....");
  auto ds = openImageFolder(dir.path());
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  ASSERT_EQ((*ds)->size(), 4u);
  EXPECT_TRUE((*ds)->get(0).ok());
  for (std::size_t i = 1; i <= 2; ++i) {
    auto s = (*ds)->get(i);
    ASSERT_FALSE(s.ok()) << i;
    const std::string path = dir / ("cls/" + std::string(i == 1 ? "1crc.png" : "2cut.png"));
    EXPECT_EQ(s.error().message().rfind("'" + path + "': corrupt PNG: ", 0), 0u)
        << s.error().message();
    EXPECT_EQ(s.error().kind(), ErrorKind::BadInput);
  }
  auto other = (*ds)->get(3);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message(),
            "'" + (dir / "cls/3notpng.png") + "': unknown image format: expected PNG or JPEG");
}

TEST(ImageFolder, FileRemovedAfterOpenIsAnErrorOnGet) {
  TempDir dir;
  writeFile(dir / "cls/x.png", png(pattern(2, 2, 1, 0)));
  auto ds = openImageFolder(dir.path());
  ASSERT_TRUE(ds.ok());
  fs::remove(dir / "cls/x.png");
  auto s = (*ds)->get(0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("'" + (dir / "cls/x.png") + "'"), std::string::npos);
}

TEST(ImageFolder, EmptyRootIsAnError) {
  TempDir dir;
  auto none = openImageFolder(dir.path());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "no images under '" + dir.path() + "'");
  fs::create_directories(dir / "emptyclass");
  writeFile(dir / "other/readme.txt", "x");
  auto stillNone = openImageFolder(dir.path());
  ASSERT_FALSE(stillNone.ok());
  EXPECT_EQ(stillNone.error().message(), "no images under '" + dir.path() + "'");
}

TEST(ImageFolder, MissingRootAndFileRoot) {
  TempDir dir;
  auto missing = openImageFolder(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "'" + (dir / "nope") + "': no such directory");
  writeFile(dir / "file", "x");
  auto file = openImageFolder(dir / "file");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().message(), "'" + (dir / "file") + "': not a directory");
}

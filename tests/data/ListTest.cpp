// Labelled lists (CSV and JSON Lines) and sample keys: paths relative to the
// list, file URIs, labels by name or index, ids and slices, the key rule in
// every layout, the hash, and each refusal naming its line.
#include <gtest/gtest.h>

#include <filesystem>

#include "TestUtil.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testutil;

namespace fs = std::filesystem;

namespace {

/// dir/img/{0,1,2}.png and dir/other/x y.png.
void makeImages(const TempDir& dir) {
  writeFile(dir / "img/0.png", png(pattern(4, 3, 1, 1)));
  writeFile(dir / "img/1.png", png(pattern(5, 2, 3, 2)));
  writeFile(dir / "img/2.png", png(pattern(2, 2, 1, 3)));
  writeFile(dir / "other/x y.png", png(pattern(3, 3, 3, 4)));
}

}  // namespace

TEST(List, CsvWithIdsSlicesNamesAndAFileUri) {
  TempDir dir;
  makeImages(dir);
  const std::string uri = "file://" + dir.path() + "/other/x%20y.png";
  writeFile(dir / "lists/val.csv",
            "path,label,id,slice\n"
            "../img/0.png,cat,a0,cam1\r\n"
            "\n"
            " ../img/1.png , dog ,a1,cam2\n"
            "\"../img/2.png\",\"cat\",\"a,2\",cam1\n" +
                uri + ",fox,a3,\n");
  auto ds = openList(dir / "lists/val.csv");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  const Dataset& d = **ds;
  ASSERT_EQ(d.size(), 4u);
  EXPECT_FALSE(d.classesAreIndices());
  EXPECT_EQ(d.classes(), (std::vector<std::string>{"cat", "dog", "fox"}));
  EXPECT_EQ(d.key(0), "a0");
  EXPECT_EQ(d.key(2), "a,2");
  EXPECT_EQ(d.slice(0), "cam1");
  EXPECT_EQ(d.slice(1), "cam2");
  EXPECT_EQ(d.slice(3), "");
  auto s = d.get(1);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->label, 1);
  EXPECT_EQ(s->key, "a1");
  EXPECT_EQ(s->slice, "cam2");
  EXPECT_EQ(s->id, "../img/1.png");
  EXPECT_EQ(s->image.width, 5);
  EXPECT_EQ(s->image.channels, 3);
  auto enc = d.encoded(3);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(*enc, readAll(dir / "other/x y.png"));
  EXPECT_NE(d.describe().find("4 images, 3 classes, 2 slices"), std::string::npos) << d.describe();
}

TEST(List, JsonLinesWithIndexLabels) {
  TempDir dir;
  makeImages(dir);
  writeFile(dir / "val.jsonl",
            "{\"path\": \"img/0.png\", \"label\": 2, \"id\": 10}\n"
            "{\"path\": \"img/1.png\", \"label\": 0, \"id\": 11, \"slice\": \"night\"}\n");
  auto ds = openList(dir / "val.jsonl");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_TRUE((*ds)->classesAreIndices());
  EXPECT_EQ((*ds)->classes(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ((*ds)->get(0)->label, 2);
  EXPECT_EQ((*ds)->key(1), "11");
  EXPECT_EQ((*ds)->slice(1), "night");
  // Sniffed by its first character under another name.
  writeFile(dir / "val.list", readAll(dir / "val.jsonl"));
  EXPECT_TRUE(openList(dir / "val.list").ok());
}

TEST(List, CsvDigitLabelsAreIndicesOnlyWhenAllAre) {
  TempDir dir;
  makeImages(dir);
  writeFile(dir / "a.csv", "path,label\nimg/0.png,3\nimg/1.png,0\n");
  auto ds = openList(dir / "a.csv");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_TRUE((*ds)->classesAreIndices());
  EXPECT_EQ((*ds)->get(0)->label, 3);
  writeFile(dir / "b.csv", "path,label\nimg/0.png,3\nimg/1.png,cat\n");
  ds = openList(dir / "b.csv");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_FALSE((*ds)->classesAreIndices());
  EXPECT_EQ((*ds)->classes(), (std::vector<std::string>{"3", "cat"}));
}

TEST(List, KeysWithoutIdsFollowTheImageFolderRule) {
  TempDir dir;
  makeImages(dir);
  writeFile(dir / "a.csv", "path,label\nimg/0.png,cat\nimg/2.png,dog\n");
  auto ds = openList(dir / "a.csv");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->key(0), "0") << "the file name without its extension";
  EXPECT_EQ((*ds)->key(1), "2");
  // Two files named 0.*: every key is the path.
  writeFile(dir / "more/0.jpg", encodeJpeg(solid(4, 4, {9}), 90));
  writeFile(dir / "b.csv", "path,label\nimg/0.png,cat\nmore/0.jpg,dog\n");
  ds = openList(dir / "b.csv");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->key(0), "img/0.png");
  EXPECT_EQ((*ds)->key(1), "more/0.jpg");
}

TEST(List, EachRefusalNamesItsLine) {
  TempDir dir;
  makeImages(dir);
  auto expectBad = [&](const std::string& text, const std::string& want, const char* name = "l.csv") {
    writeFile(dir / name, text);
    auto ds = openList(dir / name);
    ASSERT_FALSE(ds.ok()) << text;
    EXPECT_EQ(ds.error().kind(), ErrorKind::BadInput);
    EXPECT_NE(ds.error().message().find(want), std::string::npos) << ds.error().message();
    EXPECT_EQ(ds.error().message().find('\n'), std::string::npos) << ds.error().message();
  };
  expectBad("path,label\nimg/0.png,cat\nimg/9.png,dog\n", "line 3: 'img/9.png': no such file");
  expectBad("path,label\nimg/0.png,cat\nimg/1.png,dog\n./img/0.png,dog\n",
            "line 4: path './img/0.png' is listed already on line 2");
  expectBad("path,label,id\nimg/0.png,cat,7\nimg/1.png,dog,7\n", "line 3: id '7' is used already on line 2");
  expectBad("path,lable\nimg/0.png,cat\n", "line 1: column 'lable': expected a header row of path, label, id, slice "
                                            "(did you mean 'label'?)");
  expectBad("path,id\nimg/0.png,1\n", "line 1: no column 'label'");
  expectBad("path,label\nimg/0.png,cat,extra\n", "line 2: 3 fields: expected 2");
  expectBad("path,label\n\"img/0.png,cat\n", "line 2: a quoted field is not closed");
  expectBad("path,label\nhttp://example.com/a.png,cat\n", "line 2: 'http://example.com/a.png': expected a path or a file:// URI");
  expectBad("path,label,id\nimg/0.png,cat,1\nimg/1.png,dog,\n", "line 3: no id");
  expectBad("path,label\nimg/0.png,\n", "line 2: empty label");
  expectBad("path,label\n", "no samples listed");
  expectBad("", "empty list");
  expectBad("{\"path\": \"img/0.png\", \"label\": 1}\n{\"path\": \"img/1.png\", \"label\": \"cat\"}\n",
            "line 2: label 'cat' is a name, the first line's is an index", "l.jsonl");
  expectBad("{\"path\": \"img/0.png\", \"label\": 1, \"slise\": \"a\"}\n",
            "line 1: key 'slise': expected path, label, id, slice (did you mean 'slice'?)", "l.jsonl");
  expectBad("{\"path\": \"img/0.png\", \"label\": -1}\n", "line 1: 'label': expected a class name", "l.jsonl");
  expectBad("{\"path\": \"img/0.png\", \"label\": 1}\n[1]\n", "line 2: expected a JSON object", "l.jsonl");
  expectBad("{\"path\": \"img/0.png\"\n", "line 1", "l.jsonl");
}

TEST(List, TheHashCoversLabelsSlicesAndBytes) {
  TempDir dir;
  makeImages(dir);
  auto hash = [&](const std::string& text) {
    writeFile(dir / "h.csv", text);
    auto ds = openList(dir / "h.csv");
    EXPECT_TRUE(ds.ok()) << errorOf(ds);
    return ds.ok() ? (*ds)->sha256() : std::string();
  };
  const std::string base = hash("path,label,slice\nimg/0.png,cat,a\nimg/1.png,dog,b\n");
  EXPECT_EQ(base, hash("path,label,slice\nimg/0.png,cat,a\nimg/1.png,dog,b\n"));
  EXPECT_NE(base, hash("path,label,slice\nimg/0.png,dog,a\nimg/1.png,dog,b\n")) << "a label";
  EXPECT_NE(base, hash("path,label,slice\nimg/0.png,cat,b\nimg/1.png,dog,b\n")) << "a slice";
  writeFile(dir / "img/1.png", png(pattern(5, 2, 3, 9)));
  EXPECT_NE(base, hash("path,label,slice\nimg/0.png,cat,a\nimg/1.png,dog,b\n")) << "an image's bytes";
}

TEST(SampleKeys, ImageFolderAndIdx) {
  TempDir dir;
  writeFile(dir / "f/cat/7.png", png(pattern(2, 2, 1, 1)));
  writeFile(dir / "f/dog/8.png", png(pattern(2, 2, 1, 2)));
  auto ds = openImageFolder(dir / "f");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->key(0), "7");
  EXPECT_EQ((*ds)->get(1)->key, "8");
  EXPECT_FALSE((*ds)->classesAreIndices());
  writeFile(dir / "f/dog/7.jpg", encodeJpeg(solid(4, 4, {9}), 90));
  ds = openImageFolder(dir / "f");
  ASSERT_TRUE(ds.ok()) << errorOf(ds);
  EXPECT_EQ((*ds)->key(0), "cat/7.png") << "two files named 7: paths";
  EXPECT_EQ((*ds)->key(1), "dog/7.jpg");

  writeFile(dir / "i.idx", idxImages(3, 1, 1, {1, 2, 3}));
  writeFile(dir / "l.idx", idxLabels({0, 1, 0}));
  auto idx = openIdx(dir / "i.idx", dir / "l.idx");
  ASSERT_TRUE(idx.ok()) << errorOf(idx);
  EXPECT_EQ((*idx)->key(2), "2");
  EXPECT_EQ((*idx)->get(1)->key, "1");
  EXPECT_TRUE((*idx)->classesAreIndices());
  auto lim = limitDataset(std::move(*idx), 2);
  EXPECT_EQ(lim->key(1), "1");
  EXPECT_TRUE(lim->classesAreIndices());

  EXPECT_EQ(sampleKeysFromPaths({"a/b.png", "c/d.jpeg", ".e"}), (std::vector<std::string>{"b", "d", ".e"}));
  EXPECT_EQ(sampleKeysFromPaths({"a/b.png", "c/b.jpeg"}), (std::vector<std::string>{"a/b.png", "c/b.jpeg"}));
}

// limitDataset: a prefix view with its own hash; 0 or a large limit is the whole set.
#include <gtest/gtest.h>

#include "TestUtil.h"
#include "data/Dataset.h"

using namespace cvgate;
using namespace cvgate::testutil;

namespace {

std::unique_ptr<Dataset> fourImages(const TempDir& dir) {
  std::vector<std::uint8_t> px = {1, 2, 3, 4};
  writeFile(dir / "i", idxImages(4, 1, 1, px));
  writeFile(dir / "l", idxLabels({0, 1, 2, 3}));
  auto ds = openIdx(dir / "i", dir / "l");
  EXPECT_TRUE(ds.ok()) << ds.error().message();
  return ds.ok() ? std::move(*ds) : nullptr;
}

}  // namespace

TEST(Limit, PrefixViewWithItsOwnHash) {
  TempDir dir;
  auto whole = fourImages(dir);
  ASSERT_NE(whole, nullptr);
  const std::string fullSha = whole->sha256();
  const std::string fullDescribe = whole->describe();
  auto two = limitDataset(fourImages(dir), 2);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ(two->classes(), whole->classes());  // classes come from the whole set
  EXPECT_EQ(two->describe(), fullDescribe + ", first 2");
  EXPECT_EQ(two->sha256().size(), 64u);
  EXPECT_NE(two->sha256(), fullSha);
  auto three = limitDataset(fourImages(dir), 3);
  EXPECT_NE(three->sha256(), two->sha256());
  EXPECT_EQ(limitDataset(fourImages(dir), 2)->sha256(), two->sha256());

  auto s = two->get(1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->image.pixels, std::vector<std::uint8_t>{2});
  EXPECT_EQ(s->label, 1);
  EXPECT_EQ(s->id, "i:1");
  auto beyond = two->get(2);  // exists in the inner set, not in the view
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().kind(), ErrorKind::Internal);
}

TEST(Limit, ZeroOrLargeLimitIsTheWholeSet) {
  TempDir dir;
  const std::string fullSha = fourImages(dir)->sha256();
  for (std::size_t limit : {std::size_t{0}, std::size_t{4}, std::size_t{1000}}) {
    auto ds = limitDataset(fourImages(dir), limit);
    ASSERT_NE(ds, nullptr);
    EXPECT_EQ(ds->size(), 4u) << limit;
    EXPECT_EQ(ds->sha256(), fullSha) << limit;
    EXPECT_TRUE(ds->get(3).ok());
  }
  EXPECT_EQ(limitDataset(nullptr, 3), nullptr);
}

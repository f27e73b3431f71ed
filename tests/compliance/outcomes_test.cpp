// The grid of batches, the shards' ranges over it, and the outcome file's
// round trip and refusals, without a model: every position planned belongs
// to exactly one shard, in whole batches; doubles come back bit for bit; a
// truncated or altered file is refused naming it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "compliance/Outcomes.h"

using namespace cvgate;
using namespace cvgate::compliance;

TEST(Grid, BatchesCoverThePlannedPositionsWithAPartialLast) {
  EXPECT_EQ(gridBatches(0, 256), 0u);
  EXPECT_EQ(gridBatches(1000, 256), 4u);
  EXPECT_EQ(gridBatches(1024, 256), 4u);
  EXPECT_EQ(gridBatches(1025, 256), 5u);
  EXPECT_EQ(gridBatch(3, 1000, 256), (PositionRange{768, 1000}));
  EXPECT_EQ(gridBatch(0, 1000, 256), (PositionRange{0, 256}));
  EXPECT_EQ(gridBatch(9, 1000, 256), (PositionRange{1000, 1000}));
}

TEST(Grid, ShardsAreContiguousWholeBatchesThatTileThePlan) {
  for (std::size_t planned : {0ul, 1ul, 7ul, 255ul, 256ul, 1000ul, 1537ul, 10000ul}) {
    for (std::size_t batch : {1ul, 16ul, 256ul}) {
      for (std::size_t n : {1ul, 2ul, 3ul, 7ul, 64ul}) {
        std::size_t next = 0;
        for (std::size_t k = 0; k < n; ++k) {
          const PositionRange r = shardRange(k, n, planned, batch);
          ASSERT_EQ(r.from, next) << planned << " " << batch << " " << k << "/" << n;
          ASSERT_LE(r.from, r.to);
          // Starts and ends on the grid (or at the plan's end).
          ASSERT_EQ(r.from % batch, 0u);
          ASSERT_TRUE(r.to % batch == 0 || r.to == planned);
          next = r.to;
        }
        ASSERT_EQ(next, planned) << planned << " " << batch << " " << n;
      }
    }
  }
  // 4 batches over 3 shards: floor(k*4/3) = 0, 1, 2, 4.
  EXPECT_EQ(shardRange(0, 3, 1000, 256), (PositionRange{0, 256}));
  EXPECT_EQ(shardRange(1, 3, 1000, 256), (PositionRange{256, 512}));
  EXPECT_EQ(shardRange(2, 3, 1000, 256), (PositionRange{512, 1000}));
  // More shards than batches: some are empty, and they say so.
  EXPECT_EQ(shardRange(0, 7, 1000, 256), (PositionRange{0, 0}));
  EXPECT_EQ(shardRange(6, 7, 1000, 256), (PositionRange{768, 1000}));
  EXPECT_EQ(shardRange(0, 1, 1000, 256), (PositionRange{0, 1000}));
}

TEST(Grid, ShardSpecIsKOfNFromZero) {
  auto s = parseShardSpec("2/3");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->k, 2u);
  EXPECT_EQ(s->n, 3u);
  EXPECT_TRUE(parseShardSpec("0/1").ok());
  for (const char* bad : {"3/3", "1/0", "-1/3", "a/3", "1/", "/3", "1", "1/3/4", "1 /3", "+1/3", "99999999999/1"}) {
    auto b = parseShardSpec(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.error().message().find(std::string("'") + bad + "'"), std::string::npos) << b.error().message();
  }
}

namespace {

Answer answer(int top1, double conf, std::size_t k) {
  Answer a;
  a.ok = true;
  a.top1 = top1;
  a.confidence = conf;
  for (std::size_t j = 0; j < k; ++j) {
    a.probs.push_back(1.0 / 3.0 + static_cast<double>(j) * 1e-17);
    a.logits.push_back(-std::nextafter(0.1 * static_cast<double>(j), 1.0));
  }
  return a;
}

OutcomeHeader header(std::size_t k, std::size_t n) {
  OutcomeHeader h;
  h.toolVersion = "0.1.0";
  h.datasetSha256 = "d";
  h.datasetDescribe = "test";
  h.datasetN = 10;
  h.labels = {"a", "b", "c"};
  h.current.model = "m1";
  h.current.sha256 = "s1";
  h.current.layout = "contiguous";
  h.hasCandidate = true;
  h.candidate = h.current;
  h.candidate.sha256 = "s2";
  h.configSha256 = "c";
  h.threshold = 0.7;
  h.seed = 7;
  h.calibrationFraction = 0.2;
  h.batch = 4;
  h.planned = 10;
  h.shard = {k, n};
  h.range = shardRange(k, n, 10, 4);
  return h;
}

std::vector<SampleOutcome> samples(const PositionRange& r) {
  std::vector<SampleOutcome> out;
  for (std::size_t p = r.from; p < r.to; ++p) {
    SampleOutcome s;
    s.position = p;
    s.index = 9 - p;
    s.key = "k" + std::to_string(p);
    s.id = "id" + std::to_string(p);
    s.label = static_cast<int>(p % 3);
    s.current = answer(1, 0.123456789012345678, 3);
    if (p == r.from) {
      s.candidate.error = "exception: boom";  // a failed request
    } else {
      s.candidate = answer(2, std::nextafter(0.7, 0.0), 3);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST(OutcomeFile, RoundTripsEveryAnswerBitForBit) {
  const OutcomeHeader h = header(1, 2);
  const auto in = samples(h.range);
  ASSERT_FALSE(in.empty());
  const std::string text = writeOutcomes(h, in);
  auto f = parseOutcomes(text, "x.outcomes");
  ASSERT_TRUE(f.ok()) << f.error().message();
  ASSERT_EQ(f->samples.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto& a = in[i];
    const auto& b = f->samples[i];
    EXPECT_EQ(a.position, b.position);
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.key, b.key);
    for (auto [x, y] : {std::pair{&a.current, &b.current}, std::pair{&a.candidate, &b.candidate}}) {
      EXPECT_EQ(x->ok, y->ok);
      EXPECT_EQ(x->error, y->error);
      EXPECT_EQ(x->top1, y->top1);
      EXPECT_EQ(std::memcmp(&x->confidence, &y->confidence, sizeof(double)), 0);
      ASSERT_EQ(x->probs.size(), y->probs.size());
      for (std::size_t j = 0; j < x->probs.size(); ++j) {
        EXPECT_EQ(std::memcmp(&x->probs[j], &y->probs[j], sizeof(double)), 0);
        EXPECT_EQ(std::memcmp(&x->logits[j], &y->logits[j], sizeof(double)), 0);
      }
    }
  }
  EXPECT_EQ(f->header.range, h.range);
  EXPECT_EQ(f->header.evaluated, in.size());
}

TEST(OutcomeFile, ATruncatedOrAlteredFileIsRefusedNamingIt) {
  const OutcomeHeader h = header(1, 2);
  const std::string text = writeOutcomes(h, samples(h.range));
  const auto nl = text.find('\n');
  for (std::size_t cut : {std::size_t{0}, nl / 2, nl + 1, nl + 40, text.size() - 1}) {
    auto f = parseOutcomes(text.substr(0, cut), "t.outcomes");
    ASSERT_FALSE(f.ok()) << cut;
    EXPECT_EQ(f.error().message().rfind("'t.outcomes'", 0), 0u) << f.error().message();
    EXPECT_EQ(f.error().message().find('\n'), std::string::npos);
  }
  // Every byte flipped, one at a time: refused, never accepted or crashed.
  for (std::size_t i = 0; i < text.size(); i += 7) {
    std::string bad = text;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto f = parseOutcomes(bad, "f.outcomes");
    if (f.ok()) {
      // A flip inside the header that leaves it valid JSON with other values
      // (a digit of a timing field) is not a corruption the records show.
      ASSERT_LT(i, nl) << "a flipped record byte was accepted at " << i;
      continue;
    }
    EXPECT_EQ(f.error().message().rfind("'f.outcomes'", 0), 0u) << f.error().message();
  }
  auto wrong = parseOutcomes("{\"schema\":\"cvgate.compliance/1\"}\n", "w.outcomes");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("expected 'cvgate.outcomes/1'"), std::string::npos);
}

namespace {

std::vector<OutcomeFile> shards(std::size_t n) {
  std::vector<OutcomeFile> out;
  for (std::size_t k = 0; k < n; ++k) {
    const OutcomeHeader h = header(k, n);
    auto f = parseOutcomes(writeOutcomes(h, samples(h.range)), std::to_string(k) + ".outcomes");
    EXPECT_TRUE(f.ok()) << f.error().message();
    out.push_back(*f);
  }
  return out;
}

const MergeExpect kExpect{"c", "s1", "s2"};

std::string verifyError(std::vector<OutcomeFile> files, const MergeExpect& e = kExpect) {
  auto st = verifyShards(files, e);
  return st.ok() ? "" : st.error().message();
}

}  // namespace

TEST(Merge, TheShardsOfOneEvaluationAreAcceptedInAnyOrder) {
  auto files = shards(3);
  std::swap(files[0], files[2]);
  auto st = verifyShards(files, kExpect);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(files[0].header.shard.k, 0u);
  EXPECT_EQ(files[2].header.shard.k, 2u);
}

TEST(Merge, MissingDuplicatedMismatchedShardsAreRefusedNamingThem) {
  auto files = shards(3);
  files.erase(files.begin() + 1);
  EXPECT_EQ(verifyError(files).rfind("shard 1/3 missing", 0), 0u) << verifyError(files);

  files = shards(3);
  files.push_back(files[1]);
  files.back().path = "again.outcomes";
  EXPECT_NE(verifyError(files).find("'again.outcomes': shard 1/3 given twice"), std::string::npos) << verifyError(files);

  files = shards(3);
  files[2].header.datasetSha256 = "other";
  EXPECT_NE(verifyError(files).find("'2.outcomes': data set sha256 other"), std::string::npos) << verifyError(files);

  files = shards(3);
  files[1].header.candidate.sha256 = "other";
  EXPECT_NE(verifyError(files).find("'1.outcomes': candidate model sha256 other"), std::string::npos);

  files = shards(3);
  files[1].header.candidate.layout = "channels-last";
  EXPECT_NE(verifyError(files).find("'1.outcomes': candidate layout"), std::string::npos);

  files = shards(3);
  files[1].header.range = {0, 8};
  EXPECT_NE(verifyError(files).find("'1.outcomes': positions [0,8)"), std::string::npos) << verifyError(files);

  files = shards(3);
  files[2].header.shard.n = 4;
  EXPECT_NE(verifyError(files).find("'2.outcomes': shard count 4"), std::string::npos);

  // The command line's config and models.
  files = shards(2);
  EXPECT_NE(verifyError(files, {"c2", "s1", "s2"}).find("'0.outcomes': config sha256 c"), std::string::npos);
  EXPECT_NE(verifyError(files, {"c", "s1", ""}).find("'0.outcomes': candidate model sha256 s2: expected none"),
            std::string::npos);
  EXPECT_NE(verifyError(files, {"c", "x", "s2"}).find("'0.outcomes': current model sha256 s1"), std::string::npos);
}

TEST(Merge, TimingFieldsAreRemovedAndNothingElse) {
  nlohmann::json r = {{"checks", nlohmann::json::array()},
                      {"results",
                       {{"wall_ms", 1},
                        {"threshold", 0.7},
                        {"budget", {{"seconds_per_image", 0.1}, {"evaluated", 5}}},
                        {"current", {{"wall_ms", 1}, {"compliance", 0.5}, {"serving", {{"note", "x"}, {"graph", "serving"}}}}},
                        {"candidate", nullptr}}}};
  auto s = withoutTimingFields(r);
  EXPECT_FALSE(s["results"].contains("wall_ms"));
  EXPECT_FALSE(s["results"]["budget"].contains("seconds_per_image"));
  EXPECT_EQ(s["results"]["budget"]["evaluated"], 5);
  EXPECT_FALSE(s["results"]["current"].contains("wall_ms"));
  EXPECT_EQ(s["results"]["current"]["compliance"], 0.5);
  EXPECT_EQ(s["results"]["current"]["serving"], (nlohmann::json{{"graph", "serving"}}));
  EXPECT_TRUE(s["results"]["candidate"].is_null());
}

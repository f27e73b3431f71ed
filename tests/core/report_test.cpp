// Report envelope: round trip, schema checks on read, atomic write, feeds.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include "TempDir.h"
#include "common/Fs.h"
#include "report/Feed.h"
#include "report/Report.h"

using namespace cvgate;
using cvgate::testing::TempDir;

static Report sample() {
  Report r = newReport("profile-latency", "cvgate.latency", "20261125T2100Z-3f2a");
  r.subjects["current"] = {"fashion-mlp-v1", std::string(64, 'a'), ""};
  r.inputs = {{"config_sha256", "c"}, {"dataset_sha256", "d"}};
  Check c;
  c.id = "latency.p95";
  c.subject = "current";
  c.status = Outcome::Pass;
  c.value = 3.1;
  c.threshold = 500;
  c.unit = "ms";
  c.ci = std::make_pair(2.9, 3.4);
  c.message = "p95 3.1 ms < 500 ms";
  r.checks.push_back(c);
  Check i;
  i.id = "latency.error_rate";
  i.subject = "current";
  i.status = Outcome::Inconclusive;
  i.need = {{"samples", 1200}};
  r.checks.push_back(i);
  r.results = {{"p95_ms", 3.1}};
  r.settleStatus();
  return r;
}

TEST(Report, RoundTripKeepsEveryField) {
  Report r = sample();
  EXPECT_EQ(r.status, Outcome::Inconclusive);
  auto back = reportFromJson(toJson(r), "cvgate.latency");
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(toJson(*back), toJson(r));
  EXPECT_EQ(back->schema, "cvgate.latency/1");
  ASSERT_NE(back->findCheck("latency.p95", "current"), nullptr);
  EXPECT_EQ(back->findCheck("latency.p95")->ci->second, 3.4);
  EXPECT_EQ(back->findCheck("latency.error_rate")->need["samples"], 1200);
}

TEST(Report, StatusIsTheWorstCheck) {
  Report r = sample();
  r.checks[1].status = Outcome::Fail;
  r.settleStatus();
  EXPECT_EQ(r.status, Outcome::Fail);
  r.checks.clear();
  r.settleStatus();
  EXPECT_EQ(r.status, Outcome::Inconclusive) << "no evidence is never a pass";
}

TEST(Report, ReaderRefusesUnknownOrNewerSchemas) {
  json j = toJson(sample());
  j["schema"] = "cvgate.latency/2";
  auto a = reportFromJson(j);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message().find("newer"), std::string::npos);
  j["schema"] = "cvgate.weather/1";
  EXPECT_FALSE(reportFromJson(j).ok());
  j["schema"] = "cvgate.latency/1";
  auto b = reportFromJson(j, "cvgate.compliance");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("expected a cvgate.compliance/1 report"), std::string::npos);
  j.erase("checks");
  EXPECT_FALSE(reportFromJson(j).ok());
}

TEST(Report, ReadNamesTheFileOnCorruptJson) {
  TempDir t;
  std::ofstream(t.file("r.json")) << "{\"schema\": ";
  auto r = readReport(t.file("r.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "'" + t.file("r.json") + "': not valid JSON");
}

TEST(AtomicWrite, ReplacesWholeAndLeavesNoTempFiles) {
  TempDir t;
  std::string p = t.file("sub/dir/r.json");
  ASSERT_TRUE(atomicWriteFile(p, "old").ok());
  ASSERT_TRUE(atomicWriteFile(p, "new content").ok());
  EXPECT_EQ(*readFile(p), "new content");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(t.file("sub/dir"))) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(AtomicWrite, ANodeInPlaceOfAStateFileIsAnErrorNamingItAndStaysAsItWas) {
  TempDir t;
  const std::string target = t.file("elsewhere.json");
  ASSERT_TRUE(atomicWriteFile(target, "keep").ok());
  const std::string link = t.file("link.json"), fifo = t.file("fifo.json"), dir = t.file("dir.json");
  std::filesystem::create_symlink(target, link);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::filesystem::create_directory(dir);
  for (const std::string& p : {link, fifo, dir}) {
    auto st = atomicWriteFile(p, "new");
    ASSERT_FALSE(st.ok()) << p;
    EXPECT_NE(st.error().message().find("'" + p + "'"), std::string::npos) << st.error().message();
    EXPECT_NE(st.error().message().find("where cvgate keeps a state file"), std::string::npos) << st.error().message();
  }
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(*readFile(target), "keep");
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_TRUE(std::filesystem::is_directory(dir));
}

TEST(AtomicWrite, FailureLeavesTheOldFileAndNoTemp) {
  TempDir t;
  std::string p = t.file("r.json");
  ASSERT_TRUE(atomicWriteFile(p, "old").ok());
  // A file-size limit makes the write fail part-way, as a full disk would.
  struct rlimit before;
  ::getrlimit(RLIMIT_FSIZE, &before);
  auto prev = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = 8;
  ::setrlimit(RLIMIT_FSIZE, &small);
  auto st = atomicWriteFile(p, std::string(4096, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, prev);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(*readFile(p), "old");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(t.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1) << "the temp file was left behind";
}

TEST(Feed, PublishListAndRetain) {
  TempDir t;
  for (const char* id : {"c1", "c2", "c3"}) {
    Report r = sample();
    r.cycleId = id;
    auto p = publishReport(t.path(), r);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(*p, t.path() + "/feeds/v1_latency_feed/" + id + ".json");
  }
  EXPECT_EQ(listFeed(t.path(), "v1_latency_feed"), (std::vector<std::string>{"c1", "c2", "c3"}));
  ASSERT_TRUE(retainFeed(t.path(), "v1_latency_feed", 2).ok());
  EXPECT_EQ(listFeed(t.path(), "v1_latency_feed"), (std::vector<std::string>{"c2", "c3"}));
  auto back = readReport(feedPath(t.path(), "v1_latency_feed", "c3"), "cvgate.latency");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->cycleId, "c3");
}

TEST(Feed, RefusesCycleIdsThatAreNotFileNames) {
  TempDir t;
  Report r = sample();
  r.cycleId = "../../etc/passwd";
  EXPECT_FALSE(publishReport(t.path(), r).ok());
}

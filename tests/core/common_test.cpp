// Common helpers: sha256, cycle ids, time, did-you-mean, the watchdog.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/Error.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "common/Time.h"
#include "common/Watchdog.h"
#include "TempDir.h"

using namespace cvgate;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update("a");
  h.update("bc");
  EXPECT_EQ(h.hexdigest(), sha256Hex("abc"));
}

TEST(CycleId, FormatAndResolution) {
  std::string id = newCycleId();
  EXPECT_EQ(id.size(), 19u) << id;
  EXPECT_TRUE(isValidCycleId(id));
  EXPECT_EQ(resolveCycleId("given"), "given");
  ::setenv("CVGATE_CYCLE_ID", "fromenv", 1);
  EXPECT_EQ(resolveCycleId(""), "fromenv");
  ::unsetenv("CVGATE_CYCLE_ID");
  EXPECT_FALSE(isValidCycleId("a/b"));
  EXPECT_FALSE(isValidCycleId(".hidden"));
}

TEST(Time, IsoRoundTrip) {
  std::chrono::system_clock::time_point t;
  ASSERT_TRUE(parseIsoUtc("2026-11-25T21:00:01Z", &t));
  EXPECT_EQ(isoUtc(t), "2026-11-25T21:00:01Z");
  EXPECT_FALSE(parseIsoUtc("yesterday", &t));
}

// Found by fuzz_verdicts (tests/fuzz/regressions/verdicts): a year outside what
// system_clock can hold overflowed a signed multiplication (UB); fields out of
// range were normalised into another date. Both are now not a time.
TEST(Time, IsoOutOfRangeIsNotATime) {
  std::chrono::system_clock::time_point t;
  EXPECT_FALSE(parseIsoUtc("1013-11-25T20:30:30Z", &t));
  EXPECT_FALSE(parseIsoUtc("9999-11-25T20:30:30Z", &t));
  EXPECT_FALSE(parseIsoUtc("2026-13-25T20:30:30Z", &t));
  EXPECT_FALSE(parseIsoUtc("2026-11-00T20:30:30Z", &t));
  EXPECT_FALSE(parseIsoUtc("2026-11-25T24:30:30Z", &t));
  EXPECT_FALSE(parseIsoUtc("2026-11-25T20:-1:30Z", &t));
  EXPECT_TRUE(parseIsoUtc("2261-12-31T23:59:59Z", &t));
}

TEST(Strings, DidYouMean) {
  EXPECT_EQ(closestMatch("threshhold", {"threshold", "seed"}), "threshold");
  EXPECT_EQ(closestMatch("zzz", {"threshold", "seed"}), "");
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

// A deadline that ends while the watcher thread waits on it, then another:
// the watcher must not read the ended one's entry after waking (under
// AddressSanitizer this was a heap-use-after-free in every model load).
// A newline that came in with hostile data (fuzz: a report whose schema held
// one) cannot split an error message, whichever reader built it.
TEST(Error, AMessageIsOneLineByConstruction) {
  const cvgate::Error e = cvgate::badInput("unknown schema 'cvgate.env\n/1'\t\x01");
  EXPECT_EQ(e.message(), "unknown schema 'cvgate.env\\n/1'\\t\\x01");
  EXPECT_EQ(e.context("'a\nb.json'").message(), "'a\\nb.json': " + e.message());
  EXPECT_EQ(cvgate::internalError("plain").message(), "plain");
}

TEST(Watchdog, ADeadlineEndedWhileTheWatcherWaitsOnItIsForgotten) {
  for (int i = 0; i < 3; ++i) {
    Deadline d(60, "the test's work");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the watcher is in wait_until
  }
  Deadline next(60, "the next work");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SUCCEED();
}

// The watcher sleeps until the soonest deadline it knows and is woken only
// for one that is sooner: a short deadline armed while it sleeps towards a
// long one (open, or already ended) still ends the process on time.
TEST(WatchdogDeathTest, AShortDeadlineArmedWhileTheWatcherSleepsTowardsALongOneStillFires) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: its own watcher thread
  EXPECT_EXIT(
      {
        Deadline open(60, "the long work");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the watcher sleeps towards it
        Deadline shortOne(0.2, "the short work");
        std::this_thread::sleep_for(std::chrono::seconds(10));
      },
      ::testing::ExitedWithCode(kDeadlineExitCode), "the short work: did not finish within 0.2 s");
  EXPECT_EXIT(
      {
        {
          Deadline first(60, "the first batch");
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the watcher sleeps towards it
        }
        for (int i = 0; i < 100; ++i) Deadline batch(60, "one batch");  // each ended at once
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        Deadline shortOne(0.2, "the short work");
        std::this_thread::sleep_for(std::chrono::seconds(10));
      },
      ::testing::ExitedWithCode(kDeadlineExitCode), "the short work: did not finish within 0.2 s");
}

// Deadlines of the same length armed one after another (a model call per
// batch) each still end the process when they pass, though the watcher was
// not woken for them.
TEST(WatchdogDeathTest, ALaterDeadlineOfTheSameLengthFiresWithoutAWakeUpOfItsOwn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: its own watcher thread
  EXPECT_EXIT(
      {
        {
          Deadline first(0.5, "the first batch");
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the watcher sleeps towards it
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        Deadline second(0.5, "the second batch");
        std::this_thread::sleep_for(std::chrono::seconds(10));
      },
      ::testing::ExitedWithCode(kDeadlineExitCode), "the second batch: did not finish within 0.5 s");
}

// A file copied into place as an output: whole, checked against the sha256
// it must have before it replaces anything, through a symlink to its
// target, never onto a directory; a failed copy leaves nothing behind.
TEST(Fs, CopyOutputFileIsCheckedAndAtomic) {
  namespace fs = std::filesystem;
  cvgate::testing::TempDir t;
  std::ofstream(t.file("from")) << "archive bytes";
  std::ofstream(t.file("old")) << "old";
  const std::string sha = cvgate::sha256Hex("archive bytes");
  ASSERT_TRUE(cvgate::copyOutputFile(t.file("from"), t.file("to"), sha).ok());
  EXPECT_EQ(cvgate::readFile(t.file("to")).value(), "archive bytes");
  // A wrong sha256: the old file stays, and no temporary file is left.
  auto bad = cvgate::copyOutputFile(t.file("from"), t.file("old"), std::string(64, '0'));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("expected 0000"), std::string::npos) << bad.error().message();
  EXPECT_EQ(cvgate::readFile(t.file("old")).value(), "old");
  for (const auto& e : fs::directory_iterator(t.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  // Through a symlink: its target is written, the link stays.
  fs::create_symlink(t.file("old"), t.file("link"));
  ASSERT_TRUE(cvgate::copyOutputFile(t.file("from"), t.file("link"), "").ok());
  EXPECT_TRUE(fs::is_symlink(t.file("link")));
  EXPECT_EQ(cvgate::readFile(t.file("old")).value(), "archive bytes");
  // Onto a directory, or from a missing file: refused, naming the path.
  fs::create_directory(t.file("dir"));
  auto dir = cvgate::copyOutputFile(t.file("from"), t.file("dir"), "");
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("a directory"), std::string::npos) << dir.error().message();
  auto missing = cvgate::copyOutputFile(t.file("nope"), t.file("to2"), "");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("nope"), std::string::npos) << missing.error().message();
  EXPECT_FALSE(fs::exists(t.file("to2")));
}

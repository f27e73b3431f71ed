// Config parsing: defaults, relative paths, and errors that name file, line and key.
#include <gtest/gtest.h>

#include "common/Install.h"
#include "config/Config.h"

using namespace cvgate;

TEST(Config, EmptyFileGivesDefaults) {
  auto c = parseConfig("", "/etc/cvgate/c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_DOUBLE_EQ(c->objectives.p95LatencyMs, 500.0);
  EXPECT_DOUBLE_EQ(c->objectives.maxErrorRate, 0.01);
  EXPECT_DOUBLE_EQ(c->objectives.minComplianceUplift, 0.10);
  EXPECT_DOUBLE_EQ(c->objectives.minThroughputRps, 100.0);
  EXPECT_EQ(c->stateDir, "/etc/var");
  EXPECT_EQ(c->sha256.size(), 64u);
}

TEST(Config, RelativePathsResolveAgainstTheFile) {
  auto c = parseConfig("[models]\ncurrent = \"../models/a.pt\"\ncandidate = \"/abs/b.pt\"\n",
                       "/srv/x/configs/c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->models.current, "/srv/x/models/a.pt");
  EXPECT_EQ(c->models.candidate, "/abs/b.pt");
}

TEST(Config, DataDirPathsResolveInTheInstallation) {
  auto c = parseConfig("[models]\ncurrent = \"${datadir}/models/a.pt\"\n", "/srv/x/configs/c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->models.current, installLayout().dataDir + "/models/a.pt");
  for (const char* bad : {"${HOME}/a.pt", "${datadirx}/a.pt"}) {
    auto d = parseConfig(std::string("[models]\ncurrent = \"") + bad + "\"\n", "c.toml");
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.error().message(),
              "'c.toml' line 2: key 'models.current': expected a path, or one that starts with ${datadir}/");
  }
}

TEST(Config, IntegerWhereNumberExpectedIsAccepted) {
  auto c = parseConfig("[objectives]\np95_latency_ms = 250\n", "c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_DOUBLE_EQ(c->objectives.p95LatencyMs, 250.0);
}

TEST(Config, UnknownKeyNamesFileLineKeyAndSuggests) {
  auto c = parseConfig("[objectives]\n\np95_latncy_ms = 3\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            "'c.toml' line 3: unknown key 'objectives.p95_latncy_ms' (did you mean 'p95_latency_ms'?)");
  EXPECT_EQ(c.error().kind(), ErrorKind::BadInput);
}

// toml++ quotes the character it stopped at, a newline included: the error
// must stay one line (found by the config fuzzer).
TEST(Config, ASyntaxErrorQuotingANewlineIsOneLine) {
  auto c = parseConfig("[limits]\nmax_json_mb = t\nx = 1\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().find('\n'), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("'c.toml' line 2: "), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("\\n"), std::string::npos) << c.error().message();
}

TEST(Config, UnknownSectionSuggests) {
  auto c = parseConfig("[objectivs]\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("unknown key 'objectivs' (did you mean 'objectives'?)"),
            std::string::npos)
      << c.error().message();
}

TEST(Config, WrongTypeNamesExpectedType) {
  auto c = parseConfig("[runtime]\nbatch_size = \"eight\"\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "'c.toml' line 2: key 'runtime.batch_size': expected an integer");
}

TEST(Config, OutOfRangeValueIsAnError) {
  auto c = parseConfig("[objectives]\nmax_error_rate = 1.5\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("expected a fraction in (0, 1)"), std::string::npos);
  auto d = parseConfig("[latency]\nscenario = \"burst\"\n", "c.toml");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message().find("scenario"), std::string::npos);
}

TEST(Config, SyntaxErrorNamesLine) {
  auto c = parseConfig("[objectives]\np95_latency_ms = = 3\n", "c.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().rfind("'c.toml' line 2: ", 0), 0u) << c.error().message();
}

TEST(Config, MissingFileIsBadInput) {
  auto c = loadConfig("/nonexistent/cvgate.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("/nonexistent/cvgate.toml"), std::string::npos);
  EXPECT_EQ(c.error().kind(), ErrorKind::BadInput);
}

TEST(Config, TheShippedDefaultParses) {
  auto c = loadConfig(std::string(CVGATE_SOURCE_DIR) + "/configs/cvgate.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_NE(c->models.current.find("fashion-mlp-v1.pt"), std::string::npos);
}

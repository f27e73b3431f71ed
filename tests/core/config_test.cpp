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

// A tool's budget is its own time_budget_s, else 80 % of its heartbeat
// step's timeout (the rest for loading, writing and a slow moment).
TEST(Config, AToolsBudgetIsItsOwnOrMostOfItsStepTimeout) {
  auto c = parseConfig("[heartbeat]\nprofile_latency_timeout_s = 500\n[rollback]\ntime_budget_s = 30\n",
                       "/etc/cvgate/c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_DOUBLE_EQ(toolBudgetS(c->latency.timeBudgetS, c->heartbeat.profileLatencyTimeoutS), 400.0);
  EXPECT_DOUBLE_EQ(toolBudgetS(c->rollback.timeBudgetS, c->heartbeat.simulateRollbackTimeoutS), 30.0);
  EXPECT_DOUBLE_EQ(toolBudgetS(c->compliance.timeBudgetS, c->heartbeat.evalComplianceTimeoutS), 240.0);
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

TEST(Config, AnUnknownQuotedKeyHoldingANewlineIsOneLine) {
  // Found by the config fuzzer: "ldenan\nv"="" at the top level and in a section.
  for (const std::string text : {"\"ldenan\\nv\"=\"\"\n", "[latency]\n\"dur\\nation\" = 1\n"}) {
    auto c = parseConfig(text, "c.toml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.error().message().find('\n'), std::string::npos) << c.error().message();
    EXPECT_NE(c.error().message().find("unknown key"), std::string::npos) << c.error().message();
    EXPECT_NE(c.error().message().find("\\n"), std::string::npos) << c.error().message();
  }
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

TEST(Config, EngineDefaultsToLocal) {
  auto c = parseConfig("", "c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->engine.kind, "local");
  EXPECT_EQ(c->engine.shards, 1);
  EXPECT_TRUE(c->engine.partition.empty());
  EXPECT_TRUE(c->engine.sbatchOptions.empty());
  EXPECT_EQ(c->engine.queueWaitS, 1800);
}

TEST(Config, EngineSlurmIsRead) {
  auto c = parseConfig("[engine]\nkind = \"slurm\"\npartition = \"cpu\"\naccount = \"vision\"\nshards = 7\n"
                       "sbatch_options = [\"--qos=high\", \"--comment=cvgate cycle\"]\nqueue_wait_s = 0\n",
                       "c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->engine.kind, "slurm");
  EXPECT_EQ(c->engine.partition, "cpu");
  EXPECT_EQ(c->engine.account, "vision");
  EXPECT_EQ(c->engine.shards, 7);
  EXPECT_EQ(c->engine.sbatchOptions, (std::vector<std::string>{"--qos=high", "--comment=cvgate cycle"}));
  EXPECT_EQ(c->engine.queueWaitS, 0);
}

TEST(Config, BadEngineSettingsAreOneLineErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"kind = \"pbs\"", "'c.toml' line 2: key 'engine.kind': expected \"local\" or \"slurm\""},
      {"shards = 0", "'c.toml' line 2: key 'engine.shards': expected a shard count in 1..1000"},
      {"shards = 1001", "'c.toml' line 2: key 'engine.shards': expected a shard count in 1..1000"},
      {"partition = \"a b\"", "'c.toml' line 2: key 'engine.partition': expected a partition name without spaces or control characters"},
      {"account = \"--x\"", "'c.toml' line 2: key 'engine.account': expected an account name without spaces or control characters"},
      {"sbatch_options = \"--qos=high\"", "'c.toml' line 2: key 'engine.sbatch_options': expected an array of strings"},
      {"sbatch_options = [\"--qos=high\", 3]", "'c.toml' line 2: key 'engine.sbatch_options': expected an array of strings"},
      {"sbatch_options = [\"--qos\", \"high\"]",
       "'c.toml' line 2: key 'engine.sbatch_options': expected sbatch options, one a string (\"--qos=high\"): "
       "element 2 'high' is not an option (write an option and its value as one string)"},
      {"sbatch_options = [\"--time=5\"]",
       "'c.toml' line 2: key 'engine.sbatch_options': expected sbatch options, one a string (\"--qos=high\"): "
       "element 1 '--time=5' is set by the heartbeat for each job"},
      {"sbatch_options = [\"-d\", \"afterok:1\"]",
       "'c.toml' line 2: key 'engine.sbatch_options': expected sbatch options, one a string (\"--qos=high\"): "
       "element 1 '-d' is set by the heartbeat for each job"},
      {"queue_wait_s = -1", "'c.toml' line 2: key 'engine.queue_wait_s': expected a number of seconds >= 0"},
      {"nodes = 3", "'c.toml' line 2: unknown key 'engine.nodes'"},
  };
  for (const auto& [line, want] : cases) {
    auto c = parseConfig(std::string("[engine]\n") + line + "\n", "c.toml");
    ASSERT_FALSE(c.ok()) << line;
    EXPECT_EQ(c.error().message().substr(0, std::string(want).size()), want) << line;
    EXPECT_EQ(c.error().message().find('\n'), std::string::npos) << line;
    EXPECT_EQ(c.error().kind(), ErrorKind::BadInput) << line;
  }
}

TEST(Config, CalibrationIsItsOwnDataSetAndOptional) {
  auto none = parseConfig("", "/etc/cvgate/c.toml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->calibration.enabled);
  auto c = parseConfig("[calibration]\nimages = \"train.gz\"\nlabels = \"/d/l.gz\"\ncount = 64\nheld_out = 100\n",
                       "/srv/x/configs/c.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->calibration.enabled);
  EXPECT_EQ(c->calibration.data.images, "/srv/x/configs/train.gz");
  EXPECT_EQ(c->calibration.data.labels, "/d/l.gz");
  EXPECT_EQ(c->calibration.count, 64);
  EXPECT_EQ(c->calibration.heldOut, 100);
  auto zero = parseConfig("[calibration]\ncount = 0\n", "c.toml");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message().find("count"), std::string::npos) << zero.error().message();
  auto typo = parseConfig("[calibration]\nheldout = 3\n", "c.toml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("held_out"), std::string::npos) << typo.error().message();
}

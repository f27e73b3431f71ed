// verify-env end to end, on fixture models and a small IDX set: record then
// verify passes; a tampered or truncated model, a changed config, another
// thread setting, a severe and a minor drift in the lock each give the right
// checks and exit code; a missing lock is inconclusive; a corrupt lock or a
// missing model file is a one-line error with exit 2; the JSON validates
// against schemas/cvgate.env.schema.json; --format text; --help and the man
// page agree.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>


#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "FixtureModels.h"
#include "TempDir.h"
#include "ToolRun.h"
#include "common/Fs.h"
#include "common/Sha256.h"
#include "report/Feed.h"
#include "report/Report.h"

using namespace cvgate;
using namespace cvgate::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

ToolRun run(const std::string& args, const std::string& scratch) {
  return runTool("verify-env", args, scratch);
}

const json* check(const json& report, const std::string& id, const std::string& subject = "") {
  for (const auto& c : report["checks"])
    if (c["id"] == id && c["subject"] == subject) return &c;
  return nullptr;
}

/// A small IDX data set (64 images 28x28, deterministic content): the real
/// Fashion-MNIST costs half a second per run to inflate, this costs nothing.
void writeIdx(const std::string& dir) {
  const std::uint32_t n = 64, side = 28;
  auto be32 = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  std::string images = be32(0x803) + be32(n) + be32(side) + be32(side);
  std::string labels = be32(0x801) + be32(n);
  std::uint32_t x = 12345;
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::uint32_t p = 0; p < side * side; ++p) {
      x = x * 1103515245u + 12345u;
      images.push_back(static_cast<char>((x >> 16) & 0xff));
    }
    labels.push_back(static_cast<char>(i % 10));
  }
  writeText(dir + "/images.idx", images);
  writeText(dir + "/labels.idx", labels);
}

std::string configText(const std::string& dir, int intraOp, const std::string& extra = "") {
  return "state_dir = \"" + dir + "/unused-state\"\n"
         "[models]\ncurrent = \"" + dir + "/v1.pt\"\ncandidate = \"" + dir + "/v2.pt\"\n"
         "[dataset]\nformat = \"idx\"\nimages = \"" + dir + "/images.idx\"\nlabels = \"" + dir + "/labels.idx\"\n"
         "[runtime]\nintra_op_threads = " + std::to_string(intraOp) + "\ninter_op_threads = 1\nbatch_size = 8\n"
         "[golden]\noffset = 0\ncount = 16\ntolerance = 1e-4\n" + extra;
}

/// Shared by the tests: fixture models, a config, fake KPI reports and a
/// lock recorded once; each test copies the lock into its own state dir.
class VerifyEnvE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TempDir();
    const std::string d = root_->path();
    FixtureSpec v1;
    v1.name = "fx-v1";
    v1.seed = 1;
    ASSERT_TRUE(writeFixtureModel(v1, d + "/v1.pt").ok());
    FixtureSpec v2;
    v2.name = "fx-v2";
    v2.seed = 2;
    ASSERT_TRUE(writeFixtureModel(v2, d + "/v2.pt").ok());
    writeIdx(d);
    writeText(d + "/cvgate.toml", configText(d, 1));
    // Reports of the other tools for the current model: the baseline KPIs.
    std::string sha = *sha256File(d + "/v1.pt");
    Report c = newReport("eval-compliance", "cvgate.compliance", "20260101T0000Z-0001");
    c.subjects["current"] = Subject{"fx-v1", sha, ""};
    c.status = Outcome::Pass;
    c.results = {{"current", {{"n", 64}, {"accuracy", 0.84}, {"compliance", 0.71}}}};  // eval-compliance's shape
    ASSERT_TRUE(publishReport(d + "/base", c).ok());
    Report l = newReport("profile-latency", "cvgate.latency", "20260101T0000Z-0001");
    l.subjects["current"] = Subject{"fx-v1", sha, ""};
    l.status = Outcome::Pass;
    Check p95;
    p95.id = "latency.p95";
    p95.subject = "current";
    p95.status = Outcome::Pass;
    p95.value = 3.25;
    l.checks.push_back(p95);
    ASSERT_TRUE(publishReport(d + "/base", l).ok());
    record_ = new ToolRun(run("--config " + d + "/cvgate.toml --state-dir " + d + "/base --record --cycle rec1 -q", d));
  }
  static void TearDownTestSuite() {
    delete record_;
    delete root_;
  }

  /// A fresh state dir holding a copy of the recorded lock.
  std::string stateWithLock() {
    std::string s = t_.file("state");
    fs::create_directories(s);
    fs::copy_file(root_->path() + "/base/env.lock.json", s + "/env.lock.json");
    return s;
  }
  std::string config() const { return root_->path() + "/cvgate.toml"; }
  std::string dir() const { return root_->path(); }

  static TempDir* root_;
  static ToolRun* record_;
  TempDir t_;
};

TempDir* VerifyEnvE2E::root_ = nullptr;
ToolRun* VerifyEnvE2E::record_ = nullptr;

bool validates(const std::string& reportPath) {
  const std::string errors = schemaErrors("cvgate.env", reportPath);
  EXPECT_EQ(errors, "");
  return errors.empty();
}

}  // namespace

TEST_F(VerifyEnvE2E, RecordThenVerifyPasses) {
  ASSERT_EQ(record_->code, 0) << record_->err << record_->out;
  json rec = record_->json();
  EXPECT_EQ(rec["status"], "pass");
  EXPECT_EQ(rec["results"]["lock"]["recorded"], true);

  json lock = json::parse(slurp(dir() + "/base/env.lock.json"));
  EXPECT_EQ(lock["schema"], "cvgate.envlock/1");
  EXPECT_EQ(lock["models"]["current"]["sha256"], *sha256File(dir() + "/v1.pt"));
  EXPECT_EQ(lock["models"]["candidate"]["model"], "fx-v2");
  EXPECT_EQ(lock["golden"]["ids"].size(), 16u);
  EXPECT_EQ(lock["threads"]["intra_op"], 1);
  EXPECT_EQ(lock["baseline_kpis"]["accuracy"], 0.84);
  EXPECT_EQ(lock["baseline_kpis"]["compliance"], 0.71);
  EXPECT_EQ(lock["baseline_kpis"]["p95_ms"], 3.25);
  EXPECT_EQ(lock["env_hash"], rec["inputs"]["env_hash"]);

  std::string s = stateWithLock();
  ToolRun r = run("--config " + config() + " --state-dir " + s + " --out " + t_.file("report.json"), t_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(slurp(t_.file("report.json")));
  EXPECT_EQ(j["schema"], "cvgate.env/1");
  EXPECT_EQ(j["status"], "pass");
  for (const auto& [id, subject] : std::vector<std::pair<std::string, std::string>>{
           {"env.lock", ""}, {"env.model_hash", "current"}, {"env.model_hash", "candidate"},
           {"env.determinism", "current"}, {"env.golden", "current"}, {"env.drift.blas", ""},
           {"env.drift.config", ""}, {"env.drift.dataset", ""}, {"env.drift.intra_op_threads", ""}}) {
    const json* c = check(j, id, subject);
    ASSERT_TRUE(c) << id << " " << subject;
    EXPECT_EQ((*c)["status"], "pass") << id << ": " << (*c)["message"];
  }
  EXPECT_EQ((*check(j, "env.golden", "current"))["value"], 0.0);
  EXPECT_EQ(j["results"]["baseline"]["kpis"][2]["blessed"], 3.25);
  EXPECT_EQ(j["results"]["baseline"]["kpis"][2]["latest"], nullptr);  // feeds not copied to this state dir
  EXPECT_TRUE(validates(t_.file("report.json")));
}

TEST_F(VerifyEnvE2E, TamperedModelFailsItsHash) {
  // One flipped byte: the outputs may move by less than the tolerance (a low
  // mantissa bit, or a weight for a pixel that is always 0), but the bytes are
  // not the blessed ones: env.model_hash fails, severe, exit 10.
  std::string bytes = slurp(dir() + "/v1.pt");
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x40);
  writeText(t_.file("tampered.pt"), bytes);
  ToolRun r = run("--config " + config() + " --state-dir " + stateWithLock() + " --current " +
                      t_.file("tampered.pt"), t_.path());
  EXPECT_EQ(r.code, 10) << r.err;
  json j = r.json();
  EXPECT_EQ(j["status"], "fail");
  const json* h = check(j, "env.model_hash", "current");
  ASSERT_TRUE(h);
  EXPECT_EQ((*h)["status"], "fail");
  EXPECT_EQ((*h)["severity"], "severe");
  EXPECT_EQ((*h)["detail"]["before"], *sha256File(dir() + "/v1.pt"));
  EXPECT_EQ((*h)["detail"]["after"], *sha256File(t_.file("tampered.pt")));
  EXPECT_EQ(check(j, "env.model_hash", "candidate")->at("status"), "pass");
  EXPECT_EQ(check(j, "env.drift.config")->at("status"), "pass");
  EXPECT_NE(check(j, "env.golden", "current")->at("status"), "inconclusive");
  writeText(t_.file("out.json"), r.out);
  EXPECT_TRUE(validates(t_.file("out.json")));
}

TEST_F(VerifyEnvE2E, TruncatedModelFailsGoldenAndIsNotAnError) {
  // A model that no longer loads is evidence (fail, exit 10), not bad input.
  std::string bytes = slurp(dir() + "/v1.pt");
  writeText(t_.file("truncated.pt"), bytes.substr(0, bytes.size() / 2));
  ToolRun r = run("--config " + config() + " --state-dir " + stateWithLock() + " --current " +
                      t_.file("truncated.pt"), t_.path());
  EXPECT_EQ(r.code, 10) << r.err;
  json j = r.json();
  EXPECT_EQ(check(j, "env.model_hash", "current")->at("status"), "fail");
  const json* g = check(j, "env.golden", "current");
  ASSERT_TRUE(g);
  EXPECT_EQ((*g)["status"], "fail");
  EXPECT_EQ((*g)["severity"], "severe");
  EXPECT_NE((*g)["message"].get<std::string>().find("does not load"), std::string::npos) << (*g)["message"];
  EXPECT_EQ(check(j, "env.determinism", "current")->at("status"), "inconclusive");
  EXPECT_EQ(j["subjects"]["current"]["model"], "fx-v1");  // the name comes from the lock
  EXPECT_EQ(j["results"]["models"]["current"]["loads"], false);
  writeText(t_.file("out.json"), r.out);
  EXPECT_TRUE(validates(t_.file("out.json")));
}

TEST_F(VerifyEnvE2E, MissingModelFileIsBadInput) {
  ToolRun r = run("--config " + config() + " --state-dir " + stateWithLock() + " --current " +
                      t_.file("nope.pt"), t_.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(r.err.rfind("verify-env: error: current model '" + t_.file("nope.pt") + "': no such file", 0), 0u)
      << r.err;
}

TEST_F(VerifyEnvE2E, ChangedConfigIsSevereDrift) {
  writeText(t_.file("changed.toml"), configText(dir(), 1, "[compliance]\nthreshold = 0.6\n"));
  ToolRun r = run("--config " + t_.file("changed.toml") + " --state-dir " + stateWithLock(), t_.path());
  EXPECT_EQ(r.code, 10) << r.err;
  json j = r.json();
  const json* c = check(j, "env.drift.config");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)["status"], "fail");
  EXPECT_EQ((*c)["severity"], "severe");
  EXPECT_EQ((*c)["detail"]["before"], json::parse(slurp(dir() + "/base/env.lock.json"))["config"]["sha256"]);
  EXPECT_EQ((*c)["detail"]["after"], *sha256File(t_.file("changed.toml")));
  EXPECT_EQ(check(j, "env.golden", "current")->at("status"), "pass");
}

TEST_F(VerifyEnvE2E, OtherIntraOpThreadsIsSevereDrift) {
  writeText(t_.file("threads.toml"), configText(dir(), 2));
  ToolRun r = run("--config " + t_.file("threads.toml") + " --state-dir " + stateWithLock(), t_.path());
  EXPECT_EQ(r.code, 10) << r.err;
  json j = r.json();
  const json* c = check(j, "env.drift.intra_op_threads");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)["status"], "fail");
  EXPECT_EQ((*c)["severity"], "severe");
  EXPECT_EQ((*c)["detail"]["before"], 1);
  EXPECT_EQ((*c)["detail"]["after"], 2);
  EXPECT_EQ(j["results"]["threads"]["intra_op"], 2);
}

TEST_F(VerifyEnvE2E, SevereAndMinorDriftInTheLock) {
  // The lock says: another host name (minor) and the reference BLAS (severe).
  std::string s = stateWithLock();
  json lock = json::parse(slurp(s + "/env.lock.json"));
  lock["parts"]["hostname"] = "blessed-host";
  lock["parts"]["blas"]["provider"] = "reference";
  lock["parts"]["blas"]["path"] = "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3";
  writeText(s + "/env.lock.json", lock.dump(2));
  ToolRun r = run("--config " + config() + " --state-dir " + s, t_.path());
  EXPECT_EQ(r.code, 10) << r.err;
  json j = r.json();
  const json* h = check(j, "env.drift.hostname");
  ASSERT_TRUE(h);
  EXPECT_EQ((*h)["status"], "pass");
  EXPECT_EQ((*h)["severity"], "minor");
  EXPECT_EQ((*h)["detail"]["before"], "blessed-host");
  const json* b = check(j, "env.drift.blas");
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["status"], "fail");
  EXPECT_EQ((*b)["severity"], "severe");
  EXPECT_EQ((*b)["detail"]["before"]["provider"], "reference");
  EXPECT_EQ(j["results"]["drift"]["drifted"], 2);
  EXPECT_EQ(j["results"]["drift"]["severe"], 1);
  // Only the blas drift fails the report.
  for (const auto& c : j["checks"]) {
    if (c["id"] != "env.drift.blas") {
      EXPECT_EQ(c["status"], "pass") << c["id"] << ": " << c["message"];
    }
  }
}

TEST_F(VerifyEnvE2E, MissingLockIsInconclusiveWithTheRecordCommand) {
  std::string s = t_.file("empty-state");
  ToolRun r = run("--config " + config() + " --state-dir " + s, t_.path());
  EXPECT_EQ(r.code, 11) << r.err;
  json j = r.json();
  EXPECT_EQ(j["status"], "inconclusive");
  const json* c = check(j, "env.lock");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)["status"], "inconclusive");
  std::string cmd = "verify-env --config " + config() + " --state-dir " + s + " --record";
  EXPECT_NE((*c)["message"].get<std::string>().find(cmd), std::string::npos) << (*c)["message"];
  EXPECT_EQ((*c)["need"]["command"], cmd);
  EXPECT_EQ(check(j, "env.determinism", "current")->at("status"), "pass");
  EXPECT_EQ(check(j, "env.golden", "current")->at("status"), "inconclusive");
  EXPECT_FALSE(fs::exists(s + "/env.lock.json"));
  writeText(t_.file("out.json"), r.out);
  EXPECT_TRUE(validates(t_.file("out.json")));
}

TEST_F(VerifyEnvE2E, CorruptLockIsAOneLineErrorExit2) {
  std::string s = t_.file("state");
  writeText(s + "/env.lock.json", "{\"schema\": \"cvgate.envlock/1\", \"env_hash\": ");
  ToolRun r = run("--config " + config() + " --state-dir " + s, t_.path());
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("verify-env: error: lock '" + s + "/env.lock.json': not valid JSON", 0), 0u) << r.err;
}

TEST_F(VerifyEnvE2E, TextFormatIsATableOfTheSameChecks) {
  ToolRun r = run("--config " + config() + " --state-dir " + stateWithLock() + " --format text", t_.path());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.rfind("verify-env ", 0), std::string::npos);
  EXPECT_NE(r.out.find("status pass"), std::string::npos) << r.out;
  for (const char* s : {"STATUS", "env.golden", "env.drift.blas", "Baseline KPIs", "compliance", "0.71", "Fingerprint"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST_F(VerifyEnvE2E, HelpOptionsAreAllInTheManPage) {
  ToolRun h = run("--help", t_.path());
  ASSERT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("Exit status"), std::string::npos);
  std::string man = slurp(std::string(CVGATE_SOURCE_DIR) + "/man/verify-env.1");
  ASSERT_FALSE(man.empty());
  std::regex opt("--[a-z][a-z0-9-]+");
  std::set<std::string> opts;
  for (auto it = std::sregex_iterator(h.out.begin(), h.out.end(), opt); it != std::sregex_iterator(); ++it)
    opts.insert(it->str());
  EXPECT_GE(opts.size(), 12u);
  for (const auto& o : opts) {
    std::string roff;  // the man page writes \-\-name
    for (char c : o) roff += c == '-' ? std::string("\\-") : std::string(1, c);
    EXPECT_TRUE(man.find(roff) != std::string::npos || man.find(o) != std::string::npos) << o;
  }
  ToolRun v = run("--version", t_.path());
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find("verify-env (cvgate)"), std::string::npos);
}

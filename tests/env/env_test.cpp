// verify-env's library: fingerprint parts from a fake /proc and /sys, the
// BLAS provider rules, env_hash over severe parts only, drift severities,
// the lock file round trip and its errors, KPI lookup in other reports.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "TempDir.h"
#include "ToolRun.h"
#include "common/Fs.h"
#include "env/Fingerprint.h"
#include "env/Lock.h"
#include "env/VerifyEnv.h"
#include "report/Feed.h"

using namespace cvgate;
using namespace cvgate::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A fake system: /proc/self/maps listing the given libraries (created as files).
struct FakeSystem {
  TempDir t;
  SystemSources src;
  explicit FakeSystem(const std::vector<std::string>& libs, const std::string& governor = "") {
    src.proc = t.file("proc");
    src.sys = t.file("sys");
    src.osRelease = t.file("etc/os-release");
    src.environment = std::vector<std::string>{"PATH=/bin", "OMP_NUM_THREADS=2",
                                               "OPENBLAS_CORETYPE=Haswell", "HOME=/root",
                                               "CUDA_VISIBLE_DEVICES=", "TORCHVISION=x"};
    src.cores = 4;
    std::string maps;
    for (const auto& l : libs) {
      std::string p = t.file(l);
      writeText(p, "bytes of " + l);
      maps += "7f0000000000-7f0000001000 r-xp 00000000 08:01 1234   " + p + "\n";
    }
    maps += "7f0000002000-7f0000003000 rw-p 00000000 00:00 0 \n";
    maps += "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0   [stack]\n";
    writeText(src.proc + "/self/maps", maps);
    writeText(src.proc + "/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma\n");
    writeText(src.proc + "/meminfo", "MemTotal:       1024 kB\nMemFree: 12 kB\n");
    writeText(src.proc + "/sys/kernel/osrelease", "6.1.0-13-amd64\n");
    writeText(src.proc + "/sys/kernel/hostname", "host-a\n");
    writeText(src.osRelease, "NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
    if (!governor.empty())
      writeText(src.sys + "/devices/system/cpu/cpu0/cpufreq/scaling_governor", governor + "\n");
  }
};

}  // namespace

TEST(Fingerprint, ReadsPartsFromTheSystemSources) {
  FakeSystem s({"usr/lib/openblas-openmp/libblas.so.3", "usr/lib/libgomp.so.1", "usr/lib/libc.so.6"},
               "performance");
  Fingerprint fp = computeFingerprint(s.src);
  EXPECT_EQ(fp.find("cpu_model")->value, "Test CPU 9000");
  EXPECT_EQ(fp.find("cpu_isa")->value, json({"sse4_2", "avx", "avx2", "fma"}));
  EXPECT_EQ(fp.find("memory_bytes")->value, 1024 * 1024);
  EXPECT_EQ(fp.find("kernel")->value, "6.1.0-13-amd64");
  EXPECT_EQ(fp.find("hostname")->value, "host-a");
  EXPECT_EQ(fp.find("os")->value, "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(fp.find("cores")->value, 4);
  EXPECT_EQ(fp.find("cpu_governor")->value, "performance");
  // Only the numeric/threading variables, CUDA_VISIBLE_DEVICES even when empty.
  EXPECT_EQ(fp.find("numeric_env")->value,
            json({{"OMP_NUM_THREADS", "2"}, {"OPENBLAS_CORETYPE", "Haswell"}, {"CUDA_VISIBLE_DEVICES", ""}}));
  // libc.so.6 is not a math library; blas and gomp are, hashed.
  ASSERT_EQ(fp.libraries.size(), 2u);
  for (const auto& l : fp.libraries) EXPECT_EQ(l.sha256.size(), 64u) << l.path;
  EXPECT_EQ(fp.find("blas")->value["provider"], "openblas-openmp");
  EXPECT_EQ(blasCheck(fp).status, Outcome::Pass);
  EXPECT_EQ(fp.envHash.size(), 64u);
  EXPECT_EQ(fp.envHash, envHashOf(fp.parts));
}

TEST(Fingerprint, ReferenceBlasIsAPerformanceFailure) {
  FakeSystem s({"usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3"});
  Fingerprint fp = computeFingerprint(s.src);
  EXPECT_EQ(fp.find("blas")->value["provider"], "reference");
  Check c = blasCheck(fp);
  EXPECT_EQ(c.status, Outcome::Fail);
  EXPECT_NE(c.message.find("reference"), std::string::npos);
}

TEST(Fingerprint, NoBlasIsInconclusiveAndUnreadableGovernorIsSaid) {
  FakeSystem s({"usr/lib/libdnnl.so.2"});
  Fingerprint fp = computeFingerprint(s.src);
  EXPECT_EQ(fp.find("cpu_governor")->value, "unreadable");
  bool noted = false;
  for (const auto& n : fp.notes) noted = noted || n.find("cpu_governor") != std::string::npos;
  EXPECT_TRUE(noted);
  Check c = blasCheck(fp);
  EXPECT_EQ(c.status, Outcome::Inconclusive);
  EXPECT_FALSE(c.need.is_null());
}

TEST(Fingerprint, BlasProviderRules) {
  EXPECT_EQ(blasProvider("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"), "openblas-pthread");
  EXPECT_EQ(blasProvider("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"), "reference");
  EXPECT_EQ(blasProvider("/opt/intel/mkl/lib/libmkl_rt.so"), "mkl");
  EXPECT_EQ(blasProvider("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3"), "blis");
  EXPECT_EQ(blasProvider("/usr/lib/libfoo.so"), "unknown");
}

TEST(Fingerprint, EnvHashCoversSevereAndOnlySevereParts) {
  FakeSystem s({"usr/lib/openblas-openmp/libblas.so.3"});
  Fingerprint a = computeFingerprint(s.src);
  // A minor part changes: same hash.
  writeText(s.src.proc + "/sys/kernel/hostname", "host-b\n");
  writeText(s.src.proc + "/sys/kernel/osrelease", "6.1.0-14-amd64\n");
  Fingerprint b = computeFingerprint(s.src);
  EXPECT_EQ(b.find("hostname")->value, "host-b");
  EXPECT_EQ(a.envHash, b.envHash);
  // A numeric environment variable changes: another hash.
  s.src.environment->push_back("MKL_CBWR=AVX2");
  Fingerprint c = computeFingerprint(s.src);
  EXPECT_NE(a.envHash, c.envHash);
  // The BLAS library's bytes change: another hash.
  s.src.environment->pop_back();
  writeText(s.t.file("usr/lib/openblas-openmp/libblas.so.3"), "patched bytes");
  Fingerprint d = computeFingerprint(s.src);
  EXPECT_NE(a.envHash, d.envHash);
  EXPECT_NE(std::find(a.hashedParts.begin(), a.hashedParts.end(), "blas"), a.hashedParts.end());
  EXPECT_EQ(std::find(a.hashedParts.begin(), a.hashedParts.end(), "hostname"), a.hashedParts.end());
}

TEST(Fingerprint, NumericEnvVarNames) {
  for (const char* n : {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_L2_SIZE", "GOMP_SPINCOUNT",
                        "KMP_AFFINITY", "TORCH_SHOW_CPP_STACKTRACES", "ATEN_CPU_CAPABILITY",
                        "CUDA_VISIBLE_DEVICES"})
    EXPECT_TRUE(isNumericEnvVar(n)) << n;
  for (const char* n : {"PATH", "CUDA_HOME", "TORCHVISION", "XOMP_X", "HOME"})
    EXPECT_FALSE(isNumericEnvVar(n)) << n;
}

TEST(Drift, SevereFailsMinorPassesWithSeverity) {
  Fingerprint fp;
  fp.parts = {{"blas", json{{"provider", "openblas-openmp"}}, DriftSeverity::Severe, ""},
              {"kernel", "6.1.0-14", DriftSeverity::Minor, ""},
              {"intra_op_threads", 2, DriftSeverity::Severe, ""}};
  json lock = {{"blas", {{"provider", "reference"}}}, {"kernel", "6.1.0-13"}, {"intra_op_threads", 2},
               {"retired_part", "x"}};
  auto checks = driftChecks(fp, lock);
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].id, "env.drift.blas");
  EXPECT_EQ(checks[0].status, Outcome::Fail);
  EXPECT_EQ(checks[0].severity, "severe");
  EXPECT_EQ(checks[0].detail["before"]["provider"], "reference");
  EXPECT_EQ(checks[0].detail["after"]["provider"], "openblas-openmp");
  EXPECT_EQ(checks[1].id, "env.drift.kernel");
  EXPECT_EQ(checks[1].status, Outcome::Pass);
  EXPECT_EQ(checks[1].severity, "minor");
  EXPECT_EQ(checks[2].status, Outcome::Pass);
  EXPECT_TRUE(checks[2].severity.empty());
  EXPECT_EQ(checks[3].id, "env.drift.retired_part");
  EXPECT_EQ(checks[3].detail["after"], nullptr);
}

TEST(Drift, ThreadsAgainstCores) {
  EXPECT_EQ(threadsCheck(2, 2).status, Outcome::Pass);
  EXPECT_EQ(threadsCheck(3, 2).status, Outcome::Fail);
  EXPECT_EQ(threadsCheck(1, 0).status, Outcome::Inconclusive);
}

static EnvLock sampleLock() {
  EnvLock l;
  l.recordedAt = "2026-11-25T21:00:01Z";
  l.cycleId = "c1";
  l.envHash = std::string(64, 'a');
  l.hashedParts = {"blas"};
  l.parts = {{"blas", {{"provider", "openblas-openmp"}}}};
  l.models["current"] = LockedModel{"m1", std::string(64, 'b'), "/m1.pt"};
  l.configSha256 = std::string(64, 'c');
  l.datasetSha256 = std::string(64, 'd');
  l.intraOpThreads = 2;
  l.interOpThreads = 1;
  l.goldenCount = 2;
  l.golden = {{"schema", "cvgate.golden/1"}};
  l.baseline.compliance = 0.8;
  l.baseline.notes = {"accuracy: none"};
  return l;
}

TEST(Lock, RoundTripAndMissingIsNotAnError) {
  TempDir t;
  auto none = readLock(t.file("env.lock.json"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(writeLock(t.file("env.lock.json"), sampleLock()).ok());
  auto back = readLock(t.file("env.lock.json"));
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_TRUE(back->has_value());
  const EnvLock& l = **back;
  EXPECT_EQ(l.envHash, std::string(64, 'a'));
  EXPECT_EQ(l.models.at("current").model, "m1");
  EXPECT_EQ(l.intraOpThreads, 2);
  EXPECT_EQ(l.baseline.compliance, 0.8);
  EXPECT_FALSE(l.baseline.accuracy.has_value());
  EXPECT_EQ(json::parse(*readFile(t.file("env.lock.json")))["schema"], "cvgate.envlock/1");
}

TEST(Lock, CorruptOrForeignLockIsBadInput) {
  TempDir t;
  writeText(t.file("a.json"), "{\"schema\": \"cvgate.envlock/1\", ");
  auto a = readLock(t.file("a.json"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind(), ErrorKind::BadInput);
  EXPECT_NE(a.error().message().find("not valid JSON"), std::string::npos) << a.error().message();
  writeText(t.file("b.json"), "{\"schema\": \"cvgate.latency/1\"}");
  auto b = readLock(t.file("b.json"));
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("expected \"cvgate.envlock/1\""), std::string::npos) << b.error().message();
  json j = toJson(sampleLock());
  j.erase("env_hash");
  writeText(t.file("c.json"), j.dump());
  auto c = readLock(t.file("c.json"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("env_hash"), std::string::npos) << c.error().message();
}

TEST(Lock, LockPathIsRelativeToTheStateDirUnlessAbsolute) {
  Config c;
  c.env.lockFile = "env.lock.json";
  EXPECT_EQ(lockPath(c, "/var/cvgate"), "/var/cvgate/env.lock.json");
  c.env.lockFile = "/etc/cvgate/lock.json";
  EXPECT_EQ(lockPath(c, "/var/cvgate"), "/etc/cvgate/lock.json");
}

TEST(Baseline, FindKpiInTheShapesOtherReportsUse) {
  EXPECT_EQ(findKpi(json{{"current", {{"accuracy", 0.84}}}}, {"accuracy"})->first, 0.84);
  auto nested = findKpi(json{{"subjects", {{"current", {{"compliance", {{"rate", 0.7}, {"ci", {0.6, 0.8}}}}}}}}},
                        {"compliance_rate", "compliance"});
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->first, 0.7);
  EXPECT_EQ(nested->second, "/results/subjects/current/compliance");
  auto deep = findKpi(json{{"per_model", {{"candidate", {{"accuracy", 0.9}}}, {"current", {{"eval", {{"accuracy", 0.8}}}}}}}},
                      {"accuracy"});
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->first, 0.8);  // never the candidate's
  EXPECT_FALSE(findKpi(json{{"candidate", {{"accuracy", 0.9}}}}, {"accuracy"}));
  EXPECT_FALSE(findKpi(json::object(), {"accuracy"}));
}

TEST(Baseline, NewestReportForTheCurrentSha) {
  TempDir t;
  const std::string sha(64, 'e'), other(64, 'f');
  auto publish = [&](const std::string& kind, const std::string& cycle, const std::string& s, json results,
                     std::vector<Check> checks = {}) {
    Report r = newReport(kind == "cvgate.latency" ? "profile-latency" : "eval-compliance", kind, cycle);
    r.subjects["current"] = Subject{"m", s, ""};
    r.status = Outcome::Pass;
    r.results = std::move(results);
    r.checks = std::move(checks);
    ASSERT_TRUE(publishReport(t.path(), r).ok());
  };
  BaselineKpis none = collectBaseline(t.path(), sha);
  EXPECT_FALSE(none.accuracy || none.compliance || none.p95Ms);
  EXPECT_EQ(none.notes.size(), 2u);
  publish("cvgate.compliance", "c1", sha, {{"current", {{"accuracy", 0.81}, {"compliance_rate", 0.7}}}});
  publish("cvgate.compliance", "c2", other, {{"current", {{"accuracy", 0.5}, {"compliance_rate", 0.4}}}});
  Check p95;
  p95.id = "latency.p95";
  p95.subject = "current";
  p95.status = Outcome::Pass;
  p95.value = 12.5;
  publish("cvgate.latency", "c1", sha, json::object(), {p95});
  BaselineKpis b = collectBaseline(t.path(), sha);
  EXPECT_EQ(b.accuracy, 0.81);
  EXPECT_EQ(b.compliance, 0.7);
  EXPECT_EQ(b.p95Ms, 12.5);
  EXPECT_EQ(b.sources["accuracy"]["field"], "/results/current/accuracy");
}

TEST(TextView, ShowsEveryCheckOfTheReport) {
  Report r = newReport("verify-env", "cvgate.env", "c1");
  r.checks.push_back(driftCheck("kernel", "a", "b", DriftSeverity::Minor));
  r.checks.push_back(threadsCheck(4, 2));
  r.settleStatus();
  r.results = {{"env_hash", std::string(64, 'a')},
               {"baseline", {{"kpis", json::array({json{{"kpi", "p95"}, {"unit", "ms"}, {"blessed", 3.5}, {"latest", nullptr}}})}}}};
  std::string text = renderText(r);
  EXPECT_NE(text.find("env.drift.kernel"), std::string::npos) << text;
  EXPECT_NE(text.find("env.threads"), std::string::npos);
  EXPECT_NE(text.find("status fail"), std::string::npos);
  EXPECT_NE(text.find("3.5"), std::string::npos);
}

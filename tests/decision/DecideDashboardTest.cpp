// The monitoring dashboard over a history of cycles (PAUSE, PAUSE, GO,
// ROLLBACK, ...): self-contained HTML, rendered by headless Chromium.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "RegistryOps.h"
#include "DecisionFixtures.h"
#include "registry/Registry.h"
#include "report/Feed.h"
#include "TempDir.h"
#include "ToolRun.h"

using namespace cvgate;
using namespace cvgate::decisiontest;
namespace fs = std::filesystem;
using cvgate::testing::slurp;

namespace {

void setFigures(Report& r, const std::string& id, const std::string& subject, double value, double lo, double hi) {
  for (auto& c : r.checks)
    if (c.id == id && c.subject == subject) {
      c.value = value;
      c.ci = std::make_pair(lo, hi);
    }
}

int run(const std::string& cmd) { return cvgate::testing::exitCode(std::system(cmd.c_str())); }

}  // namespace

TEST(DecideDashboard, HistoryPageRendersInHeadlessChromium) {
  cvgate::testing::TempDir tmp;
  const std::string state = tmp.file("state");
  std::string v0 = writeFakeModel(tmp.file("v0.pt"), 20), v1 = writeFakeModel(tmp.file("v1.pt"), 21),
              v2 = writeFakeModel(tmp.file("v2.pt"), 22), v3 = writeFakeModel(tmp.file("v3.pt"), 23);
  {
    auto reg = Registry::open(state);
    ASSERT_TRUE(reg.ok());
    ASSERT_TRUE(reg->setCurrent(tmp.file("v0.pt"), "fashion-mlp-v0", "0", nullptr, "boot").ok());
    ASSERT_TRUE(reg->stage(tmp.file("v1.pt"), "fashion-mlp-v1", "1", nullptr, "boot").ok());
    ASSERT_TRUE(::cvgate::testing::deployStaged(*reg, "boot").ok());
    ASSERT_TRUE(reg->stage(tmp.file("v2.pt"), "fashion-cnn-v2", "2", nullptr, "boot").ok());
  }
  std::ofstream(tmp.file("c.toml")) << "state_dir = \"" << state << "\"\n[objectives]\nmin_compliance_uplift = 0.03\n"
                                   << "[decision]\nconsecutive_fails_for_rollback = 1\n";
  const std::string bin = std::string(CVGATE_BIN_DIR) + "/decide --config " + tmp.file("c.toml") + " -q --out " +
                          tmp.file("v.json") + " --cycle ";
  struct Step { std::string cycle; std::string cur, cand; int expect; };
  const std::vector<Step> steps = {{"20261125T1800Z-0001", v1, v2, 10}, {"20261125T1900Z-0002", v1, v2, 10},
                                   {"20261125T2000Z-0003", v1, v2, 0},  {"20261125T2100Z-0004", v2, v3, 20},
                                   {"20261125T2200Z-0005", v1, v3, 10}};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    if (i == 3) {
      auto reg = Registry::open(state);
      ASSERT_TRUE(reg.ok());
      ASSERT_TRUE(reg->stage(tmp.file("v3.pt"), "fashion-cnn-v3", "3", nullptr, s.cycle).ok());
    }
    auto reports = cycleReports(s.cycle, Models{s.cur, s.cand});
    double k = static_cast<double>(i);
    setFigures(reports[1], "latency.p95", "current", 40 + 5 * k, 36 + 5 * k, 45 + 5 * k);
    setFigures(reports[1], "latency.p95", "candidate", 60 - 4 * k, 55 - 4 * k, 66 - 4 * k);
    setFigures(reports[2], "compliance.uplift", "candidate", 0.02 + 0.01 * k, 0.01 + 0.01 * k, 0.035 + 0.01 * k);
    if (i == 0) setCheck(reports[2], "compliance.uplift", "candidate", Outcome::Fail);
    if (i == 1) setCheck(reports[2], "compliance.uplift", "candidate", Outcome::Inconclusive, json{{"samples", 2000}});
    if (i == 3) {
      setFigures(reports[1], "latency.p95", "current", 620, 580, 660);
      breach(reports[1], "latency.p95");
    }
    if (i == 4) reports[1] = errorReport("profile-latency", "cvgate.latency", s.cycle, "killed after 300 s (timeout)");
    for (const auto& r : reports) ASSERT_TRUE(publishReport(state, r).ok());
    std::string extra = i + 1 == steps.size() ? " --html " + tmp.file("dash.html") : "";
    ASSERT_EQ(run(bin + s.cycle + extra), s.expect) << "step " << i;
  }
  std::string html = slurp(tmp.file("dash.html"));
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the SVG namespace, no fetches
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_NE(html.find("P95 latency per cycle"), std::string::npos);
  EXPECT_NE(html.find("objective &lt; 500 ms"), std::string::npos);
  EXPECT_NE(html.find(">rollback</text>"), std::string::npos);
  EXPECT_NE(html.find(">deploy</text>"), std::string::npos);
  // The breach is not resolved by a cycle that could not measure production; the errored cycle is an incident too.
  EXPECT_NE(html.find("inc-20261125T2100Z-0004-breach"), std::string::npos) << "the open incidents are listed";
  EXPECT_NE(html.find("inc-20261125T2200Z-0005-cycle"), std::string::npos);

  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "no /usr/bin/chromium to render the page";
  std::string png = tmp.file("dash.png");
  std::string profile = tmp.file("chromium-profile");
  std::string cmd = "/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                    "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=" +
                    profile + " --screenshot=" + png + " --window-size=1280,1400 file://" + tmp.file("dash.html") +
                    " >" + tmp.file("chromium.log") + " 2>&1";
  ASSERT_EQ(run(cmd), 0) << slurp(tmp.file("chromium.log"));
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u) << "a rendered page with charts, not a blank one";
  if (const char* keep = std::getenv("CVGATE_KEEP_DASHBOARD"); keep && *keep) {
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
    fs::copy_file(tmp.file("dash.html"), std::string(keep) + ".html", fs::copy_options::overwrite_existing);
  }
}

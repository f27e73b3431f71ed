// eval-compliance --html: one self-contained page (no network, inline SVG)
// that headless Chromium renders to a non-trivial screenshot.
#include <gtest/gtest.h>

#include <filesystem>

#include "E2eHelpers.h"

using namespace cvgate;
using namespace cvgate::testing;
namespace fs = std::filesystem;

TEST(EvalComplianceDashboard, RendersInHeadlessChromium) {
  TempDir t;
  FixtureSpec cur;
  cur.name = "fixture-current";
  cur.behaviour = "scaled-mean";
  cur.labels = {"T-shirt/top", "Trouser", "Pullover"};
  ASSERT_TRUE(writeFixtureModel(cur, t.file("cur.pt")).ok());
  FixtureSpec cand = cur;
  cand.name = "fixture-candidate";
  cand.stdv = 0.1;
  cand.labels = {"Pullover", "Trouser", "T-shirt/top"};
  ASSERT_TRUE(writeFixtureModel(cand, t.file("cand.pt")).ok());
  const std::vector<std::uint8_t> vals = {0, 40, 90, 100, 160, 215, 255};
  std::vector<std::uint8_t> values, labels;
  for (std::size_t i = 0; i < 150; ++i) {
    values.push_back(vals[i % 7]);
    labels.push_back(static_cast<std::uint8_t>((i / 7) % 3));
  }
  writeIdx(t.file("images.idx"), t.file("labels.idx"), values, labels);
  auto r = runTool(t, "--config '" + writeConfig(t) + "' --html dash.html");
  ASSERT_TRUE(r.code == 0 || r.code == 10 || r.code == 11) << r.err;
  std::string html = slurp(t.file("dash.html"));
  ASSERT_FALSE(html.empty());
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("T-shirt/top"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);  // regression thumbnails
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);

  if (!fs::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium not installed";
  std::string outDir = (fs::temp_directory_path() / "cvgate-compliance-dashboard").string();
  fs::create_directories(outDir);
  std::string png = outDir + "/dashboard.png";
  fs::copy_file(t.file("dash.html"), outDir + "/dashboard.html", fs::copy_options::overwrite_existing);
  fs::remove(png);
  std::string cmd = "/usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                    "--disable-background-networking --disable-component-update --disable-sync "
                    "--user-data-dir='" + t.file("chrome") + "' --screenshot='" + png +
                    "' --window-size=1280,1600 'file://" + outDir + "/dashboard.html' > '" +
                    t.file("chrome.log") + "' 2>&1";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(fs::exists(png)) << "chromium rc " << rc << ": " << slurp(t.file("chrome.log"));
  EXPECT_GT(fs::file_size(png), 30000u);  // a blank 1280x1600 page is a few KB
  std::string head = slurp(png).substr(0, 8);
  EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
  std::cout << "dashboard screenshot: " << png << "\n";
}

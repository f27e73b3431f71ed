#include "RollbackTestUtil.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "FixtureModels.h"
#include "common/Sha256.h"

namespace cvgate::rbtest {

namespace fs = std::filesystem;

namespace {
void be32(std::ofstream& f, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  f.write(b, 4);
}
}  // namespace

void writeTinyIdx(const std::string& dir, int n) {
  std::ofstream img(dir + "/images.idx", std::ios::binary), lab(dir + "/labels.idx", std::ios::binary);
  be32(img, 0x00000803);
  be32(img, static_cast<std::uint32_t>(n));
  be32(img, 28);
  be32(img, 28);
  be32(lab, 0x00000801);
  be32(lab, static_cast<std::uint32_t>(n));
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < 28 * 28; ++p) img.put(static_cast<char>((i * 37 + p * (i % 7 + 1)) % 256));
    lab.put(static_cast<char>(i % 10));
  }
}

void writeTwoModels(const std::string& dir) {
  for (int v = 1; v <= 2; ++v) {
    testing::FixtureSpec s;
    s.name = "fx-v" + std::to_string(v);
    s.version = std::to_string(v);
    s.behaviour = "linear";
    s.seed = static_cast<unsigned>(v);
    auto st = testing::writeFixtureModel(s, dir + "/v" + std::to_string(v) + ".pt");
    if (!st.ok()) throw std::runtime_error(st.error().message());
  }
}

std::string writeConfig(const std::string& dir, const std::string& rollbackExtra, const std::string& extra) {
  std::string path = dir + "/test.toml";
  std::ofstream f(path);
  f << "state_dir = \"" << dir << "/var\"\n"
    << "[models]\ncurrent = \"" << dir << "/v1.pt\"\ncandidate = \"" << dir << "/v2.pt\"\n"
    << "[dataset]\nformat = \"idx\"\nimages = \"" << dir << "/images.idx\"\nlabels = \"" << dir << "/labels.idx\"\n"
    << "[runtime]\nintra_op_threads = 1\ninter_op_threads = 1\nbatch_size = 4\n"
    << "[golden]\noffset = 0\ncount = 8\ntolerance = 1e-5\n"
    << "[rollback]\ndrill_repeats = 60\nwarmup_runs = 1\nsandbox_dir = \"" << dir << "/sandboxes\"\n"
    << rollbackExtra << "\n"
    << extra;
  return path;
}

std::string fullFingerprint(const std::string& registryDir) {
  std::string fp;
  auto sha = [](const std::string& p) {
    auto s = sha256File(p);
    return s ? *s : std::string("missing");
  };
  fp += "state " + sha(registryDir + "/state.json") + "\n";
  char buf[4096];
  ssize_t n = ::readlink((registryDir + "/current.pt").c_str(), buf, sizeof buf - 1);
  fp += "link " + (n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("none")) + "\n";
  fp += std::string("journal ") + (fs::exists(registryDir + "/journal.json") ? "yes" : "no") + "\n";
  std::vector<std::string> lines;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(registryDir + "/objects", ec))
    lines.push_back(de.path().filename().string() + " " + sha(de.path().string()));
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) fp += l + "\n";
  return fp;
}

}  // namespace cvgate::rbtest

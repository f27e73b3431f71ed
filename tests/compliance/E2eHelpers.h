// Helpers of the eval-compliance end-to-end tests: tiny IDX files, a config
// in a temp dir, running the binary and reading what it wrote.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "FixtureModels.h"
#include "TempDir.h"
#include "ToolRun.h"

namespace cvgate::testing {

inline void putBe32(std::ofstream& o, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  o.write(b, 4);
}

/// Plain (not gzipped) IDX images of constant value `values[i]` and labels.
inline void writeIdx(const std::string& images, const std::string& labels,
                     const std::vector<std::uint8_t>& values, const std::vector<std::uint8_t>& ls,
                     int side = 28) {
  std::ofstream im(images, std::ios::binary);
  putBe32(im, 0x00000803);
  putBe32(im, static_cast<std::uint32_t>(values.size()));
  putBe32(im, static_cast<std::uint32_t>(side));
  putBe32(im, static_cast<std::uint32_t>(side));
  for (auto v : values) {
    std::string px(static_cast<std::size_t>(side * side), static_cast<char>(v));
    im.write(px.data(), static_cast<std::streamsize>(px.size()));
  }
  std::ofstream lb(labels, std::ios::binary);
  putBe32(lb, 0x00000801);
  putBe32(lb, static_cast<std::uint32_t>(ls.size()));
  for (auto l : ls) lb.put(static_cast<char>(l));
}

/// A run of eval-compliance, with its stdout parsed.
struct RunResult : ToolRun {
  nlohmann::json report;  ///< parsed stdout (null if not JSON)
};

/// Run eval-compliance with `args` (shell words) inside `t`.
inline RunResult runTool(const TempDir& t, const std::string& args) {
  RunResult r{runTool("eval-compliance", args, t.path(), t.path()), nullptr};
  r.report = r.json();
  if (r.report.is_discarded()) r.report = nullptr;
  return r;
}

/// A config for the fixture data set and models in `t`.
inline std::string writeConfig(const TempDir& t, const std::string& extraCompliance = "",
                               const std::string& dataset = "") {
  std::string text =
      "state_dir = \"" + t.file("state") + "\"\n"
      "[models]\ncurrent = \"cur.pt\"\ncandidate = \"cand.pt\"\n" +
      (dataset.empty() ? "[dataset]\nformat = \"idx\"\nimages = \"images.idx\"\nlabels = \"labels.idx\"\n" : dataset) +
      "[runtime]\nintra_op_threads = 1\nbatch_size = 8\n"
      "[compliance]\nthreshold = 0.7\nbootstrap_resamples = 500\nmin_per_class = 5\nseed = 3\n"
      "calibration_fraction = 0.25\nbatch_size = 16\n" + extraCompliance;
  std::ofstream(t.file("c.toml")) << text;
  return t.file("c.toml");
}

/// softmax((k+1) * z) of the "scaled-mean" fixture for a constant image.
inline std::vector<double> scaledMeanProbs(std::uint8_t v, double mean, double stdv, int classes) {
  double z = (v / 255.0 - mean) / stdv;
  std::vector<double> p(static_cast<std::size_t>(classes));
  double s = 0;
  for (int k = 0; k < classes; ++k) s += (p[static_cast<std::size_t>(k)] = std::exp((k + 1) * z));
  for (auto& x : p) x /= s;
  return p;
}

/// Validate `jsonPath` against the repo's schema with the Debian python's jsonschema.
/// Returns "" when valid, "skip" when jsonschema is missing, else the error.
inline std::string validateSchema(const std::string& jsonPath) {
  if (std::system("/usr/bin/python3 -c 'import jsonschema' 2>/dev/null") != 0) return "skip";
  std::string schema = std::string(CVGATE_SOURCE_DIR) + "/schemas/cvgate.compliance.schema.json";
  std::string cmd = "/usr/bin/python3 -c 'import json,sys,jsonschema; "
                    "jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])), "
                    "format_checker=None)' '" + schema + "' '" + jsonPath + "' 2>" + jsonPath + ".err";
  if (std::system(cmd.c_str()) == 0) return "";
  return slurp(jsonPath + ".err");
}

}  // namespace cvgate::testing

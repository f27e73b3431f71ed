// Fuzz target: the verdict history decide reads (verdictRecordProblem, then
// countHistory over the records it accepts). The input is one record or a
// JSON array of records, oldest first; current and candidate are taken from
// the newest record so that streaks can be counted.
#include <chrono>
#include <cstdint>

#include "FuzzUtil.h"
#include "common/Json.h"
#include "common/Time.h"
#include "decision/Decision.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using cvgate::json;
  auto j = cvgate::parseJson(cvgate::fuzz::asString(data, size), "'verdicts'");
  if (!j) return 0;
  std::vector<json> in;
  if (j->is_array()) {
    for (const auto& v : *j) in.push_back(v);
  } else {
    in.push_back(*j);
  }
  std::vector<json> accepted;  // as readFeed(..., verdictRecordProblem) keeps them
  for (const auto& v : in)
    if (cvgate::decision::verdictRecordProblem(v).empty()) accepted.push_back(v);
  std::string cur = "current-sha", cand = "candidate-sha";
  if (!accepted.empty()) {
    const json& res = accepted.back()["results"];
    if (res.is_object()) {
      if (res.contains("current_sha256") && res["current_sha256"].is_string()) cur = res["current_sha256"];
      if (res.contains("candidate_sha256") && res["candidate_sha256"].is_string()) cand = res["candidate_sha256"];
    }
  }
  std::chrono::system_clock::time_point now;
  if (!cvgate::parseIsoUtc("2026-11-25T21:00:00Z", &now)) std::abort();
  // Records as read, the poisoned ones included: countHistory must skip them itself.
  auto h = cvgate::decision::countHistory(in, "this-cycle", cur, cand, now, 7200.0);
  FUZZ_CHECK(h.passStreak <= static_cast<int>(in.size()), "a pass streak counts records");
  for (const auto& [gate, n] : h.breachStreaks)
    FUZZ_CHECK(n <= static_cast<int>(in.size()), "a breach streak counts records");
  (void)cvgate::decision::countHistory(accepted, "this-cycle", cur, cand, now, 7200.0);
  return 0;
}

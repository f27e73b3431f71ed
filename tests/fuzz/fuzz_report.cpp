// Fuzz target: the report envelope as every reader sees it (parseJson under
// the JSON limits, then reportFromJson). A report that parses round-trips
// through toJson; anything else is a one-line BadInput error.
#include <cstdint>

#include "FuzzUtil.h"
#include "common/Json.h"
#include "report/Report.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto j = cvgate::parseJson(cvgate::fuzz::asString(data, size), "'fuzz-report.json'");
  if (!j) {
    FUZZ_CHECK(j.error().kind() == cvgate::ErrorKind::BadInput, "a JSON error is bad input");
    return 0;
  }
  auto r = cvgate::reportFromJson(*j);
  if (!r) {
    FUZZ_CHECK(r.error().kind() == cvgate::ErrorKind::BadInput, "a report error is bad input");
    FUZZ_CHECK(r.error().message().find('\n') == std::string::npos, "a report error is one line");
    return 0;
  }
  (void)r->findCheck("latency.p95", "candidate");
  cvgate::Report settled = *r;
  settled.settleStatus();
  const auto out = cvgate::toJson(*r);
  (void)out.dump(2);
  auto again = cvgate::reportFromJson(out);
  FUZZ_CHECK(again.ok(), "a report toJson wrote reads back");
  FUZZ_CHECK(cvgate::toJson(*again) == out, "a report round-trips");
  return 0;
}

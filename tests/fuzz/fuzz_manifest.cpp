// Fuzz target: the model manifest (parseManifest). A manifest that parses
// round-trips through toJson unchanged; one that does not is a one-line
// BadInput error.
#include <cstdint>

#include "FuzzUtil.h"
#include "model/Manifest.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = cvgate::parseManifest(cvgate::fuzz::asString(data, size), "'fuzz.manifest.json'");
  if (!m) {
    FUZZ_CHECK(m.error().kind() == cvgate::ErrorKind::BadInput, "a manifest error is bad input");
    FUZZ_CHECK(!m.error().message().empty(), "a manifest error says something");
    return 0;
  }
  FUZZ_CHECK(m->inputShape.size() == 3, "a valid manifest has a C,H,W input");
  (void)m->inputSize();
  (void)cvgate::resizeSummary(*m);
  const auto j = cvgate::toJson(*m);
  auto again = cvgate::manifestFromJson(j);
  FUZZ_CHECK(again.ok(), "a manifest toJson wrote reads back");
  FUZZ_CHECK(cvgate::toJson(*again) == j, "a manifest round-trips");
  return 0;
}

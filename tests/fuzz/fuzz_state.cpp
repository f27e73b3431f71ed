// Fuzz target: the registry's state.json content (registryStateFromJson). A
// state that parses round-trips through toJson; anything else is BadInput.
#include <cstdint>

#include "FuzzUtil.h"
#include "common/Json.h"
#include "registry/Registry.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto j = cvgate::parseJson(cvgate::fuzz::asString(data, size), "'state.json'");
  if (!j) return 0;
  auto s = cvgate::registryStateFromJson(*j);
  if (!s) {
    FUZZ_CHECK(s.error().kind() == cvgate::ErrorKind::BadInput, "a state error is bad input");
    return 0;
  }
  const auto out = cvgate::toJson(*s);
  auto again = cvgate::registryStateFromJson(out);
  FUZZ_CHECK(again.ok(), "a state toJson wrote reads back");
  FUZZ_CHECK(cvgate::toJson(*again) == out, "a state round-trips");
  return 0;
}

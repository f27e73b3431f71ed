// Fuzz target: the TOML config reader (parseConfig). Any text is a Config or
// a BadInput error that names the file; nothing else (no exception, no crash).
#include <cstdint>

#include "FuzzUtil.h"
#include "config/Config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  ::unsetenv("CVGATE_STATE_DIR");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = "/fuzz/configs/cvgate.toml";
  auto c = cvgate::parseConfig(cvgate::fuzz::asString(data, size), path);
  if (!c) {
    FUZZ_CHECK(c.error().kind() == cvgate::ErrorKind::BadInput, "a config error is bad input");
    FUZZ_CHECK(c.error().message().rfind("'" + path + "'", 0) == 0, "a config error names the file first");
    FUZZ_CHECK(c.error().message().find('\n') == std::string::npos, "a config error is one line");
    return 0;
  }
  FUZZ_CHECK(c->path == path, "the config knows its file");
  FUZZ_CHECK(c->limits.maxJsonDepth > 0 && c->limits.modelTimeoutS > 0, "limits are positive");
  return 0;
}

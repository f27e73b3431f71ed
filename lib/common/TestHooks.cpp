#include "common/TestHooks.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace cvgate {

void testHold(const char* point) {
  const char* which = std::getenv("CVGATE_TEST_HOLD");
  const char* dir = std::getenv("CVGATE_TEST_HOLD_DIR");
  if (!which || !dir || !*dir) return;
  const std::string list = std::string(",") + which + ",";
  if (list.find(std::string(",") + point + ",") == std::string::npos) return;
  const std::string base = std::string(dir) + "/" + point;
  std::ofstream(base + ".reached") << "reached\n";
  std::error_code ec;
  while (!std::filesystem::exists(base + ".go", ec)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace cvgate

#include "common/Time.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>

namespace cvgate {

std::string isoUtc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool parseIsoUtc(const std::string& s, std::chrono::system_clock::time_point* out) {
  std::tm tm{};
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 || z != 'Z')
    return false;
  // Fields in range, and a year system_clock's nanoseconds can hold (about
  // 1678..2262): year 1013 in a hostile feed entry overflowed from_time_t.
  if (tm.tm_year < 1970 || tm.tm_year > 2261 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
      tm.tm_sec > 60)
    return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *out = std::chrono::system_clock::from_time_t(timegm(&tm));
  return true;
}

std::string newCycleId() {
  std::time_t tt = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%MZ", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xFFFFu);
  return std::string(buf) + "-" + suffix;
}

std::string resolveCycleId(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("CVGATE_CYCLE_ID"); env && *env) return env;
  return newCycleId();
}

bool isValidCycleId(const std::string& id) {
  if (id.empty() || id.size() > 64 || id[0] == '.') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace cvgate

// Fuzz target: the registry's recovery path. Each input becomes a registry
// directory in a scratch state dir: an interrupted operation's journal.json,
// a state.json, and optionally a model object with current.pt pointing at it;
// then Registry::open recovers. Whatever the files hold, open either fails
// with an error or leaves a consistent registry: no journal left, state.json
// that reads back, and a second open that finds the same state.
//
// Input layout: byte 0 flags (bit 0: write state.json, bit 1: write
// journal.json, bit 2: store the object of kModel and point current.pt at
// it, bit 3: current.pt points at a missing object instead); bytes 1-2 the
// length of the journal text (big-endian); the journal text; the rest is
// state.json.
#include <unistd.h>

#include <cstdint>
#include <filesystem>

#include "FuzzUtil.h"
#include "common/Sha256.h"
#include "registry/Registry.h"

namespace {
// The object the seeds refer to: sha256("cvgate fuzz model\n").
const std::string kModel = "cvgate fuzz model\n";
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cvgate::fuzz::quietLogs();
  for (const char* v : {"CVGATE_REGISTRY_CRASH_AT", "CVGATE_REGISTRY_STALL_AT", "CVGATE_REGISTRY_FAIL_AT"})
    ::unsetenv(v);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const unsigned flags = data[0];
  const std::size_t jlen = std::min<std::size_t>(size - 3, (std::size_t{data[1]} << 8) | data[2]);
  const std::string journal = cvgate::fuzz::asString(data + 3, jlen);
  const std::string state = cvgate::fuzz::asString(data + 3 + jlen, size - 3 - jlen);

  cvgate::fuzz::ScratchDir tmp;
  const std::string reg = tmp.path() + "/registry";
  std::filesystem::create_directories(reg + "/objects");
  if (flags & 1) cvgate::fuzz::writeBytes(reg + "/state.json", state);
  if (flags & 2) cvgate::fuzz::writeBytes(reg + "/journal.json", journal);
  const std::string sha = cvgate::sha256Hex(kModel);
  if (flags & 4) {
    cvgate::fuzz::writeBytes(reg + "/objects/" + sha + ".pt", kModel);
    if (::symlink(("objects/" + sha + ".pt").c_str(), (reg + "/current.pt").c_str()) != 0) std::abort();
  } else if (flags & 8) {
    if (::symlink(("objects/" + std::string(64, 'a') + ".pt").c_str(), (reg + "/current.pt").c_str()) != 0)
      std::abort();
  }

  auto r = cvgate::Registry::open(tmp.path());
  if (!r) {
    FUZZ_CHECK(!r.error().message().empty(), "a registry error says something");
    return 0;
  }
  std::error_code ec;
  FUZZ_CHECK(!std::filesystem::exists(reg + "/journal.json", ec), "open leaves no journal behind");
  auto v = r->verify();
  FUZZ_CHECK(v.ok(), "verify runs on an opened registry");
  auto again = cvgate::Registry::open(tmp.path());
  FUZZ_CHECK(again.ok(), "a registry that opened once opens again");
  FUZZ_CHECK(cvgate::toJson(again->state()) == cvgate::toJson(r->state()), "a second open finds the same state");
  return 0;
}

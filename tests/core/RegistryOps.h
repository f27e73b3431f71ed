// Test shorthands for the registry's compare-and-swap operations: deploy the
// staged candidate over the current model, or roll the current model back,
// naming the shas the registry holds right now (re-read first).
#pragma once

#include <string>

#include "registry/Registry.h"

namespace cvgate::testing {

inline Status deployStaged(Registry& r, const std::string& cycle) {
  if (auto st = r.refresh(); !st.ok()) return st;
  const auto& s = r.state();
  return r.deploy(cycle, s.current ? s.current->sha256 : "", s.candidate ? s.candidate->sha256 : "");
}

inline Expected<Entry> rollbackCurrent(Registry& r, const std::string& cycle, const std::string& target = "") {
  if (auto st = r.refresh(); !st.ok()) return st.error();
  const auto& s = r.state();
  return r.rollback(cycle, s.current ? s.current->sha256 : "", target);
}

}  // namespace cvgate::testing

#include "common/Limits.h"

namespace cvgate {

namespace {
Limits& mutableLimits() {
  static Limits l;
  return l;
}
}  // namespace

const Limits& limits() { return mutableLimits(); }
void setLimits(const Limits& l) { mutableLimits() = l; }

}  // namespace cvgate

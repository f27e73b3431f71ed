#include "common/Cpus.h"

#include <sched.h>

namespace cvgate {

int affinityCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

}  // namespace cvgate

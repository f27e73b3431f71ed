// The CPUs this process may run on.
#pragma once

namespace cvgate {

/// CPUs in this process's affinity mask (sched_getaffinity: what a cgroup,
/// taskset or a Slurm allocation leaves it); 0 if it cannot be read.
int affinityCores();

}  // namespace cvgate

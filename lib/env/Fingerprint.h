// The environment fingerprint: what this process and machine are made of, as
// far as it can change a model's results or speed, and one env_hash over the
// parts that matter for results. Torch-free header; cheap to call (reads
// /proc, /sys and /etc, hashes the mapped math libraries: ~0.1-0.3 s warm).
//
// Any tool can fill its report's inputs.env_hash with it:
//
//   #include "env/Fingerprint.h"              // link cvgate_env
//   applyThreadSettings(...);                  // first: threads are a part
//   auto fp = computeFingerprint();
//   if (fp.ok()) report.inputs["env_hash"] = fp->envHash;
//
// Parts (in this order; "severe" parts enter env_hash, "minor" ones do not):
//   severe: cpu_isa, libc, torch_version, torch_build, torch_library, blas,
//           math_libraries, intra_op_threads, numeric_env
//   minor:  os, kernel, hostname, cpu_model, cores, memory_bytes, cpu_governor,
//           inter_op_threads, cvgate_version, compiler
// Models, config and data set are not parts: they are report inputs/subjects
// of their own (config_sha256, dataset_sha256, subjects.*.sha256).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "common/Error.h"

namespace cvgate {

/// How much a change of a part matters.
enum class DriftSeverity {
  Severe,  ///< can change a model's outputs: enters env_hash; drift fails verify-env
  Minor,   ///< informational or speed only: not hashed; drift is reported, does not block
};
std::string toString(DriftSeverity s);

/// One named part of the fingerprint.
struct FingerprintPart {
  std::string name;                ///< e.g. "blas"
  nlohmann::json value;            ///< string, number, object or array
  DriftSeverity severity = DriftSeverity::Minor;
  std::string description;         ///< one line: what the part is
};

/// A math library (BLAS, LAPACK, OpenMP, oneDNN, SLEEF, torch) mapped into this process.
struct MappedLibrary {
  std::string role;                ///< "blas", "lapack", "openblas", "openmp", "dnnl", "sleef", "mkl", "torch"
  std::string mappedPath;          ///< path as it appears in /proc/self/maps
  std::string path;                ///< realpath
  std::string sha256;              ///< of the file's bytes ("" when unreadable)
};

struct Fingerprint {
  std::vector<FingerprintPart> parts;    ///< in the order of the file comment
  std::string envHash;                   ///< sha256 over the severe parts
  std::vector<std::string> hashedParts;  ///< names of the parts in envHash, in order
  std::vector<MappedLibrary> libraries;  ///< every math library found in the maps
  std::string torchBuildConfig;          ///< at::show_config() text (its sha256 is torch_build)
  std::vector<std::string> notes;        ///< what could not be read, and why

  const FingerprintPart* find(const std::string& name) const;
  /// {"<part>": value, ...}
  nlohmann::json partsJson() const;
};

/// Where the fingerprint reads the system from; tests point these at fakes.
struct SystemSources {
  std::string proc = "/proc";      ///< self/maps, cpuinfo, meminfo, sys/kernel/hostname
  std::string sys = "/sys";        ///< devices/system/cpu/cpu0/cpufreq/scaling_governor
  std::string osRelease = "/etc/os-release";
  /// "NAME=value" entries; nullopt: this process's environment.
  std::optional<std::vector<std::string>> environment;
  /// Online cores; 0: sched_getaffinity of this process.
  int cores = 0;
};

/// The environment variables that change numerics or threading: OMP_*, MKL_*,
/// OPENBLAS_*, GOMP_*, KMP_*, TORCH_*, ATEN_*, CUDA_VISIBLE_DEVICES.
bool isNumericEnvVar(const std::string& name);

/// BLAS provider from the resolved path of the loaded BLAS library:
/// "openblas-openmp", "openblas-pthread", "openblas-serial", "openblas",
/// "mkl", "blis", "atlas", "reference" (netlib: a path containing
/// "/blas/libblas"), or "unknown".
std::string blasProvider(const std::string& resolvedPath);

/// Math libraries in a /proc/<pid>/maps text, realpath'ed and (optionally) hashed.
std::vector<MappedLibrary> mappedMathLibraries(const std::string& mapsText, bool hash = true);

/// The fingerprint of this process and machine. Call it after the thread
/// settings are applied (intra/inter-op threads are parts) and, to see a BLAS
/// that is loaded lazily, after the first forward. Never fails for an
/// unreadable /proc or /sys file: that part says "unreadable" and a note says why.
Fingerprint computeFingerprint(const SystemSources& src = {});

/// sha256 over "<name>=<value.dump()>\n" of the severe parts, in order.
std::string envHashOf(const std::vector<FingerprintPart>& parts);

}  // namespace cvgate

#include "env/Fingerprint.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/Cpus.h"
#include "common/Sha256.h"
#include "common/Version.h"
#include "runtime/Runtime.h"

extern char** environ;

namespace cvgate {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string toString(DriftSeverity s) { return s == DriftSeverity::Severe ? "severe" : "minor"; }

const FingerprintPart* Fingerprint::find(const std::string& name) const {
  for (const auto& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

json Fingerprint::partsJson() const {
  json j = json::object();
  for (const auto& p : parts) j[p.name] = p.value;
  return j;
}

namespace {

/// Whole small file, or nullopt when unreadable.
std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  auto notSpace = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

/// Value of the first "key : value" line of /proc/cpuinfo-like text.
std::string colonField(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return "";
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool startsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

/// Role of a shared library by its file name; "" when it is not a math library.
std::string libraryRole(const std::string& path) {
  std::string base = lower(fs::path(path).filename().string());
  if (base.find(".so") == std::string::npos) return "";
  if (startsWith(base, "libblas") || startsWith(base, "libcblas")) return "blas";
  if (startsWith(base, "liblapack")) return "lapack";
  if (startsWith(base, "libopenblas")) return "openblas";
  if (startsWith(base, "libmkl")) return "mkl";
  if (startsWith(base, "libgomp") || startsWith(base, "libiomp") || startsWith(base, "libomp"))
    return "openmp";
  if (startsWith(base, "libdnnl") || startsWith(base, "libmkldnn")) return "dnnl";
  if (startsWith(base, "libsleef")) return "sleef";
  if (startsWith(base, "libblis")) return "blis";
  if (startsWith(base, "libatlas") || startsWith(base, "libsatlas") || startsWith(base, "libtatlas"))
    return "atlas";
  if (startsWith(base, "libtorch_cpu")) return "torch";
  return "";
}

/// ISA extensions that select different numeric kernels in oneDNN, OpenBLAS and ATen.
const std::vector<std::string>& isaFlags() {
  static const std::vector<std::string> k = {
      "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512cd", "avx512bw",
      "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
      "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve"};
  return k;
}

/// OpenBLAS's own build/runtime description ("OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell ..."),
/// when an OpenBLAS is in the process.
std::string openblasConfig() {
  using Fn = char* (*)();
  void* sym = dlsym(RTLD_DEFAULT, "openblas_get_config");
  if (!sym) return "";
  auto fn = reinterpret_cast<Fn>(sym);
  const char* s = fn();
  std::string cfg = s ? trim(s) : "";
  using CoreFn = char* (*)();
  if (void* core = dlsym(RTLD_DEFAULT, "openblas_get_corename")) {
    const char* c = reinterpret_cast<CoreFn>(core)();
    if (c && cfg.find(c) == std::string::npos) cfg += std::string(" core=") + c;
  }
  return cfg;
}

}  // namespace

bool isNumericEnvVar(const std::string& name) {
  static const char* const prefixes[] = {"OMP_", "MKL_", "OPENBLAS_", "GOMP_", "KMP_", "TORCH_", "ATEN_"};
  for (const char* p : prefixes)
    if (startsWith(name, p)) return true;
  return name == "CUDA_VISIBLE_DEVICES";
}

std::string blasProvider(const std::string& resolvedPath) {
  std::string p = lower(resolvedPath);
  if (p.find("/blas/libblas") != std::string::npos || p.find("/blas/libcblas") != std::string::npos)
    return "reference";
  if (p.find("openblas") != std::string::npos) {
    for (const char* v : {"openblas-openmp", "openblas-pthread", "openblas-serial"})
      if (p.find(v) != std::string::npos) return v;
    return "openblas";
  }
  if (p.find("mkl") != std::string::npos) return "mkl";
  if (p.find("blis") != std::string::npos) return "blis";
  if (p.find("atlas") != std::string::npos) return "atlas";
  return "unknown";
}

std::vector<MappedLibrary> mappedMathLibraries(const std::string& mapsText, bool hash) {
  std::vector<MappedLibrary> out;
  std::set<std::string> seen;
  std::istringstream in(mapsText);
  std::string line;
  while (std::getline(in, line)) {
    // address perms offset dev inode pathname (the pathname may contain spaces)
    std::istringstream ls(line);
    std::string field;
    for (int i = 0; i < 5 && (ls >> field); ++i) {}
    std::string path;
    std::getline(ls, path);
    path = trim(path);
    if (path.empty() || path[0] != '/') continue;
    const std::string deleted = " (deleted)";
    if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
      path.resize(path.size() - deleted.size());
    std::string role = libraryRole(path);
    if (role.empty() || !seen.insert(path).second) continue;
    MappedLibrary lib;
    lib.role = role;
    lib.mappedPath = path;
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    lib.path = ec ? path : real.string();
    out.push_back(std::move(lib));
  }
  // The same file can be mapped under two names; keep the first.
  std::vector<MappedLibrary> unique;
  std::set<std::string> real;
  for (auto& l : out)
    if (real.insert(l.path).second) unique.push_back(std::move(l));
  if (hash)
    for (auto& l : unique) {
      auto sha = sha256File(l.path);
      l.sha256 = sha.ok() ? *sha : "";
    }
  std::sort(unique.begin(), unique.end(),
            [](const MappedLibrary& a, const MappedLibrary& b) { return a.path < b.path; });
  return unique;
}

std::string envHashOf(const std::vector<FingerprintPart>& parts) {
  Sha256 h;
  for (const auto& p : parts) {
    if (p.severity != DriftSeverity::Severe) continue;
    h.update(p.name);
    h.update("=");
    h.update(p.value.dump());
    h.update("\n");
  }
  return h.hexdigest();
}

Fingerprint computeFingerprint(const SystemSources& src) {
  Fingerprint fp;
  auto unreadable = [&](const std::string& what, const std::string& path) {
    fp.notes.push_back(what + ": '" + path + "' is not readable");
    return json("unreadable");
  };
  auto add = [&](const std::string& name, json value, DriftSeverity sev, const std::string& what) {
    fp.parts.push_back(FingerprintPart{name, std::move(value), sev, what});
  };

  const std::string cpuinfoPath = src.proc + "/cpuinfo";
  auto cpuinfo = slurp(cpuinfoPath);
  const std::string mapsPath = src.proc + "/self/maps";
  auto maps = slurp(mapsPath);
  if (!maps) fp.notes.push_back("loaded libraries: '" + mapsPath + "' is not readable");
  fp.libraries = mappedMathLibraries(maps.value_or(""), /*hash=*/true);
  for (const auto& l : fp.libraries)
    if (l.sha256.empty()) fp.notes.push_back("'" + l.path + "': cannot be read to hash");

  // --- severe parts: they can change outputs -------------------------------
  {
    json isa = json::array();
    if (cpuinfo) {
      std::string flags = colonField(*cpuinfo, "flags");
      if (flags.empty()) flags = colonField(*cpuinfo, "Features");  // arm64
      std::set<std::string> have;
      std::istringstream fs_(flags);
      for (std::string f; fs_ >> f;) have.insert(f);
      for (const auto& f : isaFlags())
        if (have.count(f)) isa.push_back(f);
      add("cpu_isa", isa, DriftSeverity::Severe, "SIMD extensions that select numeric kernels");
    } else {
      add("cpu_isa", unreadable("cpu_isa", cpuinfoPath), DriftSeverity::Severe,
          "SIMD extensions that select numeric kernels");
    }
  }
  add("libc", std::string("glibc ") + gnu_get_libc_version(), DriftSeverity::Severe,
      "C library (libm: exp, log, ...)");
  add("torch_version", torchVersion(), DriftSeverity::Severe, "libtorch version built against");
  fp.torchBuildConfig = torchBuildConfig();
  add("torch_build", sha256Hex(fp.torchBuildConfig), DriftSeverity::Severe,
      "sha256 of at::show_config() (libtorch build options)");
  {
    json torchLib = nullptr;
    for (const auto& l : fp.libraries)
      if (l.role == "torch") torchLib = {{"path", l.path}, {"sha256", l.sha256}};
    add("torch_library", torchLib, DriftSeverity::Severe, "libtorch_cpu mapped into the process");
  }
  {
    const MappedLibrary* blas = nullptr;
    for (const char* role : {"blas", "openblas", "mkl", "blis", "atlas"}) {
      for (const auto& l : fp.libraries)
        if (l.role == role) { blas = &l; break; }
      if (blas) break;
    }
    json b = json::object();
    if (blas) {
      b["provider"] = blasProvider(blas->path);
      if (b["provider"] == "unknown" && blas->role != "blas") b["provider"] = blas->role;
      b["path"] = blas->path;
      b["sha256"] = blas->sha256;
    } else {
      b["provider"] = "none";
      fp.notes.push_back("no BLAS library is mapped into the process (statically linked?)");
    }
    std::string obc = openblasConfig();
    if (!obc.empty()) b["openblas_config"] = obc;
    add("blas", b, DriftSeverity::Severe, "BLAS provider loaded (path from /proc/self/maps)");
  }
  {
    json libs = json::array();
    for (const auto& l : fp.libraries)
      if (l.role != "torch") libs.push_back({{"role", l.role}, {"path", l.path}, {"sha256", l.sha256}});
    add("math_libraries", libs, DriftSeverity::Severe,
        "BLAS/LAPACK/OpenMP/oneDNN/SLEEF libraries mapped, with sha256");
  }
  ThreadSettings threads = currentThreadSettings();
  add("intra_op_threads", threads.intraOp, DriftSeverity::Severe,
      "torch intra-op threads (reductions split differently)");
  {
    json env = json::object();
    std::vector<std::string> entries;
    if (src.environment) {
      entries = *src.environment;
    } else {
      for (char** e = environ; e && *e; ++e) entries.emplace_back(*e);
    }
    for (const auto& e : entries) {
      auto eq = e.find('=');
      if (eq == std::string::npos) continue;
      std::string name = e.substr(0, eq);
      if (isNumericEnvVar(name)) env[name] = e.substr(eq + 1);
    }
    add("numeric_env", env, DriftSeverity::Severe,
        "OMP_*, MKL_*, OPENBLAS_*, GOMP_*, KMP_*, TORCH_*, ATEN_*, CUDA_VISIBLE_DEVICES");
  }

  // --- minor parts: machine identity and speed ------------------------------
  {
    auto os = slurp(src.osRelease);
    std::string pretty;
    if (os) {
      std::istringstream in(*os);
      for (std::string line; std::getline(in, line);)
        if (startsWith(line, "PRETTY_NAME=")) {
          pretty = line.substr(12);
          if (pretty.size() >= 2 && pretty.front() == '"' && pretty.back() == '"')
            pretty = pretty.substr(1, pretty.size() - 2);
        }
    }
    add("os", os ? json(pretty) : unreadable("os", src.osRelease), DriftSeverity::Minor,
        "operating system (PRETTY_NAME)");
  }
  {
    const std::string p = src.proc + "/sys/kernel/osrelease";
    auto k = slurp(p);
    add("kernel", k ? json(trim(*k)) : unreadable("kernel", p), DriftSeverity::Minor,
        "kernel release");
  }
  {
    const std::string p = src.proc + "/sys/kernel/hostname";
    auto h = slurp(p);
    add("hostname", h ? json(trim(*h)) : unreadable("hostname", p), DriftSeverity::Minor,
        "host name");
  }
  {
    std::string model = cpuinfo ? colonField(*cpuinfo, "model name") : "";
    add("cpu_model", cpuinfo ? json(model) : unreadable("cpu_model", cpuinfoPath),
        DriftSeverity::Minor, "CPU model name");
  }
  {
    int cores = src.cores > 0 ? src.cores : affinityCores();
    add("cores", cores, DriftSeverity::Minor, "CPUs this process may run on (sched_getaffinity)");
  }
  {
    const std::string p = src.proc + "/meminfo";
    auto mem = slurp(p);
    json v = mem ? json(nullptr) : unreadable("memory_bytes", p);
    if (mem) {
      std::string kb = colonField(*mem, "MemTotal");
      try {
        v = static_cast<std::int64_t>(std::stoll(kb)) * 1024;
      } catch (...) {
        v = "unreadable";
        fp.notes.push_back("memory_bytes: no MemTotal in '" + p + "'");
      }
    }
    add("memory_bytes", v, DriftSeverity::Minor, "physical memory");
  }
  {
    const std::string p = src.sys + "/devices/system/cpu/cpu0/cpufreq/scaling_governor";
    auto g = slurp(p);
    add("cpu_governor", g ? json(trim(*g)) : json("unreadable"), DriftSeverity::Minor,
        "cpufreq scaling governor of cpu0");
    if (!g) fp.notes.push_back("cpu_governor: '" + p + "' is not readable (no cpufreq here, e.g. a VM)");
  }
  add("inter_op_threads", threads.interOp, DriftSeverity::Minor,
      "torch inter-op threads (scheduling only)");
  add("cvgate_version", kVersion, DriftSeverity::Minor,
      "cvgate build (its numeric effect is checked by env.golden)");
#if defined(__clang__)
  add("compiler", std::string("clang ") + __clang_version__, DriftSeverity::Minor, "compiler of cvgate");
#elif defined(__GNUC__)
  add("compiler", std::string("gcc ") + __VERSION__, DriftSeverity::Minor, "compiler of cvgate");
#else
  add("compiler", "unknown", DriftSeverity::Minor, "compiler of cvgate");
#endif

  fp.envHash = envHashOf(fp.parts);
  for (const auto& p : fp.parts)
    if (p.severity == DriftSeverity::Severe) fp.hashedParts.push_back(p.name);
  return fp;
}

}  // namespace cvgate

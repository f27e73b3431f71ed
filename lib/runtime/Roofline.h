// How fast a model could run here: its floating-point work per image (read
// from its TorchScript graph) and the machine's GEMM rate (the roofline of
// dense float32 compute). A throughput times the FLOPs per image, over the
// GEMM rate of the cores it used, is the fraction of the roofline reached.
// Torch-free header; the torch side is Roofline.cpp.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/Error.h"
#include "runtime/Runtime.h"

namespace cvgate {

/// Floating-point operations of one forward pass of one image, counted on
/// the inlined, frozen graph with shapes propagated from the manifest's input
/// shape (batch 1): 2 x multiply-accumulates of conv (1-3d, transposed too),
/// linear, matmul, mm, addmm, bmm, baddbmm and einsum-free products. Biases,
/// activations, pooling, normalisation left after freezing and element-wise
/// ops are not counted (the convention of fvcore and of ResNet-18's
/// "1.8 GMACs").
struct FlopCount {
  double perImage = 0;                     ///< FLOPs of one image
  std::map<std::string, double> byKind;    ///< per operator kind ("aten::conv2d": FLOPs)
  std::size_t nodes = 0;                   ///< counted nodes
  std::vector<std::string> unresolved;     ///< counted kinds whose shapes were not found (then a lower bound)
  bool complete = true;                    ///< every node of a counted kind was resolved
};

/// Count a model's FLOPs per image (see FlopCount). BadInput when the graph
/// cannot be read; a node whose shapes stay unknown is listed in unresolved.
Expected<FlopCount> countFlops(const Model& model);
nlohmann::json toJson(const FlopCount& f);

/// Single-thread float32 GEMM (n x n) rate over ~seconds, measured on each
/// GEMM engine this libtorch has, in `windows` equal windows per engine,
/// the engines' windows taking turns: "blas" (at::mm, the BLAS libtorch was
/// built against) and, when libtorch has oneDNN, "onednn" (its inner
/// product, at::mkldnn_linear: the kernels the serving graph's convolutions
/// run on). The roofline is the best window of the fastest engine: a BLAS
/// without kernels for this CPU (OpenBLAS 0.3.21 runs AVX2 code on an
/// AVX-512 core, half its peak) would otherwise set a ceiling that the
/// model's own convolutions pass. Whatever else runs on the machine can only
/// make a window slower, so one long average moves with the machine's load
/// (17 % between two bench runs on one machine) and the best of several
/// short ones much less; the median and the slowest say how disturbed the
/// measurement was.
struct GemmEngine {
  std::string name;                        ///< "blas" or "onednn"
  double gflops = 0;                       ///< the best window
  double gflopsMedian = 0;
  double gflopsMin = 0;
  std::int64_t iterations = 0;
  double seconds = 0;
};
struct GemmResult {
  int n = 0;
  std::string engine;                      ///< the engine whose best window is the roofline
  double gflops = 0;                       ///< GFLOP/s of one core: that engine's best window
  double gflopsMedian = 0;                 ///< its median window
  double gflopsMin = 0;                    ///< its slowest window
  int windows = 0;                         ///< windows per engine
  std::int64_t iterations = 0;             ///< over all engines
  double seconds = 0;                      ///< over all engines
  std::vector<GemmEngine> engines;         ///< each engine measured, "blas" first
};
GemmResult gemmBench(int n, double seconds, int windows = 5);
/// The GEMM the reports' rooflines are measured with (profile-latency,
/// eval-compliance): 512 x 512 (oneDNN's single-core rate at 256 is up to
/// 15 % below its rate at 512 here), 0.5 s over both engines: every
/// eval-compliance and profile-latency run pays it.
constexpr int kRooflineGemmN = 512;
constexpr double kRooflineGemmSeconds = 0.5;
/// Whether this libtorch has oneDNN (then gemmBench measures it too).
bool hasOneDnn();
/// {n, seconds, iterations, windows, engine, gflops_best, gflops_median,
///  gflops_min, engines: {name: {gflops_best, gflops_median, gflops_min,
///  iterations, seconds}}}.
nlohmann::json toJson(const GemmResult& g);

/// The roofline of `cores` cores at `gflopsPerCore`, and a rate against it.
struct Roofline {
  double gflopsPerCore = 0;                ///< --gemm-bench figure
  int cores = 1;                           ///< cores the measured work could use
  double gflops() const { return gflopsPerCore * cores; }
  /// Images/s the roofline allows for `flopsPerImage` (0 when unknown).
  double imagesPerS(double flopsPerImage) const;
  /// achieved images/s x FLOPs per image / roofline, as a fraction (NaN when unknown).
  double fraction(double imagesPerS, double flopsPerImage) const;
};

/// Cores a plan of `workers` x `intraOpThreads` can keep busy: at most the
/// CPUs this process may run on (its affinity mask), not the machine's.
int coresUsed(int workers, int intraOpThreads);

/// {flops_per_image, roofline_gflops, roofline_images_per_s, images_per_s,
///  roofline_fraction, cores, gemm_gflops_per_core} for one measured rate.
nlohmann::json rooflineJson(const Roofline& r, double flopsPerImage, double imagesPerS);

}  // namespace cvgate

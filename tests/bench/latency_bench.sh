#!/bin/sh
# Latency bench: one run, side by side — the generator's own overhead per
# request (no-op SUT), default and best-patch throughput at objective of both
# reference models (profile-latency --sweep), and the single-core GEMM rate
# of this machine as the roofline reference.
# Usage: CVGATE_BIN_DIR=build/bin tests/bench/latency_bench.sh [config]
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CVGATE_BIN_DIR:-$here/build/bin}
config=${1:-$here/configs/cvgate.toml}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pl="$bin/profile-latency"

echo "latency bench: $pl, config $config" >&2
"$pl" --gemm-bench >"$tmp/gemm.json"
"$pl" --config "$config" --noop --offered-rps 5000 --quiet --out "$tmp/noop.json" || true
"$pl" --config "$config" --sweep --no-profile --patch-out "$tmp/patch" --out "$tmp/sweep.json" || true

jq -r -n --slurpfile g "$tmp/gemm.json" --slurpfile n "$tmp/noop.json" --slurpfile s "$tmp/sweep.json" '
  def f(x): if x == null then "n/a" else (x * 100 | round / 100 | tostring) end;
  "== latency bench ==",
  "roofline: single-core float32 GEMM (at::mm \($g[0].gemm_n)x\($g[0].gemm_n)): \(f($g[0].gflops_single_core)) GFLOP/s",
  "generator overhead (no-op SUT, server at 5000/s): mean \(f($n[0].results.generator.overhead_mean_ms)) ms, p50 \(f($n[0].results.generator.overhead_p50_ms)) ms, p99 \(f($n[0].results.generator.overhead_p99_ms)) ms per request",
  "throughput at objective (highest offered requests/s whose run met the P95 and error objectives):",
  ( $s[0].results.subjects | to_entries[] | .key as $k |
    "  \($k) \(.value.model): default \(f(.value.throughput.best_rps))  best patch \(f($s[0].results.sweep.subjects[$k].best_throughput_rps)) (\($s[0].results.sweep.subjects[$k].best)), x\(f($s[0].results.sweep.subjects[$k].speedup))" )
'

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
  ( $s[0].results.subjects | to_entries[] | .key as $k | $s[0].results.sweep.subjects[$k] as $w |
    "  \($k) \(.value.model): default \(f(.value.throughput.best_rps))\(if $w.patch.baseline_capped then " (search bound reached)" else "" end)  best patch \(f($w.best_throughput_rps)) (\($w.best)), x\(f($w.speedup))" +
    (if $w.confirmation == null then ""
     elif $w.confirmation.confirmed then " — confirmed by a repeat run\(if $w.confirmation.confirmed_rps < $w.confirmation.search_best_rps then " at \(f($w.confirmation.confirmed_rps)) (search reached \(f($w.confirmation.search_best_rps)))" else "" end)"
     else " — the winner \($w.confirmation.variant) (\(f($w.confirmation.search_best_rps))) did not meet the objectives again: no patch" end),
    ( $w.variants[] | select(.transform != null and .transform != "none") |
      "      \(.name): \(if .available then "\(f(.throughput_rps))/s, top-1 agreement \(f(.golden.top1_agreement)), max abs diff \(.golden.max_abs_diff)" else "unavailable: \(.unavailable_reason)" end)" ) )
'

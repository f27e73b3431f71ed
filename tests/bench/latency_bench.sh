#!/bin/sh
# Latency bench: one run, side by side — the generator's own overhead per
# request (no-op SUT), default and best-patch throughput at objective of both
# reference models (profile-latency --sweep), and the single-core GEMM rate
# of this machine as the roofline reference.
# The sweep runs SWEEPS times (default 2): a winner confirmed by one sweep
# (three of three gate-length runs at its rate) is run again at that rate
# with its settings, each run in a new process: three runs as long as the
# search's, then three as long as the gate's, each set confirmed again when
# two of its three meet the objectives; whether the next sweep
# picks the same winner is printed too. Each
# throughput comes with its capacity bracket (the rate that met the
# objectives .. the lowest above it that failed) and the share of the cores
# the load generator took in those runs (with the bound it puts on how far
# the capacity is understated); the winner's too, and the speed-up's range
# if each capacity lies in its bracket.
# Usage: CVGATE_BIN_DIR=build/bin [SWEEPS=2] tests/bench/latency_bench.sh [config]
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CVGATE_BIN_DIR:-$here/build/bin}
config=${1:-$here/configs/cvgate.toml}
sweeps=${SWEEPS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pl="$bin/profile-latency"
# Run lengths of the sweep's confirmation and of the gate ([latency]).
search_s=$(sed -n 's/^search_duration_s *= *\([0-9.]*\).*/\1/p' "$config" | head -1)
gate_s=$(sed -n 's/^duration_s *= *\([0-9.]*\).*/\1/p' "$config" | head -1)
search_s=${search_s:-1.0}
gate_s=${gate_s:-4.0}

echo "latency bench: $pl, config $config, $sweeps sweeps" >&2
"$pl" --gemm-bench >"$tmp/gemm.json"
"$pl" --config "$config" --noop --offered-rps 5000 --quiet --out "$tmp/noop.json" || true
jq -r -n --slurpfile g "$tmp/gemm.json" --slurpfile n "$tmp/noop.json" '
  def f(x): if x == null then "n/a" else (x * 100 | round / 100 | tostring) end;
  "== latency bench ==",
  "roofline: single-core float32 GEMM \($g[0].gemm_n)x\($g[0].gemm_n), best of \($g[0].windows) windows on the fastest engine (\($g[0].engine)): \(f($g[0].gflops_single_core)) GFLOP/s (median \(f($g[0].gflops_median)), min \(f($g[0].gflops_min))); \($g[0].engines | to_entries | map("\(.key) \(f(.value.gflops_best))") | join(", "))",
  "generator overhead (no-op SUT, server at 5000/s): mean \(f($n[0].results.generator.overhead_mean_ms)) ms, p50 \(f($n[0].results.generator.overhead_p50_ms)) ms, p99 \(f($n[0].results.generator.overhead_p99_ms)) ms per request",
  "throughput at objective (highest offered requests/s whose run met the P95 and error objectives), [capacity bracket]:"'
i=1
while [ "$i" -le "$sweeps" ]; do
  "$pl" --config "$config" --sweep --no-profile --patch-out "$tmp/patch-$i" --out "$tmp/sweep-$i.json" -q || true
  jq -r --arg i "$i" '
    def f(x): if x == null then "n/a" else (x * 100 | round / 100 | tostring) end;
    def pct(x): if x == null then "n/a" else (x * 1000 | round / 10 | tostring) + " %" end;
    . as $r | "  sweep \($i) (\(f(.results.time_budget.used_s)) s of its \(f(.results.time_budget.budget_s)) s budget):",
    ( .results.subjects | to_entries[] | .key as $k | $r.results.sweep.subjects[$k] as $w |
      ([$r.checks[] | select(.id == "latency.throughput" and .subject == $k)] | first) as $c |
      "    \($k) \(.value.model) (sweep share \(f($w.budget_s)) s, used \(f($w.used_s)) s): default \(f(.value.throughput.best_rps)) [\($c.detail.capacity_bracket_rps // [] | map(f(.)) | join(" .. "))]" +
      (if $c.detail.generator != null then ", generator \(pct($c.detail.generator.core_fraction)) of one of \($c.detail.generator.cores) cores (capacity understated by at most \(pct($c.detail.generator.capacity_understated_at_most)))" else "" end) +
      "; best \(f($w.best_throughput_rps)) [\($w.best_capacity_bracket_rps // [] | map(if . == null then "open" else f(.) end) | join(" .. "))] (\($w.best)), x\(f($w.speedup))" +
      (if $w.speedup_bracket == null then "" else " [\($w.speedup_bracket | map(if . == null then "open" else "x" + f(.) end) | join(" .. "))]" end) +
      (if $w.confirmation == null then " — no variant beat the default"
       elif $w.confirmation.confirmed then " — \($w.confirmation.variant) confirmed at \(f($w.confirmation.confirmed_rps))/s by \([$w.confirmation.runs[] | select(.offered_rps == $w.confirmation.confirmed_rps)] | group_by(.confirm_run) | map(last) | map(select(.outcome == "pass")) | length) of \([$w.confirmation.runs[] | select(.offered_rps == $w.confirmation.confirmed_rps)] | group_by(.confirm_run) | length) runs (its search reached \(f($w.confirmation.search_best_rps)))"
       else " — the winner \($w.confirmation.variant) (\(f($w.confirmation.search_best_rps))) did not meet the objectives again: no patch (\($w.confirmation.why))" end),
      ( $w.variants[] | select(.transform != null and .transform != "none") |
        "        \(.name): \(if .available == false then "unavailable: \(.unavailable_reason)"
                          elif .not_run != null then "not run: \(.not_run)"
                          elif .error != null then "error: \(.error)"
                          elif .challenge != null and .challenge.ran == false then "not run, the time budget was spent"
                          elif .challenge != null and .challenge.passed == false then "did not meet the objectives at \(f(.challenge.rps))/s (the challenge)"
                          else "\(f(.throughput_rps))/s" end)\(if .golden.top1_agreement != null then ", top-1 agreement \(f(.golden.top1_agreement)), max abs diff \(.golden.max_abs_diff)" else "" end)" ) )
  ' "$tmp/sweep-$i.json"
  # The confirmed winner, run again: its settings at its confirmed rate,
  # three gate runs (no search, no sweep), confirmed again when two of the
  # three meet the P95 and error objectives for its subject (the sweep
  # itself confirms only a rate met three times of three).
  for role in current candidate; do
    w=$(jq -c --arg r "$role" '.results.sweep.subjects[$r] // empty | select(.confirmation.confirmed == true) |
          .confirmation as $c | (.variants[] | select(.name == $c.variant)) as $v |
          {rps: $c.confirmed_rps, intra: $v.intra_op_threads, workers: $v.workers, batch: $v.max_batch,
           inter: ($v.inter_op_threads // 0), transform: ($v.transform // "none"), name: $v.name}' "$tmp/sweep-$i.json")
    [ -n "$w" ] || continue
    set -- --intra-op-threads "$(echo "$w" | jq -r .intra)" --workers "$(echo "$w" | jq -r .workers)" \
      --max-batch "$(echo "$w" | jq -r .batch)" --offered-rps "$(echo "$w" | jq -r .rps)"
    t=$(echo "$w" | jq -r .transform)
    [ "$t" = none ] || set -- "$@" --transform "$t"
    n=$(echo "$w" | jq -r .inter)
    [ "$n" = 0 ] || set -- "$@" --inter-op-threads "$n"
    # Runs as long as the search's (search_duration_s), then as long as the
    # gate's and the confirmation's (duration_s): a rate sustained for one is
    # not always for the other.
    for d in "$search_s" "$gate_s"; do
    met=0
    for k in 1 2 3; do
      rm -f "$tmp/rerun.json"
      "$pl" --config "$config" --no-sweep --no-search --no-profile -q "$@" --duration "$d" --out "$tmp/rerun.json" || true
      ok=$(jq -r --arg r "$role" '[.checks[] | select(.subject == $r and (.id == "latency.p95" or .id == "latency.error_rate")) |
             .status == "pass"] | length == 2 and all' "$tmp/rerun.json" 2>/dev/null || echo false)
      [ "$ok" = true ] && met=$((met + 1))
    done
    echo "    rerun: $role $(echo "$w" | jq -r .name) at $(echo "$w" | jq -r .rps)/s, runs of $d s: met the objectives in $met of 3: $([ "$met" -ge 2 ] && echo "confirmed again" || echo "NOT confirmed again")"
    done
  done
  i=$((i + 1))
done
if [ "$sweeps" -ge 2 ]; then
  # The same winner, confirmed in every sweep: the patch is reproducible.
  jq -r -s '
    [.[] | .results.sweep.subjects | to_entries[] | {k: .key, w: (if .value.confirmation.confirmed == true then .value.confirmation.variant else "none" end)}] |
    group_by(.k)[] | "  \(.[0].k): confirmed winner per sweep: \(map(.w) | join(", "))\(if (map(.w) | unique | length) == 1 then " (the same every time)" else " (differs)" end)"
  ' "$tmp"/sweep-*.json
fi

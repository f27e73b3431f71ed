#!/usr/bin/env bash
# The bench target (make -f Makefile.wrapper bench): the speed and time
# targets of cvgate, measured on this machine in one run. Timings on a shared
# 2-core machine are noisy; compare ratios within one run, not across runs.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CVGATE_BIN_DIR:?set CVGATE_BIN_DIR to the bin directory of the build}
export CVGATE_BIN_DIR=$bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; local rc=$?; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}'; return $rc; }

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2)
echo "== cvgate bench on $(nproc) cores,${cpu}"

echo "== full heartbeat cycle on the defaults (target < 180 s)"
t=$(secs "$src/tools/heartbeat" --config "$src/configs/cvgate.toml" --state-dir "$work/state" --dry-run --cycle bench-1)
rc=$?
case $rc in
  0) verdict=GO ;;
  10) verdict=PAUSE ;;
  20) verdict=ROLLBACK ;;
  *) verdict=error ;;
esac
echo "heartbeat: ${t} s (exit $rc: $verdict)"

echo "== measurement isolation: V2's P95 inside that cycle vs the same measurement alone (target: within 25 %)"
p95_of() { jq -r '.checks[] | select(.id=="latency.p95" and .subject=="candidate") | .value' "$1"; }
inside=$(p95_of "$work/state/feeds/v1_latency_feed/bench-1.json")
"$bin/profile-latency" --config "$src/configs/cvgate.toml" --state-dir "$work/state" -q \
  --candidate "$src/models/fashion-cnn-v2.pt" -o "$work/alone.json" >/dev/null 2>&1
alone=$(p95_of "$work/alone.json")
if [[ $inside =~ ^[0-9.eE+-]+$ && $alone =~ ^[0-9.eE+-]+$ ]]; then
  awk -v a="$inside" -v b="$alone" 'BEGIN{r=a/b; printf "V2 P95 at the operating point: %.2f ms in the cycle, %.2f ms alone: ratio %.2f (%s)\n", a, b, r, (r>=0.75 && r<=1.25) ? "within 25 %" : "OUTSIDE 25 %"}'
else
  echo "V2 P95 at the operating point: not measured (in the cycle: '${inside:-no report}', alone: '${alone:-no report}')"
fi

echo "== verify-env on the defaults, lock recorded (target < 5 s)"
"$bin/verify-env" --config "$src/configs/cvgate.toml" --state-dir "$work/state" --record >/dev/null 2>&1
for i in 1 2 3; do
  echo "verify-env run $i: $(secs "$bin/verify-env" --config "$src/configs/cvgate.toml" --state-dir "$work/state") s"
done

echo "== verdict simulation: the real policy on synthetic measurements (targets: false ROLLBACK < 1 % of months,"
echo "   real breach rolled back within 3 cycles, candidate at an objective GO <= alpha)"
"$bin/verdict-sim" "${CVGATE_SIM_MONTHS:-200}" "${CVGATE_SIM_TRIALS:-400}"

for part in latency compliance perf rollback slurm; do
  if [ -x "$src/tests/bench/${part}_bench.sh" ]; then
    echo "== $part"
    "$src/tests/bench/${part}_bench.sh"
  fi
done

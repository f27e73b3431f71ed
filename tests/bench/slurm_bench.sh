#!/usr/bin/env bash
# Slurm against local, on this machine, in one run (README "On a cluster
# (Slurm)"): eval-compliance's wall time alone, as 1 shard and as 2 shards
# through a private single-node Slurm cluster (tests/slurm/cluster.sh), each
# shard array followed by its merge job; Slurm's own latency from sbatch to
# a trivial job's end; and a whole heartbeat cycle through Slurm against the
# same cycle run locally. The evaluation is the default config's (V1 and V2
# on the 10,000 Fashion-MNIST test images). A 2-core machine cannot show a
# cluster's speed-up: what this measures is the overhead Slurm adds.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CVGATE_BIN_DIR:?set CVGATE_BIN_DIR to the bin directory of the build}
work=$(mktemp -d)
cluster="$work/cluster"
stop() { "$src/tests/slurm/cluster.sh" stop "$cluster" >/dev/null 2>&1; rm -rf "$work"; }
trap stop EXIT
trap 'exit 130' INT TERM

"$src/tests/slurm/cluster.sh" start "$cluster" --owner $$ >"$work/env" 2>"$work/cluster.log"
rc=$?
if [ $rc = 77 ]; then echo "slurm bench: skipped: $(cat "$work/cluster.log")"; exit 0; fi
[ $rc = 0 ] || { echo "slurm bench: the cluster did not start: $(tail -n 3 "$work/cluster.log")"; exit 1; }
# shellcheck disable=SC1091
. "$work/env"
export SLURM_CONF

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

cfg="$work/cvgate.toml"
sed -e "s|^state_dir = .*|state_dir = \"$work/state\"|" \
    -e "s|\"\.\./models/|\"$src/models/|g" "$src/configs/cvgate.toml" >"$cfg"
cfg1="$work/cvgate-1thread.toml"
sed -e 's/^intra_op_threads = 2/intra_op_threads = 1/' "$cfg" >"$cfg1"
common=(--state-dir "$work/state" --cycle bench-eval)

echo "eval-compliance on the default config (V1 and V2, 10,000 images), wall time:"
t0=$(now)
"$bin/eval-compliance" --config "$cfg" "${common[@]}" -o "$work/local.json" 2>"$work/local.log"
rc=$?
local_s=$(since "$t0")
echo "  local, one process, 2 threads: $local_s s (exit $rc)"

# wait_end ID: poll slurmctld every 0.1 s until job ID has ended; its state.
# (sbatch --wait polls with a growing interval: it would time itself.)
wait_end() {
  local line st
  while :; do
    line=$(scontrol -o show job "$1" 2>/dev/null | head -n 1)
    st=$(grep -o ' JobState=[A-Z_]*' <<<"$line" | cut -d= -f2)
    case "$st" in
      PENDING|RUNNING|COMPLETING|CONFIGURING|"") sleep 0.1 ;;
      *) echo "$st, exit $(grep -o ' ExitCode=[0-9]*' <<<"$line" | cut -d= -f2)"; return ;;
    esac
  done
}

# sharded CONFIG N CPUS: an array of N shards and its merge, timed from the
# first sbatch to the merge's end.
sharded() {
  local c=$1 n=$2 cpus=$3 d="$work/shards-$2" t0 arr merge st
  mkdir -p "$d"
  t0=$(now)
  arr=$(sbatch --parsable --array=0-$((n - 1)) --cpus-per-task="$cpus" --time=10 -o "$d/shard-%a.out" \
    --wrap "exec $bin/eval-compliance --config $c ${common[*]} --shard \$SLURM_ARRAY_TASK_ID/$n --outcomes-out $d/shard-\$SLURM_ARRAY_TASK_ID-of-$n.outcomes")
  merge=$(sbatch --parsable --dependency=afterok:"$arr" --kill-on-invalid-dep=yes --cpus-per-task="$cpus" --time=10 \
    -o "$d/merge.out" --wrap "exec $bin/eval-compliance --config $c ${common[*]} -o $d/merged.json --merge $d")
  st=$(wait_end "$merge")
  echo "$(since "$t0") $st"
}
read -r s1 rc1 <<<"$(sharded "$cfg" 1 2)"
echo "  Slurm, 1 shard (2 CPUs, 2 threads) + merge job: $s1 s (merge job $rc1): x$(ratio "$s1" "$local_s") local"
read -r s2 rc2 <<<"$(sharded "$cfg1" 2 1)"
echo "  Slurm, 2 shards side by side (1 CPU, 1 thread each) + merge job: $s2 s (merge job $rc2): x$(ratio "$s2" "$local_s") local"
for n in 1 2; do
  f="$work/shards-$n/merged.json"
  [ -s "$f" ] && echo "  merged report of $n shard(s): status $(jq -r .status "$f"), uplift $(jq -r '.results.uplift.uplift' "$f"); local: $(jq -r '.results.uplift.uplift' "$work/local.json")"
done

echo "Slurm's own latency, from sbatch to the end of a job that runs 'true' (5 runs):"
for i in 1 2 3 4 5; do
  t0=$(now)
  id=$(sbatch --parsable --time=1 -o /dev/null --wrap true)
  wait_end "$id" >/dev/null
  printf '  %s s\n' "$(since "$t0")"
done

echo "a heartbeat cycle on the default config, --dry-run, local then through Slurm (1 shard):"
t0=$(now)
CVGATE_BIN_DIR=$bin "$src/tools/heartbeat" --config "$cfg" --state-dir "$work/state-local" --cycle bench-local \
  --dry-run -q 2>"$work/cycle-local.log"
rcl=$?
tl=$(since "$t0")
sed -e 's/^kind = "local"/kind = "slurm"/' "$cfg" >"$work/cvgate-slurm.toml"
grep -q '^kind = "slurm"' "$work/cvgate-slurm.toml" || { echo "slurm bench: no [engine] kind in $cfg"; exit 1; }
t0=$(now)
CVGATE_BIN_DIR=$bin "$src/tools/heartbeat" --config "$work/cvgate-slurm.toml" --state-dir "$work/state-slurm" \
  --cycle bench-slurm --dry-run -q 2>"$work/cycle-slurm.log"
rcs=$?
ts=$(since "$t0")
echo "  local: $tl s (exit $rcl); Slurm: $ts s (exit $rcs): x$(ratio "$ts" "$tl"), +$(awk -v a="$ts" -v b="$tl" 'BEGIN{printf "%.1f", a-b}') s"
echo "  per step (local | Slurm job run time, from scontrol; the rest is queueing and polling):"
jobs="$work/state-slurm/cycles/bench-slurm/slurm/jobs.json"
if [ -s "$jobs" ]; then
  for key in verify-env shard-0 merge profile-latency check-integration simulate-rollback; do
    id=$(jq -r --arg k "$key" '.[$k]' "$jobs")
    rt=$(scontrol -o show job "$id" 2>/dev/null | grep -o ' RunTime=[0-9:-]*' | cut -d= -f2)
    echo "    $key: job $id ran $rt"
  done
fi

#!/usr/bin/env bash
# Runs each fuzz target for a bounded budget: first the inputs that once broke a
# reader (regressions/<target>/), then libFuzzer from the seed corpus
# (corpus/<target>/, copied: the repo's corpus is never written). A crash, a
# leak, a hang (-timeout), an out-of-memory or undefined behaviour fails the
# run; the input is kept in OUT/<target>/ and printed as a path.
# usage: tests/fuzz/run.sh FUZZ_BIN_DIR BUDGET [TARGET...]
#   BUDGET  SECONDS per target (exploration: a new seed each run), or
#           runs:N  N executions per target from the fixed seed $FUZZ_SEED
#                   (default 1): the same inputs on every machine, so a failure
#                   in CI is reproduced by the same command and only a change
#                   to the code can bring a new one (what `make test` runs).
# Prints one line per target: seconds, executions, executions/s, corpus size.
set -uo pipefail
bin=${1:?usage: run.sh FUZZ_BIN_DIR SECONDS|runs:N [TARGET...]}
budget=${2:?usage: run.sh FUZZ_BIN_DIR SECONDS|runs:N [TARGET...]}
shift 2
case "$budget" in
  runs:[0-9]*) limit=(-runs="${budget#runs:}" -seed="${FUZZ_SEED:-1}") ;;
  [0-9]*) limit=(-max_total_time="$budget") ;;
  *) echo "run.sh: budget '$budget': expected SECONDS or runs:N" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config manifest report idx image state journal verdicts)
out=${FUZZ_OUT:-$(mktemp -d /tmp/cvgate-fuzz.XXXXXX)}
mkdir -p "$out"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  exe=$bin/fuzz_$t
  [ -x "$exe" ] || { echo "fuzz: $t: no binary $exe (build with -DCVGATE_FUZZ=ON)"; status=1; continue; }
  work=$out/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "$here/corpus/$t/." "$work/corpus/"
  if [ -d "$here/regressions/$t" ] && [ -n "$(ls -A "$here/regressions/$t")" ]; then
    if ! "$exe" "$here/regressions/$t"/* >"$work/regressions.log" 2>&1; then
      echo "fuzz: $t: a regression input fails again (log: $work/regressions.log)"
      tail -30 "$work/regressions.log"
      status=1
      continue
    fi
  fi
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  t0=$(date +%s)
  "$exe" "${dict[@]}" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log")
  size=$(ls "$work/corpus" | wc -l)
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t: FAILED (exit $rc) after ${execs:-?} executions; input: $(ls "$work/artifacts"/* 2>/dev/null | head -1); log: $work/fuzz.log"
    grep -m1 -E "ERROR: |runtime error|fuzz invariant" "$work/fuzz.log"
    status=1
  else
    echo "fuzz: $t: ok, ${secs} s, ${execs:-?} executions, ${rate:-?}/s, corpus $size inputs"
  fi
done
exit $status

#!/usr/bin/env bash
# Shows that the unpacked package runs a whole heartbeat cycle as an installed
# tool: <root>/usr/bin/heartbeat started with no arguments from an unrelated
# directory finds its tools, its config (<root>/etc/cvgate) and the reference
# models (<root>/usr/share/cvgate) by itself; only $CVGATE_STATE_DIR points
# into the temporary root. It reaches GO (exit 0), as from the build tree.
set -uo pipefail
deb=$(ls "$1"/cvgate_*.deb) || exit 1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root" || exit 1
state=$root/var/lib/cvgate
mkdir "$root/elsewhere"
system_state=$([ -e /var/lib/cvgate ] && echo present || echo absent)
status=0
fail() { echo "FAIL: $*"; status=1; }

# run_cycle N: one heartbeat cycle; sets rc and cycle.
run_cycle() {
  local started
  started=$(date +%s)
  (cd "$root/elsewhere" && env -u CVGATE_CONFIG -u CVGATE_BIN_DIR -u CVGATE_CYCLE_ID CVGATE_STATE_DIR="$state" \
    "$root/usr/bin/heartbeat" >"$root/heartbeat.out" 2>"$root/heartbeat.err")
  rc=$?
  echo "cycle $1: heartbeat exited $rc after $(( $(date +%s) - started )) s; its stderr:"
  cat "$root/heartbeat.err"
  cycle=$(sed -n 's/^heartbeat: cycle \([^:]*\): .*/\1/p' "$root/heartbeat.err")
}

run_cycle 1
# A measurement a busy machine made invalid is inconclusive, and the gate
# PAUSEs; cron's next cycle measures again. So does this test, once: only when
# no report failed or errored, so that a broken install never gets a retry.
reports=("$state"/feeds/v1_*/"$cycle.json")
if [ "$rc" = 10 ] && [ -n "$cycle" ] && [ ${#reports[@]} = 5 ] &&
   jq -e -s 'all(.[]; .status == "pass" or .status == "inconclusive")' "${reports[@]}" >/dev/null; then
  echo "cycle 1 paused on inconclusive evidence:"
  jq -r '.checks[] | select(.status == "inconclusive") | "  \(.id) (\(.subject)): \(.message)"' "${reports[@]}"
  run_cycle 2
fi

[ "$rc" = 0 ] || fail "exit status $rc, expected 0 (GO)"
[ -n "$cycle" ] || { fail "no 'heartbeat: cycle ID: VERDICT' line"; exit 1; }
verdict=$(jq -r '.results.verdict' "$state/feeds/verdicts/$cycle.json" 2>/dev/null)
[ "$verdict" = GO ] || fail "the verdict report says '$verdict', expected GO"
config=$(jq -r '.config' "$state/cycles/$cycle/begin.json" 2>/dev/null)
[ "$config" = "$root/etc/cvgate/cvgate.toml" ] || fail "the cycle used config '$config', not the package's"
# GO deployed the packaged candidate.
want=$(sha256sum "$root/usr/share/cvgate/models/fashion-cnn-v2.pt" | cut -d' ' -f1)
have=$(jq -r '.current.sha256' "$state/registry/state.json" 2>/dev/null)
[ "$have" = "$want" ] || fail "production is '$have', expected the packaged fashion-cnn-v2 ($want)"
# Nothing written where the heartbeat was started, nor to the machine's state.
[ -z "$(ls -A "$root/elsewhere")" ] || fail "files left in the working directory: $(ls -A "$root/elsewhere")"
[ "$([ -e /var/lib/cvgate ] && echo present || echo absent)" = "$system_state" ] || fail "/var/lib/cvgate was touched"
exit $status

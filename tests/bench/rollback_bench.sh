#!/bin/sh
# Rollback bench: the RTO of the reference models. V1 (fashion-mlp-v1) is
# adopted, V2 (fashion-cnn-v2) staged and deployed in a scratch registry, and
# simulate-rollback rehearses the rollback to V1 (the known-good target)
# $REPEATS times. Prints one summary line and the per-step medians.
# Needs CVGATE_BIN_DIR (the build's bin/); the bench target sets it.
set -eu
: "${CVGATE_BIN_DIR:?set CVGATE_BIN_DIR to the build's bin directory}"
REPEATS=${REPEATS:-20}
src=$(cd "$(dirname "$0")/../.." && pwd)
data=/usr/share/datasets/fashion-mnist
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cvgate-rollback-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cat >"$tmp/bench.toml" <<TOML
state_dir = "$tmp/var"
[models]
current = "$src/models/fashion-mlp-v1.pt"
candidate = "$src/models/fashion-cnn-v2.pt"
[dataset]
format = "idx"
images = "$data/t10k-images-idx3-ubyte.gz"
labels = "$data/t10k-labels-idx1-ubyte.gz"
[rollback]
drill_repeats = $REPEATS
sandbox_dir = "$tmp/sandboxes"
TOML
mr() { "$CVGATE_BIN_DIR/model-registry" --config "$tmp/bench.toml" --log-level warn "$@" >/dev/null; }
mr --cycle bench-init init "$src/models/fashion-mlp-v1.pt"
mr --cycle bench-stage stage "$src/models/fashion-cnn-v2.pt"
mr --cycle bench-deploy deploy
rc=0
"$CVGATE_BIN_DIR/simulate-rollback" --config "$tmp/bench.toml" --cycle bench-rollback --log-level warn \
  >"$tmp/report.json" || rc=$?
/usr/bin/python3 - "$tmp/report.json" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); res = r["results"]; rto = res["rto_ms"]
print("rollback RTO (%s -> %s, %d drills, golden set %d): median %.1f ms, p95 %.1f ms (%s), objective %.0f ms; status %s, exit %s"
      % (res["pipeline"]["name"], res["target"]["name"], rto["n"], res["golden"]["n"], rto["median"], rto["p95"],
         rto["p95_method"], rto["objective"], r["status"], sys.argv[2]))
print("  steps (median ms, share): " + ", ".join("%s %.2f (%.0f%%)" % (k, res["steps_ms"][k], 100 * res["steps_share"][k])
      for k in ["choose", "verify", "load", "warmup", "first_answer", "golden", "flip"]))
PY
exit "$rc"

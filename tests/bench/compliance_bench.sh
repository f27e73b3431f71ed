#!/usr/bin/env bash
# Bench of eval-compliance: both reference models (configs/cvgate.toml) on the
# 10,000 Fashion-MNIST test images, batched, with the runtime's thread
# settings; prints images per second per model, the evaluation's wall time
# and the candidate-vs-baseline figures.
# usage: CVGATE_BIN_DIR=build/bin tests/bench/compliance_bench.sh [CONFIG]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CVGATE_BIN_DIR:-$here/build/bin}
config=${1:-$here/configs/cvgate.toml}
tool="$bin/eval-compliance"
[ -x "$tool" ] || { echo "compliance_bench: error: '$tool': expected the eval-compliance binary (set CVGATE_BIN_DIR)" >&2; exit 2; }
for f in /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz; do
  [ -r "$f" ] || { echo "compliance_bench: skipped: '$f' missing (install dataset-fashion-mnist)"; exit 0; }
done
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
start=$(date +%s.%N)
set +e
"$tool" --config "$config" --state-dir "$state" --cycle bench --out "$state/report.json" --quiet
rc=$?
set -e
end=$(date +%s.%N)
if [ "$rc" -ne 0 ] && [ "$rc" -ne 10 ] && [ "$rc" -ne 11 ]; then
  echo "compliance_bench: error: eval-compliance exited $rc" >&2
  exit 1
fi
/usr/bin/python3 - "$state/report.json" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
res = r["results"]
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"eval-compliance bench: {res['dataset']['describe']}, batch {res['batch_size']}, "
      f"threads intra {res['threads']['intra_op']} inter {res['threads']['inter_op']}")
for role in ("current", "candidate"):
    s = res.get(role)
    if not s:
        continue
    print(f"  {role:9s} {s['model']:16s} {s['images_per_s']:9.0f} images/s "
          f"({s['images_evaluated']} images in {s['wall_ms']/1000:.2f} s; forward {s['stage_ms']['forward']/1000:.2f} s)")
    print(f"  {'':9s} compliance {s['compliance']:.4f}  conflict {s['conflict']:.4f}  abstain {s['abstain']:.4f}  "
          f"accuracy {s['accuracy']:.4f}  ECE {s['ece']:.4f} -> {s['ece_after_temperature']:.4f} at T={s['temperature']:.3f}")
u = res.get("uplift")
if u:
    m = res["mcnemar"]
    print(f"  uplift {u['uplift']:+.4f} ({u['confidence']*100:.0f}% CI {u['lo']:+.4f} .. {u['hi']:+.4f}, n {u['n']}); "
          f"McNemar b {m['b']} c {m['c']} p {m['p_value']:.3g}; regressions {res['regressions_total']}")
print(f"  status {r['status']}; whole run {wall:.1f} s (tool's own wall {res['wall_ms']/1000:.1f} s)")
PY

#!/usr/bin/env bash
# Shows that models/recipe.sh (make -f Makefile.wrapper models) rebuilds the
# committed reference models: same manifests (but for training time and the
# libtorch build), test accuracy within 1 percentage point.
set -euo pipefail
train=$1 src=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$src/models/recipe.sh" "$train" "$out" >"$out/recipe.log" 2>&1 || { cat "$out/recipe.log"; exit 1; }
manifest() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys, torch
extra = {"cvgate.json": ""}
torch.jit.load(sys.argv[1], _extra_files=extra)
m = json.loads(extra["cvgate.json"])
acc = m["training"].pop("test_accuracy")
for k in ("train_seconds", "libtorch"):
    m["training"].pop(k, None)
print(json.dumps({"manifest": m, "acc": acc}, sort_keys=True))
PY
}
status=0
for name in fashion-mlp-v1 fashion-cnn-v2; do
  a=$(manifest "$src/models/$name.pt")
  b=$(manifest "$out/$name.pt")
  if [ "$(jq -S .manifest <<<"$a")" != "$(jq -S .manifest <<<"$b")" ]; then
    echo "$name: manifests differ"; diff <(jq -S .manifest <<<"$a") <(jq -S .manifest <<<"$b") || true
    status=1
  fi
  acc_a=$(jq .acc <<<"$a"); acc_b=$(jq .acc <<<"$b")
  echo "$name: committed accuracy $acc_a, rebuilt $acc_b"
  awk -v a="$acc_a" -v b="$acc_b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.01) }' \
    || { echo "$name: accuracy differs by more than 0.01"; status=1; }
done
exit $status

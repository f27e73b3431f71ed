#!/usr/bin/env bash
# The recipe of the reference models: fixed seeds, fixed hyper-parameters.
# usage: models/recipe.sh TRAIN_MODEL_BINARY OUT_DIR [mlp|cnn|all]
set -euo pipefail
train=${1:?usage: recipe.sh TRAIN_MODEL OUT_DIR [mlp|cnn|all]}
out=${2:?usage: recipe.sh TRAIN_MODEL OUT_DIR [mlp|cnn|all]}
which=${3:-all}
mkdir -p "$out"
if [ "$which" = all ] || [ "$which" = mlp ]; then
  # V1, the production baseline: a small MLP, one hidden layer of 32 units, 1 epoch.
  "$train" --arch mlp --name fashion-mlp-v1 --model-version 1.0.0 --hidden 32 --epochs 1 \
    --batch-size 64 --lr 1e-3 --seed 1 --threads 2 --out "$out/fashion-mlp-v1.pt"
fi
if [ "$which" = all ] || [ "$which" = cnn ]; then
  # V2, the candidate: a small CNN (two 3x3 conv layers, 16 and 32 channels, dense 64), 3 epochs.
  "$train" --arch cnn --name fashion-cnn-v2 --model-version 2.0.0 --hidden 64 --epochs 3 \
    --batch-size 64 --lr 1e-3 --seed 2 --threads 2 --out "$out/fashion-cnn-v2.pt"
fi

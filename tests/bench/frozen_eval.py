"""The script a PyTorch user would write to score a cvgate archive, the
bench's reference for eval-compliance's speed: torch.jit.freeze +
optimize_for_inference, the same batch and threads, the 10,000 Fashion-MNIST
test images normalised as the manifest says, softmax and top-1 per image.
Prints one JSON line: images/s end to end (normalise, forward, softmax) and
of the forward alone, and the accuracy (a check that it did the work).

    frozen_eval.py MODEL.pt BATCH THREADS IMAGES.gz LABELS.gz
"""
import gzip
import json
import sys
import time

import numpy as np
import torch

path, batch, threads, images, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
torch.set_num_threads(threads)
extra = {"cvgate.json": ""}
model = torch.jit.load(path, _extra_files=extra).eval()
man = json.loads(extra["cvgate.json"])
model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
pp = man["preprocess"]
with gzip.open(images) as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
with gzip.open(labels) as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
raw = torch.from_numpy(x.copy())
scale, mean, std = pp.get("scale", 1 / 255), pp["mean"][0], pp["std"][0]


def run(lo, hi, fwd):
    xb = (raw[lo:hi].float() * scale - mean) / std
    t0 = time.perf_counter()
    out = model(xb)
    fwd[0] += time.perf_counter() - t0
    p = torch.softmax(out, 1)
    conf, top1 = p.max(1)
    return top1


with torch.inference_mode():
    w = [0.0]
    for k in range(3):
        run(0, batch, w)
    fwd = [0.0]
    right = 0
    t0 = time.perf_counter()
    for lo in range(0, len(raw), batch):
        top1 = run(lo, min(len(raw), lo + batch), fwd)
        right += int((top1.numpy() == y[lo:lo + batch]).sum())
    wall = time.perf_counter() - t0
print(json.dumps({"model": man["name"], "images": len(raw), "batch": batch, "threads": threads,
                  "images_per_s": len(raw) / wall, "forward_images_per_s": len(raw) / fwd[0],
                  "accuracy": right / len(raw)}))

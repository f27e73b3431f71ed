"""The ceiling the ResNet-18 row of perf_bench is read against: a cvgate
archive frozen and optimised as a PyTorch user would (torch.jit.freeze +
optimize_for_inference), called back to back on one batch of random inputs
for SECONDS on THREADS threads: no arrivals, no queue, no latency objective,
no preprocessing. Prints one JSON line: images/s and the batches' median ms.

    frozen_resnet.py MODEL.pt BATCH THREADS SECONDS
"""
import json
import sys
import time

import torch

path, batch, threads, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
extra = {"cvgate.json": ""}
model = torch.jit.load(path, _extra_files=extra).eval()
c, h, w = json.loads(extra["cvgate.json"])["input"]["shape"]
model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
x = torch.randn(batch, c, h, w)
with torch.no_grad():
    for _ in range(5):
        model(x)
    calls = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a = time.perf_counter()
        model(x)
        calls.append(time.perf_counter() - a)
    wall = time.perf_counter() - t0
calls.sort()
print(json.dumps({"images_per_s": batch * len(calls) / wall, "calls": len(calls),
                  "median_call_ms": 1000 * calls[len(calls) // 2], "batch": batch, "threads": threads}))

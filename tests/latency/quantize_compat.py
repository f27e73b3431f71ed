"""Shows that profile-latency's int8-dynamic variant is what PyTorch's own
graph-mode dynamic quantisation makes: quantize_dynamic_jit(model,
{"": default_dynamic_qconfig}) and the C++ archive give the same outputs on
the first test images, and both differ from the float model (so the variant
is quantised, not a copy).
Usage: quantize_compat.py ORIGINAL.pt CPP_INT8.pt IMAGES_IDX_GZ N"""
import json
import os
import sys

import torch
from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic_jit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
from cvgate_inputs import test_images  # noqa: E402

original_path, cpp_path, images_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
extra = {"cvgate.json": ""}
original = torch.jit.load(original_path, _extra_files=extra).eval()
manifest = json.loads(extra["cvgate.json"])
ours = torch.jit.load(cpp_path).eval()
theirs = quantize_dynamic_jit(original, {"": default_dynamic_qconfig})

x = test_images(images_path, manifest, n)
with torch.no_grad():
    a, b, f = ours(x), theirs(x), original(x)
same = (a - b).abs().max().item()
moved = (a - f).abs().max().item()
print(f"{manifest['name']}: {n} images, C++ vs quantize_dynamic_jit max abs diff {same:.3g}, "
      f"vs float {moved:.3g}, top-1 agreement with float {(a.argmax(1) == f.argmax(1)).float().mean().item():.3f}")
sys.exit(0 if same <= 1e-6 and moved > 1e-4 else 1)

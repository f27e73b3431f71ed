"""Shows that a cvgate model archive loads in PyTorch and gives the outputs
libtorch gave (a golden recording made by the C++ runtime)."""
import json
import sys

import torch

from cvgate_inputs import test_images

model_path, golden_path, images_path = sys.argv[1:4]
extra = {"cvgate.json": ""}
model = torch.jit.load(model_path, _extra_files=extra)
manifest = json.loads(extra["cvgate.json"])
golden = json.load(open(golden_path))
n = len(golden["ids"])
x = test_images(images_path, manifest, n)
with torch.no_grad():
    probs = torch.softmax(model(x), 1)
expected = torch.tensor(golden["probs"])
diff = (probs - expected).abs().max().item()
agree = (probs.argmax(1) == torch.tensor(golden["top1"])).float().mean().item()
print(f"{manifest['name']}: {n} images, max abs diff {diff:.3g}, top-1 agreement {agree:.3f}")
sys.exit(0 if diff < 1e-5 and agree == 1.0 else 1)

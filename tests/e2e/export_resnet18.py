"""Export a torchvision ResNet-18 as a new user would: torch.jit.script of
torchvision.models.resnet18(num_classes=K), random weights from a fixed seed,
saved with torch.jit.save -- no cvgate manifest inside (the test writes the
sidecar with `model-registry manifest`).

    export_resnet18.py OUT.pt CLASSES SEED
"""
import sys

import torch
import torchvision

out, classes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed)
model = torchvision.models.resnet18(num_classes=classes).eval()
torch.jit.script(model).save(out)
print(f"{out}: resnet18, {classes} classes, seed {seed}, "
      f"{sum(p.numel() for p in model.parameters())} parameters")

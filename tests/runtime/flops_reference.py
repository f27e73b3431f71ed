"""An independent FLOP count for flops_test: run the archive once on a batch
of one in PyTorch under a dispatch mode that sees every aten operator as it
executes, and count 2 x multiply-accumulates of convolution, addmm, mm, bmm
and matmul from the runtime shapes (cvgate counts statically, on the frozen
graph, with shapes propagated from the manifest).

    flops_reference.py MODEL.pt C H W        prints the FLOPs of one image
    flops_reference.py --resnet18 OUT.pt     scripts torchvision's ResNet-18
                                             (random weights, manifest
                                             embedded), saves it, prints its FLOPs
"""
import json
import math
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class Count(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name == "convolution":
            w, transposed = args[1], args[6]
            per = math.prod(w.shape[1:])
            self.flops += 2 * (args[0].numel() if transposed else out.numel()) * per
        elif name in ("addmm", "baddbmm"):
            self.flops += 2 * out.numel() * args[1].shape[-1]
        elif name in ("mm", "bmm", "matmul"):
            self.flops += 2 * out.numel() * args[0].shape[-1]
        return out


def count(model, shape):
    model.eval()
    c = Count()
    with torch.no_grad(), c:
        model(torch.zeros(1, *shape))
    return c.flops


if sys.argv[1] == "--resnet18":
    import torchvision
    torch.manual_seed(0)
    m = torch.jit.script(torchvision.models.resnet18(num_classes=10).eval())
    man = {"schema": "cvgate.manifest/1", "name": "resnet18", "version": "1",
           "input": {"shape": [3, 224, 224], "dtype": "float32", "colour": "rgb"},
           "preprocess": {"resize": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
           "output": "logits", "labels": [f"class{k}" for k in range(10)]}
    torch.jit.save(m, sys.argv[2], _extra_files={"cvgate.json": json.dumps(man)})
    print(count(m, (3, 224, 224)))
else:
    print(count(torch.jit.load(sys.argv[1]), tuple(int(a) for a in sys.argv[2:5])))

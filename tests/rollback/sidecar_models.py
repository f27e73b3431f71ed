"""PyTorch's side of the sidecar tests (SidecarE2ETest.cpp).

    sidecar_models.py compare ORIGINAL EMBEDDED   # JSON: the extra file, same outputs?
    sidecar_models.py tuple-model OUT             # a scripted model returning (logits, aux)

compare loads ORIGINAL (a plain export) and EMBEDDED (the archive cvgate
wrote) with torch.jit.load(f, _extra_files={"cvgate.json": ""}), runs both on
the same seeded input of the embedded manifest's shape, and prints the
manifest text EMBEDDED carries, whether ORIGINAL carried one, and the largest
difference of their outputs.
"""
import json
import sys

import torch


def compare(original, embedded):
    extra_o = {"cvgate.json": ""}
    extra_e = {"cvgate.json": ""}
    a = torch.jit.load(original, _extra_files=extra_o)
    b = torch.jit.load(embedded, _extra_files=extra_e)
    # torch.jit.load fills _extra_files with bytes (str in some versions).
    text = {k: v.decode() if isinstance(v, bytes) else v for k, v in extra_e.items()}["cvgate.json"]
    had = extra_o["cvgate.json"] not in ("", b"")
    manifest = json.loads(text)
    torch.manual_seed(0)
    x = torch.rand([4] + manifest["input"]["shape"])
    with torch.no_grad():
        ya, yb = a(x), b(x)
    print(json.dumps({"manifest": text, "original_had_manifest": had,
                      "max_abs_diff": (ya - yb).abs().max().item(), "equal": bool(torch.equal(ya, yb))}))


class TupleModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(28 * 28, 10)

    def forward(self, x):
        y = self.fc(torch.flatten(x, 1))
        return y, y * 0.5


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "tuple-model":
        torch.manual_seed(3)
        torch.jit.script(TupleModel().eval()).save(sys.argv[2])
    else:
        sys.exit("unknown command " + sys.argv[1])

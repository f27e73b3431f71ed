"""What PyTorch + torchvision make of the photo fixtures under one cvgate
manifest: the normalised input tensors and the top-1 of a ResNet-18, for
torchvision_parity_test.cpp to compare with cvgate's.

    torchvision_parity.py VARIANT PHOTOS_DIR OUT_DIR

Writes OUT_DIR/model.pt (torch.jit.script(resnet18) with fixed-seed random
weights and the manifest embedded as the extra file cvgate.json),
OUT_DIR/inputs.f32 (the tensors, float32, in file-name order) and
OUT_DIR/reference.json (files, shape, top-1, logits).

Images are opened as PIL.ImageOps.exif_transpose(Image.open(f)).convert("RGB"):
torchvision's ImageFolder loader plus the EXIF orientation cvgate applies.
A manifest with "antialias": true is run through torchvision's transforms on
that PIL image (Grayscale, Resize, CenterCrop, ToTensor, Normalize); one with
"antialias": false through torch.nn.functional.interpolate on float pixels, as
cvgate documents for it (docs/manifest.md).
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image, ImageOps

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def manifest(name, colour, shape, pp):
    return {"schema": "cvgate.manifest/1", "name": name, "version": "1",
            "input": {"shape": shape, "dtype": "float32", "colour": colour},
            "preprocess": dict(pp), "output": "logits", "labels": [f"class{k}" for k in range(10)]}


def rgb(pp):
    return manifest("resnet18-rgb", "rgb", [3, 224, 224], {**pp, **IMAGENET})


VARIANTS = {
    # torchvision's standard evaluation transform.
    "shorter256_crop224_bilinear": rgb({"resize": 256, "crop": [224, 224], "interpolation": "bilinear",
                                        "antialias": True}),
    "shorter256_crop224_bicubic": rgb({"resize": 256, "crop": [224, 224], "interpolation": "bicubic",
                                       "antialias": True}),
    "shorter256_crop224_nearest": rgb({"resize": 256, "crop": [224, 224], "interpolation": "nearest",
                                       "antialias": True}),
    "resize224x224_bilinear": rgb({"resize": [224, 224], "interpolation": "bilinear", "antialias": True}),
    # A crop larger than the resized image: torchvision pads with zeros.
    "shorter200_crop224_bgr": rgb({"resize": 200, "crop": [224, 224], "antialias": True, "channel_order": "bgr"}),
    "grey_shorter72_crop64": manifest("resnet18-grey", "grey", [1, 64, 64],
                                      {"resize": 72, "crop": [64, 64], "antialias": True,
                                       "mean": [0.5], "std": [0.25]}),
    # No antialiasing: point sampling on float pixels (torch's interpolate).
    "pointsampled_resize224x224_bilinear": rgb({"resize": [224, 224]}),
    "pointsampled_resize240x240_crop224_bicubic": rgb({"resize": [240, 240], "crop": [224, 224],
                                                       "interpolation": "bicubic"}),
    "pointsampled_resize224x224_nearest": rgb({"resize": [224, 224], "interpolation": "nearest"}),
}

INTERP = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC,
          "nearest": T.InterpolationMode.NEAREST}


def resized_size(pp, crop_hw, img_hw):
    """The size before the crop, as cvgate's manifest says (docs/manifest.md)."""
    r = pp.get("resize")
    h, w = img_hw
    if isinstance(r, int):
        return torchvision.transforms.functional._compute_resized_output_size((h, w), [r])
    if r and r[0] and r[1]:
        return r
    return [h, w] if pp.get("crop") else crop_hw


def torchvision_input(m, img):
    """antialias true: torchvision's transforms on the PIL image."""
    pp = m["preprocess"]
    _, H, W = m["input"]["shape"]
    steps = []
    if m["input"]["colour"] == "grey":
        steps.append(T.Grayscale(1))
    r = pp.get("resize")
    if isinstance(r, int):
        steps.append(T.Resize(r, INTERP[pp.get("interpolation", "bilinear")]))
    elif r or not pp.get("crop"):
        steps.append(T.Resize(r or [H, W], INTERP[pp.get("interpolation", "bilinear")]))
    steps += [T.CenterCrop([H, W]), T.ToTensor()]
    if pp.get("channel_order") == "bgr":
        steps.append(T.Lambda(lambda x: x.flip(0)))
    steps.append(T.Normalize(pp["mean"], pp["std"]))
    return T.Compose(steps)(img)


def pointsampled_input(m, img):
    """antialias false: interpolate on float pixels, crop offset floor((size - crop) / 2)."""
    pp = m["preprocess"]
    _, H, W = m["input"]["shape"]
    x = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)
    if m["input"]["colour"] == "grey":
        x = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    rh, rw = resized_size(pp, [H, W], list(x.shape[1:]))
    if [rh, rw] != list(x.shape[1:]):
        mode = pp.get("interpolation", "bilinear")
        x = torch.nn.functional.interpolate(x[None], size=(rh, rw), mode=mode,
                                            align_corners=None if mode == "nearest" else False)[0]
    top, left = (rh - H) // 2, (rw - W) // 2
    x = x[:, top:top + H, left:left + W] / 255.0
    if pp.get("channel_order") == "bgr":
        x = x.flip(0)
    mean = torch.tensor(pp["mean"]).reshape(-1, 1, 1)
    std = torch.tensor(pp["std"]).reshape(-1, 1, 1)
    return (x - mean) / std


def main():
    variant, photos, out = sys.argv[1:4]
    m = VARIANTS[variant]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    if m["input"]["colour"] == "grey":
        net.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.eval()
    files = sorted(f for f in os.listdir(photos) if f.endswith((".jpg", ".png")))
    inputs = []
    for f in files:
        img = ImageOps.exif_transpose(Image.open(os.path.join(photos, f))).convert("RGB")
        antialias = m["preprocess"].get("antialias", False)
        inputs.append(torchvision_input(m, img) if antialias else pointsampled_input(m, img))
    x = torch.stack(inputs).contiguous()
    # An untrained network gives every photo the same class; centring its
    # classifier's bias on the photos' mean logits makes the top-1 depend on the
    # photo (and on small differences in its preprocessing).
    with torch.no_grad():
        net.fc.bias -= net(x).mean(0)
    scripted = torch.jit.script(net)
    model_path = os.path.join(out, "model.pt")
    torch.jit.save(scripted, model_path, _extra_files={"cvgate.json": json.dumps(m)})
    model = torch.jit.load(model_path)
    with torch.no_grad():
        logits = model(x)
    x.numpy().astype("<f4").tofile(os.path.join(out, "inputs.f32"))
    json.dump({"variant": variant, "files": files, "shape": list(x.shape[1:]),
               "top1": logits.argmax(1).tolist(), "logits": logits.tolist()},
              open(os.path.join(out, "reference.json"), "w"))


if __name__ == "__main__":
    main()

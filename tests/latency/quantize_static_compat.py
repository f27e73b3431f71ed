"""Shows that profile-latency's int8-static variant is what PyTorch's own
graph-mode static quantisation makes: quantize_jit(model, {"": qconfig},
calibrate, [images]) with qconfig = QConfig(MinMaxObserver(quint8,
per_tensor_affine), PerChannelMinMaxObserver(qint8, per_channel_symmetric)),
calibrated on the same images in the same batches, gives the C++ archive's
outputs on other test images; and both differ from the float model (so the
variant is quantised, not a copy).
Usage: quantize_static_compat.py ORIGINAL.pt CPP_INT8.pt IMAGES_IDX_GZ
       CALIB_FROM CALIB_COUNT CALIB_BATCH N"""
import json
import os
import sys

import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver, QConfig, quantize_jit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
from cvgate_inputs import test_images  # noqa: E402

original_path, cpp_path, images_path = sys.argv[1], sys.argv[2], sys.argv[3]
calib_from, calib_count, calib_batch, n = (int(a) for a in sys.argv[4:8])
extra = {"cvgate.json": ""}
original = torch.jit.load(original_path, _extra_files=extra).eval()
manifest = json.loads(extra["cvgate.json"])
ours = torch.jit.load(cpp_path).eval()

qconfig = QConfig(
    activation=MinMaxObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=False),
    weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
calibration = test_images(images_path, manifest, calib_from + calib_count)[calib_from:]


def calibrate(model, data):
    with torch.no_grad():
        for i in range(0, len(data), calib_batch):
            model(data[i:i + calib_batch])


theirs = quantize_jit(original, {"": qconfig}, calibrate, [calibration])
x = test_images(images_path, manifest, n)
with torch.no_grad():
    a, b, f = ours(x), theirs(x), original(x)
same = (a - b).abs().max().item()
moved = (a - f).abs().max().item()
print(f"{manifest['name']}: engine {torch.backends.quantized.engine}, {n} images, C++ vs quantize_jit "
      f"max abs diff {same:.3g}, vs float {moved:.3g}, top-1 agreement with float "
      f"{(a.argmax(1) == f.argmax(1)).float().mean().item():.3f}, with quantize_jit "
      f"{(a.argmax(1) == b.argmax(1)).float().mean().item():.3f}")
sys.exit(0 if same <= 1e-5 and moved > 1e-4 else 1)

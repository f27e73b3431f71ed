"""The first n Fashion-MNIST test images, preprocessed as a cvgate manifest
says (scale, then per-channel mean and std), as PyTorch sees them: shared by
the scripts that check libtorch's outputs against PyTorch's."""
import gzip

import torch


def test_images(images_path, manifest, n):
    raw = gzip.open(images_path).read()
    c, h, w = manifest["input"]["shape"]
    x = torch.frombuffer(bytearray(raw[16:16 + n * h * w]), dtype=torch.uint8).reshape(n, c, h, w).float()
    mean = torch.tensor(manifest["preprocess"]["mean"]).reshape(1, -1, 1, 1)
    std = torch.tensor(manifest["preprocess"]["std"]).reshape(1, -1, 1, 1)
    return (x * manifest["preprocess"]["scale"] - mean) / std

#!/usr/bin/env python3
"""PyTorch's side of the GPU check's `kernels` phase (kernels.rs): the same matrix product and
convolutions, eager f32 (no TF32), in TFLOP/s.

    python3 trainer/benches/gpu/kernels.py OUT.json [--device cuda] [--batch 64] [--matmul 4096]
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "fixtures"))
from make_torch_fixtures import median_ms, reference_device  # noqa: E402

# (name, [C, H, W], out channels, kernel, stride, padding): as kernels.rs's CONVS.
CONVS = [
    ("conv 7x7/2, 3->64, 224x224 (stem)", [3, 224, 224], 64, 7, 2, 3),
    ("conv 3x3, 256->256, 14x14 (layer3)", [256, 14, 14], 256, 3, 1, 1),
    ("conv 1x1, 1024->256, 14x14 (layer3)", [1024, 14, 14], 256, 1, 1, 0),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--matmul", type=int, default=4096)
    args = parser.parse_args()
    device = reference_device(args.device)
    rows = []
    n = args.matmul
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    ms = median_ms(lambda: a @ b, device, 10, warmups=3)
    rows.append({"op": f"matmul {n}x{n}x{n}", "ms": ms, "tflops": 2 * n ** 3 / ms / 1e9})
    for name, (c, h, w), out, k, s, p in CONVS:
        x = torch.randn(args.batch, c, h, w, device=device)
        weight = torch.randn(out, c, k, k, device=device)
        side = (h + 2 * p - k) // s + 1
        flop = 2 * args.batch * out * side * side * c * k * k
        with torch.no_grad():
            ms = median_ms(lambda: F.conv2d(x, weight, stride=s, padding=p), device, 10, warmups=3)
        rows.append({"op": name, "batch": args.batch, "ms": ms, "tflops": flop / ms / 1e9})
        print(rows[-1], flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

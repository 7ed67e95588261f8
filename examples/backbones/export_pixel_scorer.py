"""Export the measured Fashion-MNIST attributes (brightness, area) as a TorchScript scorer.

The module implements the two formulas documented in fmnist.py (and docs/MODEL_CARD.md) with no learned
weights, so it cannot be fooled by training: a generated image is re-measured exactly like a real one.

    forward(x: Tensor[N,1,28,28] in [0,1]) -> Tensor[N,2] float32: [brightness, area]
    input_shape: List[int] = [1, 28, 28]
    score_attributes: str  JSON column mapping read by plugen (plugen::load_scorer):
        [{"name": "brightness", "kind": "continuous", "columns": [0]},
         {"name": "area", "kind": "continuous", "columns": [1]}]

Usage: /usr/bin/python3 examples/backbones/export_pixel_scorer.py [--out examples/models/fmnist_pixels.pt]
The script checks the exported module against fmnist.brightness/fmnist.area on the whole test split.
"""

import argparse
import json
import os
import sys
from typing import List

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402

ATTRIBUTES = [
    {"name": "brightness", "kind": "continuous", "columns": [0]},
    {"name": "area", "kind": "continuous", "columns": [1]},
]


class PixelScorer(nn.Module):
    """Brightness (mean intensity of the garment mask, 0 when empty) and area (mask fraction) per image."""

    input_shape: List[int]
    score_attributes: str
    threshold: float

    def __init__(self):
        super().__init__()
        self.input_shape = [1, 28, 28]
        self.score_attributes = json.dumps(ATTRIBUTES)
        self.threshold = fmnist.MASK_THRESHOLD

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).to(torch.float32)
        m = (flat > self.threshold).to(torch.float32)
        count = m.sum(dim=1)
        total = (m * flat).sum(dim=1)
        brightness = torch.where(count > 0, total / count.clamp(min=1.0), torch.zeros_like(total))
        area = count / float(flat.shape[1])
        return torch.stack([brightness, area], dim=1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=fmnist.repo_path("examples", "models", "fmnist_pixels.pt"))
    args = p.parse_args()
    torch.set_num_threads(1)
    module = torch.jit.script(PixelScorer().eval())
    module.save(args.out)

    loaded = torch.jit.load(args.out)
    x, _ = fmnist.load_split("test")
    with torch.no_grad():
        s = loaded(x)
    b, a = fmnist.brightness(x), fmnist.area(x)
    if not (torch.equal(s[:, 0], b) and torch.equal(s[:, 1], a)):
        raise SystemExit("FAILED: the exported scorer differs from fmnist.brightness/fmnist.area")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes); test split: brightness "
          f"{b.min():.3f}..{b.max():.3f} (mean {b.mean():.3f}), area {a.min():.3f}..{a.max():.3f} "
          f"(mean {a.mean():.3f}); equal to fmnist.py on all {len(x)} test images")


if __name__ == "__main__":
    main()

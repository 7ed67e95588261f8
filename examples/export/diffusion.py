#!/usr/bin/env python3
"""Export a diffusion model's noise-prediction network in the form plugen's DiffusionBackbone loads.

plugen calls, with no Python at run time:
  forward(x_t, t) -> eps   x_t (N, C, H, W) float32 in the model's data range ([-1, 1] by default:
                           DiffusionOptions::data_range); t (N,) int64 timesteps in [0, T); eps of x_t's shape
  alphas_cumprod           a buffer (T,): the cumulative products of (1 - beta_t) the model was trained with
                           (or pass DiffusionOptions::alphas_cumprod)
  sample_shape             a list-of-int attribute, e.g. [1, 28, 28] (or pass DiffusionOptions::sample_shape)
  data_min, data_max       float attributes: the data range (default [-1, 1] when absent)
plugen runs deterministic DDIM (eta = 0) itself: decode(x_T) samples, encode(x_0) inverts.

Usage: python3 diffusion.py OUT.pt
Then in C++: plugen::DiffusionBackbone d("OUT.pt", plugen::DiffusionOptions().steps(50));
"""
import math
import sys
from typing import List

import torch
from torch import nn


class EpsNet(nn.Module):
    """Stand-in for your trained noise predictor: a small conv net with a sinusoidal time embedding."""

    sample_shape: List[int]
    data_min: float
    data_max: float

    def __init__(self, timesteps: int = 1000, channels: int = 32):
        super().__init__()
        self.data_min = -1.0  # the model was trained on images mapped to [-1, 1]
        self.data_max = 1.0
        betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
        # The schedule travels with the module, as a buffer named alphas_cumprod.
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, 0).float())
        self.sample_shape = [1, 28, 28]
        self.channels = channels
        self.time = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 1, 3, padding=1)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        half = self.channels // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = t.float().unsqueeze(1) * freqs.unsqueeze(0)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.silu(self.inp(x_t) + self.time(self.embed(t))[:, :, None, None])
        h = torch.nn.functional.silu(self.mid(h))
        return self.out(h)


def export(path: str) -> None:
    torch.manual_seed(0)
    net = EpsNet().eval()  # load your trained weights here
    torch.jit.script(net).save(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 diffusion.py OUT.pt")
    export(sys.argv[1])
    print(f"wrote {sys.argv[1]}")

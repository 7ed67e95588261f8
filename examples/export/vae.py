#!/usr/bin/env python3
"""Export a VAE's encoder and decoder in the form plugen's VaeBackbone loads.

plugen calls, with no Python at run time:
  decode(z) -> x           z (N, latent_dim) float32; x (N, C, H, W) in [0, 1] (sigmoid; any other range:
                           float attributes data_min/data_max, or VaeOptions::data_range)
  encode(x) -> (mean, logvar) or mean     x (N, C, H, W) in the same range; plugen takes the mean
  latent_dim               an int attribute (or pass VaeOptions::latent_shape)
Methods other than forward must be marked @torch.jit.export, or torch.jit.script drops them.

Usage: python3 vae.py OUT.pt
Then in C++: plugen::VaeBackbone vae("OUT.pt");  auto w = vae.encode(images);  auto x = vae.decode(w);
"""
import sys
from typing import Tuple

import torch
from torch import nn


class Vae(nn.Module):
    """Stand-in for your trained VAE (28x28 grey images)."""

    latent_dim: int

    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(), nn.Flatten())
        self.to_stats = nn.Linear(32 * 7 * 7, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, 32 * 7 * 7)
        self.decoder = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 1, 4, 2, 1))

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        stats = self.to_stats(self.encoder(x))
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(-1, 32, 7, 7)
        return torch.sigmoid(self.decoder(h))  # (N, 1, 28, 28) in [0, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # reconstruction, for training; plugen does not call it
        mean, logvar = self.encode(x)
        return self.decode(mean + torch.randn_like(mean) * torch.exp(0.5 * logvar))


def export(path: str, latent_dim: int = 16) -> None:
    torch.manual_seed(0)
    vae = Vae(latent_dim).eval()  # load your trained weights here
    torch.jit.script(vae).save(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 vae.py OUT.pt")
    export(sys.argv[1])
    print(f"wrote {sys.argv[1]}")

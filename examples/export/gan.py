#!/usr/bin/env python3
"""Export a GAN generator in the form plugen's GanBackbone loads.

plugen calls, with no Python at run time:
  forward(z) -> x          z (N, latent_dim) float32; x (N, C, H, W) images. Used in Z space (the default).
  data_min, data_max       float attributes declaring the range of x: here -1.0 and 1.0 (tanh). Without them
                           plugen takes x to be in [0, 1] (or pass GanOptions::data_range), and refuses to load
                           a generator whose outputs lie far outside the range it was told.
  mapping(z) -> ws         optional, for StyleGAN-style W / W+ work: (N, D) or the broadcast (N, L, D)
  synthesis(ws) -> x       optional: takes exactly what mapping returns
  latent_dim               an int attribute (or pass GanOptions::latent_dim)
If your generator draws noise inside forward (torch.randn), make the noise an extra input instead,
forward(z, noise), and set GanOptions::noise_shapes: plugen then fixes it from a seed, so a latent always
decodes to the same image.

Usage: python3 gan.py OUT.pt
Then in C++: plugen::GanBackbone gan("OUT.pt");                                   // Z space
        or:  plugen::GanBackbone gan("OUT.pt", plugen::GanOptions().space(plugen::LatentSpace::w_plus));
"""
import sys

import torch
from torch import nn


class Generator(nn.Module):
    """Stand-in for your trained generator: a mapping MLP and a DCGAN-style synthesis network."""

    def __init__(self, latent_dim: int = 32, w_dim: int = 32, num_ws: int = 2):
        super().__init__()
        self.num_ws = num_ws
        self.mapping = nn.Sequential(nn.Linear(latent_dim, w_dim), nn.LeakyReLU(0.2), nn.Linear(w_dim, w_dim))
        self.style = nn.ModuleList([nn.Linear(w_dim, 32 * 7 * 7), nn.Linear(w_dim, 16 * 14 * 14)])
        self.up1 = nn.ConvTranspose2d(32, 16, 4, 2, 1)
        self.up2 = nn.ConvTranspose2d(16, 1, 4, 2, 1)


class PlugenGenerator(nn.Module):
    """The exported form: forward / mapping / synthesis as plugen expects, plus the latent_dim attribute."""

    latent_dim: int
    data_min: float
    data_max: float

    def __init__(self, g: Generator, latent_dim: int):
        super().__init__()
        self.g = g
        self.latent_dim = latent_dim
        self.data_min = -1.0  # the range of synthesis' tanh output, mapped by plugen to [0, 1]
        self.data_max = 1.0
        self.num_ws = g.num_ws

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))

    @torch.jit.export
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        w = self.g.mapping(z)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)  # (N, L, D): one w per synthesis layer (W+)

    @torch.jit.export
    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.g.style[0](ws[:, 0]).view(-1, 32, 7, 7))
        h = torch.relu(self.g.up1(h) + self.g.style[1](ws[:, 1]).view(-1, 16, 14, 14))
        return torch.tanh(self.g.up2(h))  # (N, 1, 28, 28) in [-1, 1]


def export(path: str, latent_dim: int = 32) -> None:
    torch.manual_seed(0)
    generator = Generator(latent_dim).eval()  # load your trained weights here
    scripted = torch.jit.script(PlugenGenerator(generator, latent_dim))
    scripted.save(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 gan.py OUT.pt")
    export(sys.argv[1])
    print(f"wrote {sys.argv[1]}")

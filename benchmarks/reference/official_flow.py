#!/usr/bin/env python3
"""PyTorch reference of the official PluGeN flow (github gmum/plugen), for parity and import tests.

The official runs use additive (NICE) couplings with full-width masked MLPs (DESIGN.md 1.3):
coupling k keeps the even indices when k is even, the odd ones when k is odd; its conditioner is
L linear layers D -> H -> ... -> H -> D with LeakyReLU(0.1) between them, and
    y = x + (1 - mask) * MLP(mask * x).
State-dict keys: coupling_layers.{k}.a.{0,2,4,...}.{weight,bias}; masks are rebuilt, not stored.

Usage:
    official_flow.py --out DIR [--dim 512 --couplings 4 --layers 4 --hidden 512 --n 1000 --seed 0]

writes DIR/flow.pt (torch.save of the state_dict, random weights drawn with the seed; DIR/flow_dict.pt the
same state_dict as a plain dict), DIR/x.npy
(n random latents, float32), DIR/z.npy (forward of x) and DIR/x_back.npy (inverse of z, in the
reference's own arithmetic), DIR/zi.npy and DIR/inv_zi.npy (inverse of independent random points).
"""
import argparse
import os

import numpy as np
import torch
from torch import nn


class CouplingLayer(nn.Module):
    """One official additive coupling: full-width masked MLP."""

    def __init__(self, dim, layers, hidden, mask):
        super().__init__()
        widths = [dim] + [hidden] * (layers - 1) + [dim]
        modules = []
        for i in range(layers):
            modules.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 1 < layers:
                modules.append(nn.LeakyReLU(0.1))
        self.a = nn.Sequential(*modules)
        self.register_buffer("mask", mask, persistent=False)  # rebuilt, not stored

    def forward(self, x):
        return x + (1 - self.mask) * self.a(self.mask * x)

    def inverse(self, y):
        return y - (1 - self.mask) * self.a(self.mask * y)


class OfficialFlow(nn.Module):
    """The official NICE flow: couplings with alternating masks (even indices kept when k is even)."""

    def __init__(self, dim, couplings, layers, hidden):
        super().__init__()
        masks = []
        for k in range(couplings):
            m = torch.zeros(dim)
            m[k % 2 :: 2] = 1.0
            masks.append(m)
        self.coupling_layers = nn.ModuleList(CouplingLayer(dim, layers, hidden, m) for m in masks)

    def forward(self, x):
        for c in self.coupling_layers:
            x = c(x)
        return x

    def inverse(self, z):
        for c in reversed(self.coupling_layers):
            z = c.inverse(z)
        return z


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--couplings", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    flow = OfficialFlow(a.dim, a.couplings, a.layers, a.hidden)
    # The default init of the last layer keeps the flow far from the identity already; scale it up a little
    # more so the test sees a clearly nonlinear map.
    with torch.no_grad():
        for c in flow.coupling_layers:
            c.a[-1].weight.mul_(4.0)
    os.makedirs(a.out, exist_ok=True)
    torch.save(flow.state_dict(), os.path.join(a.out, "flow.pt"))  # an OrderedDict, as the official code saves
    torch.save(dict(flow.state_dict()), os.path.join(a.out, "flow_dict.pt"))  # the same as a plain dict
    x = torch.randn(a.n, a.dim)
    zi = torch.randn(a.n, a.dim)
    with torch.no_grad():
        z = flow(x)
        x_back = flow.inverse(z)
        inv_zi = flow.inverse(zi)
    for name, t in [("x", x), ("z", z), ("x_back", x_back), ("zi", zi), ("inv_zi", inv_zi)]:
        np.save(os.path.join(a.out, name + ".npy"), t.numpy().astype(np.float32))
    print(f"official_flow: D={a.dim} K={a.couplings} L={a.layers} H={a.hidden} -> {a.out}")


if __name__ == "__main__":
    main()

"""Train the bundled noise-prediction network (DDPM objective, sampled with DDIM) on Fashion-MNIST.

Data scaling: the diffusion model works on images mapped to [-1, 1]: x = 2 * pixel - 1, pixel in [0, 1].
Map samples back with pixel = clamp((x + 1) / 2, 0, 1). The range is exported as attributes.

Exported module (examples/models/fmnist_diffusion.pt), eval mode, CPU, float32:
    forward(x_t: Tensor[N,1,28,28] float32 (data in [-1,1] plus noise), t: Tensor[N] int64 in [0, T-1])
        -> eps: Tensor[N,1,28,28] (predicted noise)
    buffer/attribute alphas_cumprod: Tensor[T] float32, alpha_bar_t = prod_{s<=t} (1 - beta_s),
        betas = linspace(1e-4, 0.02, T), T = num_timesteps = 1000
    attributes: num_timesteps: int, data_min: float = -1.0, data_max: float = 1.0, image_size: int = 28,
        sample_shape: List[int] = [1, 28, 28]

Forward process: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.  Loss: MSE(eps_theta(x_t, t), eps).
DDIM (eta = 0), timesteps tau_1 > ... > tau_S (evenly spaced in [0, T-1]), for each step tau -> tau_prev:
    eps = net(x, tau); x0 = (x - sqrt(1 - ab_tau) eps) / sqrt(ab_tau)  (clamped to [-1, 1]);
    x = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps, with ab_prev = 1 at the last step.

Usage: /usr/bin/python3 examples/backbones/train_diffusion.py [--steps 4000] [--seed 0]
"""

import argparse
import math
import os
import sys
import time
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, cin // 4) if cin >= 4 else 1, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, te):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(te)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class EpsNet(nn.Module):
    """Tiny UNet: 28x28 (c) -> 14x14 (2c) -> 7x7 (2c) and back, skip connections, sinusoidal time embedding."""

    def __init__(self, T: int = 1000, c: int = 32, temb: int = 128,
                 beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__()
        self.num_timesteps = T
        self.data_min = -1.0
        self.data_max = 1.0
        self.image_size = 28
        self.sample_shape = [1, 28, 28]
        self.temb_dim = temb
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - betas, 0).to(torch.float32))
        self.time_mlp = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.conv_in = nn.Conv2d(1, c, 3, 1, 1)
        self.down1 = ResBlock(c, c, temb)                       # 28
        self.ds1 = nn.Conv2d(c, 2 * c, 3, 2, 1)                 # 14
        self.down2 = ResBlock(2 * c, 2 * c, temb)
        self.ds2 = nn.Conv2d(2 * c, 2 * c, 3, 2, 1)             # 7
        self.mid = ResBlock(2 * c, 2 * c, temb)
        self.us2 = nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1)    # 14
        self.up2 = ResBlock(4 * c, 2 * c, temb)
        self.us1 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1)        # 28
        self.up1 = ResBlock(2 * c, c, temb)
        self.norm_out = nn.GroupNorm(8, c)
        self.conv_out = nn.Conv2d(c, 1, 3, 1, 1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def time_embedding(self, t):
        half = self.temb_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        a = t.to(torch.float32)[:, None] * freqs[None, :]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    def forward(self, x_t, t):
        te = self.time_mlp(self.time_embedding(t))
        h0 = self.down1(self.conv_in(x_t), te)
        h1 = self.down2(self.ds1(h0), te)
        h = self.mid(self.ds2(h1), te)
        h = self.up2(torch.cat([self.us2(h), h1], dim=1), te)
        h = self.up1(torch.cat([self.us1(h), h0], dim=1), te)
        return self.conv_out(F.silu(self.norm_out(h)))


@torch.no_grad()
def ddim_sample(net, n: int, steps: int = 50, g=None, x_T=None):
    """DDIM, eta = 0. Returns samples in [-1, 1]."""
    ab = net.alphas_cumprod
    T = ab.shape[0]
    taus: List[int] = torch.linspace(T - 1, 0, steps).round().long().tolist()
    x = x_T if x_T is not None else torch.randn(n, 1, 28, 28, generator=g)
    for i, tau in enumerate(taus):
        a = ab[tau]
        a_prev = ab[taus[i + 1]] if i + 1 < len(taus) else torch.tensor(1.0)
        eps = net(x, torch.full((x.shape[0],), tau, dtype=torch.int64))
        x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps (fixed, so runs are reproducible)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--ddim-steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint", default="/tmp/fmnist_diffusion_state.pth",
                   help="EMA state_dict written every 500 steps and at the end")
    p.add_argument("--export-only", action="store_true", help="skip training, export --checkpoint")
    p.add_argument("--classifier", default=fmnist.repo_path("examples", "models", "fmnist_classifier.pt"))
    p.add_argument("--out", default=fmnist.repo_path("examples", "models", "fmnist_diffusion.pt"))
    p.add_argument("--grid", default=fmnist.repo_path("docs", "backbones_diffusion.png"))
    args = p.parse_args()

    fmnist.seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    xtr, _ = fmnist.load_split("train")
    xtr = xtr * 2.0 - 1.0                                  # [0,1] -> [-1,1]
    net = EpsNet(c=args.width)
    ema = EpsNet(c=args.width)
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    ab = net.alphas_cumprod
    g = torch.Generator().manual_seed(args.seed)
    T = net.num_timesteps
    t0 = time.time()
    step, perm, pos = 0, torch.randperm(xtr.shape[0], generator=g), 0
    if args.export_only:
        ema.load_state_dict(torch.load(args.checkpoint))
        step = args.steps
    while True:
        if step >= args.steps:
            break
        if pos + args.batch_size > xtr.shape[0]:
            perm, pos = torch.randperm(xtr.shape[0], generator=g), 0
        x0 = xtr[perm[pos:pos + args.batch_size]]
        pos += args.batch_size
        t = torch.randint(0, T, (x0.shape[0],), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ab[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(net(xt, t), eps)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn, alpha=1 - decay)
        if step % 500 == 0:
            torch.save(ema.state_dict(), args.checkpoint)
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f} epochs {step * args.batch_size / xtr.shape[0]:.2f} "
                  f"elapsed {time.time() - t0:.0f}s", flush=True)
    train_wall = time.time() - t0
    if not args.export_only:
        torch.save(ema.state_dict(), args.checkpoint)
    print(f"trained {step} steps ({step * args.batch_size / xtr.shape[0]:.2f} epochs) in {train_wall:.0f}s")

    ema.eval()
    scripted = torch.jit.script(ema)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    scripted.save(args.out)
    m = torch.jit.load(args.out)
    clf = torch.jit.load(args.classifier).eval()
    ts = time.time()
    x = ddim_sample(m, 500, args.ddim_steps, torch.Generator().manual_seed(123))
    samp_wall = time.time() - ts
    img = ((x + 1) / 2).clamp(0, 1)
    with torch.no_grad():
        pr = F.softmax(clf(img), 1)
    conf, k = pr.max(1)
    hist = torch.bincount(k, minlength=10)
    os.makedirs(os.path.dirname(args.grid), exist_ok=True)
    fmnist.write_png(args.grid, fmnist.make_grid(img[:100], nrow=10, scale=2))
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes); DDIM {args.ddim_steps} steps, 500 samples "
          f"in {samp_wall:.0f}s: mean max-softmax {conf.mean().item():.3f}; class histogram "
          + ", ".join(f"{n}={int(h)}" for n, h in zip(fmnist.CLASS_NAMES, hist))
          + f"; train wall {train_wall:.0f}s; grid {args.grid}")


if __name__ == "__main__":
    main()

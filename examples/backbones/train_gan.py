"""Train the bundled DCGAN-style generator on Fashion-MNIST and export it as TorchScript.

Exported module (examples/models/fmnist_gan.pt), eval mode, CPU, float32:
    forward(z: Tensor[N,Dz] float32, z ~ N(0, I)) -> images Tensor[N,1,28,28] in [0,1] (sigmoid output)
    attribute latent_dim: int (Dz, 64 by default); data_min: float = 0.0, data_max: float = 1.0

Non-saturating GAN loss, Adam(2e-4, betas 0.5/0.999). After training, the generator's BatchNorm running
statistics are re-estimated as exact population averages over many N(0, I) batches, so eval mode matches
what the generator saw in training. Quality figure: the bundled classifier's class histogram and mean
max-softmax confidence on 10000 samples.

Usage: /usr/bin/python3 examples/backbones/train_gan.py [--epochs 4] [--latent-dim 64] [--seed 0]
"""

import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402


class Generator(nn.Module):
    def __init__(self, latent_dim: int = 64, ch: int = 128):
        super().__init__()
        self.latent_dim = latent_dim
        self.data_min = 0.0     # range of forward() outputs
        self.data_max = 1.0
        self.ch = ch
        self.fc = nn.Sequential(nn.Linear(latent_dim, ch * 49, bias=False), nn.BatchNorm1d(ch * 49), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(),  # 14
            nn.ConvTranspose2d(ch // 2, ch // 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 4), nn.ReLU(),  # 28
            nn.Conv2d(ch // 4, 1, 3, 1, 1))

    def forward(self, z):
        h = self.fc(z).reshape(z.shape[0], self.ch, 7, 7)
        return torch.sigmoid(self.net(h))


class Discriminator(nn.Module):
    def __init__(self, ch: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ch, 4, 2, 1), nn.LeakyReLU(0.2),                                   # 14
            nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),  # 7
            nn.Flatten(), nn.Linear(2 * ch * 49, 1))

    def forward(self, x):
        return self.net(x).squeeze(1)


def sample_report(gen, clf, n, latent_dim, g, bs=1000):
    hist = torch.zeros(10, dtype=torch.int64)
    conf = 0.0
    with torch.no_grad():
        for i in range(0, n, bs):
            x = gen(torch.randn(min(bs, n - i), latent_dim, generator=g))
            p = F.softmax(clf(x), dim=1)
            c, k = p.max(1)
            conf += c.sum().item()
            hist += torch.bincount(k, minlength=10)
    return hist, conf / n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-batches", type=int, default=0, help="stop each epoch after this many (timing runs)")
    p.add_argument("--checkpoint", default="/tmp/fmnist_gan_state.pth",
                   help="generator state_dict written after every epoch")
    p.add_argument("--export-only", action="store_true", help="skip training, export --checkpoint")
    p.add_argument("--classifier", default=fmnist.repo_path("examples", "models", "fmnist_classifier.pt"))
    p.add_argument("--out", default=fmnist.repo_path("examples", "models", "fmnist_gan.pt"))
    p.add_argument("--grid", default=fmnist.repo_path("docs", "backbones_gan.png"))
    args = p.parse_args()

    fmnist.seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    xtr, _ = fmnist.load_split("train")
    clf = torch.jit.load(args.classifier).eval()
    G, D = Generator(args.latent_dim), Discriminator()
    optG = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(args.seed)
    nb = xtr.shape[0] // args.batch_size
    if args.max_batches:
        nb = min(nb, args.max_batches)
    t0 = time.time()
    if args.export_only:
        G.load_state_dict(torch.load(args.checkpoint))
    for ep in range(0 if args.export_only else args.epochs):
        G.train()
        D.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        ld, lg = 0.0, 0.0
        for b in range(nb):
            real = xtr[perm[b * args.batch_size:(b + 1) * args.batch_size]]
            z = torch.randn(real.shape[0], args.latent_dim, generator=g)
            fake = G(z)
            # discriminator: real -> 1 (one-sided label smoothing 0.9), fake -> 0
            d_real, d_fake = D(real), D(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 0.9))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            optD.zero_grad()
            loss_d.backward()
            optD.step()
            # generator: non-saturating loss
            d_gen = D(fake)
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            optG.zero_grad()
            loss_g.backward()
            optG.step()
            ld += loss_d.item()
            lg += loss_g.item()
        torch.save(G.state_dict(), args.checkpoint)
        G.eval()
        hist, conf = sample_report(G, clf, 2000, args.latent_dim, torch.Generator().manual_seed(1))
        print(f"epoch {ep + 1}/{args.epochs} loss_d {ld / nb:.3f} loss_g {lg / nb:.3f} "
              f"clf_conf {conf:.3f} hist {hist.tolist()} elapsed {time.time() - t0:.0f}s", flush=True)
    train_wall = time.time() - t0

    # exact BatchNorm population statistics for eval mode
    for m in G.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    G.train()
    with torch.no_grad():
        for _ in range(100):
            G(torch.randn(256, args.latent_dim, generator=g))
    G.eval()

    scripted = torch.jit.script(G)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    scripted.save(args.out)
    m = torch.jit.load(args.out)
    hist, conf = sample_report(m, clf, 10000, int(m.latent_dim), torch.Generator().manual_seed(123))
    with torch.no_grad():
        grid = m(torch.randn(100, int(m.latent_dim), generator=torch.Generator().manual_seed(7)))
    os.makedirs(os.path.dirname(args.grid), exist_ok=True)
    fmnist.write_png(args.grid, fmnist.make_grid(grid, nrow=10, scale=2))
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes); 10000 samples: mean max-softmax "
          f"{conf:.3f}; class histogram " + ", ".join(f"{n}={int(h)}" for n, h in zip(fmnist.CLASS_NAMES, hist))
          + f"; train wall {train_wall:.0f}s; grid {args.grid}")


if __name__ == "__main__":
    main()

"""Train the bundled convolutional VAE on Fashion-MNIST and export it as TorchScript.

Exported module (examples/models/fmnist_vae.pt), eval mode, CPU, float32, Dz = latent_dim:
    encode(x: Tensor[N,1,28,28] in [0,1]) -> mean Tensor[N,Dz]
    encode_stats(x: Tensor[N,1,28,28] in [0,1]) -> (mean Tensor[N,Dz], logvar Tensor[N,Dz])
    decode(z: Tensor[N,Dz]) -> images Tensor[N,1,28,28] in [0,1] (sigmoid output)
    forward(z) == decode(z)
    attributes: latent_dim: int, beta: float (KL weight used in training), data_min: float = 0.0,
        data_max: float = 1.0 (range of decoded images)

Loss per image: sum_pixels BCE(decode(z), x) + beta * KL(q(z|x) || N(0, I)), z = mean + exp(logvar/2) * eps.
beta < 1 trades a less Gaussian aggregate posterior for sharper reconstructions; PluGeN standardizes and
models whatever latent density results, and the demo's conditional generation can never be better than the
reconstructions, so the script reports the bundled classifier's accuracy on decode(encode(x)) of the test split.

Usage: /usr/bin/python3 examples/backbones/train_vae.py [--epochs 12] [--latent-dim 64] [--beta 0.05] [--seed 0]
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


class VAE(nn.Module):
    def __init__(self, latent_dim: int, beta: float, width: int = 32, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        self.beta = beta
        self.data_min = 0.0     # range of decode() outputs
        self.data_max = 1.0
        w = width
        act = nn.LeakyReLU(0.2)
        self.enc = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), act,                 # 14x14
            nn.Conv2d(w, 2 * w, 4, 2, 1), act,             # 7x7
            nn.Conv2d(2 * w, 2 * w, 3, 1, 1), act,
            nn.Flatten(), nn.Linear(2 * w * 49, hidden), act)
        self.enc_mean = nn.Linear(hidden, latent_dim)
        self.enc_logvar = nn.Linear(hidden, latent_dim)
        self.dec_fc = nn.Sequential(
            nn.Linear(latent_dim, hidden), act, nn.Linear(hidden, 2 * w * 49), act)
        # upsampling by sub-pixel convolution (conv to 4x channels + PixelShuffle): sharper and, on CPU,
        # cheaper than ConvTranspose2d
        self.dec = nn.Sequential(
            nn.Conv2d(2 * w, 2 * w, 3, 1, 1), act,
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.PixelShuffle(2), act,        # 14x14, w channels
            nn.Conv2d(w, w, 3, 1, 1), act,
            nn.Conv2d(w, 2 * w, 3, 1, 1), nn.PixelShuffle(2), act,            # 28x28, w/2 channels
            nn.Conv2d(w // 2, w // 2, 3, 1, 1), act,
            nn.Conv2d(w // 2, 1, 3, 1, 1))
        self.width = w

    @torch.jit.export
    def encode_stats(self, x):
        h = self.enc(x)
        return self.enc_mean(h), self.enc_logvar(h)

    @torch.jit.export
    def encode(self, x):
        return self.enc_mean(self.enc(x))

    @torch.jit.export
    def decode_logits(self, z):
        h = self.dec_fc(z).reshape(z.shape[0], 2 * self.width, 7, 7)
        return self.dec(h)

    @torch.jit.export
    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, z):
        return self.decode(z)


def recon_eval(vae, clf, x, y, bs=1000):
    """(classifier accuracy on decode(encode(x)), per-pixel MSE of the reconstructions)."""
    vae.eval()
    correct, se = 0, 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            r = vae.decode(vae.encode(x[i:i + bs]))
            se += ((r - x[i:i + bs]) ** 2).sum().item()
            if clf is not None:
                correct += (clf(r).argmax(1) == y[i:i + bs]).sum().item()
    return correct / x.shape[0], se / x.numel()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--beta", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-batches", type=int, default=0, help="stop each epoch after this many (timing runs)")
    p.add_argument("--checkpoint", default="/tmp/fmnist_vae_state.pth",
                   help="state_dict written after every epoch")
    p.add_argument("--export-only", action="store_true", help="skip training, export --checkpoint")
    p.add_argument("--classifier", default=fmnist.repo_path("examples", "models", "fmnist_classifier.pt"))
    p.add_argument("--out", default=fmnist.repo_path("examples", "models", "fmnist_vae.pt"))
    p.add_argument("--grid", default=fmnist.repo_path("docs", "backbones_vae.png"))
    args = p.parse_args()

    fmnist.seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    xtr, _ = fmnist.load_split("train")
    xte, yte = fmnist.load_split("test")
    clf = None
    vae = VAE(args.latent_dim, args.beta)
    opt = torch.optim.Adam(vae.parameters(), lr=args.lr)
    nb = (xtr.shape[0] + args.batch_size - 1) // args.batch_size
    if args.max_batches:
        nb = min(nb, args.max_batches)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * nb,
                                                pct_start=0.15)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    if args.export_only:
        vae.load_state_dict(torch.load(args.checkpoint))
    for ep in range(0 if args.export_only else args.epochs):
        vae.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        rec_tot, kl_tot, n = 0.0, 0.0, 0
        for b in range(nb):
            xb = xtr[perm[b * args.batch_size:(b + 1) * args.batch_size]]
            mean, logvar = vae.encode_stats(xb)
            eps = torch.randn(mean.shape, generator=g)
            z = mean + torch.exp(0.5 * logvar) * eps
            logits = vae.decode_logits(z)
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / xb.shape[0]
            kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum() / xb.shape[0]
            loss = rec + args.beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            rec_tot += rec.item() * xb.shape[0]
            kl_tot += kl.item() * xb.shape[0]
            n += xb.shape[0]
        torch.save(vae.state_dict(), args.checkpoint)
        if clf is None and os.path.exists(args.classifier):   # may be trained concurrently
            clf = torch.jit.load(args.classifier).eval()
        acc, mse = recon_eval(vae, clf, xte, yte)
        print(f"epoch {ep + 1}/{args.epochs} rec {rec_tot / n:.2f} kl {kl_tot / n:.2f} "
              f"test_recon_mse {mse:.5f} recon_acc {acc:.4f} elapsed {time.time() - t0:.0f}s", flush=True)
    train_wall = time.time() - t0

    if clf is None:
        clf = torch.jit.load(args.classifier).eval()
    vae.eval()
    scripted = torch.jit.script(vae)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    scripted.save(args.out)
    m = torch.jit.load(args.out)
    acc, mse = recon_eval(m, clf, xte, yte)
    with torch.no_grad():
        mu = m.encode(xtr[:10000])
        # grid: rows 1-2 real test images, rows 3-4 their reconstructions, rows 5-8 decode(N(0, I))
        # and rows 9-12 decode of a Gaussian fitted to the training means (what a plugin roughly sees)
        real = xte[:20]
        rec = m.decode(m.encode(real))
        prior = m.decode(torch.randn(40, args.latent_dim, generator=g))
        cov = torch.cov(mu.T)
        L = torch.linalg.cholesky(cov + 1e-5 * torch.eye(args.latent_dim))
        fitted = m.decode(mu.mean(0) + torch.randn(40, args.latent_dim, generator=g) @ L.T)
    os.makedirs(os.path.dirname(args.grid), exist_ok=True)
    fmnist.write_png(args.grid, fmnist.make_grid(torch.cat([real, rec, prior, fitted]), nrow=10, scale=2))
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes); reloaded: test recon MSE {mse:.5f}, "
          f"classifier accuracy on reconstructions {acc:.4f}; train-mean latent std "
          f"{mu.std(0).mean().item():.3f}; train wall {train_wall:.0f}s; grid {args.grid}")


if __name__ == "__main__":
    main()

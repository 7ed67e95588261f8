"""Train the bundled Fashion-MNIST classifier and export it as TorchScript.

Exported module (examples/models/fmnist_classifier.pt), eval mode, CPU, float32:
    forward(x: Tensor[N,1,28,28] float32 in [0,1]) -> logits Tensor[N,10]
    attribute class_names: List[str]   (tshirt, trouser, ..., boot; index = label)
    attribute num_classes: int = 10
    attribute input_shape: List[int] = [1, 28, 28]

Usage: /usr/bin/python3 examples/backbones/train_classifier.py [--epochs 6] [--blur-p 0.5] [--seed 0]
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


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.class_names = list(fmnist.CLASS_NAMES)
        self.num_classes = 10
        self.input_shape = [1, 28, 28]
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(2),                                    # 7x7
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def random_blur(x, g, p=0.5, sigma_min=0.3, sigma_max=1.2):
    """Blur a random subset (probability p) of the batch with a 5x5 Gaussian, sigma ~ U(sigma_min, sigma_max).

    Generated images (VAE decodes in particular) are blurrier than real ones; without this augmentation the
    classifier mistakes "blurry" for "another class" (plain CNN: 0.84 accuracy on real test images blurred
    with sigma 0.7), which would make it a poor judge and auto-labeller of generated images.
    """
    n = x.shape[0]
    sigma = sigma_min + (sigma_max - sigma_min) * torch.rand(n, generator=g)
    r = torch.arange(-2, 3, dtype=torch.float32)
    k1 = torch.exp(-r[None, :] ** 2 / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1[:, :, None] * k1[:, None, :])[:, None]                  # (n,1,5,5)
    blurred = F.conv2d(x.reshape(1, n, 28, 28), k2, padding=2, groups=n).reshape(n, 1, 28, 28)
    pick = torch.rand(n, generator=g) < p
    return torch.where(pick[:, None, None, None], blurred, x)


def blur_fixed(x, sigma):
    """5x5 Gaussian blur with one sigma (used to report robustness on blurred real test images)."""
    r = torch.arange(-2, 3, dtype=torch.float32)
    k = torch.exp(-r ** 2 / (2 * sigma * sigma))
    k = k / k.sum()
    return F.conv2d(x, (k[:, None] * k[None, :])[None, None], padding=2)


def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--blur-p", type=float, default=0.5, help="fraction of training images blurred (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=fmnist.repo_path("examples", "models", "fmnist_classifier.pt"))
    args = p.parse_args()

    fmnist.seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr = fmnist.load_split("train")
    xte, yte = fmnist.load_split("test")
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * ((xtr.shape[0] + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=g)
        tot = 0.0
        for i in range(0, xtr.shape[0], args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb = xtr[idx]
            # light augmentation: random horizontal flip (garments are left/right symmetric-ish)
            flip = torch.rand(xb.shape[0], generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            if args.blur_p > 0:
                xb = random_blur(xb, g, p=args.blur_p)
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * idx.shape[0]
        acc = evaluate(model, xte, yte)
        acc_b = evaluate(model, blur_fixed(xte, 0.7), yte)
        print(f"epoch {ep + 1}/{args.epochs} loss {tot / xtr.shape[0]:.4f} test_acc {acc:.4f} test_acc_blur0.7 {acc_b:.4f} "
              f"elapsed {time.time() - t0:.0f}s", flush=True)

    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    scripted.save(args.out)
    loaded = torch.jit.load(args.out)
    acc = evaluate(loaded, xte, yte)
    accs_b = [evaluate(loaded, blur_fixed(xte, s), yte) for s in (0.5, 0.7, 1.0)]
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes); reloaded test accuracy {acc:.4f}; "
          f"blurred test (sigma 0.5/0.7/1.0) {accs_b[0]:.4f}/{accs_b[1]:.4f}/{accs_b[2]:.4f}; "
          f"class_names={list(loaded.class_names)}; wall {time.time() - t0:.0f}s")
    assert acc >= 0.90, "classifier below the 0.90 bar"


if __name__ == "__main__":
    main()

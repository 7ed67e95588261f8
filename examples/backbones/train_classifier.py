"""Train the bundled Fashion-MNIST classifier and export it as TorchScript.

Exported module (examples/models/fmnist_classifier.pt), eval mode, CPU, float32:
    forward(x: Tensor[N,1,28,28] float32 in [0,1]) -> logits Tensor[N,10]
    attribute class_names: List[str]   (tshirt, trouser, ..., boot; index = label)
    attribute num_classes: int = 10

Usage: /usr/bin/python3 examples/backbones/train_classifier.py [--epochs 8] [--seed 0]
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


def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], bs):
            correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
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
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * idx.shape[0]
        acc = evaluate(model, xte, yte)
        print(f"epoch {ep + 1}/{args.epochs} loss {tot / xtr.shape[0]:.4f} test_acc {acc:.4f} "
              f"elapsed {time.time() - t0:.0f}s", flush=True)

    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    scripted.save(args.out)
    loaded = torch.jit.load(args.out)
    acc = evaluate(loaded, xte, yte)
    print(f"exported {args.out} ({os.path.getsize(args.out)} bytes); reloaded test accuracy {acc:.4f}; "
          f"class_names={list(loaded.class_names)}; wall {time.time() - t0:.0f}s")
    assert acc >= 0.90, "classifier below the 0.90 bar"


if __name__ == "__main__":
    main()

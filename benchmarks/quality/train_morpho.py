#!/usr/bin/python3
"""Train the Morpho-MNIST models of the quality benchmark and export them as TorchScript:

* ``morpho_vae.pt``: a small convolutional VAE (the bundled Fashion-MNIST VAE's architecture,
  examples/backbones/train_vae.py, at half width: 16/32 channels, FC 128, 32-d latent, beta 0.05), trained on
  the 9,000 training images; interface as the bundled VAE (encode, encode_stats, decode, forward).
* ``morpho_classifier.pt``: a digit classifier (2 conv layers + FC; blur augmentation as the bundled
  classifier, since decoded digits are blurrier than real ones); forward(x) -> logits[N,10], class_names
  "0".."9", num_classes, input_shape.
* ``morpho_scorer.pt``: the re-measured thickness and intensity (benchmarks/quality/morpho.py), with the
  thickness calibration fitted on the training images; forward(x) -> [N,2], score_attributes.
* ``morpho_models.json``: command, seeds, threads, wall times and quality figures on the 1,000 held-out
  images (classifier accuracy on real images and on VAE reconstructions, reconstruction MSE, scorer r).

Usage: /usr/bin/python3 benchmarks/quality/train_morpho.py [--out benchmarks/quality/models] [--seed 0]
           [--vae-epochs 30] [--classifier-epochs 6] [--threads 1]
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "backbones"))
import morpho  # noqa: E402
from train_classifier import random_blur  # noqa: E402
from train_vae import VAE  # noqa: E402


def save_script(module, path):
    tmp = path + ".tmp"
    torch.jit.script(module.eval()).save(tmp)
    os.replace(tmp, path)


def pearson(a, b):
    return float(np.corrcoef(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))[0, 1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(HERE, "models"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--vae-epochs", type=int, default=30)
    p.add_argument("--classifier-epochs", type=int, default=6)
    p.add_argument("--latent-dim", type=int, default=32)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    g = torch.Generator().manual_seed(args.seed)

    x, digit, thickness, intensity = morpho.load()
    n = morpho.TRAIN_ROWS
    xtr, xte, ytr, yte = x[:n], x[n:], digit[:n], digit[n:]
    root = os.path.dirname(os.path.dirname(HERE))
    record = {"command": " ".join([sys.executable, os.path.relpath(os.path.abspath(sys.argv[0]), root)] +
                                  [a.replace(root + os.sep, "") for a in sys.argv[1:]]), "seed": args.seed, "threads": args.threads,
              "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}",
              "train_rows": n, "test_rows": int(x.shape[0] - n)}

    # Scorer: thickness calibration on the training images.
    est = morpho.thickness_estimate(xtr).double().numpy()
    a, b = np.polyfit(est, thickness[:n].double().numpy(), 1)
    scorer = morpho.MorphoScorer(a, b)
    save_script(scorer, os.path.join(args.out, "morpho_scorer.pt"))
    s = torch.jit.load(os.path.join(args.out, "morpho_scorer.pt"))(xte)
    record["scorer"] = {"thickness_scale": float(a), "thickness_offset": float(b),
                        "test_r_thickness": pearson(s[:, 0], thickness[n:]),
                        "test_mae_thickness": float((s[:, 0] - thickness[n:]).abs().mean()),
                        "test_r_intensity": pearson(s[:, 1], intensity[n:]),
                        "test_mae_intensity": float((s[:, 1] - intensity[n:]).abs().mean())}
    print("scorer", record["scorer"], flush=True)

    # Classifier.
    t0, c0 = time.time(), time.process_time()
    clf = morpho.Classifier()
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3)
    bs = 128
    for ep in range(args.classifier_epochs):
        clf.train()
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(clf(random_blur(xtr[idx], g)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        clf.eval()
        with torch.no_grad():
            acc = (clf(xte).argmax(1) == yte).float().mean().item()
        print(f"classifier epoch {ep + 1} test accuracy {acc:.4f} elapsed {time.time() - t0:.0f}s", flush=True)
    save_script(clf, os.path.join(args.out, "morpho_classifier.pt"))
    record["classifier"] = {"epochs": args.classifier_epochs, "train_seconds": time.time() - t0,
                            "train_cpu_seconds": time.process_time() - c0, "test_accuracy": acc}

    # VAE.
    t0, c0 = time.time(), time.process_time()
    vae = VAE(args.latent_dim, 0.05, width=16, hidden=128)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    nb = (n + bs - 1) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=args.vae_epochs * nb, pct_start=0.15)
    for ep in range(args.vae_epochs):
        vae.train()
        perm = torch.randperm(n, generator=g)
        rec_tot = 0.0
        for i in range(nb):
            xb = xtr[perm[i * bs:(i + 1) * bs]]
            mean, logvar = vae.encode_stats(xb)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)
            rec = F.binary_cross_entropy_with_logits(vae.decode_logits(z), xb, reduction="sum") / xb.shape[0]
            kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum() / xb.shape[0]
            loss = rec + vae.beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            rec_tot += rec.item() * xb.shape[0]
        if (ep + 1) % 5 == 0 or ep + 1 == args.vae_epochs:
            print(f"vae epoch {ep + 1} rec {rec_tot / n:.2f} elapsed {time.time() - t0:.0f}s", flush=True)
    save_script(vae, os.path.join(args.out, "morpho_vae.pt"))
    vae_seconds, vae_cpu = time.time() - t0, time.process_time() - c0
    m = torch.jit.load(os.path.join(args.out, "morpho_vae.pt"))
    with torch.no_grad():
        r = m.decode(m.encode(xte))
        rs = torch.jit.load(os.path.join(args.out, "morpho_scorer.pt"))(r)
        recon_acc = (clf(r).argmax(1) == yte).float().mean().item()
    record["vae"] = {"epochs": args.vae_epochs, "latent_dim": args.latent_dim, "train_seconds": vae_seconds, "train_cpu_seconds": vae_cpu,
                     "test_recon_mse": float(((r - xte) ** 2).mean()),
                     "classifier_accuracy_on_reconstructions": recon_acc,
                     "recon_r_thickness": pearson(rs[:, 0], thickness[n:]),
                     "recon_r_intensity": pearson(rs[:, 1], intensity[n:])}
    print("vae", record["vae"], flush=True)
    with open(os.path.join(args.out, "morpho_models.json.tmp"), "w") as f:
        json.dump(record, f, indent=1)
    os.replace(os.path.join(args.out, "morpho_models.json.tmp"), os.path.join(args.out, "morpho_models.json"))


if __name__ == "__main__":
    main()

"""Load every bundled TorchScript backbone with torch.jit.load and check the documented contract.

Usage: /usr/bin/python3 examples/backbones/verify_models.py [--models-dir examples/models]
Prints shapes, attributes, file sizes and the classifier's test accuracy; exits non-zero on a violation.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402


def check(cond, msg):
    if not cond:
        raise SystemExit("FAILED: " + msg)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models-dir", default=fmnist.repo_path("examples", "models"))
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    d = args.models_dir
    N = 5
    total = 0
    with torch.no_grad():
        # classifier
        path = os.path.join(d, "fmnist_classifier.pt")
        clf = torch.jit.load(path)
        check(not clf.training, "classifier not in eval mode")
        x = torch.rand(N, 1, 28, 28)
        check(tuple(clf(x).shape) == (N, 10), "classifier forward shape")
        check(list(clf.class_names) == fmnist.CLASS_NAMES, "classifier class_names")
        xte, yte = fmnist.load_split("test")
        acc = sum((clf(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                  for i in range(0, 10000, 1000)) / 10000
        check(acc >= 0.90, f"classifier accuracy {acc}")
        print(f"classifier: forward(x[N,1,28,28]) -> [N,10]; class_names={list(clf.class_names)}; "
              f"test accuracy {acc:.4f}; {os.path.getsize(path)} bytes")
        total += os.path.getsize(path)

        # VAE
        path = os.path.join(d, "fmnist_vae.pt")
        vae = torch.jit.load(path)
        check(not vae.training, "vae not in eval mode")
        dz = int(vae.latent_dim)
        mu = vae.encode(x)
        m2, lv = vae.encode_stats(x)
        check(tuple(mu.shape) == (N, dz) and tuple(lv.shape) == (N, dz), "vae encode shapes")
        check(torch.allclose(mu, m2), "encode != encode_stats mean")
        img = vae.decode(torch.randn(N, dz))
        check(tuple(img.shape) == (N, 1, 28, 28) and img.min() >= 0 and img.max() <= 1, "vae decode")
        check(torch.equal(vae(mu), vae.decode(mu)), "vae forward != decode")
        print(f"vae: encode(x)->[N,{dz}], encode_stats(x)->([N,{dz}],[N,{dz}]), decode(z)->[N,1,28,28] in [0,1], "
              f"forward=decode; latent_dim={dz}, beta={float(vae.beta)}; {os.path.getsize(path)} bytes")
        total += os.path.getsize(path)

        # GAN
        path = os.path.join(d, "fmnist_gan.pt")
        gan = torch.jit.load(path)
        check(not gan.training, "gan not in eval mode")
        dz = int(gan.latent_dim)
        img = gan(torch.randn(N, dz))
        check(tuple(img.shape) == (N, 1, 28, 28) and img.min() >= 0 and img.max() <= 1, "gan forward")
        b1 = gan(torch.randn(1, dz))
        check(tuple(b1.shape) == (1, 1, 28, 28), "gan batch of 1")
        print(f"gan: forward(z[N,{dz}]) -> [N,1,28,28] in [0,1]; latent_dim={dz}; {os.path.getsize(path)} bytes")
        total += os.path.getsize(path)

        # diffusion
        path = os.path.join(d, "fmnist_diffusion.pt")
        dif = torch.jit.load(path)
        check(not dif.training, "diffusion not in eval mode")
        ab = dif.alphas_cumprod
        T = int(dif.num_timesteps)
        check(ab.dtype == torch.float32 and tuple(ab.shape) == (T,), "alphas_cumprod")
        check(bool((ab[1:] < ab[:-1]).all()), "alphas_cumprod not decreasing")
        betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
        check(torch.allclose(ab.double(), torch.cumprod(1 - betas, 0), rtol=1e-5), "alphas_cumprod schedule")
        eps = dif(torch.randn(N, 1, 28, 28), torch.randint(0, T, (N,)))
        check(tuple(eps.shape) == (N, 1, 28, 28), "diffusion forward")
        print(f"diffusion: forward(x_t[N,1,28,28], t[N] int64) -> eps[N,1,28,28]; T={T}; "
              f"alphas_cumprod[0]={ab[0].item():.6f}, [T-1]={ab[-1].item():.3e}; data_min={float(dif.data_min)}, "
              f"data_max={float(dif.data_max)}; {os.path.getsize(path)} bytes")
        total += os.path.getsize(path)
    print(f"total size {total} bytes ({total / 2**20:.2f} MiB)")
    check(total <= 20 * 10**6, "bundled models exceed 20 MB")
    print("OK")


if __name__ == "__main__":
    main()

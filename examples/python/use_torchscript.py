#!/usr/bin/env python3
"""Uses a plugin exported by `plugen export-torchscript` from Python, with torch alone (no plugen).

    use_torchscript.py FLOW.pt [--latents W.npy] [--n 100] [--out DIR]

Prints the plugin's metadata, maps latents w (from W.npy, or drawn around the training mean) to z and back, and
checks the round trip. With --out, writes z.npy, log_det.npy and w_back.npy there. Needs python3-torch and numpy.
"""
import argparse, json, os
import numpy as np
import torch

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("flow"), p.add_argument("--latents"), p.add_argument("--n", type=int, default=100), p.add_argument("--out")
args = p.parse_args()

flow = torch.jit.load(args.flow)  # TorchScript is code: load only files from sources you trust
meta = json.loads(flow.metadata)
latent = meta["latent"]
print(f"{meta['format']} v{meta['format_version']}: {meta['flow']['kind']} flow, dim {latent['dim']}, "
      f"attributes {[a['name'] for a in meta['schema']['attributes']]}")

if args.latents:
    w = torch.from_numpy(np.load(args.latents))
else:  # around the training latents: mean + std * noise, in the plugin's layout and dtype
    shape = [args.n] + ([latent["layers"]] if latent["layers"] else []) + [latent["dim"]]
    w = flow.standardize_mean + flow.standardize_std * torch.randn(shape, generator=torch.Generator().manual_seed(0),
                                                                    dtype=flow.standardize_mean.dtype)
with torch.no_grad():
    z, log_det = flow.forward_and_log_det(w)
    w_back = flow.inverse(z)
rows = w[:, 0] if latent["layers"] and latent["mode"] == "shared" else w.reshape(-1, latent["dim"])
back = w_back[:, 0] if latent["layers"] and latent["mode"] == "shared" else w_back.reshape(-1, latent["dim"])
error = ((back - rows).abs().max() / rows.abs().max().clamp(min=1)).item()
assert z.shape == (rows.shape[0], latent["dim"]) and torch.isfinite(z).all() and torch.isfinite(log_det).all()
assert error < (1e-4 if w.dtype == torch.float32 else 1e-9), f"the exported flow does not invert (error {error})"
print(f"w {tuple(w.shape)} -> z {tuple(z.shape)} -> w {tuple(w_back.shape)}: round trip ok (relative error {error:.1e})")
if args.out:
    os.makedirs(args.out, exist_ok=True)
    for name, t in [("z", z), ("log_det", log_det), ("w_back", w_back)]:
        np.save(os.path.join(args.out, name + ".npy"), t.numpy())

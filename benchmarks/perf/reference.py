#!/usr/bin/env python3
"""PyTorch reference side of the performance benchmark: the official PluGeN setup (DESIGN.md 1.3) timed the way
plugen's benchmarks/perf/perf.cpp times plugen, on the same data and thread count. One JSON object per line.

  gemm    torch.mm of 1024 x 1024 float32 matrices: GFLOP/s
  train   the official flow (additive couplings with full-width masked MLPs, D 512, 4 couplings, 4 linear layers,
          hidden 512; benchmarks/reference/official_flow.py) trained as the official StyleGAN run: Adam lr 1e-4,
          gradient-norm clip 1.0, labels in [-1, 1] as N(y, sigma) targets of the first coordinates, N(0, I)
          style; batch 32 and 256: samples/s and GFLOP/s of its own multiply-adds
  edit    one latent: forward, set coordinate 0, inverse (no_grad); median of >= 1000 runs
  sample  1,024 latents per call: targets drawn for two label coordinates, N(0, I) style, inverse (no_grad)

Usage: reference.py --data DIR [--threads 1] [--quick]   (DIR as written by run.py)
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from official_flow import OfficialFlow  # noqa: E402

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
DIM, COUPLINGS, LAYERS, HIDDEN = 512, 4, 4, 512


class Times:
    """Durations of repeated runs by wall clock and by the CPU time of this thread (with one intra-op thread all
    the work runs on it; a machine shared with other jobs inflates it far less than wall time)."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def run(self, f):
        w, c = time.perf_counter(), time.thread_time()
        result = f()
        self.cpu.append(time.thread_time() - c)
        self.wall.append(time.perf_counter() - w)
        return result


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def emit(record):
    record.setdefault("impl", "reference")
    record["threads"] = torch.get_num_threads()
    print(json.dumps(record), flush=True)


def blas_core():
    """The OpenBLAS kernels torch's matrix products run on ("" for another BLAS)."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return ""


def bench_gemm(quick):
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    c = torch.mm(a, b)  # one output buffer, as perf.cpp: the rate of the product, not of allocating it
    t = Times()
    for _ in range(5 if quick else 20):
        t.run(lambda: torch.mm(a, b, out=c))
    flop = 2.0 * 1024**3
    gemm = (flop / statistics.median(t.wall) / 1e9, flop / statistics.median(t.cpu) / 1e9)
    emit({"bench": "gemm", "n": 1024, "gflops": gemm[0], "cpu_gflops": gemm[1], "blas_core": blas_core()})
    return gemm


def official_loss(z, y, sigma):
    """-mean log p(z | y): label coordinates N(y, sigma), style N(0, I); additive couplings have log-det 0."""
    k = y.shape[1]
    c, s = z[:, :k], z[:, k:]
    log_p = (-0.5 * ((c - y) / sigma) ** 2 - math.log(sigma) - HALF_LOG_2PI).sum(1)
    log_p = log_p + (-0.5 * s**2 - HALF_LOG_2PI).sum(1)
    return -log_p.mean()


def bench_train(latents, labels, gemm, quick):
    x_all, y_all = torch.from_numpy(latents), torch.from_numpy(labels).float()
    # Multiply-adds of one forward pass per sample: every layer is full width (the masks zero half the inputs
    # and outputs after the fact).
    macs = COUPLINGS * (DIM * HIDDEN + (LAYERS - 2) * HIDDEN * HIDDEN + HIDDEN * DIM)
    flops_per_sample = 3.0 * 2.0 * macs
    for batch in (32, 256):
        steps = 12 if quick else (160 if batch == 32 else 40)
        warmup = 2 if quick else 5
        torch.manual_seed(1)
        flow = OfficialFlow(DIM, COUPLINGS, LAYERS, HIDDEN)
        optimizer = torch.optim.Adam(flow.parameters(), lr=1e-4)
        order = torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(0))
        stamps = []
        for step in range(steps):
            idx = order[(step * batch) % x_all.shape[0] :][:batch]
            x, y = x_all[idx], y_all[idx]
            optimizer.zero_grad()
            loss = official_loss(flow(x), y, 0.4)
            loss.item()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
            optimizer.step()
            stamps.append((time.perf_counter(), time.thread_time()))
        n = len(stamps) - 1 - warmup
        samples_per_s = batch * n / (stamps[-1][0] - stamps[warmup][0])
        cpu_samples_per_s = batch * n / (stamps[-1][1] - stamps[warmup][1])
        gflops = samples_per_s * flops_per_sample / 1e9
        cpu_gflops = cpu_samples_per_s * flops_per_sample / 1e9
        emit({"bench": "train", "flow": "official", "batch": batch, "steps": n, "flops_per_sample": flops_per_sample,
              "samples_per_s": samples_per_s, "gflops": gflops, "gemm_fraction": gflops / gemm[0],
              "cpu_samples_per_s": cpu_samples_per_s, "cpu_gflops": cpu_gflops,
              "cpu_gemm_fraction": cpu_gflops / gemm[1]})


def load_flow(data_dir):
    flow = OfficialFlow(DIM, COUPLINGS, LAYERS, HIDDEN)
    flow.load_state_dict(torch.load(os.path.join(data_dir, "official", "flow_dict.pt")))
    flow.eval()
    return flow


def bench_edit_and_sample(latents, data_dir, quick):
    flow = load_flow(data_dir)
    w = torch.from_numpy(latents[:1].copy())
    runs = 200 if quick else 1000

    def edit():
        with torch.no_grad():
            z = flow(w)
            z[:, 0] = 0.5
            return flow.inverse(z)

    for _ in range(50):
        edit()
    t = Times()
    for _ in range(runs):
        t.run(edit)
    emit({"bench": "edit", "batch": 1, "runs": runs,
          "median_ms": statistics.median(t.wall) * 1e3, "p10_ms": percentile(t.wall, 0.1) * 1e3,
          "p90_ms": percentile(t.wall, 0.9) * 1e3, "cpu_median_ms": statistics.median(t.cpu) * 1e3,
          "cpu_p10_ms": percentile(t.cpu, 0.1) * 1e3, "cpu_p90_ms": percentile(t.cpu, 0.9) * 1e3})

    def sample():
        with torch.no_grad():
            z = torch.randn(1024, DIM)
            z[:, 0] = 0.5 + 0.4 * z[:, 0]
            z[:, 3] = -0.5 + 0.4 * z[:, 3]
            return flow.inverse(z)

    sample()
    t = Times()
    for _ in range(2 if quick else 5):
        t.run(sample)
    emit({"bench": "sample", "batch": 1024, "samples_per_s": 1024 / statistics.median(t.wall),
          "cpu_samples_per_s": 1024 / statistics.median(t.cpu)})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default="", help="comma-separated subset of gemm,train,edit")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    parts = set(filter(None, a.only.split(",")))
    latents = np.load(os.path.join(a.data, "latents.npy"))
    labels = np.load(os.path.join(a.data, "labels.npy"))
    gemm = bench_gemm(a.quick)
    if not parts or "train" in parts:
        bench_train(latents, labels, gemm, a.quick)
    if not parts or "edit" in parts:
        bench_edit_and_sample(latents, a.data, a.quick)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes the inputs of the generation benchmark's verification run: Fashion-MNIST training images as a .npy
(float32 (N, 1, 28, 28) in [0, 1]) and their labels as CSV: the class name and the measured brightness of the
garment (the formula of examples/backbones/fmnist.py). The benchmark then encodes the images with the bundled
VAE (`plugen encode`) and trains a plugin on (latents, labels) with `plugen train`; see run.sh.

    /usr/bin/python3 benchmarks/generate/prepare.py OUT_DIR [--n 20000]
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "backbones"))
import fmnist  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--n", type=int, default=20000)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    images, labels = fmnist.load_split("train")
    images, labels = images[: a.n], labels[: a.n]
    bright = fmnist.brightness(images).numpy()
    np.save(os.path.join(a.out, "images.npy"), images.numpy().astype(np.float32))
    with open(os.path.join(a.out, "labels.csv"), "w") as f:
        f.write("class,brightness\n")
        for c, b in zip(labels.tolist(), bright.tolist()):
            f.write("%s,%.6f\n" % (fmnist.CLASS_NAMES[c], b))
    print("wrote %d images and labels to %s" % (len(labels), a.out))


if __name__ == "__main__":
    main()

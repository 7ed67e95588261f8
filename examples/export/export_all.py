#!/usr/bin/env python3
"""Runs the four export recipes into one folder (one Python start-up): gan.pt, vae.pt, diffusion.pt,
classifier.pt + classifier.json. The C++ test suite uses it to check the recipes produce what plugen loads.

Usage: python3 export_all.py OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import classifier  # noqa: E402
import diffusion  # noqa: E402
import gan  # noqa: E402
import vae  # noqa: E402


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    gan.export(os.path.join(out_dir, "gan.pt"))
    vae.export(os.path.join(out_dir, "vae.pt"))
    diffusion.export(os.path.join(out_dir, "diffusion.pt"))
    classifier.export(os.path.join(out_dir, "classifier.pt"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 export_all.py OUT_DIR")
    main(sys.argv[1])
    print(f"wrote gan.pt, vae.pt, diffusion.pt, classifier.pt, classifier.json to {sys.argv[1]}")

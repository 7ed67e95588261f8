"""Fashion-MNIST helpers shared by the scripts that train the bundled demo backbones.

Data
----
``load_split(split)`` reads the Debian ``dataset-fashion-mnist`` files (IDX format, gzip) from
``/usr/share/datasets/fashion-mnist`` (override with the ``FMNIST_DIR`` environment variable) and returns

* ``images``: ``torch.float32`` tensor of shape ``(N, 1, 28, 28)``, values ``uint8 / 255`` in ``[0, 1]``
  (background is 0 = black, garment pixels are bright);
* ``labels``: ``torch.int64`` tensor of shape ``(N,)`` with class indices 0..9 into ``CLASS_NAMES``.

``split`` is ``"train"`` (60000 images) or ``"test"`` (the ``t10k`` files, 10000 images).

Measured attributes (continuous labels of the PluGeN demo)
----------------------------------------------------------
These two formulas are re-implemented in C++; they are specified exactly here. For one image ``x`` with
intensities ``x[i]`` in ``[0, 1]`` over its 784 = 28*28 pixels (for a batch: per image, independently):

* garment mask:  ``m[i] = 1 if x[i] > MASK_THRESHOLD else 0`` with ``MASK_THRESHOLD = 0.1``
  (strictly greater; a pixel equal to 0.1 is background). Images from the decoders are in ``[0, 1]`` too;
  diffusion samples in ``[-1, 1]`` must first be mapped with ``x = (x + 1) / 2`` (and clamped to ``[0, 1]``).
* ``area = (sum_i m[i]) / 784``  -- the fraction of the 784 pixels in the mask, in ``[0, 1]``.
* ``brightness = (sum_i m[i] * x[i]) / (sum_i m[i])`` if ``sum_i m[i] > 0``, else ``0``
  -- the mean intensity of the mask pixels, in ``(0.1, 1]`` (or exactly 0 for an empty mask).

Both are computed in float32 (sums over 784 values; no other normalisation, no clamping of the input).
"""

import gzip
import os
import struct
import zlib

import numpy as np
import torch

DATA_DIR = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")

#: Class identifiers, index = Fashion-MNIST label.
CLASS_NAMES = ["tshirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "boot"]
#: Human-readable names, same order.
CLASS_TITLES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

#: A pixel belongs to the garment mask iff its intensity is strictly greater than this.
MASK_THRESHOLD = 0.1
NUM_PIXELS = 28 * 28


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic 0x{magic:08x})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims} bytes, found {arr.size}")
    return arr.reshape(dims)


def load_split(split="train", data_dir=None):
    """Return ``(images float32 (N,1,28,28) in [0,1], labels int64 (N,))`` for ``split`` in {train, test}."""
    d = data_dir or DATA_DIR
    prefix = {"train": "train", "test": "t10k"}[split]
    imgs = _read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"))
    labs = _read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(imgs.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labs.astype(np.int64))
    return x, y


def garment_mask(x):
    """Boolean mask ``x > MASK_THRESHOLD`` (same shape as ``x``)."""
    return x > MASK_THRESHOLD


def area(x):
    """Fraction of the 784 pixels in the garment mask, per image. ``x``: (N,1,28,28) in [0,1] -> (N,)."""
    m = garment_mask(x).reshape(x.shape[0], -1).to(torch.float32)
    return m.sum(dim=1) / float(NUM_PIXELS)


def brightness(x):
    """Mean intensity of the garment-mask pixels, 0 for an empty mask. ``x``: (N,1,28,28) -> (N,)."""
    flat = x.reshape(x.shape[0], -1).to(torch.float32)
    m = (flat > MASK_THRESHOLD).to(torch.float32)
    count = m.sum(dim=1)
    total = (m * flat).sum(dim=1)
    return torch.where(count > 0, total / count.clamp(min=1.0), torch.zeros_like(total))


def attributes(x):
    """``(area, brightness)`` per image, each (N,) float32."""
    return area(x), brightness(x)


def seed_everything(seed):
    """Fixed seeds for torch and numpy, one intra-op thread (the build machine is shared)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)


def write_png(path, img):
    """Write a grayscale PNG. ``img``: 2-D array-like, float in [0,1] or uint8. Pure zlib, no PIL."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    h, w = a.shape
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))

    def chunk(tag, body):
        c = struct.pack(">I", len(body)) + tag + body
        return c + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def make_grid(images, nrow, pad=2, scale=1):
    """Tile (N,1,28,28) images in [0,1] into one 2-D numpy array with ``nrow`` images per row."""
    x = images.detach().cpu().clamp(0, 1).numpy()[:, 0]
    n, h, w = x.shape
    ncol_rows = (n + nrow - 1) // nrow
    grid = np.ones((ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32) * 0.5
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = x[i]
    if scale > 1:
        grid = np.kron(grid, np.ones((scale, scale), dtype=np.float32))
    return grid


def repo_path(*parts):
    """Path relative to the repository root (this file lives in examples/backbones/)."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(root, *parts)

#!/usr/bin/env python3
"""Reads a plugen plugin file with nothing but numpy, json and struct, and maps latents w to z = F((w - mean)/std).

    read_plugin.py PLUGIN [W.npy Z.npy]    prints metadata and tensor shapes; with W.npy, writes z to Z.npy
Forward covers coupling-only flows (flow.linear "none", flow.monotone false), additive or affine.
"""
import json, struct, sys
import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "BOOL": "?"}

def read_plugin(path):
    """Returns (tensors: name -> numpy array, metadata: key -> parsed JSON value)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header, data = json.loads(f.read(n)), f.read()
    meta = {k: (json.loads(v) if v[:1] in "{[" else v) for k, v in header.pop("__metadata__", {}).items()}
    tensors = {k: np.frombuffer(data[h["data_offsets"][0]:h["data_offsets"][1]], DTYPES[h["dtype"]]).reshape(h["shape"])
               for k, h in header.items()}
    return tensors, meta

def forward(tensors, meta, w):
    """z = F((w - mean) / std) for (N, D) latents."""
    f = meta["flow"]
    assert f["linear"] == "none" and not f["monotone"], "read_plugin.py: LU layers and monotone steps not covered"
    act = {"leaky_relu": lambda x: np.where(x > 0, x, f["negative_slope"] * x), "relu": lambda x: np.maximum(x, 0),
           "tanh": np.tanh}[f["activation"]]
    x = (w - tensors["standardize.mean"]) / tensors["standardize.std"]
    for k in range(f["couplings"]):
        kept = tensors[f"flow.partition{k}.kept"]
        changed = np.setdiff1d(np.arange(f["dim"]), kept)
        h = x[:, kept]
        for l in range(f["layers"]):
            h = h @ tensors[f"flow.coupling{k}.conditioner.linear{l}.weight"].T + tensors[f"flow.coupling{k}.conditioner.linear{l}.bias"]
            h = act(h) if l + 1 < f["layers"] else h
        x = x.copy()
        if f["kind"] == "additive":
            x[:, changed] += h
        else:
            b, nb = f["scale_bound"], len(changed)
            x[:, changed] = x[:, changed] * np.exp(b * np.tanh(h[:, :nb] / b)) + h[:, nb:]
    return x

if __name__ == "__main__":
    tensors, meta = read_plugin(sys.argv[1])
    d = meta["flow"]["dim"]
    assert tensors["standardize.mean"].shape == (d,) and tensors["standardize.std"].shape == (d,)
    print(json.dumps({"format": meta["format"], "format_version": meta["format_version"], "flow": meta["flow"],
                      "attributes": [a["name"] for a in meta["schema"]["attributes"]],
                      "tensors": {k: list(v.shape) for k, v in sorted(tensors.items())}}))
    if len(sys.argv) == 4:
        np.save(sys.argv[3], forward(tensors, meta, np.load(sys.argv[2])))

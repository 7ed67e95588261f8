#!/usr/bin/env python3
"""Rewrites an official PluGeN checkpoint (a torch.save file) as a .safetensors file for `plugen import-official`.

plugen reads torch.save state_dicts directly where LibTorch's unpickler can; this script covers the rest
(checkpoints that pickle the whole module, or wrap the state_dict in a dict). Needs python3-torch and numpy.

    convert_official.py flow.pt flow.safetensors [--key state_dict] [--trust-pickle]

torch.save files are pickles, and unpickling arbitrary objects runs code from the file. By default the checkpoint
is read with torch.load(weights_only=True), which rebuilds only tensors and plain containers; --trust-pickle lifts
that restriction (needed for checkpoints that pickle a whole nn.Module) and is for files from sources you trust.
"""
import argparse
import json
import pickle
import struct

import numpy as np
import torch


def write_safetensors(path, tensors):
    """Writes name -> numpy array as safetensors (little-endian, C order), with nothing but json and struct."""
    names = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int64"): "I64"}
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        blob = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.add_argument("--key", help="entry of a dict checkpoint that holds the state_dict (e.g. state_dict, model)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="unpickle any object (whole pickled modules); runs code from the file: trusted sources only")
    a = p.parse_args()
    try:
        obj = torch.load(a.checkpoint, map_location="cpu", weights_only=not a.trust_pickle)
    except pickle.UnpicklingError as e:
        raise SystemExit(f"{a.checkpoint}: not a plain state_dict ({e}); if the file comes from a source you trust, "
                         "rerun with --trust-pickle")
    if a.key:
        obj = obj[a.key]
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    tensors = {k: v.detach().float().numpy() for k, v in obj.items() if k.startswith("coupling_layers.")}
    if not tensors:
        raise SystemExit(f"{a.checkpoint}: no coupling_layers.* tensors (keys: {list(obj)[:8]}); try --key")
    write_safetensors(a.out, tensors)
    print(f"convert_official: {len(tensors)} tensors -> {a.out}")


if __name__ == "__main__":
    main()

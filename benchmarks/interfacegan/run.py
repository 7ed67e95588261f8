#!/usr/bin/python3
"""Semi-synthetic InterFaceGAN benchmark: does a plugen plugin recover and control attributes that are
exactly linear in a 512-d latent space?

Data: 8 real InterFaceGAN directions n_k (StyleGAN2 Z space) from ../shared/data/interfacegan-boundaries;
z ~ N(0, I_512); binary labels y_k = [n_k . z > 0]. 20,000 training and 5,000 held-out latents.
Everything goes through the `plugen` CLI, as a user would run it:

  1. plugen train on the training latents (all labels, then 80% of labels missing at random);
  2. plugen attributes on the held-out latents: accuracy against the ground truth;
  3. plugen sample of 2,000 latents for (Heavy_Makeup=1, Wearing_Lipstick=1), the rare
     (Heavy_Makeup=1, Wearing_Lipstick=0) and (Male=1, Smiling=1, Eyeglasses=1): the ground truth of the
     produced latents, per requested attribute;
  4. plugen edit flipping Smiling on the held-out latents (each set to the opposite of its true label):
     fraction flipped, and fraction of the 7 other attributes unchanged.

Usage: benchmarks/interfacegan/run.py [--plugen build/examples/plugen] [--out out/bench/interfacegan]
       [--missing 0.0 0.8] [--epochs N] [extra plugen train options after --]
Prints one JSON line per run and a table; writes results.json in --out.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ATTRS = ["Heavy_Makeup", "Wearing_Lipstick", "Male", "Smiling", "Eyeglasses", "Young", "Bald", "Wearing_Hat"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_labels_csv(path, y, mask):
    with open(path, "w") as f:
        f.write(",".join(ATTRS) + "\n")
        for row, m in zip(y, mask):
            f.write(",".join(str(int(v)) if k else "" for v, k in zip(row, m)) + "\n")


def read_csv_columns(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    return {name: np.array([float(r[i]) for r in rows]) for i, name in enumerate(header)}


def run(cmd, **kw):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r, time.time() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugen", default=os.path.join(ROOT, "build", "examples", "plugen"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "interfacegan-boundaries"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "interfacegan"))
    ap.add_argument("--missing", type=float, nargs="+", default=[0.0, 0.8])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("train_args", nargs="*", help="extra options for plugen train (after --)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    dirs = np.stack([np.load(os.path.join(args.data, f"boundary_{a}.npy")).reshape(-1) for a in ATTRS]).astype(np.float64)
    rng = np.random.default_rng(args.seed)
    z_train = rng.standard_normal((20000, 512)).astype(np.float32)
    z_test = rng.standard_normal((5000, 512)).astype(np.float32)
    truth = lambda z: (z.astype(np.float64) @ dirs.T > 0).astype(np.int64)
    y_train, y_test = truth(z_train), truth(z_test)
    np.save(os.path.join(args.out, "train.npy"), z_train)
    np.save(os.path.join(args.out, "test.npy"), z_test)
    rare = float(np.mean((y_train[:, 0] == 1) & (y_train[:, 1] == 0)))

    results = []
    for missing in args.missing:
        tag = f"missing{int(round(missing * 100))}"
        mask = rng.random(y_train.shape) >= missing
        labels = os.path.join(args.out, f"labels_{tag}.csv")
        write_labels_csv(labels, y_train, mask)
        plugin = os.path.join(args.out, f"plugin_{tag}.safetensors")
        r, train_s = run([args.plugen, "train", "--latents", os.path.join(args.out, "train.npy"), "--labels", labels,
                          "--out", plugin, "--quiet", *args.train_args])
        report = json.loads(r.stdout.strip().splitlines()[-1])

        attrs_csv = os.path.join(args.out, f"attributes_{tag}.csv")
        run([args.plugen, "attributes", "--plugin", plugin, "--latents", os.path.join(args.out, "test.npy"),
             "--out", attrs_csv])
        read = read_csv_columns(attrs_csv)
        acc = {a: float(np.mean(read[a] == y_test[:, k])) for k, a in enumerate(ATTRS)}

        requests = {"makeup+lipstick": {"Heavy_Makeup": 1, "Wearing_Lipstick": 1},
                    "makeup+no_lipstick (rare)": {"Heavy_Makeup": 1, "Wearing_Lipstick": 0},
                    "male+smiling+glasses": {"Male": 1, "Smiling": 1, "Eyeglasses": 1}}
        sampled = {}
        for name, req in requests.items():
            out = os.path.join(args.out, f"sample_{tag}_{len(sampled)}.npy")
            sets = [x for k, v in req.items() for x in ("--set", f"{k}={v}")]
            run([args.plugen, "sample", "--plugin", plugin, "--n", "2000", "--seed", "7", "--ood", "allow",
                 "--out", out, *sets])
            y = truth(np.load(out))
            sampled[name] = {k: float(np.mean(y[:, ATTRS.index(k)] == v)) for k, v in req.items()}

        # Flip Smiling: rows whose true Smiling is 1 are set to 0 and vice versa.
        s = ATTRS.index("Smiling")
        edited = np.empty_like(z_test)
        for value in (0, 1):
            rows = np.where(y_test[:, s] == 1 - value)[0]
            src = os.path.join(args.out, f"flip_src_{value}.npy")
            dst = os.path.join(args.out, f"flip_dst_{value}.npy")
            np.save(src, z_test[rows])
            run([args.plugen, "edit", "--plugin", plugin, "--latents", src, "--set", f"Smiling={value}",
                 "--ood", "allow", "--out", dst])
            edited[rows] = np.load(dst)
        y_edit = truth(edited)
        flipped = float(np.mean(y_edit[:, s] != y_test[:, s]))
        others = [k for k in range(len(ATTRS)) if k != s]
        unchanged = float(np.mean(y_edit[:, others] == y_test[:, others]))

        result = {"benchmark": "interfacegan", "missing": missing, "rare_fraction_in_training": rare,
                  "train_seconds": round(train_s, 1), "train_report": report,
                  "heldout_accuracy_mean": float(np.mean(list(acc.values()))), "heldout_accuracy": acc,
                  "conditional_sampling": sampled, "smiling_flip_rate": flipped,
                  "smiling_flip_others_unchanged": unchanged, "train_args": args.train_args}
        print(json.dumps(result), flush=True)
        results.append(result)

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print("\n| labels missing | held-out acc | train s | makeup+lipstick | rare makeup+no lipstick | male+smile+glasses | smile flip | others kept |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["conditional_sampling"]
        fmt = lambda d: "/".join(f"{v:.3f}" for v in d.values())
        print(f"| {r['missing']:.0%} | {r['heldout_accuracy_mean']:.3f} | {r['train_seconds']:.0f} | "
              f"{fmt(c['makeup+lipstick'])} | {fmt(c['makeup+no_lipstick (rare)'])} | {fmt(c['male+smiling+glasses'])} | "
              f"{r['smiling_flip_rate']:.3f} | {r['smiling_flip_others_unchanged']:.3f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The Fashion-MNIST demo: a frozen generator made attribute-conditional with plugen, end to end through the
`plugen` command-line tool. Python here is glue only (reading the IDX files, writing CSVs, the table); every
model runs in plugen.

For each backbone (--backbones, default vae; also gan, diffusion):
  1. latents + labels (class, brightness, area):
       vae        plugen encode the training images (posterior means), labels = the true class + the measured
                  brightness and area of each real image (examples/models/fmnist_pixels.pt);
       gan        plugen label: latents sampled from the GAN's prior, decoded, labelled by the bundled
                  classifier and the pixel scorer (no real labels);
       diffusion  plugen encode by DDIM inversion (x_T latents, 784-d) of a subset, labels as for the VAE;
  2. plugen train: the plugin;
  3. plugen grid: rows = the 10 classes, columns = brightness from low to high;
  4. plugen edit --sweep: real test images (VAE, diffusion) or held-out samples (GAN) changed to every class,
     and to brightness levels;
  5. plugen eval: conditional samples (--eval-n per class; per brightness and area level) scored by the
     bundled classifier and the pixel scorer; edits of held-out latents; the ceilings: the classifier on the
     backbone's reconstructions of the real test split, and on the real test images.
Writes out/demo/ (data/, <backbone>/ with latents, labels, plugin, PNGs, eval.json) and out/demo/report.json,
and prints a table.

Usage: examples/demo/fmnist_demo.py [--plugen build/examples/plugen] [--out out/demo] [--backbones vae,gan]
       [--quick]   (a tiny run in seconds, for the test suite)
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "examples", "models")
CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
SCHEMA = {"attributes": [{"name": "class", "kind": "categorical", "classes": CLASSES},
                         {"name": "brightness", "kind": "continuous"},
                         {"name": "area", "kind": "continuous"}]}

# Plugin training options per backbone (plugen train flags). Measured on the VAE with 100 samples per class
# and per level (class accuracy / r brightness / r area): 2 couplings x 128 (the fixed default before data
# sizing), 20 epochs: 0.72 / 0.60 / 0.83; 4 x 256: 0.85 / 0.87 / 0.82; 6 x 256: 0.91 / 0.91 / 0.83; 8 x 256, 30 epochs: 0.86 /
# 0.92 / 0.87, and with 200 per level on 8 levels 0.85 / 0.92 / 0.86 (40 epochs) or, with the sigma floor
# lowered to 0.07 (decay 0.85), 0.85 / 0.93 / 0.89 (to 0.05: 0.82 / 0.93 / 0.90). A continuous attribute
# tracks its request more tightly the smaller the final sigma, a class less so. One epoch over 60,000 latents
# costs ~2.5 s of one core at 8 x 256.
FLOW = ["--couplings", "8", "--hidden", "256", "--sigma", "0.4", "--min-sigma", "0.07", "--sigma-decay", "0.85"]
TRAIN = {
    "vae": FLOW + ["--epochs", "30"],
    "gan": FLOW + ["--epochs", "30"],
    "diffusion": FLOW + ["--epochs", "30"],
}


def log(msg):
    sys.stderr.write(f"\033[1m[demo]\033[0m {msg}\n")
    sys.stderr.flush()


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic 0x{magic:08x})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_class_csv(path, labels):
    with open(path, "w") as f:
        f.write("class\n")
        f.writelines(CLASSES[int(k)] + "\n" for k in labels)


class Runner:
    """Runs plugen subcommands: progress (stderr) passes through, the JSON result line (stdout) is returned."""

    def __init__(self, plugen, threads):
        self.plugen = plugen
        self.threads = threads

    def __call__(self, *args):
        cmd = [self.plugen, "--threads", str(self.threads)] + [str(a) for a in args]
        log("$ plugen " + " ".join(str(a) for a in args))
        r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"plugen {args[0]} failed with exit code {r.returncode}")
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else {}


def prepare_data(out, data_dir, train_n, test_n):
    """IDX -> uint8 image arrays (N, 1, 28, 28) and class CSVs; returns the paths."""
    os.makedirs(out, exist_ok=True)
    paths = {}
    for split, prefix, n in (("train", "train", train_n), ("test", "t10k", test_n)):
        images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))[:n]
        labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))[:n]
        paths[split + "_images"] = os.path.join(out, f"{split}_images.npy")
        paths[split + "_class"] = os.path.join(out, f"{split}_class.csv")
        np.save(paths[split + "_images"], images.reshape(-1, 1, 28, 28))
        write_class_csv(paths[split + "_class"], labels)
        paths[split + "_labels"] = labels
    # One test image of each class (the first), for the edit figures.
    first = [int(np.flatnonzero(paths["test_labels"] == k)[0]) for k in range(10) if (paths["test_labels"] == k).any()]
    paths["showcase"] = first
    return paths


def attribute(scores, name):
    for s in scores or []:
        if s["name"] == name:
            return s
    return {}


def run_backbone(name, plugen, data, args):
    t0 = time.time()
    out = os.path.join(args.out, name)
    os.makedirs(out, exist_ok=True)
    backbone = os.path.join(MODELS, f"fmnist_{name}.pt")
    classifier = os.path.join(MODELS, "fmnist_classifier.pt")
    pixels = os.path.join(MODELS, "fmnist_pixels.pt")
    schema = os.path.join(out, "schema.json")
    with open(schema, "w") as f:
        json.dump(SCHEMA, f, indent=2)
    kind = ["--kind", name]
    steps = ["--steps", str(args.ddim_steps)] if name == "diffusion" else []
    q = args.quick
    # Sample counts: every diffusion sample costs --ddim-steps UNet calls, so that path scores fewer.
    cap = args.diffusion_eval_n if name == "diffusion" else None
    eval_n = 20 if q else min(args.eval_n, cap or args.eval_n)
    level_n = 20 if q else min(args.level_n, cap or args.level_n)
    edit_n = 20 if q else min(args.edit_n, cap or args.edit_n)

    # 1. Latents and labels.
    train_latents, train_labels = os.path.join(out, "train_latents.npy"), os.path.join(out, "train_labels.csv")
    test_latents, test_labels = os.path.join(out, "test_latents.npy"), os.path.join(out, "test_labels.csv")
    real_test = name != "gan"
    if name == "gan":
        n = 2000 if q else args.gan_n
        log(f"{name}: {n} latents from the GAN's prior, auto-labelled by the classifier and the pixel scorer")
        plugen("label", "--backbone", backbone, *kind, "--classifier", classifier, "--scorer", pixels,
               "--n", n, "--seed", 1, "--out", os.path.join(out, "train"))
        os.replace(os.path.join(out, "train", "latents.npy"), train_latents)
        os.replace(os.path.join(out, "train", "labels.csv"), train_labels)
        # Held-out latents for the edits: other prior samples, labelled the same way.
        plugen("label", "--backbone", backbone, *kind, "--classifier", classifier, "--scorer", pixels,
               "--n", edit_n, "--seed", 2, "--out", os.path.join(out, "test"))
        os.replace(os.path.join(out, "test", "latents.npy"), test_latents)
        os.replace(os.path.join(out, "test", "labels.csv"), test_labels)
        showcase = np.load(test_latents)[:10]
    else:
        train_images, test_images = data["train_images"], data["test_images"]
        if name == "diffusion":
            # DDIM inversion costs steps x UNet calls per image: a subset.
            n_train, n_test = (200, 50) if q else (args.diffusion_n, edit_n)
            for split, n in (("train", n_train), ("test", n_test)):
                x = np.load(data[split + "_images"])[:n]
                np.save(os.path.join(out, f"{split}_images.npy"), x)
                classes = [CLASSES[int(k)] for k in data[split + "_labels"][:n]]
                with open(os.path.join(out, f"{split}_class.csv"), "w") as f:
                    f.write("class\n" + "".join(c + "\n" for c in classes))
            train_images, test_images = os.path.join(out, "train_images.npy"), os.path.join(out, "test_images.npy")
            train_class, test_class = os.path.join(out, "train_class.csv"), os.path.join(out, "test_class.csv")
        else:
            train_class, test_class = data["train_class"], data["test_class"]
        log(f"{name}: encoding the real training and test images; labels: true class + measured brightness, area")
        plugen("encode", "--backbone", backbone, *kind, *steps, "--inputs", train_images, "--out", train_latents,
               "--labels", train_class, "--scorer", pixels, "--labels-out", train_labels)
        plugen("encode", "--backbone", backbone, *kind, *steps, "--inputs", test_images, "--out", test_latents,
               "--labels", test_class, "--scorer", pixels, "--labels-out", test_labels)
        showcase = np.load(test_latents)[[i for i in data["showcase"] if i < len(np.load(test_latents))]]
    showcase_path = os.path.join(out, "showcase_latents.npy")
    np.save(showcase_path, showcase.astype(np.float32))

    # 2. The plugin.
    log(f"{name}: training the plugin")
    plugin = os.path.join(out, "plugin.safetensors")
    train_opts = ["--epochs", "2"] if q else TRAIN[name]
    trained = plugen("train", "--latents", train_latents, "--labels", train_labels, "--schema", schema,
                     "--backbone", backbone, "--out", plugin, "--log", os.path.join(out, "train.jsonl"), *train_opts)

    # 3. The grid: classes x brightness, two rows (two style draws) per class.
    log(f"{name}: grid of conditional samples (rows: classes, columns: brightness low -> high)")
    plugen("grid", "--plugin", plugin, "--backbone", backbone, *kind, *steps, "--rows", "class", "--cols",
           "brightness", "--levels", 8, "--repeats", 2, "--seed", 7, "--scale", 2, "--out", os.path.join(out, "grid_class_brightness.png"),
           "--latents-out", os.path.join(out, "grid_latents.npy"))

    # 4. Edits of real test images (held-out samples for the GAN): one per class, every row one image.
    log(f"{name}: editing {'real test images' if real_test else 'held-out samples'} (class; brightness)")
    for attr, cols in (("class", 11), ("brightness", 9)):
        plugen("edit", "--plugin", plugin, "--latents", showcase_path, "--sweep", attr, "--levels", 8,
               "--out", os.path.join(out, f"edit_{attr}_latents.npy"), "--backbone", backbone, "--backbone-kind", name,
               "--grid", os.path.join(out, f"edit_{attr}.png"), "--grid-columns", cols, "--grid-scale", 3)

    # 5. Scores.
    log(f"{name}: scoring with the bundled classifier and the pixel scorer")
    report_path = os.path.join(out, "eval.json")
    common = ["--plugin", plugin, "--backbone", backbone, *kind, *steps, "--scorer", classifier, "--scorer", pixels]
    cond = plugen("eval", *common, "--sweep", "class", "--n", eval_n, "--seed", 11,
                  "--out", os.path.join(out, "eval_class.json"))
    cont = plugen("eval", *common, "--sweep", "brightness", "--sweep", "area", "--levels", 8, "--n", level_n,
                  "--seed", 12, "--out", os.path.join(out, "eval_continuous.json"))
    edits = plugen("eval", *common, "--latents", test_latents, "--edit-n", edit_n, "--edit-sweep", "class",
                   "--edit-sweep", "brightness", "--levels", 4, "--labels", test_labels,
                   *(["--inputs", os.path.join(out, "test_images.npy") if name == "diffusion" else data["test_images"]]
                     if real_test else []),
                   "--out", report_path)
    elapsed = time.time() - t0

    class_edits = [e for e in edits["edits"]["edits"] if e["edit"].startswith("class=")]
    bright_edits = [e for e in edits["edits"]["edits"] if e["edit"].startswith("brightness=")]
    mean = lambda xs: float(np.mean([x for x in xs if x is not None])) if any(x is not None for x in xs) else None
    ceiling_real = None
    if real_test:
        ceiling_real = attribute(edits.get("inputs_vs_labels"), "class").get("accuracy")
    result = {
        "backbone": name,
        "latents": "encoded real training images" if real_test else "auto-labelled prior samples",
        "train_rows": int(np.load(train_latents, mmap_mode="r").shape[0]),
        "conditional_class_accuracy": attribute(cond["conditional"]["attributes"], "class").get("accuracy"),
        "conditional_class_accuracy_per_class": attribute(cond["conditional"]["attributes"], "class").get("per_class"),
        "samples_per_class": eval_n,
        "brightness_pearson_r": attribute(cont["conditional"]["attributes"], "brightness").get("pearson_r"),
        "brightness_mae": attribute(cont["conditional"]["attributes"], "brightness").get("mae"),
        "area_pearson_r": attribute(cont["conditional"]["attributes"], "area").get("pearson_r"),
        "area_mae": attribute(cont["conditional"]["attributes"], "area").get("mae"),
        "samples_per_level": level_n,
        "diversity": cond["conditional"]["diversity"],
        "edit_success": edits["edits"]["success"],
        "edit_success_class": mean([e["success"] for e in class_edits]),
        "edit_success_brightness": mean([e["success"] for e in bright_edits]),
        "edit_preservation": edits["edits"]["preservation"],
        "edit_side_effects": edits["edits"]["side_effects"],
        "edited_latents": edit_n,
        "held_out_nll_per_dim": edits.get("nll_per_dim"),
        "roundtrip_max_abs": edits.get("roundtrip", {}).get("max_abs"),
        "ceiling_class_accuracy_reconstructions":
            attribute(edits.get("decoded_vs_labels"), "class").get("accuracy") if real_test else None,
        "ceiling_class_accuracy_real_test": ceiling_real,
        "train_seconds": trained.get("seconds"),
        "wall_seconds": round(elapsed, 1),
        "files": sorted(os.listdir(out)),
    }
    if name == "gan":
        result["note"] = ("no encoder: edits act on held-out prior samples, and their labels are the classifier's, so "
                          "there is no reconstruction ceiling")
    return result


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugen", default=os.path.join(ROOT, "build", "examples", "plugen"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "demo"))
    ap.add_argument("--data", default=os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--backbones", default=os.environ.get("PLUGEN_DEMO_BACKBONES", "vae"),
                    help="comma-separated: vae, gan, diffusion (env PLUGEN_DEMO_BACKBONES)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PLUGEN_NUM_THREADS", "1")),
                    help="LibTorch threads per plugen call (0: all cores; env PLUGEN_NUM_THREADS). Default 1: the "
                         "flow's small matrices gain little from more, and on a busy machine extra threads cost "
                         "far more than they give (an epoch measured 2.5 s with 1 thread, 90 s with 2)")
    ap.add_argument("--eval-n", type=int, default=500, help="conditional samples per class")
    ap.add_argument("--level-n", type=int, default=200, help="conditional samples per brightness/area level")
    ap.add_argument("--edit-n", type=int, default=500, help="held-out latents edited")
    ap.add_argument("--gan-n", type=int, default=30000, help="auto-labelled GAN latents")
    ap.add_argument("--diffusion-n", type=int, default=2000, help="training images inverted with DDIM")
    ap.add_argument("--ddim-steps", type=int, default=20, help="DDIM steps (diffusion)")
    ap.add_argument("--diffusion-eval-n", type=int, default=100,
                    help="diffusion: at most this many samples per class, per level, and edited images")
    ap.add_argument("--quick", action="store_true", help="a tiny run (seconds), to check the pipeline")
    args = ap.parse_args()
    backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    for b in backbones:
        if b not in TRAIN:
            raise SystemExit(f"--backbones: unknown backbone '{b}' (expected vae, gan, diffusion)")
    if not os.path.exists(args.plugen):
        raise SystemExit(f"--plugen {args.plugen}: not found (build first: ./run.sh build)")
    for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        if not os.path.exists(os.path.join(args.data, f)):
            raise SystemExit(f"{args.data}/{f}: not found (Debian package dataset-fashion-mnist)")

    t0 = time.time()
    plugen = Runner(args.plugen, args.threads)
    log("reading Fashion-MNIST (IDX)")
    data = prepare_data(os.path.join(args.out, "data"), args.data, 2000 if args.quick else 60000,
                        500 if args.quick else 10000)
    results = [run_backbone(b, plugen, data, args) for b in backbones]
    report = {"dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)", "quick": args.quick,
              "backbones": {r["backbone"]: r for r in results}, "wall_seconds": round(time.time() - t0, 1)}
    with open(os.path.join(args.out, "report.json") + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(os.path.join(args.out, "report.json") + ".tmp", os.path.join(args.out, "report.json"))

    cols = [("backbone", "backbone", "s"), ("class acc", "conditional_class_accuracy", ".3f"),
            ("ceiling recon", "ceiling_class_accuracy_reconstructions", ".3f"),
            ("ceiling real", "ceiling_class_accuracy_real_test", ".3f"),
            ("r bright", "brightness_pearson_r", ".3f"), ("r area", "area_pearson_r", ".3f"),
            ("edit class", "edit_success_class", ".3f"), ("edit bright", "edit_success_brightness", ".3f"),
            ("time s", "wall_seconds", ".0f")]
    print("  ".join(f"{c[0]:>13}" for c in cols))
    for r in results:
        print("  ".join(f"{fmt(r[c[1]], c[2]) if c[2] != 's' else r[c[1]]:>13}" for c in cols))
    print(f"wrote {args.out}/ (report.json, and per backbone: latents, labels, plugin, PNGs, eval JSON); "
          f"total {report['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()

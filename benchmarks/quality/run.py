#!/usr/bin/python3
"""The quality benchmark: plugen plugins against the linear-direction baseline and a retrained conditional
VAE, on the same latents and backbones, measured the same way. Writes docs/RESULTS.md (and the raw figures
as JSON under --out).

Tasks
  fmnist      the bundled Fashion-MNIST VAE (examples/models/fmnist_vae.pt): class, brightness, area;
              scored by the bundled classifier and the pixel formulas of examples/backbones/fmnist.py.
  morpho      Morpho-MNIST (../shared/data/morpho-mnist): the small VAE, digit classifier and thickness /
              intensity scorer of benchmarks/quality/models (train_morpho.py): digit, thickness, intensity.
  interfacegan the semi-synthetic task (8 InterFaceGAN directions in a 512-d N(0, I) space, y_k = [n_k.z > 0]),
              scored exactly by the directions.
Methods (rows)
  plugen RealNVP   `plugen train` with its defaults;
  plugen RealNVP large  (image tasks) `plugen train --couplings 6 --hidden 256 --layers 3 --epochs 30`;
  plugen NICE      `plugen train --flow nice` with the official PluGeN flow architecture (additive couplings,
                   alternating partitions, 4 couplings x 4 layers x 256 units, LeakyReLU 0.1, no LU layer,
                   no monotone step) and the same training schedule as the default;
  linear           `plugen baseline fit` (InterFaceGAN-style directions, benchmarks/../include/plugen/baseline);
  cVAE             benchmarks/quality/train_cvae.py (Fashion-MNIST only: it needs the images).
Label scarcity: the plugen default and the linear baseline again with 10% and 1% of the labels known (each
label cell kept with that probability), on fmnist and interfacegan.

Every plugen step runs through the `plugen` CLI with PLUGEN_NUM_THREADS=1; decoding and scoring run in
/usr/bin/python3 with one torch thread. Training cost is CPU seconds (user + system of the training process:
the machine is shared, so wall time would measure the other jobs too); wall seconds are listed as well.

Usage: /usr/bin/python3 benchmarks/quality/run.py [--plugen build/examples/plugen] [--out out/quality]
           [--tasks fmnist morpho interfacegan] [--results docs/RESULTS.md] [--quick]
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "examples", "backbones"))
import fmnist  # noqa: E402
import morpho  # noqa: E402

SEED = 1
NICE_ARGS = ["--flow", "nice", "--couplings", "4", "--layers", "4", "--hidden", "256", "--activation", "leaky_relu",
             "--linear", "none", "--monotone", "false", "--partition", "alternating"]
LARGE_ARGS = ["--couplings", "6", "--hidden", "256", "--layers", "3", "--epochs", "30"]
TASK_TOLERANCE = {"fmnist": 0.05, "morpho": 0.3}  # rare joint accuracy: brightness / thickness within this
TASK_ATTRS = {"fmnist": ("class", ["brightness", "area"]), "morpho": ("digit", ["thickness", "intensity"])}
IFG_ATTRS = ["Heavy_Makeup", "Wearing_Lipstick", "Male", "Smiling", "Eyeglasses", "Young", "Bald", "Wearing_Hat"]


# ---------------------------------------------------------------------------------------------- running

def run(cmd, log):
    """Runs a command; returns (stdout, wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    env = dict(os.environ, PLUGEN_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{r.stderr[-2000:]}\n")
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout, wall, cpu


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sets_of(conds):
    return [x for k, v in conds.items() for x in ("--set", f"{k}={v}")]


class CliMethod:
    """A conditioner trained and used through the plugen CLI: a plugin (`plugen train/sample/edit`) or the
    linear baseline (`plugen baseline fit/sample/edit`)."""

    def __init__(self, name, plugen, work, kind, extra=()):
        self.name, self.plugen, self.work, self.kind, self.extra = name, plugen, work, kind, list(extra)
        self.log = os.path.join(work, "commands.log")
        self.file = None
        self.counter = 0

    def tmp(self, tag):
        self.counter += 1
        return os.path.join(self.work, f"{self.slug}_{tag}_{self.counter}.npy")

    def fit(self, latents, labels, schema, slug):
        self.slug = slug
        self.file = os.path.join(self.work, f"{slug}.safetensors")
        if self.kind == "plugin":
            cmd = [self.plugen, "train", "--latents", latents, "--labels", labels, "--schema", schema, "--quiet",
                   "--seed", str(SEED), "--out", self.file, *self.extra]
        else:
            cmd = [self.plugen, "baseline", "fit", "--latents", latents, "--labels", labels, "--schema", schema,
                   "--out", self.file, *self.extra]
        _, wall, cpu = run(cmd, self.log)
        return {"train_wall_seconds": wall, "train_cpu_seconds": cpu}

    def sample(self, conds, n, seed):
        out = self.tmp("sample")
        if self.kind == "plugin":
            cmd = [self.plugen, "sample", "--plugin", self.file, "--ood", "allow"]
        else:
            cmd = [self.plugen, "baseline", "sample", "--baseline", self.file]
        run(cmd + ["-n", str(n), "--seed", str(seed), "--out", out, *sets_of(conds)], self.log)
        return np.load(out)

    def edit(self, latents, conds, shift=False):
        src, dst = self.tmp("src"), self.tmp("dst")
        np.save(src, latents.astype(np.float32))
        if self.kind == "plugin":
            cmd = [self.plugen, "edit", "--plugin", self.file, "--ood", "allow"]
        else:
            cmd = [self.plugen, "baseline", "edit", "--baseline", self.file]
        run(cmd + ["--latents", src, "--out", dst, *sets_of(conds)] + (["--shift"] if shift else []), self.log)
        return np.load(dst)


def methods_for(plugen, work, fractions, large=False):
    """(method factory, label fraction) rows of a task: all methods at 100%, default plugen and linear below;
    with `large`, also a larger RealNVP trained longer at 100%."""
    rows = []
    for f in fractions:
        rows.append(("plugen RealNVP", f, lambda: CliMethod("plugen RealNVP", plugen, work, "plugin")))
        if f == 1.0 and large:
            rows.append(("plugen RealNVP large", f,
                         lambda: CliMethod("plugen RealNVP large", plugen, work, "plugin", LARGE_ARGS)))
        if f == 1.0:
            rows.append(("plugen NICE", f, lambda: CliMethod("plugen NICE", plugen, work, "plugin", NICE_ARGS)))
        rows.append(("linear", f, lambda: CliMethod("linear", plugen, work, "linear")))
    return rows


def scarce_mask(shape, fraction, seed):
    if fraction >= 1.0:
        return np.ones(shape, dtype=bool)
    return np.random.default_rng(seed).random(shape) < fraction


def pearson(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


# ------------------------------------------------------------------------------------- image tasks

class ImageTask:
    """A backbone + scorers + labelled latents: one categorical attribute (`cls`, scored by a classifier)
    and continuous attributes (scored by re-measuring the decoded image)."""

    def __init__(self, name, cls, classes, continuous, decode, score, train_w, train_y, test_w, sizes):
        self.name, self.cls, self.classes, self.continuous = name, cls, classes, continuous
        self.decode, self.score = decode, score
        self.train_w, self.train_y, self.test_w, self.sizes = train_w, train_y, test_w, sizes

    def schema(self):
        attrs = [{"name": self.cls, "kind": "categorical", "classes": self.classes}]
        attrs += [{"name": c, "kind": "continuous"} for c in self.continuous]
        return {"attributes": attrs}

    def measure(self, latents):
        """Scorer labels of decoded latents: {cls: class index, continuous name: value} and the images."""
        images = []
        with torch.no_grad():
            for i in range(0, latents.shape[0], 500):
                images.append(self.decode(torch.from_numpy(np.ascontiguousarray(latents[i:i + 500], np.float32))))
        x = torch.cat(images) if images else torch.zeros(0, 1, 28, 28)
        return self.score(x), x

    def value_text(self, attr, v):
        return self.classes[int(v)] if attr == self.cls else f"{v:.6g}"


def write_task_files(task, work, fraction):
    """Latents, schema and (scarce) labels CSV of a task; returns their paths."""
    latents = os.path.join(work, "train_latents.npy")
    if not os.path.exists(latents):
        np.save(latents, task.train_w.astype(np.float32))
    schema = os.path.join(work, "schema.json")
    with open(schema, "w") as f:
        json.dump(task.schema(), f)
    names = [task.cls] + task.continuous
    mask = scarce_mask((task.train_w.shape[0], len(names)), fraction, SEED + 17)
    labels = os.path.join(work, f"labels_{int(round(fraction * 100))}.csv")
    with open(labels, "w") as f:
        f.write(",".join(names) + "\n")
        for r in range(task.train_w.shape[0]):
            f.write(",".join(task.value_text(a, task.train_y[a][r]) if mask[r, k] else ""
                             for k, a in enumerate(names)) + "\n")
    return latents, labels, schema


class CvaeMethod:
    """The retrained conditional VAE: conditions go in directly; attributes a request leaves open are taken
    from training images that match the request (the nearest in the requested continuous values)."""

    name = "cVAE (retrained)"

    def __init__(self, model_path, task):
        self.m = torch.jit.load(model_path).eval()
        self.task = task
        self.record = json.load(open(os.path.splitext(model_path)[0] + ".json"))

    def complete(self, conds, n, rng):
        t = self.task
        y = t.train_y
        rows = np.arange(t.train_w.shape[0])
        if t.cls in conds:
            rows = rows[y[t.cls][rows] == t.classes.index(conds[t.cls])]
        cont = [c for c in t.continuous if c in conds]
        if cont:
            d = sum(np.abs(y[c][rows] - conds[c]) / (y[c].std() + 1e-12) for c in cont)
            rows = rows[np.argsort(d)[:200]]
        pick = rng.choice(rows, n)
        cls = np.array([t.classes.index(conds[t.cls])] * n) if t.cls in conds else y[t.cls][pick]
        vals = {c: np.full(n, conds[c], np.float32) if c in conds else y[c][pick] for c in t.continuous}
        return cls, vals

    def decode(self, z, cls, vals):
        c = self.m.condition(torch.from_numpy(np.asarray(cls, np.int64)),
                             torch.from_numpy(np.asarray(vals["brightness"], np.float32)),
                             torch.from_numpy(np.asarray(vals["area"], np.float32)))
        with torch.no_grad():
            return torch.cat([self.m.decode(z[i:i + 500], c[i:i + 500]) for i in range(0, z.shape[0], 500)])

    def sample_images(self, conds, n, seed):
        rng = np.random.default_rng(seed)
        cls, vals = self.complete(conds, n, rng)
        z = torch.randn(n, self.m.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.decode(z, cls, vals)


def evaluate_image_task(task, method, sizes, seed, cvae_ref=None):
    """Conditional generation, continuous control, rare combinations and edits of one method (a CliMethod
    or a CvaeMethod) on an ImageTask."""
    t = task
    res = {}
    is_cvae = isinstance(method, CvaeMethod)

    def images_for(conds, n, s):
        if is_cvae:
            x = method.sample_images(conds, n, s)
            return t.score(x), x
        return t.measure(method.sample(conds, n, s))

    # 1. Conditional class accuracy: every class, other attributes free.
    correct, total, per_class = 0, 0, {}
    for k, name in enumerate(t.classes):
        m, _ = images_for({t.cls: name}, sizes["cond"], seed + k)
        acc = float(np.mean(m[t.cls] == k))
        per_class[name] = acc
        correct += acc * sizes["cond"]
        total += sizes["cond"]
    res["class_accuracy"] = correct / total
    res["class_accuracy_per_class"] = per_class

    # 2. Continuous control: 5 levels at training percentiles 10..90, other attributes free.
    for c in t.continuous:
        req, got = [], []
        for j, q in enumerate((10, 30, 50, 70, 90)):
            v = float(np.percentile(t.train_y[c], q))
            m, _ = images_for({c: v}, sizes["level"], seed + 100 + j)
            req += [v] * sizes["level"]
            got += list(m[c])
        res[f"{c}_r"] = pearson(req, got)
        res[f"{c}_mae"] = float(np.mean(np.abs(np.array(req) - np.array(got))))

    # 3. Rare combinations: each class with the first continuous attribute at that class's 3rd and 97th
    #    percentile. Joint success: right class and the value within `tol` of the request.
    c0 = t.continuous[0]
    tol = sizes["tolerance"]
    ok_cls, ok_joint, errs = [], [], []
    for k, name in enumerate(t.classes):
        vals = t.train_y[c0][t.train_y[t.cls] == k]
        for j, q in enumerate((3, 97)):
            v = float(np.percentile(vals, q))
            m, _ = images_for({t.cls: name, c0: v}, sizes["rare"], seed + 200 + 2 * k + j)
            ok_cls += list(m[t.cls] == k)
            errs += list(np.abs(m[c0] - v))
            ok_joint += list((m[t.cls] == k) & (np.abs(m[c0] - v) <= tol))
    res["rare_class_accuracy"] = float(np.mean(ok_cls))
    res[f"rare_{c0}_mae"] = float(np.mean(errs))
    res["rare_joint_accuracy"] = float(np.mean(ok_joint))

    # 4. Edits of held-out latents (cVAE: held-out images encoded with their measured condition).
    w = t.test_w[:sizes["edit"]]
    if is_cvae:
        x0 = method.task.test_images[:sizes["edit"]]
        m0 = t.score(x0)
        cls0 = m0[t.cls]
        vals0 = {c: m0[c] for c in t.continuous}
        cond0 = method.m.condition(torch.from_numpy(cls0.astype(np.int64)), torch.from_numpy(vals0["brightness"]),
                                   torch.from_numpy(vals0["area"]))
        with torch.no_grad():
            z0 = method.m.encode(x0, cond0)
        before = method.decode(z0, cls0, vals0)
        m_before = t.score(before)
    else:
        m_before, before = t.measure(w)
    # 4a. Class edit: each latent to the class after the one the classifier reads in its decoded image.
    target = (m_before[t.cls] + 1) % len(t.classes)
    if is_cvae:
        after = method.decode(z0, target, vals0)
        m_after = t.score(after)
    else:
        edited = np.empty_like(w)
        for k, name in enumerate(t.classes):
            rows = np.where(target == k)[0]
            if rows.size:
                edited[rows] = method.edit(w[rows], {t.cls: name})
        m_after, after = t.measure(edited)
    res["class_edit_success"] = float(np.mean(m_after[t.cls] == target))
    for c in t.continuous:
        res[f"class_edit_side_{c}"] = float(np.mean(np.abs(m_after[c] - m_before[c])))
    # 4b. Continuous edit of c0: shift by d coordinate units (d * (max - min) / 2 in label units) up for the
    #     latents below the training median, down for the others. Success: the measured value moved in that
    #     direction by at least half the requested change.
    d = sizes["shift"]
    lo, hi = float(t.train_y[c0].min()), float(t.train_y[c0].max())
    delta = d * (hi - lo) / 2
    up = m_before[c0] < np.median(t.train_y[c0])
    if is_cvae:
        vals1 = dict(vals0)
        vals1[c0] = vals0[c0] + np.where(up, delta, -delta).astype(np.float32)
        after = method.decode(z0, cls0, vals1)
        m_after = t.score(after)
    else:
        edited = np.empty_like(w)
        for sign, rows in ((1, np.where(up)[0]), (-1, np.where(~up)[0])):
            if rows.size:
                edited[rows] = method.edit(w[rows], {c0: sign * d}, shift=True)
        m_after, after = t.measure(edited)
    moved = (m_after[c0] - m_before[c0]) * np.where(up, 1, -1)
    res[f"{c0}_edit_success"] = float(np.mean(moved >= 0.5 * delta))
    res[f"{c0}_edit_side_{t.cls}_changed"] = float(np.mean(m_after[t.cls] != m_before[t.cls]))
    for c in t.continuous[1:]:
        res[f"{c0}_edit_side_{c}"] = float(np.mean(np.abs(m_after[c] - m_before[c])))
    res[f"{c0}_edit_pixel_l1"] = float((after - before).abs().mean())
    return res


def fmnist_task(work, sizes):
    vae = torch.jit.load(os.path.join(ROOT, "examples", "models", "fmnist_vae.pt")).eval()
    clf = torch.jit.load(os.path.join(ROOT, "examples", "models", "fmnist_classifier.pt")).eval()
    cache = os.path.join(work, "encoded.npz")
    xtr, ytr = fmnist.load_split("train")
    xte, yte = fmnist.load_split("test")
    if not os.path.exists(cache):
        progress("fmnist: encoding the training and test splits with the bundled VAE")
        with torch.no_grad():
            enc = lambda x: torch.cat([vae.encode(x[i:i + 1000]) for i in range(0, x.shape[0], 1000)]).numpy()
            np.savez(cache, train=enc(xtr), test=enc(xte[:sizes["edit"]]))
    z = np.load(cache)
    atr, btr = fmnist.attributes(xtr)
    train_y = {"class": ytr.numpy(), "brightness": btr.numpy(), "area": atr.numpy()}

    def score(x):
        with torch.no_grad():
            logits = torch.cat([clf(x[i:i + 1000]) for i in range(0, x.shape[0], 1000)]) if x.shape[0] else \
                torch.zeros(0, 10)
        a, b = fmnist.attributes(x)
        return {"class": logits.argmax(1).numpy(), "brightness": b.numpy(), "area": a.numpy()}

    task = ImageTask("fmnist", "class", list(fmnist.CLASS_NAMES), ["brightness", "area"], vae.decode, score,
                     z["train"][:sizes["train"]], {k: v[:sizes["train"]] for k, v in train_y.items()}, z["test"],
                     sizes)
    task.test_images = xte[:sizes["edit"]]
    # The ceiling: the classifier on the VAE's reconstructions of held-out images.
    with torch.no_grad():
        n = 2000
        rec = torch.cat([vae.decode(vae.encode(xte[i:i + 500])) for i in range(0, n, 500)])
    task.ceiling = {"class_accuracy_on_reconstructions": float(np.mean(score(rec)["class"] == yte[:n].numpy())),
                    "class_accuracy_on_real_images": float(np.mean(score(xte[:n])["class"] == yte[:n].numpy())),
                    "rows": n}
    return task


def morpho_task(work, sizes, models):
    vae = torch.jit.load(os.path.join(models, "morpho_vae.pt")).eval()
    clf = torch.jit.load(os.path.join(models, "morpho_classifier.pt")).eval()
    scorer = torch.jit.load(os.path.join(models, "morpho_scorer.pt")).eval()
    x, digit, thickness, intensity = morpho.load()
    n = morpho.TRAIN_ROWS
    with torch.no_grad():
        enc = lambda v: torch.cat([vae.encode(v[i:i + 1000]) for i in range(0, v.shape[0], 1000)]).numpy()
        ztr, zte = enc(x[:n]), enc(x[n:])

    def score(images):
        with torch.no_grad():
            if images.shape[0] == 0:
                return {"digit": np.zeros(0, np.int64), "thickness": np.zeros(0), "intensity": np.zeros(0)}
            logits = torch.cat([clf(images[i:i + 1000]) for i in range(0, images.shape[0], 1000)])
            s = torch.cat([scorer(images[i:i + 1000]) for i in range(0, images.shape[0], 1000)])
        return {"digit": logits.argmax(1).numpy(), "thickness": s[:, 0].numpy(), "intensity": s[:, 1].numpy()}

    train_y = {"digit": digit[:n].numpy(), "thickness": thickness[:n].numpy(), "intensity": intensity[:n].numpy()}
    task = ImageTask("morpho", "digit", list(morpho.CLASS_NAMES), ["thickness", "intensity"], vae.decode, score,
                     ztr, train_y, zte, sizes)
    with torch.no_grad():
        rec = vae.decode(vae.encode(x[n:]))
    s_rec, s_real = score(rec), score(x[n:])
    task.ceiling = {"digit_accuracy_on_reconstructions": float(np.mean(s_rec["digit"] == digit[n:].numpy())),
                    "digit_accuracy_on_real_images": float(np.mean(s_real["digit"] == digit[n:].numpy())),
                    "thickness_r_on_real_images": pearson(s_real["thickness"], thickness[n:]),
                    "intensity_r_on_real_images": pearson(s_real["intensity"], intensity[n:]),
                    "rows": int(x.shape[0] - n)}
    return task


def run_image_task(task, plugen, work, fractions, sizes, cvae=None):
    rows = []
    for name, fraction, make in methods_for(plugen, work, fractions, large=True):
        progress(f"{task.name}: {name}, {fraction:.0%} labels")
        latents, labels, schema = write_task_files(task, work, fraction)
        method = make()
        cost = method.fit(latents, labels, schema, f"{name.replace(' ', '_')}_{int(round(fraction * 100))}")
        res = evaluate_image_task(task, method, sizes, SEED * 1000)
        rows.append({"method": name, "labels": fraction, **cost, **res})
        progress(f"{task.name}: {name}: " + json.dumps({k: round(v, 3) for k, v in rows[-1].items()
                                                        if isinstance(v, float)}))
    if cvae is not None:
        progress(f"{task.name}: retrained cVAE")
        res = evaluate_image_task(task, cvae, sizes, SEED * 1000)
        rows.append({"method": cvae.name, "labels": 1.0, "train_wall_seconds": cvae.record["train_seconds"],
                     "train_cpu_seconds": cvae.record["train_cpu_seconds"], **res})
    return rows


# ------------------------------------------------------------------------------------ interfacegan

def run_interfacegan(plugen, work, fractions, sizes):
    data = os.path.join(ROOT, "..", "shared", "data", "interfacegan-boundaries")
    dirs = np.stack([np.load(os.path.join(data, f"boundary_{a}.npy")).reshape(-1) for a in IFG_ATTRS]).astype(np.float64)
    rng = np.random.default_rng(SEED)
    z_train = rng.standard_normal((sizes["ifg_train"], 512)).astype(np.float32)
    z_test = rng.standard_normal((sizes["ifg_test"], 512)).astype(np.float32)
    truth = lambda z: (z.astype(np.float64) @ dirs.T > 0).astype(np.int64)
    y_train, y_test = truth(z_train), truth(z_test)
    latents = os.path.join(work, "train.npy")
    np.save(latents, z_train)
    schema = os.path.join(work, "schema.json")
    with open(schema, "w") as f:
        json.dump({"attributes": [{"name": a, "kind": "binary"} for a in IFG_ATTRS]}, f)
    rare_fraction = float(np.mean((y_train[:, 0] == 1) & (y_train[:, 1] == 0)))
    requests = {"makeup+lipstick": {"Heavy_Makeup": 1, "Wearing_Lipstick": 1},
                "makeup+no lipstick (rare)": {"Heavy_Makeup": 1, "Wearing_Lipstick": 0},
                "male+smiling+glasses": {"Male": 1, "Smiling": 1, "Eyeglasses": 1}}
    rows = []
    for name, fraction, make in methods_for(plugen, work, fractions):
        progress(f"interfacegan: {name}, {fraction:.0%} labels")
        mask = scarce_mask(y_train.shape, fraction, SEED + 17)
        labels = os.path.join(work, f"labels_{int(round(fraction * 100))}.csv")
        with open(labels, "w") as f:
            f.write(",".join(IFG_ATTRS) + "\n")
            for row, m in zip(y_train, mask):
                f.write(",".join(str(int(v)) if k else "" for v, k in zip(row, m)) + "\n")
        method = make()
        res = {"method": name, "labels": fraction,
               **method.fit(latents, labels, schema, f"{name.replace(' ', '_')}_{int(round(fraction * 100))}")}
        for r, (rname, req) in enumerate(requests.items()):
            y = truth(method.sample(req, sizes["ifg_sample"], SEED * 1000 + r))
            res[f"joint: {rname}"] = float(np.mean(np.all([y[:, IFG_ATTRS.index(k)] == v for k, v in req.items()], 0)))
        s = IFG_ATTRS.index("Smiling")
        edited = np.empty_like(z_test)
        for value in (0, 1):
            rows_v = np.where(y_test[:, s] == 1 - value)[0]
            edited[rows_v] = method.edit(z_test[rows_v], {"Smiling": value})
        y_edit = truth(edited)
        others = [k for k in range(len(IFG_ATTRS)) if k != s]
        res["smiling_flip"] = float(np.mean(y_edit[:, s] != y_test[:, s]))
        res["others_unchanged"] = float(np.mean(y_edit[:, others] == y_test[:, others]))
        res["others_changed_per_attribute"] = {IFG_ATTRS[k]: float(np.mean(y_edit[:, k] != y_test[:, k]))
                                               for k in others}
        rows.append(res)
        progress("interfacegan: " + json.dumps({k: round(v, 3) for k, v in res.items() if isinstance(v, float)}))
    return {"rows": rows, "rare_fraction_in_training": rare_fraction}


# ----------------------------------------------------------------------------------------- report

def fmt(v, digits=3):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def image_table(rows, name):
    cls, (c0, c1) = TASK_ATTRS[name]
    cols = [("method", lambda r: r["method"]), ("labels", lambda r: f"{r['labels']:.0%}"),
            ("train CPU s", lambda r: fmt(r["train_cpu_seconds"], 1)), ("train wall s", lambda r: fmt(r["train_wall_seconds"], 1)),
            (f"{cls} acc", lambda r: fmt(r["class_accuracy"])), (f"{c0} r", lambda r: fmt(r[f"{c0}_r"])),
            (f"{c1} r", lambda r: fmt(r[f"{c1}_r"])), (f"{c0} MAE", lambda r: fmt(r[f"{c0}_mae"])),
            (f"{c1} MAE", lambda r: fmt(r[f"{c1}_mae"])),
            (f"rare {cls} acc", lambda r: fmt(r["rare_class_accuracy"])),
            (f"rare joint acc", lambda r: fmt(r["rare_joint_accuracy"])),
            (f"{cls} edit success", lambda r: fmt(r["class_edit_success"])),
            (f"{cls} edit: abs change {c0} / {c1}", lambda r: f"{fmt(r[f'class_edit_side_{c0}'])} / {fmt(r[f'class_edit_side_{c1}'])}"),
            (f"{c0} edit success", lambda r: fmt(r[f"{c0}_edit_success"])),
            (f"{c0} edit: {cls} changed / abs change {c1}",
             lambda r: f"{fmt(r[f'{c0}_edit_side_{cls}_changed'])} / {fmt(r[f'{c0}_edit_side_{c1}'])}"),
            (f"{c0} edit pixel L1", lambda r: fmt(r[f"{c0}_edit_pixel_l1"]))]
    out = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f(r) for _, f in cols) + " |")
    return "\n".join(out)


def ifg_table(rows):
    keys = [k for k in rows[0] if k.startswith("joint: ")]
    cols = ["method", "labels", "train CPU s", "train wall s"] + [k[len("joint: "):] for k in keys] + \
        ["Smiling flip", "others unchanged"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join([r["method"], f"{r['labels']:.0%}", fmt(r["train_cpu_seconds"], 1),
                                      fmt(r["train_wall_seconds"], 1)] + [fmt(r[k]) for k in keys] +
                                     [fmt(r["smiling_flip"]), fmt(r["others_unchanged"])]) + " |")
    return "\n".join(out)


def find(rows, method, labels=1.0):
    for r in rows:
        if r["method"] == method and abs(r["labels"] - labels) < 1e-9:
            return r
    return None


def verdicts(results):
    lines = []

    def line(ok, text):
        lines.append(f"- {'met' if ok else 'NOT met'}: {text}")

    if "interfacegan" in results:
        rows = results["interfacegan"]["rows"]
        p, l = find(rows, "plugen RealNVP"), find(rows, "linear")
        rare = "joint: makeup+no lipstick (rare)"
        line(p["others_unchanged"] > l["others_unchanged"],
             f"semi-synthetic, edit side effects: plugen keeps {p['others_unchanged']:.3f} of the other attributes "
             f"when flipping Smiling, linear {l['others_unchanged']:.3f}")
        line(p[rare] > l[rare], f"semi-synthetic, rare combination: plugen {p[rare]:.3f}, linear {l[rare]:.3f}")
    if "fmnist" in results:
        rows = results["fmnist"]["rows"]
        p, l, c = find(rows, "plugen RealNVP"), find(rows, "linear"), find(rows, CvaeMethod.name)
        ps = p["class_edit_side_brightness"] + p["class_edit_side_area"]
        ls = l["class_edit_side_brightness"] + l["class_edit_side_area"]
        line(ps < ls, f"Fashion-MNIST, class-edit side effects (abs change of brightness + area): plugen {ps:.4f}, "
                      f"linear {ls:.4f}")
        line(p["brightness_edit_side_class_changed"] < l["brightness_edit_side_class_changed"],
             f"Fashion-MNIST, brightness-edit side effects (class changed): plugen "
             f"{p['brightness_edit_side_class_changed']:.3f}, linear {l['brightness_edit_side_class_changed']:.3f}")
        line(p["rare_joint_accuracy"] > l["rare_joint_accuracy"],
             f"Fashion-MNIST, rare class x brightness combinations (joint accuracy): plugen "
             f"{p['rare_joint_accuracy']:.3f}, linear {l['rare_joint_accuracy']:.3f}")
        for variant in ("plugen RealNVP", "plugen RealNVP large"):
            q = find(rows, variant)
            if not (c and q):
                continue
            gap = c["class_accuracy"] - q["class_accuracy"]
            ratio = c["train_cpu_seconds"] / max(q["train_cpu_seconds"], 1e-9)
            line(gap <= 0.05, f"Fashion-MNIST, {variant}: conditional class accuracy within 0.05 of the retrained "
                              f"cVAE: {q['class_accuracy']:.3f} against {c['class_accuracy']:.3f} (gap {gap:+.3f})")
            line(ratio >= 10, f"Fashion-MNIST, {variant}: training cost at least 10x lower: "
                              f"{q['train_cpu_seconds']:.0f} CPU s against {c['train_cpu_seconds']:.0f} CPU s "
                              f"({ratio:.1f}x)")
    return "\n".join(lines)


def write_results(path, results, meta):
    md = ["# plugen quality results", "",
          "Generated by `benchmarks/quality/run.py`; do not edit by hand. Rerun the command below to refresh it.", "",
          f"- Command: `{meta['command']}`",
          f"- Date: {meta['date']}; total wall time {meta['wall_seconds'] / 60:.1f} min",
          f"- Machine: {meta['machine']}",
          f"- Seeds: benchmark seed {SEED} (data draws, plugin training `--seed`, sampling seeds derived from it); "
          f"label masks seed {SEED + 17}",
          f"- Sizes: {json.dumps(meta['sizes'])}",
          "- Threads: plugen with PLUGEN_NUM_THREADS=1, Python scoring with one torch thread. Training cost is "
          "CPU seconds of the training process (the machine is shared; wall seconds are also listed).",
          f"- Methods: plugen RealNVP = `plugen train` defaults; plugen NICE = `plugen train {' '.join(NICE_ARGS)}` "
          "(the official PluGeN flow architecture, default training schedule); plugen RealNVP large (image "
          f"tasks) = `plugen train {' '.join(LARGE_ARGS)}`; linear = `plugen baseline fit` "
          "(logistic / one-vs-rest / least squares on standardized latents, edits along the normals); cVAE = "
          "`benchmarks/quality/train_cvae.py` (the bundled VAE's architecture, conditioned on class, brightness "
          "and area, trained from scratch).", ""]
    md += ["## Acceptance checks", "", verdicts(results), ""]
    if "fmnist" in results:
        f = results["fmnist"]
        md += ["## Fashion-MNIST, bundled VAE (64-d latent)", "",
               f"Ceiling: the bundled classifier reads {f['ceiling']['class_accuracy_on_reconstructions']:.3f} of "
               f"the VAE's reconstructions of {f['ceiling']['rows']} test images correctly "
               f"({f['ceiling']['class_accuracy_on_real_images']:.3f} on the real images).", ""]
        if f.get("cvae"):
            command = f["cvae"]["command"].replace(ROOT + os.sep, "")
            md += [f"cVAE: {f['cvae']['epochs']} epochs, command `{command}`, "
                   f"{f['cvae']['train_cpu_seconds']:.0f} CPU s / {f['cvae']['train_seconds']:.0f} wall s, test "
                   f"reconstruction MSE {f['cvae']['test_recon_mse']:.5f}; {f['cvae_status']}. The bundled "
                   "unconditional VAE itself (the backbone every other row reuses) took 2,119 s of training "
                   "(docs/MODEL_CARD.md).", ""]
        md += [image_table(f["rows"], "fmnist"), ""]
    if "morpho" in results:
        f = results["morpho"]
        md += ["## Morpho-MNIST, small VAE (32-d latent)", "",
               f"Models: benchmarks/quality/models (train_morpho.py; figures in morpho_models.json). Ceiling: the "
               f"digit classifier reads {f['ceiling']['digit_accuracy_on_reconstructions']:.3f} of the VAE's "
               f"reconstructions of the {f['ceiling']['rows']} held-out images correctly "
               f"({f['ceiling']['digit_accuracy_on_real_images']:.3f} on the real images); the re-measured "
               f"thickness and intensity correlate {f['ceiling']['thickness_r_on_real_images']:.3f} and "
               f"{f['ceiling']['intensity_r_on_real_images']:.4f} with the data set's values on real images "
               "(formulas in benchmarks/quality/morpho.py).", "", image_table(f["rows"], "morpho"), ""]
    if "interfacegan" in results:
        f = results["interfacegan"]
        md += ["## Semi-synthetic InterFaceGAN task (512-d, 8 binary attributes)", "",
               f"Joint accuracy of conditional samples (every requested attribute right, by the true directions), "
               f"Smiling flip of held-out latents and the fraction of the 7 other attributes unchanged. The rare "
               f"request occurs in {f['rare_fraction_in_training']:.3f} of the training latents.", "",
               ifg_table(f["rows"]), ""]
    sz = meta["sizes"]
    md += ["## How to read the tables", "",
           f"- `acc`: the classifier reads the requested class (digit) in the decoded sample; {sz['cond']} samples "
           f"per class, the other attributes left to the method. `r` / `MAE`: requested against re-measured values, "
           f"five requested levels at the training percentiles 10, 30, ..., 90, {sz['level']} samples each.",
           f"- rare: each class with the first continuous attribute at that class's own 3rd and 97th percentile, "
           f"{sz['rare']} samples per request; joint = right class and the re-measured value within "
           f"{TASK_TOLERANCE['fmnist']} (brightness) or {TASK_TOLERANCE['morpho']} (thickness) of the request.",
           f"- edits of {sz['edit']} held-out latents: class edit to the next "
           "class after the one the classifier reads (success: it reads the new one; side effects: mean absolute "
           f"change of the continuous attributes); continuous edit by a shift of {sz['shift']} coordinate units "
           "(x (max - min) / 2 in label units), up for values below the training median and down for the others "
           "(success: moved that way by at least half the request; side effects: class changed, change of the "
           "other attribute; pixel L1: mean absolute pixel change between the decoded images before and after).",
           "- The cVAE is conditioned directly: what a request leaves open comes from training images matching "
           "the request; its edits encode the held-out image with its measured condition and decode with the new "
           "one.", ""]
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write("\n".join(md))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plugen", default=os.path.join(ROOT, "build", "examples", "plugen"))
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "quality"))
    ap.add_argument("--results", default=os.path.join(ROOT, "docs", "RESULTS.md"))
    ap.add_argument("--tasks", nargs="+", default=["interfacegan", "fmnist", "morpho"])
    ap.add_argument("--cvae", default=None, help="cVAE model (default: OUT/fmnist_cvae.pt, trained if missing)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the pipeline (not for results)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite --results from the figures of the last run (OUT/results.json)")
    args = ap.parse_args()
    if args.render:
        with open(os.path.join(args.out, "results.json")) as f:
            saved = json.load(f)
        write_results(args.results, saved["results"], saved["meta"])
        progress(f"wrote {args.results} from {os.path.join(args.out, 'results.json')}")
        return
    torch.set_num_threads(1)
    t0 = time.time()
    sizes = {"cond": 200, "level": 100, "rare": 50, "edit": 500, "tolerance": TASK_TOLERANCE["fmnist"], "shift": 0.3,
             "fmnist_train": 60000, "ifg_train": 20000, "ifg_test": 2000, "ifg_sample": 1000,
             "label_fractions": [1.0, 0.1, 0.01]}
    if args.quick:
        sizes.update(cond=20, level=10, rare=5, edit=50, fmnist_train=3000, ifg_train=2000, ifg_test=200,
                     ifg_sample=100, label_fractions=[1.0, 0.1])
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for name in args.tasks:
        work = os.path.join(args.out, name)
        os.makedirs(work, exist_ok=True)
        if name == "interfacegan":
            results[name] = run_interfacegan(args.plugen, work, sizes["label_fractions"], sizes)
        elif name == "fmnist":
            s = dict(sizes, train=sizes["fmnist_train"])
            task = fmnist_task(work, s)
            cvae_path = args.cvae or os.path.join(args.out, "fmnist_cvae.pt")
            status = "reused from an earlier run of the script (its recorded training time)"
            if not os.path.exists(cvae_path):
                progress("fmnist: training the cVAE (train_cvae.py)")
                subprocess.run([sys.executable, os.path.join(HERE, "train_cvae.py"), "--out", cvae_path], check=True)
                status = "trained in this run"
            cvae = CvaeMethod(cvae_path, task)
            rows = run_image_task(task, args.plugen, work, sizes["label_fractions"], s, cvae)
            results[name] = {"rows": rows, "ceiling": task.ceiling, "cvae": cvae.record, "cvae_status": status}
        elif name == "morpho":
            models = os.path.join(HERE, "models")
            if not os.path.exists(os.path.join(models, "morpho_vae.pt")):
                progress("morpho: training the models (train_morpho.py)")
                subprocess.run([sys.executable, os.path.join(HERE, "train_morpho.py"), "--out", models], check=True)
            s = dict(sizes, train=morpho.TRAIN_ROWS, edit=min(sizes["edit"], 1000), tolerance=TASK_TOLERANCE["morpho"])
            task = morpho_task(work, s, models)
            rows = run_image_task(task, args.plugen, work, [1.0], s)
            results[name] = {"rows": rows, "ceiling": task.ceiling}
        else:
            raise SystemExit(f"unknown task '{name}' (expected fmnist, morpho, interfacegan)")
    meta = {"command": " ".join(["/usr/bin/python3", "benchmarks/quality/run.py"] + sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
                       f"load average at the end {os.getloadavg()[0]:.1f}, torch {torch.__version__}",
            "sizes": sizes, "wall_seconds": time.time() - t0}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1, default=float)
    write_results(args.results, results, meta)
    progress(f"wrote {args.results} ({(time.time() - t0) / 60:.1f} min)")


if __name__ == "__main__":
    main()

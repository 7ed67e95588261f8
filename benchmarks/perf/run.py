#!/usr/bin/env python3
"""Side-by-side performance benchmark: plugen (benchmarks/perf/perf.cpp, built as plugen_bench) and the PyTorch
reference of the official PluGeN setup (benchmarks/perf/reference.py), back to back on the same data with the
same, explicitly set thread count. Appends the JSON lines of both to OUT/results.jsonl (after a header line
describing the run) and regenerates the table in benchmarks/README.md from them (benchmarks/perf/table.py).

  ./run.sh build && cmake --build build --target plugen_bench
  /usr/bin/python3 benchmarks/perf/run.py [--threads 1] [--rounds 5] [--blas env|openblas] [--build build]
                                         [--out out/bench/perf] [--quick]

Both sides load the same OpenBLAS with the same environment, so they run the same kernels: with --blas env (the
default) whatever OPENBLAS_CORETYPE the environment sets (the machine as it is configured), with --blas openblas
OpenBLAS's own pick for the CPU (OPENBLAS_CORETYPE removed). Each fills its own table in the README; the header
line and both sides' gemm lines record the kernels.

--quick runs few repetitions (a smoke test of the scripts, not a measurement) and leaves the README alone.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PY = "/usr/bin/python3"


def make_data(data_dir, n=10240, dim=512, attributes=8, seed=0):
    """Latents z ~ N(0, I) and 8 continuous labels in [-1, 1] that depend on them (tanh of projections)."""
    os.makedirs(data_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((n, dim)).astype(np.float32)
    directions = rng.standard_normal((dim, attributes)) / np.sqrt(dim)
    labels = np.tanh(latents.astype(np.float64) @ directions)
    np.save(os.path.join(data_dir, "latents.npy"), latents)
    np.save(os.path.join(data_dir, "labels.npy"), labels)
    # The reference flow's weights (a state_dict), which plugen imports for the edit and sampling benchmarks.
    subprocess.run([PY, os.path.join(ROOT, "benchmarks", "reference", "official_flow.py"), "--out",
                    os.path.join(data_dir, "official"), "--n", "4"], check=True, stdout=subprocess.DEVNULL)


def run_lines(cmd, env):
    print("[perf] " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for line in lines:
        print(json.dumps(line), file=sys.stderr, flush=True)
    return lines


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of both sides (default 1)")
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding plugen_bench")
    p.add_argument("--out", default=os.path.join(ROOT, "out", "bench", "perf"))
    p.add_argument("--images", default="/dev/shm/plugen_perf_images" if os.path.isdir("/dev/shm") else "",
                   help="folder for the generated PNGs (default: in memory, /dev/shm, so the figure is the CPU cost of "
                        "generation, not the disk's fsync latency; every PNG is fsynced with its folder)")
    p.add_argument("--only", default="", help="comma-separated subset of gemm,train,edit,generate")
    p.add_argument("--quick", action="store_true", help="few repetitions; does not touch the README")
    p.add_argument("--rounds", type=int, default=5,
                   help="times each side runs, alternating which goes first; the table shows medians (default 5: "
                        "plugen's batch-32 training rate moved by up to 17%% between rounds of one run)")
    p.add_argument("--blas", choices=["env", "openblas"], default="env",
                   help="OpenBLAS kernels of both sides: as the environment sets them (default), or OpenBLAS's own "
                        "pick for the CPU (OPENBLAS_CORETYPE removed)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="which measurement the table shows: wall time (default), or the CPU time of the benchmarking "
                        "thread (for a machine shared with other jobs); both are in the JSON lines")
    a = p.parse_args()

    bench = os.path.join(a.build, "benchmarks", "plugen_bench")
    if not os.path.exists(bench):
        sys.exit(f"run.py: {bench} not found; build it with: cmake --build {a.build} --target plugen_bench")
    data_dir = os.path.join(a.out, "data")
    make_data(data_dir)
    threads = str(a.threads)
    env = dict(os.environ, PLUGEN_NUM_THREADS=threads, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    if a.blas == "openblas":
        env.pop("OPENBLAS_CORETYPE", None)
    blas = run_lines([bench, "--data", data_dir, "--only", "blas"], env)[0]
    extra = (["--quick"] if a.quick else []) + (["--only", a.only] if a.only else [])

    import torch  # only for the header line

    header = {"bench": "run", "date": datetime.datetime.now().isoformat(timespec="seconds"), "threads": a.threads,
              "rounds": a.rounds,
              "cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__, "quick": a.quick,
              "blas_mode": a.blas, "blas_core": blas["core"], "blas_coretype_env": blas["OPENBLAS_CORETYPE"],
              "blas_config": blas["config"],
              "load_before": os.getloadavg()[0]}
    images = a.images or os.path.join(data_dir, "images")
    plugen_cmd = [bench, "--data", data_dir, "--vae", os.path.join(ROOT, "examples", "models", "fmnist_vae.pt"),
                  "--images", images, "--threads", threads] + extra
    reference_cmd = [PY, os.path.join(ROOT, "benchmarks", "perf", "reference.py"), "--data", data_dir,
                     "--threads", threads] + extra
    # Rounds alternate which side goes first, so a change of load on a shared machine hits both sides alike; the
    # table shows the median of the rounds.
    lines = []
    for r in range(a.rounds):
        for cmd in ([plugen_cmd, reference_cmd] if r % 2 == 0 else [reference_cmd, plugen_cmd]):
            lines += [dict(line, round=r) for line in run_lines(cmd, env)]
            shutil.rmtree(images, ignore_errors=True)
    header["load_after"] = os.getloadavg()[0]
    results = os.path.join(a.out, "results.jsonl")
    with open(results, "a") as f:
        for line in [header] + lines:
            f.write(json.dumps(line) + "\n")
    print(f"[perf] appended {len(lines) + 1} lines to {results}", file=sys.stderr)
    table = [PY, os.path.join(ROOT, "benchmarks", "perf", "table.py"), results, "--clock", a.clock]
    if not a.quick:
        table += ["--readme", os.path.join(ROOT, "benchmarks", "README.md")]
    subprocess.run(table, check=True)


if __name__ == "__main__":
    main()

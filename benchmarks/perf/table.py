#!/usr/bin/env python3
"""Regenerates the performance table of benchmarks/README.md from the JSON lines of benchmarks/perf/run.py.

  table.py RESULTS.jsonl [--readme benchmarks/README.md] [--clock wall|cpu]

Uses the last run in the file (the lines after its last "run" header). Prints the table; with --readme, replaces
the text between the markers of that file for the run's BLAS mode with it (perf-table for the environment's
kernels, perf-table-openblas for OpenBLAS's own pick). --clock cpu uses the figures measured with the CPU
time of the benchmarking thread instead of wall time (for runs on a machine shared with other jobs).
"""
import argparse
import json
import re
import statistics
import sys


def markers(header):
    name = "perf-table" if header.get("blas_mode", "env") == "env" else "perf-table-openblas"
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def last_run(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if record.get("bench") == "run":
                runs.append((record, []))
            elif runs:
                runs[-1][1].append(record)
    if not runs:
        sys.exit(f"table.py: no run in {path}")
    return runs[-1]


def find(lines, **keys):
    """The result matching `keys`; with several rounds, a record of the medians of its numeric fields."""
    matches = [r for r in lines if all(r.get(k) == v for k, v in keys.items())]
    if not matches:
        return None
    merged = dict(matches[0])
    for key, value in matches[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "round":
            merged[key] = statistics.median(r[key] for r in matches if key in r)
    merged["rounds"] = len(matches)
    return merged


CLOCK = "wall"


def get(record, key):
    """`key` of a result by the chosen clock (cpu_<key> for --clock cpu)."""
    if record is None:
        return None
    return record.get("cpu_" + key if CLOCK == "cpu" else key)


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def verdict(ok):
    return "met" if ok else "**not met**"


def render(header, lines):
    out = []
    clock = "wall time" if CLOCK == "wall" else "CPU time of the benchmarking thread"
    out.append(f"Run {header['date']}, {header['cpu']} ({header['cores']} cores, load average "
               f"{header['load_before']:.1f} before / {header['load_after']:.1f} after), {header['threads']} "
               f"thread(s) on both sides, PyTorch/LibTorch {header['torch']}; figures by {clock}, median of "
               f"{header.get('rounds', 1)} round(s) (each round runs both sides, alternating which goes first).")
    if "blas_core" in header:
        env = header["blas_coretype_env"]
        how = f"OPENBLAS_CORETYPE={env} in the environment" if env else "OpenBLAS's own pick for this CPU"
        out.append(f"OpenBLAS kernels on both sides: {header['blas_core']} ({how}).")
    out.append("")
    g_p = find(lines, bench="gemm", impl="libtorch")
    g_r = find(lines, bench="gemm", impl="reference")
    out.append(f"Measured float32 GEMM rate (mm of 1024 x 1024): {fmt(g_p and get(g_p, 'gflops'), 1)} GFLOP/s in the "
               f"plugen process, {fmt(g_r and get(g_r, 'gflops'), 1)} GFLOP/s in the reference process.")
    out.append("")

    out.append("| training, official preset | reference samples/s | plugen NICE samples/s | plugen RealNVP samples/s "
               "| NICE / reference | GFLOP/s (fraction of GEMM): reference, NICE, RealNVP | target |")
    out.append("|---|---|---|---|---|---|---|")
    for batch in (32, 256):
        ref = find(lines, bench="train", impl="reference", batch=batch)
        nice = find(lines, bench="train", flow="nice", batch=batch)
        nvp = find(lines, bench="train", flow="realnvp", batch=batch)
        ratio = get(nice, "samples_per_s") / get(ref, "samples_per_s") if ref and nice else None

        def rate(r):
            return "-" if r is None else f"{get(r, 'gflops'):.1f} ({get(r, 'gemm_fraction'):.0%})"

        if batch == 32:
            target = f">= 2.0x: {verdict(ratio is not None and ratio >= 2.0)}"
        else:
            frac = get(nice, "gemm_fraction") if nice else 0
            target = (f">= 1.5x and >= 50% of GEMM: {verdict(ratio is not None and ratio >= 1.5)}, "
                      f"{verdict(frac >= 0.5)}")
        out.append(f"| batch {batch} | {fmt(ref and get(ref, 'samples_per_s'))} | {fmt(nice and get(nice, 'samples_per_s'))} | "
                   f"{fmt(nvp and get(nvp, 'samples_per_s'))} | {fmt(ratio, 2)}x | {rate(ref)}, {rate(nice)}, {rate(nvp)} "
                   f"| {target} |")
    out.append("")

    ref = find(lines, bench="edit", impl="reference")
    lt = find(lines, bench="edit", impl="libtorch")
    ei = find(lines, bench="edit", impl="eigen")
    out.append("| edit one latent (batch 1), median of runs | ms (p10-p90) | speed-up over reference | target |")
    out.append("|---|---|---|---|")
    for name, r, target in [
        ("reference", ref, ""),
        ("plugen LibTorch", lt, ">= 4x: " + verdict(ref and lt and get(ref, "median_ms") / get(lt, "median_ms") >= 4)),
        ("plugen Eigen", ei, ">= 2x LibTorch: " + verdict(lt and ei and get(lt, "median_ms") / get(ei, "median_ms") >= 2)
         + f" ({fmt(lt and ei and get(lt, 'median_ms') / get(ei, 'median_ms'), 2)}x)"),
    ]:
        if r is None:
            continue
        speed = get(ref, "median_ms") / get(r, "median_ms") if ref else None
        out.append(f"| {name} ({r['runs']} runs) | {get(r, 'median_ms'):.3f} ({get(r, 'p10_ms'):.3f}-{get(r, 'p90_ms'):.3f}) | "
                   f"{fmt(speed, 2)}x | {target} |")
    out.append("")

    out.append("| sampling, batch 1,024 | samples/s | over reference |")
    out.append("|---|---|---|")
    ref = find(lines, bench="sample", impl="reference")
    for name, r in [("reference", ref), ("plugen LibTorch", find(lines, bench="sample", impl="libtorch")),
                    ("plugen Eigen", find(lines, bench="sample", impl="eigen"))]:
        if r is None:
            continue
        out.append(f"| {name} | {fmt(get(r, 'samples_per_s'))} | "
                   f"{fmt(ref and get(r, 'samples_per_s') / get(ref, 'samples_per_s'), 2)}x |")
    out.append("")

    dec = find(lines, bench="generate", pipeline="decode")
    png = find(lines, bench="generate", pipeline="decode+png")
    full = find(lines, bench="generate", pipeline="plugin+decode+png")
    if dec and png and full:
        out.append("| generation, bundled VAE | images/s | fraction of decode only | fraction of decode + PNG |")
        out.append("|---|---|---|---|")
        for name, r in [("decode only", dec), ("decode + PNG files", png), ("plugin sample + decode + PNG files", full)]:
            out.append(f"| {name} ({r['images']} images) | {fmt(get(r, 'images_per_s'))} | "
                       f"{get(r, 'images_per_s') / get(dec, 'images_per_s'):.0%} | {get(r, 'images_per_s') / get(png, 'images_per_s'):.0%} |")
        out.append("")
        out.append(f"Target: generation >= 90% of decode-only throughput: plugin + decode + PNGs reach "
                   f"{get(full, 'images_per_s') / get(dec, 'images_per_s'):.0%} of decode alone "
                   f"({verdict(get(full, 'images_per_s') >= 0.9 * get(dec, 'images_per_s'))}) and "
                   f"{get(full, 'images_per_s') / get(png, 'images_per_s'):.0%} of decode + PNGs without the plugin "
                   f"({verdict(get(full, 'images_per_s') >= 0.9 * get(png, 'images_per_s'))}).")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results")
    p.add_argument("--readme")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    a = p.parse_args()
    global CLOCK
    CLOCK = a.clock
    header, lines = last_run(a.results)
    table = render(header, lines)
    print(table)
    if a.readme:
        with open(a.readme) as f:
            text = f.read()
        BEGIN, END = markers(header)
        if BEGIN not in text or END not in text:
            sys.exit(f"table.py: {a.readme} has no {BEGIN} ... {END} section")
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: f"{BEGIN}\n{table}\n{END}", text,
                      flags=re.S)
        with open(a.readme, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

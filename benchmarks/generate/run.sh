#!/usr/bin/env bash
# The generation benchmark end to end (see benchmarks/README.md, "Dataset generation"):
#   1. 20,000 Fashion-MNIST training images -> latents of the bundled VAE (plugen encode) + labels (class, brightness)
#   2. a plugin trained on them (plugen train, 10 epochs)
#   3. throughput: 20,000 PNGs + manifest vs decoding the same latents without writing (three runs)
#   4. peak memory of the job at N = 2,000 and N = 20,000
#   5. verification: a uniform job over class x brightness bins, measured per cell
#
#   benchmarks/generate/run.sh BUILD_DIR WORK_DIR
# Take final numbers with PLUGEN_NUM_THREADS=1 (set below unless already set).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: benchmarks/generate/run.sh BUILD_DIR WORK_DIR}
work=${2:?usage: benchmarks/generate/run.sh BUILD_DIR WORK_DIR}
export PLUGEN_NUM_THREADS=${PLUGEN_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$work"
if [[ ! -f $work/plugin.safetensors ]]; then
  /usr/bin/python3 benchmarks/generate/prepare.py "$work" --n 20000
  "$build/examples/plugen" encode --backbone examples/models/fmnist_vae.pt --inputs "$work/images.npy" \
    --out "$work/latents.npy"
  "$build/examples/plugen" train --latents "$work/latents.npy" --labels "$work/labels.csv" --epochs 10 \
    --backbone examples/models/fmnist_vae.pt --out "$work/plugin.safetensors" --quiet
fi
bench=$build/benchmarks/bench_generate
# The 20,000 PNGs go to tmpfs (IMAGES, default /dev/shm/plugen_bench_generate): on a disk, the file system's own
# costs enter (see benchmarks/README.md), and ext4 without a journal slows down when files are created right
# after many were deleted, as consecutive runs do.
images=${IMAGES:-/dev/shm/plugen_bench_generate}
mkdir -p "$images"
for run in 1 2 3; do
  "$bench" throughput --plugin "$work/plugin.safetensors" --out "$images" --n 20000
done
"$bench" rss --plugin "$work/plugin.safetensors" --out "$images" --n 2000
"$bench" rss --plugin "$work/plugin.safetensors" --out "$images" --n 20000
# Redraws up to 100 times per sample, the style temperature rising to 2.5x on the way (verify.retry_style_scale).
"$bench" verify --plugin "$work/plugin.safetensors" --out "$work" --n 3000 --attempts 100 --style-scale 2.5

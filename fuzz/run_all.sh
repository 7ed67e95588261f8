#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, one after the other (see fuzz/run.sh).
#   fuzz/run_all.sh SECONDS
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run_all.sh SECONDS}
for target in npy csv safetensors plugin plugin_eigen spec; do
  ./run.sh "$target" "$seconds"
done

#!/usr/bin/env bash
# Trains plugin/base.safetensors, the valid tiny plugin (dim 4, 1 coupling, 4 hidden units, 1 epoch) that
# make_corpus.py corrupts into the plugin cases. Usage: make_base_plugin.sh PATH/TO/plugen  (the CLI binary).
set -euo pipefail
cd "$(dirname "$0")"
cli=${1:?usage: make_base_plugin.sh PATH/TO/plugen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 4)).astype("<f4")
np.save(sys.argv[1] + "/w.npy", w)
open(sys.argv[1] + "/y.csv", "w").write("smile\n" + "".join("%d\n" % (v > 0) for v in w[:, 0]))
PY
PLUGEN_NUM_THREADS=1 "$cli" train --latents "$tmp/w.npy" --labels "$tmp/y.csv" --out plugin/base.safetensors \
  --couplings 1 --hidden 4 --layers 1 --epochs 1 --seed 1 --quiet >/dev/null

#!/usr/bin/env bash
# Makes the seed corpus of the plugin target (fuzz/corpus/plugin): tiny real plugin files trained by the CLI with
# different flows, layouts and attribute kinds, so the fuzzer starts from every branch of the loader, plus the
# plugin cases of the bad-input corpus (each a near-valid file that fails one check).
#   fuzz/make_plugin_seeds.sh PATH/TO/plugen      (the CLI binary)
set -euo pipefail
cli=$(realpath "${1:?usage: fuzz/make_plugin_seeds.sh PATH/TO/plugen}")
cd "$(dirname "$0")"
out=corpus/plugin
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 6)).astype("<f4")
np.save(d + "/w.npy", w)
np.save(d + "/w3.npy", np.stack([w, w + 0.1], axis=1))  # (N, 2, 6) per-layer latents
with open(d + "/y.csv", "w") as f:
    f.write("smile,kind,age\n")
    for r in w:
        f.write("%d,%s,%.3f\n" % (r[0] > 0, ["coat", "shoe", "bag"][int(np.argmax(r[1:4]))], 40 + 10 * r[4]))
with open(d + "/schema.json", "w") as f:
    f.write('{"attributes": [{"name": "smile", "kind": "binary"}, '
            '{"name": "kind", "kind": "categorical", "classes": ["coat", "shoe", "bag"]}, '
            '{"name": "age", "kind": "continuous"}]}')
PY
train() {
  local name=$1
  shift
  PLUGEN_NUM_THREADS=1 "$cli" train --labels "$tmp/y.csv" --schema "$tmp/schema.json" --out "$out/$name.safetensors" \
    --hidden 4 --epochs 1 --seed 1 --quiet "$@" >/dev/null
}
train realnvp_defaults --latents "$tmp/w.npy" --couplings 2
train realnvp_plain --latents "$tmp/w.npy" --couplings 1 --layers 1 --linear none --monotone false
train nice --latents "$tmp/w.npy" --flow nice --couplings 2 --linear none --monotone false
train random_partition_tanh --latents "$tmp/w.npy" --couplings 3 --partition random --activation tanh --linear each
train per_layer --latents "$tmp/w3.npy" --couplings 2 --latent-mode per_layer
train shared_layers --latents "$tmp/w3.npy" --couplings 1 --layers 3 --balanced
cp ../tests/data/bad/plugin/*.safetensors "$out/"
ls "$out" | wc -l

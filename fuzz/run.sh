#!/usr/bin/env bash
# Builds one libFuzzer target with Debian's clang (-fsanitize=fuzzer,address,undefined) and runs it for a
# given time on a copy of its seed corpus; findings (crash-*, leak-*, timeout-*, oom-*) land in fuzz/out/TARGET.
#
#   fuzz/run.sh TARGET SECONDS      TARGET: npy | csv | safetensors | plugin | plugin_eigen | spec
#   fuzz/run.sh --install           install clang and its runtime (./run.sh setup installs them too)
#
# Environment: CXX (default clang++-14), FUZZ_BUILD (default fuzz/build), FUZZ_JOBS (parallel fuzzing
# processes, default 1).
set -euo pipefail
cd "$(dirname "$0")"
FUZZ=$(pwd)
ROOT=$(cd .. && pwd)
CXX=${CXX:-clang++-14}
BUILD=${FUZZ_BUILD:-$FUZZ/build}

if [[ ${1:-} == --install ]]; then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev libfmt-dev nlohmann-json3-dev libeigen3-dev
  exit 0
fi

target=${1:?usage: fuzz/run.sh TARGET SECONDS (npy, csv, safetensors, plugin, plugin_eigen, spec) | --install}
seconds=${2:?usage: fuzz/run.sh TARGET SECONDS}
[[ -f $FUZZ/$target.cpp ]] || { echo "fuzz/run.sh: no target '$target' (fuzz/$target.cpp)" >&2; exit 2; }
command -v "$CXX" >/dev/null || { echo "fuzz/run.sh: $CXX not found; run fuzz/run.sh --install" >&2; exit 2; }

mkdir -p "$BUILD" "$FUZZ/out/$target/corpus"
bin=$BUILD/$target
if [[ ! -x $bin || $FUZZ/$target.cpp -nt $bin || -n $(find "$ROOT/include" -newer "$bin" -name '*.hpp' -print -quit) ]]; then
  echo "[fuzz] building $target" >&2
  flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DFMT_HEADER_ONLY
         -I"$ROOT/include" -I/usr/include/torch/csrc/api/include -I/usr/include/eigen3)
  # The parser targets use torch-free headers only (csv.hpp includes torch/arg.h, which is macros only); the
  # plugin target builds LibTorch tensors and modules, so it links Debian's LibTorch (uninstrumented: ASan sees
  # plugen's code and the bytes it hands LibTorch, not LibTorch's internals). clang compiles LibTorch 1.13's
  # headers in C++17.
  libs=()
  if grep -q '#include <torch/torch.h>' "$FUZZ/$target.cpp"; then
    flags+=(-D_GLIBCXX_USE_CXX11_ABI=1)
    libs=(-ltorch -ltorch_cpu -lc10)
  fi
  "$CXX" "${flags[@]}" "$FUZZ/$target.cpp" -o "$bin" "${libs[@]}"
fi
# LibTorch keeps process-lifetime allocations that LeakSanitizer would report after every run (see the file).
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizers/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# The working corpus grows in fuzz/out (ignored by git); the committed seeds in fuzz/corpus stay read-only.
echo "[fuzz] running $target for $seconds s" >&2
cd "$FUZZ/out/$target"
"$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -jobs="${FUZZ_JOBS:-1}" -workers="${FUZZ_JOBS:-1}" corpus "$FUZZ/corpus/$target" 2>&1 | tee "$FUZZ/out/$target/log.txt" | tail -25

#!/usr/bin/env bash
# plugen's two commands, and the steps they share.
#
#   ./run.sh test    install what is missing (Debian packages), build, run the whole test suite, then a
#                    30-second smoke run of each libFuzzer target (FUZZ_SMOKE_SECONDS; 0 skips it)
#   ./run.sh demo    install, build, and run the main job: the Fashion-MNIST demo (out/demo/)
#   ./run.sh demo-interfacegan  the semi-synthetic InterFaceGAN workflow (needs ../shared/data)
#   ./run.sh setup | build      the individual steps
#   ./run.sh test-asan          build the test suite with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) in
#                               ASAN_BUILD_DIR (default build-asan) and run it; slow, so not part of `test`
#
# Environment: BUILD_DIR (default build), JOBS (default: number of cores), PLUGEN_NUM_THREADS,
# PLUGEN_DEMO_BACKBONES (default vae; any of vae,gan,diffusion).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

# Every Debian package plugen's build, tests, examples and demo need.
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libeigen3-dev libfmt-dev nlohmann-json3-dev
  catch2 libcli11-dev libstb-dev zlib1g-dev
  libopenblas0-openmp          # LibTorch's BLAS is libblas.so.3: OpenBLAS is ~30x faster than the reference BLAS
  python3 python3-torch python3-numpy
  clang libclang-rt-14-dev     # the libFuzzer targets in fuzz/ (clang's fuzzer, ASan and UBSan runtimes)
  dataset-fashion-mnist
)

log() { printf '\033[1m[run.sh]\033[0m %s\n' "$*" >&2; }

setup() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]})); then
    log "installing missing Debian packages: ${missing[*]}"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    log "all ${#PACKAGES[@]} Debian packages present"
  fi
  # OpenBLAS must be the libblas.so.3 LibTorch loads.
  local blas
  blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
  if [[ $blas != *openblas* ]]; then
    log "warning: libblas.so.3 resolves to '$blas', not OpenBLAS: LibTorch will be ~30x slower"
  fi
}

build() {
  log "configuring in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  log "building with $JOBS jobs"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

run_tests() {
  log "running the test suite"
  ctest --test-dir "$BUILD_DIR" --output-on-failure
}

# Each libFuzzer target (fuzz/) for FUZZ_SMOKE_SECONDS (default 30) from its seeds: about 4 minutes on 2 cores
# with the builds. Long runs are for sessions and releases (fuzz/README.md).
fuzz_smoke() {
  local seconds=${FUZZ_SMOKE_SECONDS:-30}
  if [[ $seconds == 0 ]]; then return; fi
  log "fuzz smoke: every target for $seconds s"
  FUZZ_BUILD="$BUILD_DIR/fuzz" "$ROOT/fuzz/run_all.sh" "$seconds"
}

# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer (GCC). Only plugen's code (headers
# compiled into the tests, and the CLI when ASAN_EXAMPLES=ON) is instrumented; LibTorch is not. LSan reports
# LibTorch's process-lifetime allocations, suppressed by tests/sanitizers/lsan.supp; every UBSan finding fails.
test_asan() {
  local dir=${ASAN_BUILD_DIR:-$ROOT/build-asan}
  local flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  log "configuring the sanitizer build in $dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DPLUGEN_BUILD_EXAMPLES="${ASAN_EXAMPLES:-OFF}" -DPLUGEN_BUILD_BENCHMARKS=OFF >/dev/null
  log "building with $JOBS jobs"
  cmake --build "$dir" -j "$JOBS"
  log "running the test suite under ASan + UBSan"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/sanitizers/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export PLUGEN_NUM_THREADS=${PLUGEN_NUM_THREADS:-1}
  ctest --test-dir "$dir" --output-on-failure
}

# The main job: Fashion-MNIST with the bundled backbones, through the plugen CLI (examples/demo/fmnist_demo.py):
# encode -> labels -> train -> grid -> edits -> eval, writing out/demo/ and printing a table.
# PLUGEN_DEMO_BACKBONES=vae,gan,diffusion runs the GAN (auto-labelled latents) and diffusion (DDIM-inverted
# latents) paths too; extra arguments go to the driver (e.g. ./run.sh demo --quick).
demo() {
  log "demo: Fashion-MNIST, backbones: ${PLUGEN_DEMO_BACKBONES:-vae} (writes out/demo/)"
  /usr/bin/python3 "$ROOT/examples/demo/fmnist_demo.py" --plugen "$BUILD_DIR/examples/plugen" --out "$ROOT/out/demo" "$@"
  log "demo: report in out/demo/report.json, grid in out/demo/vae/grid_class_brightness.png"
}

# The earlier semi-synthetic demo: 8 InterFaceGAN attribute directions in a 512-d latent space, the whole
# workflow through the plugen CLI against exact ground truth (needs ../shared/data/interfacegan-boundaries).
demo_interfacegan() {
  local data="$ROOT/../shared/data/interfacegan-boundaries"
  if [[ ! -d $data ]]; then
    log "demo-interfacegan: $data not found; it needs the shared data folder beside the repository"
    exit 1
  fi
  log "demo-interfacegan: InterFaceGAN semi-synthetic workflow through the plugen CLI (writes out/interfacegan/)"
  /usr/bin/python3 "$ROOT/benchmarks/interfacegan/run.py" --plugen "$BUILD_DIR/examples/plugen" \
    --data "$data" --out "$ROOT/out/interfacegan" --missing 0.0
}

cmd=${1:-help}
case "$cmd" in
  setup) setup ;;
  build) setup; build ;;
  test) setup; build; run_tests; fuzz_smoke ;;
  test-asan) setup; test_asan ;;
  demo) setup; build; shift; demo "$@" ;;
  demo-interfacegan) setup; build; demo_interfacegan ;;
  *)
    echo "usage: ./run.sh test|test-asan|demo|demo-interfacegan|setup|build" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The main job. Until the CIFAR-10 training pipeline lands, it is the GEMM benchmark: install what is missing,
# build, then run bench/gemm (a table of GFLOP/s next to OpenBLAS and plain JS, plus JSON).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build-wasm.sh
npx rollup -c --silent
node bench/gemm.js "$@"

#!/usr/bin/env bash
# Installs everything the build, tests and benchmarks need on a fresh Debian 12 machine as root (npm packages,
# Chromium for the browser tests, the wasm toolchain); quick when all is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci" >&2
  # No package needs its install script (onnxruntime-node's would try to download CUDA files).
  npm ci --no-audit --no-fund --ignore-scripts >&2
fi
if [ -z "${CHROMIUM_PATH:-}" ] && ! [ -x /usr/bin/chromium ]; then
  echo "[setup] apt-get install chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
scripts/toolchain.sh >/dev/null
# Python with safetensors and numpy (an independent reader of kiln's model file), and the stock clients the
# serving tests point at `kiln serve`: tritonclient[http] (KServe v2 / Triton) and requests (TF Serving JSON);
# onnx, the reference reader the ONNX decoder is checked against.
if ! [ -x .venv/bin/python ] || ! .venv/bin/python -c 'import safetensors, numpy, tritonclient.http, requests, onnx' 2>/dev/null; then
  echo "[setup] python venv with safetensors, numpy, tritonclient[http], requests, onnx" >&2
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    python3 -m venv .venv >&2
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check safetensors numpy 'tritonclient[http]==2.73.0' requests onnx==1.23.2 >&2
fi

#!/usr/bin/env bash
# The main job: install what is missing, build, then `kiln train cifar10` — the Keras tutorial CNN, 10 epochs of
# Adam, evaluation on the test set and an HTML report. Arguments go to the command (see --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build-wasm.sh
npx rollup -c --silent
data_dir=()
[ -z "${KILN_DATA_DIR:-}" ] && [ -d ../shared/data/cifar10 ] && data_dir=(--data-dir ../shared/data/cifar10)
node dist/cli/main.js train cifar10 "${data_dir[@]}" "$@"

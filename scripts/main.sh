#!/usr/bin/env bash
# The main job: install what is missing, build, then `kiln train cifar10` — the Keras tutorial CNN, 10 epochs of
# Adam, evaluation on the test set, the saved model file and an HTML report — then serves that file with
# `kiln serve` and checks its test accuracy through each protocol. Arguments go to `kiln train` (see --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
scripts/build-wasm.sh
npx rollup -c --silent
data_dir=()
[ -z "${KILN_DATA_DIR:-}" ] && [ -d ../shared/data/cifar10 ] && data_dir=(--data-dir ../shared/data/cifar10)
node dist/cli/main.js train cifar10 "${data_dir[@]}" "$@"

# The model file the training wrote: --output, else cifar10-<model>.kiln.
output=""; model=cnn; data="${data_dir[1]:-}"; previous=""
for arg in "$@"; do
  case "$previous" in --output) output=$arg ;; --model) model=$arg ;; --data-dir) data=$arg ;; esac
  case "$arg" in --output=*) output=${arg#--output=} ;; --model=*) model=${arg#--model=} ;; --data-dir=*) data=${arg#--data-dir=} ;; esac
  previous=$arg
done
node scripts/serve-check.mjs "${output:-cifar10-$model.kiln}" $data

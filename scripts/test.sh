#!/usr/bin/env bash
# The test command (README, `npm test`, .ci/run): installs what is missing, builds every wasm variant and the
# rollup output, then runs the Rust kernel tests (native, with and without the parallel split), the type check,
# and vitest (Node: both variants vs the reference backend; headless Chromium; the npm-pack install).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/setup.sh

echo "== build" >&2
scripts/build-wasm.sh
npx rollup -c --silent
npx tsc --noEmit -p tsconfig.json

echo "== cargo test (kiln-kernels, native)" >&2
cargo_log=$(mktemp)
for features in "" "--features parallel"; do
  # shellcheck disable=SC2086
  cargo test --release -p kiln-kernels $features 2>&1 | tee -a "$cargo_log"
done

echo "== vitest" >&2
vitest_json=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$vitest_json" || status=$?

node scripts/count-tests.mjs "$cargo_log" "$vitest_json"
exit "$status"

#!/usr/bin/env bash
# Builds the wasm variants of crates/kiln-wasm into pkg/<variant>/ with wasm-pack, then optimizes each with
# wasm-opt (npm binaryen). One crate, one source: variants differ only in target features and cargo features.
#   scripts/build-wasm.sh            all variants
#   scripts/build-wasm.sh simd       just one
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
eval "$(scripts/toolchain.sh)"

base_features="+simd128,+bulk-memory,+mutable-globals,+sign-ext,+nontrapping-fptoint"
opt_features="--enable-simd --enable-bulk-memory --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types"
# Threads builds get -O2: binaryen 132's -O3 and -Os turn the blocking waits of this module into busy loops
# that never see the other threads' wake-ups (the rayon pool hangs at start); -O1/-O2 keep them correct.
variant_flags() {
  case "$1" in
    simd) echo "$base_features||-O3" ;;
    simd-relaxed) echo "$base_features,+relaxed-simd||-O3 --enable-relaxed-simd" ;;
    threads) echo "$base_features,+atomics|--features threads|-O2 --enable-threads" ;;
    threads-relaxed) echo "$base_features,+atomics,+relaxed-simd|--features threads|-O2 --enable-threads --enable-relaxed-simd" ;;
    *) echo "unknown variant: $1 (expected simd, simd-relaxed, threads, threads-relaxed)" >&2; exit 2 ;;
  esac
}

wasm_opt="$root/node_modules/.bin/wasm-opt"
[ -x "$wasm_opt" ] || { echo "wasm-opt missing: run npm ci first (it comes from the binaryen devDependency)" >&2; exit 1; }

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(simd threads simd-relaxed threads-relaxed)
for variant in "${variants[@]}"; do
  IFS='|' read -r target_features cargo_features opt_extra <<<"$(variant_flags "$variant")"
  echo "[build-wasm] $variant: target features $target_features ${cargo_features}" >&2
  out="$root/pkg/$variant"
  # A target dir per variant: std is rebuilt whenever RUSTFLAGS change.
  RUSTFLAGS="-C target-feature=$target_features" CARGO_TARGET_DIR="$root/target/wasm-$variant" \
    wasm-pack --quiet build crates/kiln-wasm --mode force --release --target web --no-pack \
      --out-dir "$out" --out-name kiln_wasm -- -Zbuild-std=std,panic_abort $cargo_features >&2
  # shellcheck disable=SC2086
  "$wasm_opt" $opt_features $opt_extra "$out/kiln_wasm_bg.wasm" -o "$out/kiln_wasm_bg.wasm"
  rm -f "$out/.gitignore"
  echo "[build-wasm] $variant: $(wc -c <"$out/kiln_wasm_bg.wasm") bytes" >&2
done

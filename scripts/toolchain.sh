#!/usr/bin/env bash
# Makes sure everything the wasm build needs is installed, then prints `export` lines for it:
#   eval "$(scripts/toolchain.sh)"
# Rust for wasm32: rustup nightly with rust-src + the wasm32 target where present, else Debian's rustc-web with
# its std source (std is rebuilt with -Zbuild-std either way: the threads build needs atomics in std).
# wasm-bindgen (pinned to the crate's exact version) and wasm-pack: `cargo install --locked`.
# Re-running is quick when everything is there. Progress goes to stderr; stdout is only the exports.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "[toolchain] $*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

bindgen_version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$root/crates/kiln-wasm/Cargo.toml")
[ -n "$bindgen_version" ] || { log "cannot read the pinned wasm-bindgen version"; exit 1; }

rustup_has_wasm_nightly() {
  command -v rustup >/dev/null &&
    rustup target list --installed --toolchain nightly 2>/dev/null | grep -qx wasm32-unknown-unknown &&
    rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src'
}

apt_install() {
  if [ -z "${KILN_APT_UPDATED:-}" ]; then
    log "apt-get update"
    apt-get update -qq >&2
    KILN_APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

if rustup_has_wasm_nightly; then
  log "rust: rustup nightly (wasm32 target + rust-src)"
  echo "export RUSTUP_TOOLCHAIN=nightly"
  echo "export KILN_RUST_ROUTE=rustup"
else
  if ! { [ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q '^rustc 1\.\(9[6-9]\|1[0-9][0-9]\)' &&
         [ -d /usr/lib/rustlib/src/rust/library ] && [ -x /usr/bin/rust-lld ] && command -v ld.lld-22 >/dev/null; }; then
    apt_install rustc-web cargo-web rust-web-src lld-22
  fi
  log "rust: Debian rustc-web $(/usr/bin/rustc --version | cut -d' ' -f2) with -Zbuild-std"
  # Debian's cargo and rustc first (rustup's proxies would pick a toolchain without wasm32 std).
  echo "export PATH=/usr/bin:$HOME/.cargo/bin:\$PATH"
  echo "export RUSTC=/usr/bin/rustc"
  echo "export RUSTC_BOOTSTRAP=1"
  echo "export KILN_RUST_ROUTE=debian"
fi

host_cargo=$(command -v cargo || echo /usr/bin/cargo)
if ! "$HOME/.cargo/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  log "cargo install wasm-bindgen-cli $bindgen_version (a few minutes)"
  "$host_cargo" install wasm-bindgen-cli --version "=$bindgen_version" --locked --quiet >&2
fi
if ! [ -x "$HOME/.cargo/bin/wasm-pack" ]; then
  log "cargo install wasm-pack (a few minutes)"
  "$host_cargo" install wasm-pack --locked --quiet >&2
fi
log "wasm-bindgen $bindgen_version, $("$HOME/.cargo/bin/wasm-pack" --version)"

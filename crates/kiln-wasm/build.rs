//! The threads build needs a shared, imported memory and exported TLS symbols so every worker can
//! instantiate the same module over the same memory; rustc does not add these link arguments for `+atomics`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    if wasm && std::env::var_os("CARGO_FEATURE_THREADS").is_some() {
        for arg in [
            "--shared-memory",
            "--import-memory",
            "--max-memory=4294967296",
            "--export=__wasm_init_tls",
            "--export=__tls_size",
            "--export=__tls_align",
            "--export=__tls_base",
            "--export=__stack_pointer",
        ] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}

//! The only crate that knows about wasm-bindgen. Tensors live in this module's linear memory as f32
//! buffers handed out by `alloc_f32`; kernels receive pointers plus lengths and check them once.

mod memory;
mod ops;
#[cfg(feature = "threads")]
mod pool;

use kiln_kernels::Transpose;
use wasm_bindgen::prelude::*;

pub use memory::{alloc_f32, allocated_bytes, free_f32};

/// Build facts the loader reports through `backendInfo()`.
#[wasm_bindgen]
pub fn variant() -> String {
    let threads = if cfg!(feature = "threads") { "threads" } else { "simd" };
    let relaxed = if cfg!(target_feature = "relaxed-simd") { "-relaxed" } else { "" };
    format!("{threads}{relaxed}")
}

/// The linear memory tensors live in (shared in the threads build).
#[wasm_bindgen]
pub fn linear_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Worker threads in the rayon pool (1 in the simd build).
#[wasm_bindgen]
pub fn thread_count() -> usize {
    kiln_kernels::thread_count()
}

fn slice<'a>(ptr: *const f32, len: usize) -> &'a [f32] {
    // SAFETY: pointers come from `alloc_f32` via the TypeScript backend, which passes each buffer's length.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// `C = alpha·op(A)·op(B) + beta·C`, row-major, on buffers from `alloc_f32`.
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: *const f32,
    a_len: usize,
    lda: usize,
    b: *const f32,
    b_len: usize,
    ldb: usize,
    beta: f32,
    c: *mut f32,
    c_len: usize,
    ldc: usize,
) -> Result<(), JsError> {
    let t = |yes| if yes { Transpose::Yes } else { Transpose::No };
    // SAFETY: see `slice`; C is a distinct allocation from A and B.
    let c = unsafe { std::slice::from_raw_parts_mut(c, c_len) };
    kiln_kernels::sgemm(t(trans_a), t(trans_b), m, n, k, alpha, slice(a, a_len), lda, slice(b, b_len), ldb, beta, c, ldc)
        .map_err(|e| JsError::new(&e.to_string()))
}

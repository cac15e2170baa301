//! f32 buffers for tensors, with a live-byte count so tests can prove nothing leaks.

use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::prelude::*;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A buffer of `len` floats with unspecified contents (every kernel overwrites its outputs, so zeroing here
/// would be a wasted pass); release it with `free_f32(ptr, len)`.
#[wasm_bindgen]
pub fn alloc_f32(len: usize) -> *mut f32 {
    LIVE_BYTES.fetch_add(len * 4, Ordering::Relaxed);
    Box::into_raw(Box::<[f32]>::new_uninit_slice(len)) as *mut f32
}

/// Frees a buffer from `alloc_f32`, given the same length.
#[wasm_bindgen]
pub fn free_f32(ptr: *mut f32, len: usize) {
    LIVE_BYTES.fetch_sub(len * 4, Ordering::Relaxed);
    // SAFETY: `ptr` and `len` describe a boxed slice made by `alloc_f32`; the TypeScript side frees each once.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Bytes held by live tensor buffers.
#[wasm_bindgen]
pub fn allocated_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

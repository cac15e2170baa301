//! f32 buffers for tensors, with a live-byte count so tests can prove nothing leaks.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use wasm_bindgen::prelude::*;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A buffer of `len` floats with unspecified contents (every kernel overwrites its outputs, so zeroing here
/// would be a wasted pass), or 0 when it cannot be had (larger than wasm32 addresses, or the engine grants no
/// more memory): the caller names the error. Release it with `free_f32(ptr, len)`.
#[wasm_bindgen]
pub fn alloc_f32(len: usize) -> *mut f32 {
    let Ok(layout) = Layout::array::<f32>(len) else { return std::ptr::null_mut() };
    if layout.size() == 0 {
        return NonNull::dangling().as_ptr();
    }
    // SAFETY: the layout has a nonzero size; a null result (out of memory) is returned, not dereferenced.
    let ptr = unsafe { alloc(layout) } as *mut f32;
    if !ptr.is_null() {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
    }
    ptr
}

/// Frees a buffer from `alloc_f32`, given the same length.
#[wasm_bindgen]
pub fn free_f32(ptr: *mut f32, len: usize) {
    let layout = Layout::array::<f32>(len).expect("free_f32: the length alloc_f32 accepted");
    if layout.size() == 0 {
        return;
    }
    LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    // SAFETY: `ptr` came from `alloc_f32(len)` with this layout; the TypeScript side frees each once.
    unsafe { dealloc(ptr as *mut u8, layout) }
}

/// Bytes held by live tensor buffers.
#[wasm_bindgen]
pub fn allocated_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

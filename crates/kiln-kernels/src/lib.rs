//! kiln's compute kernels: plain functions over slices, no allocation in the hot loops, no wasm-bindgen.
//! Shapes are checked once at each public entry point; the same source builds natively (tests), for wasm
//! simd128 and for wasm threads (`parallel` feature).

pub mod gemm;

pub use gemm::{sgemm, GemmError, Transpose};

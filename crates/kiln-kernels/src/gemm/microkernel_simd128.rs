//! wasm simd128 4x8 micro-kernel: eight v128 accumulators (4 rows × 2 vectors), same contract as
//! `microkernel_scalar.rs`. With `relaxed-simd` enabled at build time, multiply-add fuses into one instruction.

use super::{MR, NR};
use core::arch::wasm32::*;

#[inline(always)]
pub(crate) unsafe fn madd(a: v128, b: v128, acc: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, acc)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(f32x4_mul(a, b), acc)
    }
}

/// # Safety
/// Same as `microkernel_scalar::kernel_4x8`.
#[inline(always)]
pub unsafe fn kernel_4x8(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, alpha: f32, beta: f32) {
    let zero = f32x4_splat(0.0);
    let (mut c00, mut c01, mut c10, mut c11) = (zero, zero, zero, zero);
    let (mut c20, mut c21, mut c30, mut c31) = (zero, zero, zero, zero);
    let mut ap = a;
    let mut bp = b;
    for _ in 0..kc {
        let b0 = v128_load(bp as *const v128);
        let b1 = v128_load(bp.add(4) as *const v128);
        let a0 = f32x4_splat(*ap);
        c00 = madd(a0, b0, c00);
        c01 = madd(a0, b1, c01);
        let a1 = f32x4_splat(*ap.add(1));
        c10 = madd(a1, b0, c10);
        c11 = madd(a1, b1, c11);
        let a2 = f32x4_splat(*ap.add(2));
        c20 = madd(a2, b0, c20);
        c21 = madd(a2, b1, c21);
        let a3 = f32x4_splat(*ap.add(3));
        c30 = madd(a3, b0, c30);
        c31 = madd(a3, b1, c31);
        ap = ap.add(MR);
        bp = bp.add(NR);
    }
    let va = f32x4_splat(alpha);
    let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31)];
    for (i, (lo, hi)) in rows.into_iter().enumerate() {
        let cr = c.add(i * ldc);
        let (mut lo, mut hi) = (f32x4_mul(va, lo), f32x4_mul(va, hi));
        if beta != 0.0 {
            let vb = f32x4_splat(beta);
            lo = madd(vb, v128_load(cr as *const v128), lo);
            hi = madd(vb, v128_load(cr.add(4) as *const v128), hi);
        }
        v128_store(cr as *mut v128, lo);
        v128_store(cr.add(4) as *mut v128, hi);
    }
}

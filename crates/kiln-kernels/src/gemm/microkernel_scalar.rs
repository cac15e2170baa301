//! Portable 4x8 micro-kernel: the fallback beside `microkernel_simd128.rs`, same signature and contract.

use super::{MR, NR};

/// C[0..MR, 0..NR] (row stride `ldc`) = alpha · Apanel·Bpanel + beta · C, where `beta == 0` overwrites C.
/// `a` holds `kc` steps of MR values, `b` holds `kc` steps of NR values (both packed, zero-padded).
///
/// # Safety
/// `a` must be readable for `kc*MR` floats, `b` for `kc*NR`, and `c` writable for a full MR×NR tile at stride `ldc`.
#[inline(always)]
pub unsafe fn kernel_4x8(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, alpha: f32, beta: f32) {
    let mut acc = [[0.0f32; NR]; MR];
    for p in 0..kc {
        let ap = a.add(p * MR);
        let bp = b.add(p * NR);
        for (i, row) in acc.iter_mut().enumerate() {
            let ai = *ap.add(i);
            for (j, v) in row.iter_mut().enumerate() {
                *v += ai * *bp.add(j);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        let cr = c.add(i * ldc);
        for (j, v) in row.iter().enumerate() {
            let cij = cr.add(j);
            *cij = if beta == 0.0 { alpha * v } else { alpha * v + beta * *cij };
        }
    }
}

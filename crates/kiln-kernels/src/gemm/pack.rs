//! Packing: copy a block of op(A) or op(B) into contiguous, zero-padded micro-panels so the micro-kernel
//! reads both operands with unit stride.

use super::{Matrix, MR, NR};

/// Packs rows `i0..i0+mc`, depth `p0..p0+kc` of op(A) into MR-row panels: `dst[panel][p][MR]`.
pub fn pack_a(a: &Matrix, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
    for (panel, out) in dst.chunks_exact_mut(kc * MR).take(mc.div_ceil(MR)).enumerate() {
        let rows = MR.min(mc - panel * MR);
        let r0 = i0 + panel * MR;
        for p in 0..kc {
            let o = &mut out[p * MR..p * MR + MR];
            for (ii, v) in o.iter_mut().enumerate() {
                *v = if ii < rows { a.at(r0 + ii, p0 + p) } else { 0.0 };
            }
        }
    }
}

/// Packs depth `p0..p0+kc`, columns `j0..j0+nc` of op(B) into NR-column panels: `dst[panel][p][NR]`.
pub fn pack_b(b: &Matrix, p0: usize, kc: usize, j0: usize, nc: usize, dst: &mut [f32]) {
    for (panel, out) in dst.chunks_exact_mut(kc * NR).take(nc.div_ceil(NR)).enumerate() {
        let cols = NR.min(nc - panel * NR);
        let c0 = j0 + panel * NR;
        for p in 0..kc {
            let o = &mut out[p * NR..p * NR + NR];
            if !b.transposed && cols == NR {
                let start = (p0 + p) * b.ld + c0;
                o.copy_from_slice(&b.data[start..start + NR]);
            } else {
                for (jj, v) in o.iter_mut().enumerate() {
                    *v = if jj < cols { b.at(p0 + p, c0 + jj) } else { 0.0 };
                }
            }
        }
    }
}

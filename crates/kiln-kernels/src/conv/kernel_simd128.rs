//! wasm simd128 convolution micro-kernels: a 4×8 output tile in eight v128 accumulators, operands read in
//! place (no packed patch matrix). Same contracts as `kernel_scalar.rs`.

use super::{Epilogue, Run, Sweep};
use crate::gemm::{madd, MR, NR};
use core::arch::wasm32::*;

/// # Safety
/// Same as `kernel_scalar::conv_4x8`.
#[inline(always)]
pub unsafe fn conv_4x8(lanes: [*const f32; MR], runs: &[Run], b: *const f32, bias: *const f32, out: [*mut f32; MR], epilogue: Epilogue) {
    let (bias0, bias1) = (v128_load(bias as *const v128), v128_load(bias.add(4) as *const v128));
    let (mut c00, mut c01, mut c10, mut c11) = (bias0, bias1, bias0, bias1);
    let (mut c20, mut c21, mut c30, mut c31) = (bias0, bias1, bias0, bias1);
    let mut bp = b;
    for run in runs {
        let [p0, p1, p2, p3] = lanes.map(|lane| lane.add(run.offset));
        for i in 0..run.len {
            let b0 = v128_load(bp as *const v128);
            let b1 = v128_load(bp.add(4) as *const v128);
            let a0 = f32x4_splat(*p0.add(i));
            c00 = madd(a0, b0, c00);
            c01 = madd(a0, b1, c01);
            let a1 = f32x4_splat(*p1.add(i));
            c10 = madd(a1, b0, c10);
            c11 = madd(a1, b1, c11);
            let a2 = f32x4_splat(*p2.add(i));
            c20 = madd(a2, b0, c20);
            c21 = madd(a2, b1, c21);
            let a3 = f32x4_splat(*p3.add(i));
            c30 = madd(a3, b0, c30);
            c31 = madd(a3, b1, c31);
            bp = bp.add(NR);
        }
    }
    let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31)];
    let zero = f32x4_splat(0.0);
    // Row by row, so that rows adding into overlapping memory see each other's sums.
    for ((lo, hi), cr) in rows.into_iter().zip(out) {
        let (lo, hi) = match epilogue {
            Epilogue::Store => (lo, hi),
            // pmax(0, v) is 0 for NaN as well as for negatives, like the scalar `v > 0 ? v : 0`.
            Epilogue::Relu => (f32x4_pmax(zero, lo), f32x4_pmax(zero, hi)),
            Epilogue::Add => {
                (f32x4_add(v128_load(cr as *const v128), lo), f32x4_add(v128_load(cr.add(4) as *const v128), hi))
            }
        };
        v128_store(cr as *mut v128, lo);
        v128_store(cr.add(4) as *mut v128, hi);
    }
}

/// # Safety
/// Same as `kernel_scalar::filter_grad_4x8`.
#[inline(always)]
pub unsafe fn filter_grad_4x8(lanes: [*const f32; MR], b: *const f32, sweep: &Sweep, c: *mut f32, ldc: usize) {
    if (1..MR).all(|lane| lanes[lane] == lanes[0].add(lane)) {
        filter_grad_tile::<true>(lanes, b, sweep, c, ldc)
    } else {
        filter_grad_tile::<false>(lanes, b, sweep, c, ldc)
    }
}

/// With `ADJACENT`, the four taps are consecutive floats read through the first lane's pointer alone.
#[inline(always)]
unsafe fn filter_grad_tile<const ADJACENT: bool>(lanes: [*const f32; MR], b: *const f32, sweep: &Sweep, c: *mut f32, ldc: usize) {
    let zero = f32x4_splat(0.0);
    let (mut c00, mut c01, mut c10, mut c11) = (zero, zero, zero, zero);
    let (mut c20, mut c21, mut c30, mut c31) = (zero, zero, zero, zero);
    for image in 0..sweep.images {
        for row in 0..sweep.rows {
            let a_at = image * sweep.a[0] + row * sweep.a[1];
            let [mut p0, mut p1, mut p2, mut p3] = lanes.map(|lane| lane.add(a_at));
            let mut bp = b.add(image * sweep.b[0] + row * sweep.b[1]);
            for _ in 0..sweep.cols {
                if ADJACENT {
                    (p1, p2, p3) = (p0.add(1), p0.add(2), p0.add(3));
                }
                let b0 = v128_load(bp as *const v128);
                let b1 = v128_load(bp.add(4) as *const v128);
                let a0 = f32x4_splat(*p0);
                c00 = madd(a0, b0, c00);
                c01 = madd(a0, b1, c01);
                let a1 = f32x4_splat(*p1);
                c10 = madd(a1, b0, c10);
                c11 = madd(a1, b1, c11);
                let a2 = f32x4_splat(*p2);
                c20 = madd(a2, b0, c20);
                c21 = madd(a2, b1, c21);
                let a3 = f32x4_splat(*p3);
                c30 = madd(a3, b0, c30);
                c31 = madd(a3, b1, c31);
                p0 = p0.add(sweep.a[2]);
                if !ADJACENT {
                    p1 = p1.add(sweep.a[2]);
                    p2 = p2.add(sweep.a[2]);
                    p3 = p3.add(sweep.a[2]);
                }
                bp = bp.add(sweep.b[2]);
            }
        }
    }
    let rows = [(c00, c01), (c10, c11), (c20, c21), (c30, c31)];
    for (i, (lo, hi)) in rows.into_iter().enumerate() {
        let cr = c.add(i * ldc);
        v128_store(cr as *mut v128, f32x4_add(v128_load(cr as *const v128), lo));
        v128_store(cr.add(4) as *mut v128, f32x4_add(v128_load(cr.add(4) as *const v128), hi));
    }
}

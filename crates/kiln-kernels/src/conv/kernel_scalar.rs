//! Portable convolution micro-kernels (native builds and tests): a 4×8 output tile, operands read in place.

use super::{Epilogue, Run, Sweep};
use crate::gemm::{MR, NR};

/// Tile `t[r][j] = bias[j] + Σ_runs Σ_i lanes[r][run.offset + i] · b[k·NR + j]` for r < 4, j < 8, where `k`
/// counts the taps of all runs in order (b is one NR-wide panel, tap-major); row r then goes to the 8 floats at
/// `out[r]` through the epilogue, rows in order.
///
/// # Safety
/// Every lane must be readable at `run.offset .. run.offset + run.len` for each run, `b` for
/// `NR · Σ run.len` floats, `bias` for NR floats, and each `out` row writable (and readable for
/// [`Epilogue::Add`]) for NR floats.
#[inline(always)]
pub unsafe fn conv_4x8(lanes: [*const f32; MR], runs: &[Run], b: *const f32, bias: *const f32, out: [*mut f32; MR], epilogue: Epilogue) {
    let mut acc = [[0.0f32; NR]; MR];
    acc.iter_mut().for_each(|row| row.iter_mut().enumerate().for_each(|(j, v)| *v = *bias.add(j)));
    let mut bp = b;
    for run in runs {
        for i in 0..run.len {
            for (row, lane) in acc.iter_mut().zip(lanes) {
                let a = *lane.add(run.offset + i);
                row.iter_mut().enumerate().for_each(|(j, v)| *v += a * *bp.add(j));
            }
            bp = bp.add(NR);
        }
    }
    for (row, dst) in acc.iter().zip(out) {
        for (j, &v) in row.iter().enumerate() {
            *dst.add(j) = match epilogue {
                Epilogue::Store => v,
                Epilogue::Relu => if v > 0.0 { v } else { 0.0 },
                Epilogue::Add => *dst.add(j) + v,
            };
        }
    }
}

/// `c[r][j] += Σ_pixels lanes[r][a(pixel)] · b[b(pixel) + j]` for r < 4, j < 8, over the pixels of `sweep`
/// (offsets `a(pixel)`, `b(pixel)` from its strides).
///
/// # Safety
/// Every lane must be readable at each `a(pixel)`, `b` for NR floats at each `b(pixel)`, and `c` readable and
/// writable for 4 rows of NR floats at stride `ldc`.
#[inline(always)]
pub unsafe fn filter_grad_4x8(lanes: [*const f32; MR], b: *const f32, sweep: &Sweep, c: *mut f32, ldc: usize) {
    let mut acc = [[0.0f32; NR]; MR];
    for image in 0..sweep.images {
        for row in 0..sweep.rows {
            for col in 0..sweep.cols {
                let a_at = image * sweep.a[0] + row * sweep.a[1] + col * sweep.a[2];
                let bp = b.add(image * sweep.b[0] + row * sweep.b[1] + col * sweep.b[2]);
                for (acc_row, lane) in acc.iter_mut().zip(lanes) {
                    let a = *lane.add(a_at);
                    acc_row.iter_mut().enumerate().for_each(|(j, v)| *v += a * *bp.add(j));
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            *c.add(r * ldc + j) += v;
        }
    }
}

//! Single-precision GEMM, row-major: `C = alpha·op(A)·op(B) + beta·C` (BLAS semantics: `beta == 0`
//! overwrites C without reading it).
//!
//! Goto-style blocking: the output is cut into tiles of MC rows × NC columns that run independently (in
//! parallel with the `parallel` feature). Each tile walks the depth in equal blocks of at most KC, packing its
//! slice of op(A) into MR-tall panels and of op(B) into NR-wide panels, and sweeps the 4×8 micro-kernel over
//! them.

mod pack;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[path = "microkernel_simd128.rs"]
mod microkernel;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[path = "microkernel_scalar.rs"]
mod microkernel;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use microkernel::madd;
use std::cell::RefCell;
use std::fmt;

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 8;
const KC: usize = 384;
const MC: usize = 128;
const NC: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    No,
    Yes,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GemmError {
    /// A buffer is shorter than its shape and leading dimension require.
    BufferTooSmall { operand: &'static str, expected: usize, got: usize },
    /// A leading dimension is smaller than the row it strides over.
    LeadingDimension { operand: &'static str, min: usize, got: usize },
    /// alpha or beta is NaN or infinite.
    NonFinite { operand: &'static str, value: f32 },
}

impl fmt::Display for GemmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GemmError::BufferTooSmall { operand, expected, got } => {
                write!(f, "gemm: {operand} needs at least {expected} elements, got {got}")
            }
            GemmError::LeadingDimension { operand, min, got } => {
                write!(f, "gemm: leading dimension of {operand} must be at least {min}, got {got}")
            }
            GemmError::NonFinite { operand, value } => write!(f, "gemm: {operand} must be finite, got {value}"),
        }
    }
}

impl std::error::Error for GemmError {}

/// A read-only row-major operand viewed through an optional transpose.
struct Matrix<'a> {
    data: &'a [f32],
    ld: usize,
    transposed: bool,
}

impl Matrix<'_> {
    #[inline(always)]
    fn at(&self, row: usize, col: usize) -> f32 {
        if self.transposed {
            self.data[col * self.ld + row]
        } else {
            self.data[row * self.ld + col]
        }
    }
}

fn check_operand(
    name: &'static str,
    data_len: usize,
    rows: usize,
    cols: usize,
    ld: usize,
) -> Result<(), GemmError> {
    if ld < cols.max(1) {
        return Err(GemmError::LeadingDimension { operand: name, min: cols.max(1), got: ld });
    }
    let needed = if rows == 0 || cols == 0 { 0 } else { (rows - 1) * ld + cols };
    if data_len < needed {
        return Err(GemmError::BufferTooSmall { operand: name, expected: needed, got: data_len });
    }
    Ok(())
}

/// `C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C`, all row-major with leading dimensions
/// `lda`, `ldb`, `ldc`. A stored transposed is k×m (`lda ≥ m`); B stored transposed is n×k (`ldb ≥ k`).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    trans_a: Transpose,
    trans_b: Transpose,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) -> Result<(), GemmError> {
    if !alpha.is_finite() {
        return Err(GemmError::NonFinite { operand: "alpha", value: alpha });
    }
    let ta = trans_a == Transpose::Yes;
    let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
    if !beta.is_finite() {
        return Err(GemmError::NonFinite { operand: "beta", value: beta });
    }
    check_operand("A", a.len(), a_rows, a_cols, lda)?;
    let tb = trans_b == Transpose::Yes;
    let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
    check_operand("B", b.len(), b_rows, b_cols, ldb)?;
    check_operand("C", c.len(), m, n, ldc)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 || alpha == 0.0 {
        scale_c(m, n, beta, c, ldc);
        return Ok(());
    }
    let a = Matrix { data: a, ld: lda, transposed: ta };
    run_tiles(&a, &Matrix { data: b, ld: ldb, transposed: tb }, m, n, k, alpha, beta, c, ldc);
    Ok(())
}

/// The blocked product over checked, non-empty operands.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(feature = "parallel"), allow(unused_variables))]
fn run_tiles(
    a: &Matrix,
    b: &Matrix,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    let out = OutPtr(c.as_mut_ptr());
    let tiles = output_tiles(m, n, k, crate::par::thread_count());
    // One parallel region per call: each tile runs the whole depth loop on its own packed blocks, so threads
    // never wait on each other between depth blocks (re-packing B per row block costs ~1/MC of the work).
    let run_tile = |&tile: &Tile| {
        // SAFETY: tiles are disjoint rectangles of C, which was bounds-checked above.
        unsafe { compute_tile(a, b, tile, k, alpha, beta, out, ldc) }
    };
    crate::par::for_each_task(tiles.len(), |t| run_tile(&tiles[t]));
}

#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: each task writes a disjoint tile of C.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

fn scale_c(m: usize, n: usize, beta: f32, c: &mut [f32], ldc: usize) {
    for row in c.chunks_mut(ldc).take(m) {
        for v in &mut row[..n] {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
    }
}

/// A rectangle of C: first row, first column, rows, columns.
#[derive(Clone, Copy)]
struct Tile {
    i0: usize,
    j0: usize,
    rows: usize,
    cols: usize,
}

/// Multiply-adds (about 25 µs on one thread) from which a product that fits one tile is cut in two.
const SPLIT_WORK: usize = 1 << 20;

/// The MC × NC output tiles. With several threads, a product that fits one tile but is worth sharing (a dense
/// layer's forward pass at a small batch) is cut in two along its columns, else its rows, so that a second
/// thread can take half (each half packs A again, a loss on one thread). The cut changes no result: each
/// element still sums its products in the same order.
fn output_tiles(m: usize, n: usize, k: usize, threads: usize) -> Vec<Tile> {
    let (mut tile_rows, mut tile_cols) = (MC, NC);
    if threads > 1 && m <= MC && n <= NC && m * n * k >= SPLIT_WORK {
        if n >= 2 * NR {
            tile_cols = (n / 2).next_multiple_of(NR);
        } else if m >= 2 * MR {
            tile_rows = (m / 2).next_multiple_of(MR);
        }
    }
    (0..m)
        .step_by(tile_rows)
        .flat_map(|i0| (0..n).step_by(tile_cols).map(move |j0| Tile { i0, j0, rows: tile_rows.min(m - i0), cols: tile_cols.min(n - j0) }))
        .collect()
}

thread_local! {
    /// Each thread's packing buffers (A panels, B panels), kept between calls: packing overwrites what it uses.
    static PACKED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The first `len` floats of `buffer`, growing it if needed.
pub(crate) fn grown(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

/// One output tile over the full depth: per KC block, pack its rows of op(A) and columns of op(B), then sweep
/// the micro-kernel over MR × NR sub-tiles (B panel outer, so it stays in L1 while A panels stream from L2).
#[allow(clippy::too_many_arguments)]
unsafe fn compute_tile(a: &Matrix, b: &Matrix, tile: Tile, k: usize, alpha: f32, beta: f32, c: OutPtr, ldc: usize) {
    let Tile { i0, j0, rows: mc, cols: nc } = tile;
    // Equal depth blocks: 288 = 1 × 288 rather than 256 + 32, so no block is mostly overhead.
    let depth_block = k.div_ceil(k.div_ceil(KC));
    PACKED.with(|buffers| {
        let (packed_a, packed_b) = &mut *buffers.borrow_mut();
        let packed_a = grown(packed_a, mc.div_ceil(MR) * MR * depth_block);
        let packed_b = grown(packed_b, nc.div_ceil(NR) * NR * depth_block);
        let mut edge = [0.0f32; MR * NR];
        for p0 in (0..k).step_by(depth_block) {
            let kc = depth_block.min(k - p0);
            let beta = if p0 == 0 { beta } else { 1.0 };
            pack::pack_a(a, i0, mc, p0, kc, packed_a);
            pack::pack_b(b, p0, kc, j0, nc, packed_b);
            for jr in (0..nc).step_by(NR) {
                let cols = NR.min(nc - jr);
                let bp = packed_b.as_ptr().add(jr * kc);
                for ir in (0..mc).step_by(MR) {
                    let rows = MR.min(mc - ir);
                    let ap = packed_a.as_ptr().add(ir * kc);
                    let ct = c.0.add((i0 + ir) * ldc + j0 + jr);
                    if rows == MR && cols == NR {
                        microkernel::kernel_4x8(kc, ap, bp, ct, ldc, alpha, beta);
                    } else {
                        for r in 0..rows {
                            for q in 0..cols {
                                edge[r * NR + q] = *ct.add(r * ldc + q);
                            }
                        }
                        microkernel::kernel_4x8(kc, ap, bp, edge.as_mut_ptr(), NR, alpha, beta);
                        for r in 0..rows {
                            for q in 0..cols {
                                *ct.add(r * ldc + q) = edge[r * NR + q];
                            }
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests;

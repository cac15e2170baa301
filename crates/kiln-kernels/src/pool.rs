//! 2-D max and average pooling over NHWC activations, per channel. Padding cells never take part: a max
//! window ignores them and an average divides by the number of real cells only (TensorFlow semantics).
//! Work is split across images; the inner loops run over the channels of one cell (NHWC keeps them
//! contiguous) and are written as selects and plain arithmetic so that they compile to SIMD.

use std::ops::Range;

use crate::conv::{output_extent, AxisNames, Padding};
use crate::error::{check_rebuilt, check_len, check_positive, product, KernelError};
use crate::par;

/// Shapes of one pooling, derived and checked once by [`Pool2dGeometry::new`]; every kernel re-checks that
/// its geometry is one `new` would build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub pool_h: usize,
    pub pool_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Pool2dGeometry {
    /// Checks every size and stride is at least 1, the window fits the (padded) input and the buffer sizes
    /// fit in `usize`.
    pub fn new(
        batch: usize,
        in_h: usize,
        in_w: usize,
        channels: usize,
        pool: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
    ) -> Result<Self, KernelError> {
        const KERNEL: &str = "Pool2dGeometry::new";
        let ((pool_h, pool_w), (stride_h, stride_w)) = (pool, stride);
        for (argument, value) in [
            ("batch", batch),
            ("in_h", in_h),
            ("in_w", in_w),
            ("channels", channels),
            ("pool_h", pool_h),
            ("pool_w", pool_w),
            ("stride_h", stride_h),
            ("stride_w", stride_w),
        ] {
            check_positive(KERNEL, argument, value)?;
        }
        let (out_h, pad_top) =
            output_extent(KERNEL, &AxisNames { input: "in_h", window: "pool_h" }, in_h, pool_h, stride_h, 1, padding)?;
        let (out_w, pad_left) =
            output_extent(KERNEL, &AxisNames { input: "in_w", window: "pool_w" }, in_w, pool_w, stride_w, 1, padding)?;
        if product(&[batch, in_h, in_w, channels]).is_none() {
            return Err(KernelError::Value {
                kernel: KERNEL,
                argument: "input",
                expected: "a size that fits in usize".into(),
                got: format!("{batch}*{in_h}*{in_w}*{channels}"),
            });
        }
        Ok(Pool2dGeometry {
            batch,
            in_h,
            in_w,
            channels,
            pool_h,
            pool_w,
            stride_h,
            stride_w,
            padding,
            pad_top,
            pad_left,
            out_h,
            out_w,
        })
    }

    /// Rebuilds the geometry from its defining fields and fails unless it matches.
    pub(crate) fn check(&self, kernel: &'static str) -> Result<(), KernelError> {
        let rebuilt = Self::new(
            self.batch,
            self.in_h,
            self.in_w,
            self.channels,
            (self.pool_h, self.pool_w),
            (self.stride_h, self.stride_w),
            self.padding,
        );
        check_rebuilt(kernel, "Pool2dGeometry", self, rebuilt)
    }

    /// Elements of one input image (`in_h*in_w*channels`).
    pub fn input_image_len(&self) -> usize {
        self.in_h * self.in_w * self.channels
    }

    /// Elements of one output image (`out_h*out_w*channels`).
    pub fn output_image_len(&self) -> usize {
        self.out_h * self.out_w * self.channels
    }

    /// Input rows under the window of output row `oy`, padding excluded (never empty).
    fn rows(&self, oy: usize) -> Range<usize> {
        let start = oy * self.stride_h;
        start.saturating_sub(self.pad_top)..(start + self.pool_h - self.pad_top).min(self.in_h)
    }

    /// Input columns under the window of output column `ox`, padding excluded (never empty).
    fn cols(&self, ox: usize) -> Range<usize> {
        let start = ox * self.stride_w;
        start.saturating_sub(self.pad_left)..(start + self.pool_w - self.pad_left).min(self.in_w)
    }

    /// Offsets into one input image of the real cells under output cell `cell`'s window, row-major.
    fn window(&self, cell: usize) -> impl Iterator<Item = usize> {
        let (rows, cols) = (self.rows(cell / self.out_w), self.cols(cell % self.out_w));
        let (in_w, c) = (self.in_w, self.channels);
        rows.flat_map(move |y| cols.clone().map(move |x| (y * in_w + x) * c))
    }

    /// 1 / (number of real cells under output cell `cell`'s window).
    fn inverse_count(&self, cell: usize) -> f32 {
        1.0 / (self.rows(cell / self.out_w).len() * self.cols(cell % self.out_w).len()) as f32
    }

    /// Whether windows can share cells (a stride below the window).
    fn overlaps(&self) -> bool {
        self.stride_h < self.pool_h || self.stride_w < self.pool_w
    }

    /// Prepares one image's input gradient for the windows' scatter: all zero where windows overlap (they add
    /// up), else only the cells no window covers (each covered cell is then written exactly once).
    fn clear_gradient(&self, image: &mut [f32]) {
        if self.overlaps() {
            image.fill(0.0);
        } else {
            self.zero_uncovered(image);
        }
    }

    /// Zeroes the cells of one input image that no window covers (gaps from strides wider than the window and
    /// the rows and columns a `valid` pooling leaves out). Only for windows that do not overlap, which then
    /// follow each other in order along both axes.
    fn zero_uncovered(&self, image: &mut [f32]) {
        let (c, row_len) = (self.channels, self.in_w * self.channels);
        let mut row_end = 0;
        for oy in 0..=self.out_h {
            let rows = if oy < self.out_h { self.rows(oy) } else { self.in_h..self.in_h };
            image[row_end * row_len..rows.start * row_len].fill(0.0);
            for row in image[rows.start * row_len..rows.end * row_len].chunks_exact_mut(row_len) {
                let mut col_end = 0;
                for ox in 0..=self.out_w {
                    let cols = if ox < self.out_w { self.cols(ox) } else { self.in_w..self.in_w };
                    row[col_end * c..cols.start * c].fill(0.0);
                    col_end = cols.end;
                }
            }
            row_end = rows.end;
        }
    }

    fn check_input(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.in_h, self.in_w, self.channels])
    }

    fn check_output(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.out_h, self.out_w, self.channels])
    }
}

/// `output[b, y, x, c]` = max of `input` over the window (a NaN input need not propagate).
pub fn max_pool2d_forward(g: &Pool2dGeometry, input: &[f32], output: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "max_pool2d_forward";
    g.check(KERNEL)?;
    g.check_input(KERNEL, "input", input.len())?;
    g.check_output(KERNEL, "output", output.len())?;
    // A select rather than f32::max (which skips NaN), so the compiler emits SIMD compares.
    reduce_windows(g, input, output, |o, v| *o = if v > *o { v } else { *o }, |_, _| {});
    Ok(())
}

/// Per output cell and channel: the window's first cell, folded with `combine` over the others, then
/// `finish(cell, channels)`. One image per task.
fn reduce_windows(
    g: &Pool2dGeometry,
    input: &[f32],
    output: &mut [f32],
    combine: impl Fn(&mut f32, f32) + Sync,
    finish: impl Fn(usize, &mut [f32]) + Sync,
) {
    let (in_len, c) = (g.input_image_len(), g.channels);
    par::for_each_chunk_mut(output, g.output_image_len(), |b, output| {
        let image = &input[b * in_len..][..in_len];
        for (cell, out) in output.chunks_exact_mut(c).enumerate() {
            let mut cells = g.window(cell);
            out.copy_from_slice(&image[cells.next().unwrap_or(0)..][..c]);
            for at in cells {
                out.iter_mut().zip(&image[at..at + c]).for_each(|(o, &v)| combine(o, v));
            }
            finish(cell, out);
        }
    });
}

/// Gradient of [`max_pool2d_forward`] from its `input` and `output` (TensorFlow's MaxPoolGrad): each
/// `grad_output` element goes to the first cell of its window, in row-major order, whose input equals the
/// window's output; overlapping windows add up. Overwrites `grad_input`.
pub fn max_pool2d_backward(
    g: &Pool2dGeometry,
    input: &[f32],
    output: &[f32],
    grad_output: &[f32],
    grad_input: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "max_pool2d_backward";
    g.check(KERNEL)?;
    g.check_input(KERNEL, "input", input.len())?;
    g.check_output(KERNEL, "output", output.len())?;
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    g.check_input(KERNEL, "grad_input", grad_input.len())?;
    let (in_len, out_len, c) = (g.input_image_len(), g.output_image_len(), g.channels);
    let overlap = g.overlaps();
    par::for_each_chunk_mut(grad_input, in_len, |b, grad_input| {
        let image = &input[b * in_len..][..in_len];
        let (output, grad_output) = (&output[b * out_len..][..out_len], &grad_output[b * out_len..][..out_len]);
        g.clear_gradient(grad_input);
        // The gradient of the current window still to be routed, per channel: cleared where it lands.
        let mut pending = vec![0.0f32; c];
        for (cell, (y, dy)) in output.chunks_exact(c).zip(grad_output.chunks_exact(c)).enumerate() {
            pending.copy_from_slice(dy);
            for at in g.window(cell) {
                let cells = grad_input[at..at + c].iter_mut().zip(&image[at..at + c]).zip(y).zip(&mut pending);
                if overlap {
                    for (((d, &v), &m), p) in cells {
                        *d += if v == m { *p } else { 0.0 };
                        *p = if v == m { 0.0 } else { *p };
                    }
                } else {
                    for (((d, &v), &m), p) in cells {
                        *d = if v == m { *p } else { 0.0 };
                        *p = if v == m { 0.0 } else { *p };
                    }
                }
            }
        }
    });
    Ok(())
}

/// `output[b, y, x, c]` = mean of `input` over the window's real (non-padding) cells.
pub fn avg_pool2d_forward(g: &Pool2dGeometry, input: &[f32], output: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "avg_pool2d_forward";
    g.check(KERNEL)?;
    g.check_input(KERNEL, "input", input.len())?;
    g.check_output(KERNEL, "output", output.len())?;
    reduce_windows(g, input, output, |o, v| *o += v, |cell, out| {
        let scale = g.inverse_count(cell);
        out.iter_mut().for_each(|o| *o *= scale);
    });
    Ok(())
}

/// Gradient of [`avg_pool2d_forward`]; overwrites `grad_input`.
pub fn avg_pool2d_backward(g: &Pool2dGeometry, grad_output: &[f32], grad_input: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "avg_pool2d_backward";
    g.check(KERNEL)?;
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    g.check_input(KERNEL, "grad_input", grad_input.len())?;
    let (out_len, c) = (g.output_image_len(), g.channels);
    let overlap = g.overlaps();
    par::for_each_chunk_mut(grad_input, g.input_image_len(), |b, grad_input| {
        g.clear_gradient(grad_input);
        for (cell, dy) in grad_output[b * out_len..][..out_len].chunks_exact(c).enumerate() {
            let scale = g.inverse_count(cell);
            for at in g.window(cell) {
                let cells = grad_input[at..at + c].iter_mut().zip(dy);
                if overlap {
                    cells.for_each(|(d, &dv)| *d += dv * scale);
                } else {
                    cells.for_each(|(d, &dv)| *d = dv * scale);
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;

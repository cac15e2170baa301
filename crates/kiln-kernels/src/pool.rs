//! 2-D max and average pooling over NHWC activations, per channel. Padding cells never take part: a max
//! window ignores them and an average divides by the number of real cells only (TensorFlow semantics).
//! Work is split across images.

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
    fn check(&self, kernel: &'static str) -> Result<(), KernelError> {
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

    fn check_input(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.in_h, self.in_w, self.channels])
    }

    fn check_output(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.out_h, self.out_w, self.channels])
    }
}

/// `output[b, y, x, c]` = max of `input` over the window; `argmax` gets the flat index into `input` (whole
/// batch) of each maximum, the first one on ties.
pub fn max_pool2d_forward(
    g: &Pool2dGeometry,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "max_pool2d_forward";
    g.check(KERNEL)?;
    g.check_input(KERNEL, "input", input.len())?;
    g.check_output(KERNEL, "output", output.len())?;
    g.check_output(KERNEL, "argmax", argmax.len())?;
    if u32::try_from(input.len()).is_err() {
        return Err(KernelError::Value {
            kernel: KERNEL,
            argument: "input",
            expected: format!("at most {} elements so argmax fits in u32", u32::MAX),
            got: input.len().to_string(),
        });
    }
    let (in_len, c) = (g.input_image_len(), g.channels);
    par::for_each_chunk_mut2(output, argmax, g.output_image_len(), |b, output, argmax| {
        let image = &input[b * in_len..][..in_len];
        let base = b * in_len;
        for (cell, (out, arg)) in output.chunks_exact_mut(c).zip(argmax.chunks_exact_mut(c)).enumerate() {
            let (rows, cols) = (g.rows(cell / g.out_w), g.cols(cell % g.out_w));
            let first = (rows.start * g.in_w + cols.start) * c;
            out.copy_from_slice(&image[first..][..c]);
            arg.iter_mut().enumerate().for_each(|(ch, a)| *a = (base + first + ch) as u32);
            for y in rows {
                for x in cols.clone() {
                    let at = (y * g.in_w + x) * c;
                    // Branch-free selects over the channel vector, so the compiler emits SIMD compares.
                    for (ch, ((o, a), &v)) in out.iter_mut().zip(arg.iter_mut()).zip(&image[at..at + c]).enumerate() {
                        let greater = v > *o;
                        *o = if greater { v } else { *o };
                        *a = if greater { (base + at + ch) as u32 } else { *a };
                    }
                }
            }
        }
    });
    Ok(())
}

/// Gradient of [`max_pool2d_forward`]: `grad_input` is overwritten with zeros, then each `grad_output` element
/// is added at its `argmax` index (which must lie in the same image).
pub fn max_pool2d_backward(
    g: &Pool2dGeometry,
    grad_output: &[f32],
    argmax: &[u32],
    grad_input: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "max_pool2d_backward";
    g.check(KERNEL)?;
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    g.check_output(KERNEL, "argmax", argmax.len())?;
    g.check_input(KERNEL, "grad_input", grad_input.len())?;
    let (in_len, out_len) = (g.input_image_len(), g.output_image_len());
    if let Some((i, &a)) = argmax.iter().enumerate().find(|&(i, &a)| (a as usize) / in_len != i / out_len) {
        let b = i / out_len;
        return Err(KernelError::Value {
            kernel: KERNEL,
            argument: "argmax",
            expected: format!("an index into image {b} ({}..{})", b * in_len, (b + 1) * in_len),
            got: format!("argmax[{i}] = {a}"),
        });
    }
    par::for_each_chunk_mut(grad_input, in_len, |b, grad_input| {
        grad_input.fill(0.0);
        let offset = b * in_len;
        for (&dy, &a) in grad_output[b * out_len..][..out_len].iter().zip(&argmax[b * out_len..]) {
            grad_input[a as usize - offset] += dy;
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
    let (in_len, c) = (g.input_image_len(), g.channels);
    par::for_each_chunk_mut(output, g.output_image_len(), |b, output| {
        let image = &input[b * in_len..][..in_len];
        for (cell, out) in output.chunks_exact_mut(c).enumerate() {
            let (rows, cols) = (g.rows(cell / g.out_w), g.cols(cell % g.out_w));
            let scale = 1.0 / (rows.len() * cols.len()) as f32;
            out.fill(0.0);
            for y in rows {
                for x in cols.clone() {
                    for (o, &v) in out.iter_mut().zip(&image[(y * g.in_w + x) * c..][..c]) {
                        *o += v;
                    }
                }
            }
            out.iter_mut().for_each(|o| *o *= scale);
        }
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
    par::for_each_chunk_mut(grad_input, g.input_image_len(), |b, grad_input| {
        grad_input.fill(0.0);
        for (cell, dy) in grad_output[b * out_len..][..out_len].chunks_exact(c).enumerate() {
            let (rows, cols) = (g.rows(cell / g.out_w), g.cols(cell % g.out_w));
            let scale = 1.0 / (rows.len() * cols.len()) as f32;
            for y in rows {
                for x in cols.clone() {
                    for (d, &dv) in grad_input[(y * g.in_w + x) * c..][..c].iter_mut().zip(dy) {
                        *d += dv * scale;
                    }
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;

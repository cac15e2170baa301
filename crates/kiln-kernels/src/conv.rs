//! 2-D convolution over NHWC activations with HWIO filters (`[k_h, k_w, in_c, out_c]`, the Keras layout), as
//! im2col + GEMM: each image's patches become rows of `cols[out_h*out_w, k_h*k_w*in_c]`, whose column order
//! matches the filter's rows, so `out = cols · W`, `dW = colsᵀ · dY` and `dcols = dY · Wᵀ` (then scattered
//! back by col2im). The batch is split into fixed tasks of a few images (one parallel region per call), and
//! each task walks its images in blocks small enough that patches, outputs and packed panels stay in L2. Bias
//! and ReLU are applied to each block as it leaves the GEMM; the backward pass masks by ReLU once per block.

use crate::error::{check_rebuilt, check_len, check_positive, product, KernelError};
use crate::gemm::{sgemm_serial, Transpose};
use crate::par;

/// TensorFlow padding modes. `Same` gives `out = ceil(in / stride)` and pads
/// `max((out-1)*stride + (k-1)*dilation + 1 - in, 0)` in total, the smaller half before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

/// Names used in errors for one spatial axis.
pub(crate) struct AxisNames {
    pub input: &'static str,
    pub window: &'static str,
}

/// Output length and leading padding of one spatial axis.
pub(crate) fn output_extent(
    kernel: &'static str,
    names: &AxisNames,
    input: usize,
    window: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize), KernelError> {
    let overflow = || KernelError::Value {
        kernel,
        argument: names.window,
        expected: "small enough that (window-1)*dilation+1 fits in usize".into(),
        got: window.to_string(),
    };
    let span = (window - 1).checked_mul(dilation).and_then(|s| s.checked_add(1)).ok_or_else(overflow)?;
    match padding {
        Padding::Valid => {
            if span > input {
                return Err(KernelError::Value {
                    kernel,
                    argument: names.window,
                    expected: format!("a dilated extent of at most {} = {input} with Valid padding", names.input),
                    got: format!("extent {span}"),
                });
            }
            Ok(((input - span) / stride + 1, 0))
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride).saturating_add(span).saturating_sub(input);
            Ok((out, total / 2))
        }
    }
}

/// Shapes of one convolution, derived and checked once by [`Conv2dGeometry::new`]; every kernel re-checks
/// that its geometry is one `new` would build, so hand-edited fields are an error rather than a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub padding: Padding,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Conv2dGeometry {
    /// Checks every size, stride and dilation is at least 1, the (dilated) kernel fits the padded input and
    /// the buffer sizes fit in `usize`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        in_h: usize,
        in_w: usize,
        in_c: usize,
        out_c: usize,
        k_h: usize,
        k_w: usize,
        stride: (usize, usize),
        dilation: (usize, usize),
        padding: Padding,
    ) -> Result<Self, KernelError> {
        const KERNEL: &str = "Conv2dGeometry::new";
        let (stride_h, stride_w) = stride;
        let (dilation_h, dilation_w) = dilation;
        for (argument, value) in [
            ("batch", batch),
            ("in_h", in_h),
            ("in_w", in_w),
            ("in_c", in_c),
            ("out_c", out_c),
            ("k_h", k_h),
            ("k_w", k_w),
            ("stride_h", stride_h),
            ("stride_w", stride_w),
            ("dilation_h", dilation_h),
            ("dilation_w", dilation_w),
        ] {
            check_positive(KERNEL, argument, value)?;
        }
        let (out_h, pad_top) = output_extent(
            KERNEL,
            &AxisNames { input: "in_h", window: "k_h" },
            in_h,
            k_h,
            stride_h,
            dilation_h,
            padding,
        )?;
        let (out_w, pad_left) = output_extent(
            KERNEL,
            &AxisNames { input: "in_w", window: "k_w" },
            in_w,
            k_w,
            stride_w,
            dilation_w,
            padding,
        )?;
        let g = Conv2dGeometry {
            batch,
            in_h,
            in_w,
            in_c,
            out_c,
            k_h,
            k_w,
            stride_h,
            stride_w,
            dilation_h,
            dilation_w,
            padding,
            pad_top,
            pad_left,
            out_h,
            out_w,
        };
        for (argument, dims) in [
            ("input", [batch, in_h, in_w, in_c]),
            ("output", [batch, out_h, out_w, out_c]),
            ("filter", [k_h, k_w, in_c, out_c]),
            ("column buffer", [out_h, out_w, g.patch_len(), 1]),
        ] {
            if product(&dims).is_none() {
                return Err(KernelError::Value {
                    kernel: KERNEL,
                    argument,
                    expected: "a size that fits in usize".into(),
                    got: dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("*"),
                });
            }
        }
        Ok(g)
    }

    /// Rebuilds the geometry from its defining fields and fails unless it matches.
    fn check(&self, kernel: &'static str) -> Result<(), KernelError> {
        let rebuilt = Self::new(
            self.batch,
            self.in_h,
            self.in_w,
            self.in_c,
            self.out_c,
            self.k_h,
            self.k_w,
            (self.stride_h, self.stride_w),
            (self.dilation_h, self.dilation_w),
            self.padding,
        );
        check_rebuilt(kernel, "Conv2dGeometry", self, rebuilt)
    }

    /// Elements of one input image (`in_h*in_w*in_c`).
    pub fn input_image_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Elements of one output image (`out_h*out_w*out_c`).
    pub fn output_image_len(&self) -> usize {
        self.out_h * self.out_w * self.out_c
    }

    /// Length of one im2col row, the filter's row count (`k_h*k_w*in_c`).
    pub fn patch_len(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }

    fn output_pixels(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Input row of kernel tap `ky` at output row `oy`, or None inside the padding.
    #[inline]
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride_h + ky * self.dilation_h).checked_sub(self.pad_top).filter(|&y| y < self.in_h)
    }

    /// Input column of kernel tap `kx` at output column `ox`, or None inside the padding.
    #[inline]
    fn input_col(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.stride_w + kx * self.dilation_w).checked_sub(self.pad_left).filter(|&x| x < self.in_w)
    }

    fn check_activation(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.in_h, self.in_w, self.in_c])
    }

    fn check_output(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.batch, self.out_h, self.out_w, self.out_c])
    }

    fn check_filter(&self, kernel: &'static str, argument: &'static str, len: usize) -> Result<(), KernelError> {
        check_len(kernel, argument, len, &[self.k_h, self.k_w, self.in_c, self.out_c])
    }
}

/// Writes the patch rows of one image: `cols[(oy*out_w+ox)*patch + (ky*k_w+kx)*in_c + c]`, zeros in the padding.
/// Where a patch row's taps are adjacent in the input (no horizontal dilation, all inside the image), the
/// `k_w*in_c` values of one kernel row are one contiguous copy.
fn im2col_image(g: &Conv2dGeometry, image: &[f32], cols: &mut [f32]) {
    let c = g.in_c;
    let row_len = g.k_w * c;
    for (pixel, patch) in cols.chunks_exact_mut(g.patch_len()).enumerate() {
        let (oy, ox) = (pixel / g.out_w, pixel % g.out_w);
        let first_x = g.input_col(ox, 0);
        let whole_row = g.dilation_w == 1 && first_x.is_some() && g.input_col(ox, g.k_w - 1).is_some();
        for (ky, dst) in patch.chunks_exact_mut(row_len).enumerate() {
            match (g.input_row(oy, ky), first_x) {
                (Some(y), Some(x)) if whole_row => dst.copy_from_slice(&image[(y * g.in_w + x) * c..][..row_len]),
                (Some(y), _) => {
                    for (kx, tap) in dst.chunks_exact_mut(c).enumerate() {
                        match g.input_col(ox, kx) {
                            Some(x) => tap.copy_from_slice(&image[(y * g.in_w + x) * c..][..c]),
                            None => tap.fill(0.0),
                        }
                    }
                }
                (None, _) => dst.fill(0.0),
            }
        }
    }
}

/// Overwrites one image's gradient with the scatter-add of its patch-row gradients (the adjoint of im2col).
fn col2im_image(g: &Conv2dGeometry, cols: &[f32], image: &mut [f32]) {
    let c = g.in_c;
    image.fill(0.0);
    for (pixel, row) in cols.chunks_exact(g.patch_len()).enumerate() {
        let (oy, ox) = (pixel / g.out_w, pixel % g.out_w);
        for (tap, src) in row.chunks_exact(c).enumerate() {
            let (ky, kx) = (tap / g.k_w, tap % g.k_w);
            if let (Some(y), Some(x)) = (g.input_row(oy, ky), g.input_col(ox, kx)) {
                for (d, s) in image[(y * g.in_w + x) * c..][..c].iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
    }
}

/// The activation fused into the convolution's output stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvActivation {
    Linear,
    /// `max(x, 0)`; the backward pass then takes the forward's output to mask the gradient.
    Relu,
}

/// Gradients [`conv2d_backward`] writes (each overwritten); `input` and `bias` are skipped when None.
pub struct Conv2dGrads<'a> {
    pub input: Option<&'a mut [f32]>,
    pub filter: &'a mut [f32],
    pub bias: Option<&'a mut [f32]>,
}

/// Images per parallel task: fixed, so the filter-gradient partials (and thus results) do not depend on the
/// number of threads.
const IMAGES_PER_TASK: usize = 4;
/// Column-buffer floats per block of a task (128 KiB): a block's patches, output and packed panels stay in L2.
const BLOCK_BUDGET: usize = 1 << 15;

impl Conv2dGeometry {
    /// Images per im2col block, at most one task's.
    fn images_per_block(&self) -> usize {
        (BLOCK_BUDGET / (self.output_pixels() * self.patch_len())).clamp(1, IMAGES_PER_TASK)
    }

    fn task_count(&self) -> usize {
        self.batch.div_ceil(IMAGES_PER_TASK)
    }
}

/// The image ranges `(first, count)` of task `task`'s blocks, `first` relative to the task.
fn blocks(g: &Conv2dGeometry, task: usize) -> impl Iterator<Item = (usize, usize)> {
    let images = IMAGES_PER_TASK.min(g.batch - task * IMAGES_PER_TASK);
    let per = g.images_per_block();
    (0..images).step_by(per).map(move |first| (first, per.min(images - first)))
}

/// im2col of `images.len() / input_image_len` consecutive images into the front of `cols`.
fn im2col(g: &Conv2dGeometry, images: &[f32], cols: &mut [f32]) {
    let cols_len = g.output_pixels() * g.patch_len();
    for (image, image_cols) in images.chunks_exact(g.input_image_len()).zip(cols.chunks_exact_mut(cols_len)) {
        im2col_image(g, image, image_cols);
    }
}

/// col2im of the front of `cols` into the consecutive images of `images` (overwritten).
fn col2im(g: &Conv2dGeometry, cols: &[f32], images: &mut [f32]) {
    let cols_len = g.output_pixels() * g.patch_len();
    for (image, image_cols) in images.chunks_exact_mut(g.input_image_len()).zip(cols.chunks_exact(cols_len)) {
        col2im_image(g, image_cols, image);
    }
}

/// Adds the bias to each output row and applies the activation, while the block is still in cache.
fn output_stage(out: &mut [f32], bias: Option<&[f32]>, activation: ConvActivation) {
    let relu = activation == ConvActivation::Relu;
    match bias {
        Some(bias) => {
            for row in out.chunks_exact_mut(bias.len()) {
                for (o, &b) in row.iter_mut().zip(bias) {
                    let v = *o + b;
                    *o = if v > 0.0 || !relu { v } else { 0.0 };
                }
            }
        }
        None if relu => out.iter_mut().for_each(|o| *o = if *o > 0.0 { *o } else { 0.0 }),
        None => {}
    }
}

/// `output[b, y, x, o] = act(Σ input[b, y*s+ky*d-pad, x*s+kx*d-pad, c] · filter[ky, kx, c, o] + bias[o])`.
pub fn conv2d_forward(
    g: &Conv2dGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    activation: ConvActivation,
    output: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_forward";
    g.check(KERNEL)?;
    g.check_activation(KERNEL, "input", input.len())?;
    g.check_filter(KERNEL, "filter", filter.len())?;
    if let Some(bias) = bias {
        check_len(KERNEL, "bias", bias.len(), &[g.out_c])?;
    }
    g.check_output(KERNEL, "output", output.len())?;
    let (patch, pixels, in_len, out_len) = (g.patch_len(), g.output_pixels(), g.input_image_len(), g.output_image_len());
    // One parallel region: each task runs its images block by block (im2col, GEMM, bias and activation), all
    // on the same cache-sized buffers.
    par::map_chunks_mut(output, IMAGES_PER_TASK * out_len, |task, task_output| {
        let first_image = task * IMAGES_PER_TASK;
        let mut cols = vec![0.0f32; g.images_per_block() * pixels * patch];
        for (first, count) in blocks(g, task) {
            let rows = count * pixels;
            im2col(g, &input[(first_image + first) * in_len..][..count * in_len], &mut cols);
            let out = &mut task_output[first * out_len..][..count * out_len];
            sgemm_serial(Transpose::No, Transpose::No, rows, g.out_c, patch, 1.0, &cols, patch, filter, g.out_c, 0.0, out, g.out_c)?;
            output_stage(out, bias, activation);
        }
        Ok::<(), KernelError>(())
    })
    .into_iter()
    .collect()
}

/// One task's share of the filter and bias gradients.
struct Partial {
    filter: Vec<f32>,
    bias: Vec<f64>,
}

/// Gradients of [`conv2d_forward`] with respect to its input, filter and bias. `relu_output` is the forward's
/// output when it applied [`ConvActivation::Relu`]: the gradient then flows only where it is positive.
pub fn conv2d_backward(
    g: &Conv2dGeometry,
    input: &[f32],
    filter: &[f32],
    relu_output: Option<&[f32]>,
    grad_output: &[f32],
    grads: Conv2dGrads,
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_backward";
    g.check(KERNEL)?;
    g.check_activation(KERNEL, "input", input.len())?;
    g.check_filter(KERNEL, "filter", filter.len())?;
    if let Some(y) = relu_output {
        g.check_output(KERNEL, "relu_output", y.len())?;
    }
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    let Conv2dGrads { input: grad_input, filter: grad_filter, bias: grad_bias } = grads;
    if let Some(dx) = &grad_input {
        g.check_activation(KERNEL, "grad_input", dx.len())?;
    }
    g.check_filter(KERNEL, "grad_filter", grad_filter.len())?;
    if let Some(db) = &grad_bias {
        check_len(KERNEL, "grad_bias", db.len(), &[g.out_c])?;
    }
    let (patch, pixels, out_c) = (g.patch_len(), g.output_pixels(), g.out_c);
    let (in_len, out_len) = (g.input_image_len(), g.output_image_len());
    let with_bias = grad_bias.is_some();
    // Per task and block: mask the output gradient once, add its column sums to the bias partial, im2col the
    // input for the filter partial, then reuse the column buffer for the input gradient and scatter it back.
    let task = |task: usize, mut task_grad_input: Option<&mut [f32]>| -> Result<Partial, KernelError> {
        let first_image = task * IMAGES_PER_TASK;
        let block_rows = g.images_per_block() * pixels;
        let mut cols = vec![0.0f32; block_rows * patch];
        let mut masked = vec![0.0f32; if relu_output.is_some() { block_rows * out_c } else { 0 }];
        let mut partial = Partial { filter: vec![0.0; patch * out_c], bias: vec![0.0; if with_bias { out_c } else { 0 }] };
        for (first, count) in blocks(g, task) {
            let rows = count * pixels;
            let at = (first_image + first) * out_len;
            let mut dy = &grad_output[at..][..rows * out_c];
            if let Some(y) = relu_output {
                for ((m, &d), &y) in masked.iter_mut().zip(dy).zip(&y[at..][..rows * out_c]) {
                    *m = if y > 0.0 { d } else { 0.0 };
                }
                dy = &masked[..rows * out_c];
            }
            if with_bias {
                for row in dy.chunks_exact(out_c) {
                    partial.bias.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64);
                }
            }
            im2col(g, &input[(first_image + first) * in_len..][..count * in_len], &mut cols);
            let beta = if first == 0 { 0.0 } else { 1.0 };
            sgemm_serial(Transpose::Yes, Transpose::No, patch, out_c, rows, 1.0, &cols, patch, dy, out_c, beta, &mut partial.filter, out_c)?;
            if let Some(dx) = task_grad_input.as_deref_mut() {
                sgemm_serial(Transpose::No, Transpose::Yes, rows, patch, out_c, 1.0, dy, out_c, filter, out_c, 0.0, &mut cols, patch)?;
                col2im(g, &cols, &mut dx[first * in_len..][..count * in_len]);
            }
        }
        Ok(partial)
    };
    let partials = match grad_input {
        Some(dx) => par::map_chunks_mut(dx, IMAGES_PER_TASK * in_len, |t, dx| task(t, Some(dx))),
        None => par::map_chunks(&(0..g.task_count()).collect::<Vec<_>>(), 1, |t, _| task(t, None)),
    };
    grad_filter.fill(0.0);
    let mut bias_total = vec![0.0f64; if with_bias { out_c } else { 0 }];
    for partial in partials {
        let partial = partial?;
        grad_filter.iter_mut().zip(&partial.filter).for_each(|(d, p)| *d += p);
        bias_total.iter_mut().zip(&partial.bias).for_each(|(d, p)| *d += p);
    }
    if let Some(db) = grad_bias {
        db.iter_mut().zip(bias_total).for_each(|(d, t)| *d = t as f32);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

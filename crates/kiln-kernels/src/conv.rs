//! 2-D convolution over NHWC activations with HWIO filters (`[k_h, k_w, in_c, out_c]`, the Keras layout), as
//! im2col + [`sgemm`]. The batch runs in sub-batches so the column buffer stays a few MiB: each image's patches
//! become rows of `cols[out_h*out_w, k_h*k_w*in_c]`, whose column order matches the filter's rows, so
//! `out = cols · W`, `dW = colsᵀ · dY` and `dcols = dY · Wᵀ` (then scattered back by col2im).

use crate::activation::{add_row_vector, column_sums};
use crate::error::{check_rebuilt, check_len, check_positive, product, KernelError};
use crate::gemm::{sgemm, Transpose};
use crate::par;

/// Column-buffer budget per sub-batch, in floats (4 MiB); at least one image runs regardless.
const COLUMN_BUDGET: usize = 1 << 20;
/// Most images per sub-batch.
const MAX_IMAGES_PER_SUB_BATCH: usize = 8;

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

    fn images_per_sub_batch(&self) -> usize {
        (COLUMN_BUDGET / (self.output_pixels() * self.patch_len())).clamp(1, MAX_IMAGES_PER_SUB_BATCH)
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

/// im2col of `images` consecutive images into `cols`, one image per task.
fn im2col(g: &Conv2dGeometry, images: &[f32], cols: &mut [f32]) {
    let image_len = g.input_image_len();
    par::for_each_chunk_mut(cols, g.output_pixels() * g.patch_len(), |i, image_cols| {
        im2col_image(g, &images[i * image_len..][..image_len], image_cols)
    });
}

/// col2im of consecutive images' column gradients into `images` (overwritten), one image per task.
fn col2im(g: &Conv2dGeometry, cols: &[f32], images: &mut [f32]) {
    let cols_len = g.output_pixels() * g.patch_len();
    par::for_each_chunk_mut(images, g.input_image_len(), |i, image| {
        col2im_image(g, &cols[i * cols_len..][..cols_len], image)
    });
}

/// Image ranges `(first, count)` of the sub-batches.
fn sub_batches(g: &Conv2dGeometry) -> impl Iterator<Item = (usize, usize)> {
    let per = g.images_per_sub_batch();
    let batch = g.batch;
    (0..batch).step_by(per).map(move |first| (first, per.min(batch - first)))
}

/// `output[b, y, x, o] = Σ input[b, y*s+ky*d-pad, x*s+kx*d-pad, c] · filter[ky, kx, c, o] + bias[o]`.
pub fn conv2d_forward(
    g: &Conv2dGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
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
    let (patch, pixels, in_len) = (g.patch_len(), g.output_pixels(), g.input_image_len());
    // Sub-batches are independent tasks (im2col, then the GEMM into their own rows of the output): one
    // parallel region per call, each task's column buffer staying cache-sized.
    let per = g.images_per_sub_batch();
    par::map_chunks_mut(output, per * pixels * g.out_c, |i, out| {
        let (first, rows) = (i * per, out.len() / g.out_c);
        let count = rows / pixels;
        let mut cols = vec![0.0f32; rows * patch];
        im2col(g, &input[first * in_len..][..count * in_len], &mut cols);
        sgemm(Transpose::No, Transpose::No, rows, g.out_c, patch, 1.0, &cols, patch, filter, g.out_c, 0.0, out, g.out_c)
    })
    .into_iter()
    .collect::<Result<(), _>>()?;
    if let Some(bias) = bias {
        add_row_vector(output, bias);
    }
    Ok(())
}

/// Gradient of [`conv2d_forward`] with respect to its input; overwrites `grad_input`.
pub fn conv2d_backward_input(
    g: &Conv2dGeometry,
    grad_output: &[f32],
    filter: &[f32],
    grad_input: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_backward_input";
    g.check(KERNEL)?;
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    g.check_filter(KERNEL, "filter", filter.len())?;
    g.check_activation(KERNEL, "grad_input", grad_input.len())?;
    let (patch, pixels, in_len) = (g.patch_len(), g.output_pixels(), g.input_image_len());
    // As in the forward pass: one task per sub-batch, writing its own images of `grad_input`.
    let per = g.images_per_sub_batch();
    par::map_chunks_mut(grad_input, per * in_len, |i, grad_images| {
        let (first, count) = (i * per, grad_images.len() / in_len);
        let rows = count * pixels;
        let mut cols = vec![0.0f32; rows * patch];
        let dy = &grad_output[first * pixels * g.out_c..][..rows * g.out_c];
        sgemm(Transpose::No, Transpose::Yes, rows, patch, g.out_c, 1.0, dy, g.out_c, filter, g.out_c, 0.0, &mut cols, patch)?;
        col2im(g, &cols, grad_images);
        Ok::<(), KernelError>(())
    })
    .into_iter()
    .collect::<Result<(), _>>()?;
    Ok(())
}

/// Gradients of [`conv2d_forward`] with respect to the filter and (when given) the bias; overwrites both.
pub fn conv2d_backward_filter(
    g: &Conv2dGeometry,
    input: &[f32],
    grad_output: &[f32],
    grad_filter: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_backward_filter";
    g.check(KERNEL)?;
    g.check_activation(KERNEL, "input", input.len())?;
    g.check_output(KERNEL, "grad_output", grad_output.len())?;
    g.check_filter(KERNEL, "grad_filter", grad_filter.len())?;
    if let Some(grad_bias) = &grad_bias {
        check_len(KERNEL, "grad_bias", grad_bias.len(), &[g.out_c])?;
    }
    let (patch, pixels, out_c) = (g.patch_len(), g.output_pixels(), g.out_c);
    // The filter gradient is small and its depth (all output pixels) large, so sgemm alone would find few
    // output tiles to share out: sub-batches run as independent tasks instead, each with its own column
    // buffer and partial gradient, and the partials are added in sub-batch order.
    let sub_batches: Vec<(usize, usize)> = sub_batches(g).collect();
    let partials = par::map_chunks(&sub_batches, 1, |_, sub_batch| {
        let (first, count) = sub_batch[0];
        let rows = count * pixels;
        let mut cols = vec![0.0f32; rows * patch];
        im2col(g, &input[first * g.input_image_len()..][..count * g.input_image_len()], &mut cols);
        let dy = &grad_output[first * pixels * out_c..][..rows * out_c];
        let mut partial = vec![0.0f32; patch * out_c];
        sgemm(Transpose::Yes, Transpose::No, patch, out_c, rows, 1.0, &cols, patch, dy, out_c, 0.0, &mut partial, out_c)
            .map(|()| partial)
    });
    grad_filter.fill(0.0);
    for partial in partials {
        grad_filter.iter_mut().zip(partial?).for_each(|(d, p)| *d += p);
    }
    if let Some(grad_bias) = grad_bias {
        column_sums(grad_output, grad_bias);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

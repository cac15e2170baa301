//! 2-D convolution over NHWC activations with HWIO filters (`[k_h, k_w, in_c, out_c]`, the Keras layout), as
//! GEMMs over the patch matrix `cols[pixels, k_h*k_w*in_c]`, whose column order matches the filter's rows:
//! `out = cols · W`, `dW = colsᵀ · dY` and `dcols = dY · Wᵀ` (then scattered back by col2im). The patch matrix
//! is never built: the GEMM packs its panels straight from the images ([`Patches`]). One parallel region per
//! call, in blocks small enough to stay in L2: the forward pass splits the output rows (so even one image
//! spreads across threads) and applies bias and ReLU to each block as it leaves the GEMM; the backward pass
//! splits the batch into fixed tasks of a few images (fixed, so the summed filter gradient does not depend on
//! the thread count) and masks by ReLU once per block.

use crate::error::{check_rebuilt, check_len, check_positive, product, KernelError};
use crate::gemm::{gemm_panels, grown, Matrix, PanelSource, Transpose, MR};
use crate::par;
use std::cell::RefCell;

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

/// The patch matrix of a convolution's GEMMs, read straight from the images when the GEMM packs its panels (no
/// im2col matrix in between): row `r` is output pixel `first_row + r` counted across the batch, column `t` is
/// tap `t = (ky*k_w + kx)*in_c + c`, zero where the tap falls in the padding. `by_tap` views its transpose
/// (taps × pixels), the left operand of the filter gradient.
struct Patches<'a> {
    g: &'a Conv2dGeometry,
    images: &'a [f32],
    first_row: usize,
    by_tap: bool,
}

/// The input position a tap reads at one output pixel, if inside the image: its offset in the batch.
#[derive(Clone, Copy)]
struct Pixel {
    image: usize,
    oy: usize,
    ox: usize,
}

impl Pixel {
    fn at(g: &Conv2dGeometry, row: usize) -> Pixel {
        let (image, pixel) = (row / g.output_pixels(), row % g.output_pixels());
        Pixel { image, oy: pixel / g.out_w, ox: pixel % g.out_w }
    }

    fn advance(&mut self, g: &Conv2dGeometry) {
        self.ox += 1;
        if self.ox == g.out_w {
            self.ox = 0;
            self.oy += 1;
            if self.oy == g.out_h {
                self.oy = 0;
                self.image += 1;
            }
        }
    }

    /// Offset in the batch of tap (ky, kx)'s channel 0, or None in the padding.
    fn tap_offset(&self, g: &Conv2dGeometry, ky: usize, kx: usize) -> Option<usize> {
        let (y, x) = (g.input_row(self.oy, ky)?, g.input_col(self.ox, kx)?);
        Some(((self.image * g.in_h + y) * g.in_w + x) * g.in_c)
    }
}

impl PanelSource for Patches<'_> {
    fn pack(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
        if self.by_tap {
            self.pack_taps(i0, mc, p0, kc, dst)
        } else {
            self.pack_pixels(i0, mc, p0, kc, dst)
        }
    }
}

impl Patches<'_> {
    /// Panels of MR pixels × taps `p0..p0+kc`, each pixel's taps walked one kernel row at a time: a row whose
    /// taps are adjacent in the input (no horizontal dilation, all inside the image) is one contiguous run.
    fn pack_pixels(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
        let (g, c) = (self.g, self.g.in_c);
        let row_len = g.k_w * c;
        let end = p0 + kc;
        for (panel, out) in dst.chunks_exact_mut(kc * MR).take(mc.div_ceil(MR)).enumerate() {
            let mut pixel = Pixel::at(g, self.first_row + i0 + panel * MR);
            for lane in 0..MR {
                if panel * MR + lane >= mc {
                    out.iter_mut().skip(lane).step_by(MR).for_each(|v| *v = 0.0);
                    continue;
                }
                let whole_rows = g.dilation_w == 1 && g.input_col(pixel.ox, 0).is_some() && g.input_col(pixel.ox, g.k_w - 1).is_some();
                let mut t = p0;
                while t < end {
                    let ky = t / row_len;
                    let row_end = ((ky + 1) * row_len).min(end);
                    let slots = out[(t - p0) * MR + lane..].iter_mut().step_by(MR).take(row_end - t);
                    match pixel.tap_offset(g, ky, 0) {
                        Some(at) if whole_rows => {
                            slots.zip(&self.images[at + t - ky * row_len..]).for_each(|(d, &v)| *d = v);
                        }
                        _ if g.input_row(pixel.oy, ky).is_none() => slots.for_each(|d| *d = 0.0),
                        _ => {
                            for (j, d) in (t..row_end).zip(slots) {
                                let kx = (j - ky * row_len) / c;
                                *d = pixel.tap_offset(g, ky, kx).map_or(0.0, |at| self.images[at + j % c]);
                            }
                        }
                    }
                    t = row_end;
                }
                pixel.advance(g);
            }
        }
    }

    /// Panels of MR taps × pixels `p0..p0+kc`. When a panel's taps are channels `c..c+MR` of one kernel
    /// position (in_c a multiple of MR), each pixel contributes one contiguous run of MR values.
    fn pack_taps(&self, i0: usize, mc: usize, p0: usize, kc: usize, dst: &mut [f32]) {
        let (g, c) = (self.g, self.g.in_c);
        for (panel, out) in dst.chunks_exact_mut(kc * MR).take(mc.div_ceil(MR)).enumerate() {
            let t0 = i0 + panel * MR;
            let taps = MR.min(mc - panel * MR);
            let mut pixel = Pixel::at(g, self.first_row + p0);
            if taps == MR && t0 % c + MR <= c {
                let (ky, kx, channel) = (t0 / c / g.k_w, t0 / c % g.k_w, t0 % c);
                for lanes in out.chunks_exact_mut(MR) {
                    match pixel.tap_offset(g, ky, kx) {
                        Some(at) => lanes.copy_from_slice(&self.images[at + channel..][..MR]),
                        None => lanes.fill(0.0),
                    }
                    pixel.advance(g);
                }
                continue;
            }
            // (ky, kx, channel) of each lane's tap, None past the last tap.
            let lane_taps: [Option<(usize, usize, usize)>; MR] =
                std::array::from_fn(|lane| (lane < taps).then(|| ((t0 + lane) / c / g.k_w, (t0 + lane) / c % g.k_w, (t0 + lane) % c)));
            for lanes in out.chunks_exact_mut(MR) {
                for (v, tap) in lanes.iter_mut().zip(&lane_taps) {
                    *v = match tap.and_then(|(ky, kx, ch)| pixel.tap_offset(g, ky, kx).map(|at| at + ch)) {
                        Some(at) => self.images[at],
                        None => 0.0,
                    };
                }
                pixel.advance(g);
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
/// Patch-matrix floats per block (128 KiB): a block's patches, outputs and packed panels stay in L2.
const BLOCK_BUDGET: usize = 1 << 15;

impl Conv2dGeometry {
    /// Images per block of a backward task (its patch gradients fit the budget), at most the task's.
    fn images_per_block(&self) -> usize {
        (BLOCK_BUDGET / (self.output_pixels() * self.patch_len())).clamp(1, IMAGES_PER_TASK)
    }

    /// Output rows (pixels counted across the batch) per forward task: a cache-sized block of patches, a
    /// multiple of the GEMM's panel height, and at most 256 so that a single image still splits across threads.
    fn rows_per_forward_task(&self) -> usize {
        (BLOCK_BUDGET / self.patch_len()).clamp(16, 256) / MR * MR
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
    let (patch, rows_per_task) = (g.patch_len(), g.rows_per_forward_task());
    // One parallel region over blocks of output rows (each row is computed the same way whatever the split):
    // the GEMM packs patches straight from the input, then bias and activation run while the block is in cache.
    par::map_chunks_mut(output, rows_per_task * g.out_c, |task, out| {
        let rows = out.len() / g.out_c;
        let patches = Patches { g, images: input, first_row: task * rows_per_task, by_tap: false };
        gemm_panels(&patches, Transpose::No, rows, g.out_c, patch, filter, g.out_c, 0.0, out, g.out_c)?;
        output_stage(out, bias, activation);
        Ok::<(), KernelError>(())
    })
    .into_iter()
    .collect()
}

thread_local! {
    /// Each thread's patch-gradient (and masked-gradient) buffer, kept between calls: no allocation per task.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` on two scratch slices of `first` and `second` floats (contents unspecified: callers overwrite
/// what they read). Tasks never nest on one thread, so the buffer is never borrowed twice.
fn with_scratch<R>(first: usize, second: usize, work: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (a, b) = grown(&mut scratch, first + second).split_at_mut(first);
        work(a, b)
    })
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
    // Wᵀ [out_c, patch], made once: the input-gradient GEMMs then pack their right operand from contiguous rows.
    let filter_t: Vec<f32> = if grad_input.is_some() {
        (0..filter.len()).map(|i| filter[(i % patch) * out_c + i / patch]).collect()
    } else {
        Vec::new()
    };
    // Per task and block: mask the output gradient once, add its column sums to the bias partial, multiply by
    // the patches (packed straight from the input) for the filter partial, then form the patch gradients in a
    // scratch buffer and scatter them back into the input gradient (col2im).
    let task = |task: usize, mut task_grad_input: Option<&mut [f32]>| -> Result<Partial, KernelError> {
        let first_image = task * IMAGES_PER_TASK;
        let block_rows = g.images_per_block() * pixels;
        let cols_len = if task_grad_input.is_some() { block_rows * patch } else { 0 };
        let masked_len = if relu_output.is_some() { block_rows * out_c } else { 0 };
        with_scratch(cols_len, masked_len, |cols, masked| {
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
                let patches = Patches { g, images: input, first_row: (first_image + first) * pixels, by_tap: true };
                let beta = if first == 0 { 0.0 } else { 1.0 };
                gemm_panels(&patches, Transpose::No, patch, out_c, rows, dy, out_c, beta, &mut partial.filter, out_c)?;
                if let Some(dx) = task_grad_input.as_deref_mut() {
                    let cols = &mut cols[..rows * patch];
                    let dy = Matrix { data: dy, ld: out_c, transposed: false };
                    gemm_panels(&dy, Transpose::No, rows, patch, out_c, &filter_t, patch, 0.0, cols, patch)?;
                    col2im(g, cols, &mut dx[first * in_len..][..count * in_len]);
                }
            }
            Ok(partial)
        })
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

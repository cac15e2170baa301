//! 2-D convolution over NHWC activations with HWIO filters (`[k_h, k_w, in_c, out_c]`, the Keras layout). In
//! terms of the patch matrix `cols[pixels, k_h*k_w*in_c]` (column order = the filter's rows): `out = cols · W`,
//! `dW = colsᵀ · dY` and `dcols = dY · Wᵀ`, scattered back by col2im. The patch matrix is never built: the
//! forward and filter-gradient micro-kernels (`conv/kernel_*.rs`) read each pixel's taps in place from the
//! input, zero-padded once per call when the geometry pads ([`Source`]). One parallel region per call: the
//! forward pass splits the output rows (so even one image spreads across threads) and its tiles start from the
//! bias and leave through the activation; the backward pass splits the batch into fixed tasks of a few images
//! (fixed, so the summed filter gradient does not depend on the thread count) and masks by ReLU once per block.

use crate::error::{check_rebuilt, check_len, check_positive, product, KernelError};
use crate::gemm::{grown, MR, NR};
use crate::par;
use crate::pool::Pool2dGeometry;
use std::borrow::Cow;
use std::cell::RefCell;

mod max_pool;
pub use max_pool::{conv2d_max_pool_forward, NO_WINNER};
use max_pool::{check_pool, unpool, unpool_panels};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[path = "conv/kernel_simd128.rs"]
mod kernel;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[path = "conv/kernel_scalar.rs"]
mod kernel;

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

    /// What every forward entry point checks first: the geometry itself, then the input, filter and bias.
    fn check_forward_operands(&self, kernel: &'static str, input: &[f32], filter: &[f32], bias: Option<&[f32]>) -> Result<(), KernelError> {
        self.check(kernel)?;
        self.check_activation(kernel, "input", input.len())?;
        self.check_filter(kernel, "filter", filter.len())?;
        match bias {
            Some(bias) => check_len(kernel, "bias", bias.len(), &[self.out_c]),
            None => Ok(()),
        }
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

/// A run of consecutive taps that each output pixel reads `offset` floats past its first tap.
#[derive(Clone, Copy)]
struct Run {
    offset: usize,
    len: usize,
}

/// A walk over the output pixels of consecutive images (levels: image, row, column), with the strides per
/// level of the input (`a`) and of the output gradient (`b`).
struct Sweep {
    images: usize,
    rows: usize,
    cols: usize,
    a: [usize; 3],
    b: [usize; 3],
}

/// What [`kernel::conv_4x8`] does with each row of its tile.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Epilogue {
    Store,
    /// Store `max(v, 0)` (0 for NaN).
    Relu,
    /// Add to what is there.
    Add,
}

/// The input as the micro-kernels read it, images of `h × w × in_c` holding every tap of every output pixel:
/// the input itself when the geometry does not pad, else a zero-padded copy.
struct Source<'a> {
    data: Cow<'a, [f32]>,
    h: usize,
    w: usize,
}

impl<'a> Source<'a> {
    fn new(g: &Conv2dGeometry, input: &'a [f32]) -> Self {
        let h = (g.out_h - 1) * g.stride_h + (g.k_h - 1) * g.dilation_h + 1;
        let w = (g.out_w - 1) * g.stride_w + (g.k_w - 1) * g.dilation_w + 1;
        if g.pad_top == 0 && g.pad_left == 0 && h <= g.in_h && w <= g.in_w {
            return Source { data: Cow::Borrowed(input), h: g.in_h, w: g.in_w };
        }
        let c = g.in_c;
        let (rows, cols) = (g.in_h.min(h - g.pad_top), g.in_w.min(w - g.pad_left));
        let mut data = vec![0.0f32; g.batch * h * w * c];
        par::for_each_chunk_mut(&mut data, h * w * c, |image, padded| {
            let src = &input[image * g.input_image_len()..][..g.input_image_len()];
            for (y, row) in src.chunks_exact(g.in_w * c).take(rows).enumerate() {
                padded[((y + g.pad_top) * w + g.pad_left) * c..][..cols * c].copy_from_slice(&row[..cols * c]);
            }
        });
        Source { data: Cow::Owned(data), h, w }
    }

    fn image_len(&self, g: &Conv2dGeometry) -> usize {
        self.h * self.w * g.in_c
    }

    /// Offset of an output pixel's first tap (ky = kx = channel = 0).
    fn pixel_offset(&self, g: &Conv2dGeometry, p: &Pixel) -> usize {
        ((p.image * self.h + p.oy * g.stride_h) * self.w + p.ox * g.stride_w) * g.in_c
    }

    /// The first-tap offsets of `count` consecutive output pixels from pixel `first_row` (counted across the batch).
    fn first_taps(&self, g: &Conv2dGeometry, first_row: usize, count: usize) -> Vec<usize> {
        let mut pixel = Pixel::at(g, first_row);
        (0..count)
            .map(|_| {
                let first = self.pixel_offset(g, &pixel);
                pixel.advance(g);
                first
            })
            .collect()
    }

    /// Offset of tap `t = (ky*k_w + kx)*in_c + channel` from its pixel's first tap.
    fn tap_offset(&self, g: &Conv2dGeometry, t: usize) -> usize {
        let (ky, kx, channel) = (t / g.in_c / g.k_w, t / g.in_c % g.k_w, t % g.in_c);
        (ky * g.dilation_h * self.w + kx * g.dilation_w) * g.in_c + channel
    }

    /// A patch as runs of adjacent taps, in tap order: one per kernel row, or per kernel position when dilated.
    fn runs(&self, g: &Conv2dGeometry) -> Vec<Run> {
        let c = g.in_c;
        if g.dilation_w == 1 {
            (0..g.k_h).map(|ky| Run { offset: self.tap_offset(g, ky * g.k_w * c), len: g.k_w * c }).collect()
        } else {
            (0..g.k_h * g.k_w).map(|tap| Run { offset: self.tap_offset(g, tap * c), len: c }).collect()
        }
    }
}

/// An output pixel, counted across the batch.
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
}

/// The filter `[patch, out_c]` as NR-wide panels `[panel][tap][NR]`, columns past out_c zero.
fn filter_panels(g: &Conv2dGeometry, filter: &[f32]) -> Vec<f32> {
    let (patch, out_c) = (g.patch_len(), g.out_c);
    let mut panels = vec![0.0f32; out_c.div_ceil(NR) * patch * NR];
    for (panel, out) in panels.chunks_exact_mut(patch * NR).enumerate() {
        let (j0, cols) = (panel * NR, NR.min(out_c - panel * NR));
        for (dst, src) in out.chunks_exact_mut(NR).zip(filter.chunks_exact(out_c)) {
            dst[..cols].copy_from_slice(&src[j0..j0 + cols]);
        }
    }
    panels
}

/// Wᵀ `[out_c, patch]` as NR-wide panels `[panel][o][NR]`, taps past the patch zero: the right operand of the
/// patch gradients `dcols = dY · Wᵀ`.
fn transposed_filter_panels(g: &Conv2dGeometry, filter: &[f32]) -> Vec<f32> {
    let (patch, out_c) = (g.patch_len(), g.out_c);
    let mut panels = vec![0.0f32; patch.div_ceil(NR) * out_c * NR];
    for (panel, out) in panels.chunks_exact_mut(out_c * NR).enumerate() {
        let (t0, taps) = (panel * NR, NR.min(patch - panel * NR));
        for (o, dst) in out.chunks_exact_mut(NR).enumerate() {
            dst.iter_mut().take(taps).enumerate().for_each(|(j, d)| *d = filter[(t0 + j) * out_c + o]);
        }
    }
    panels
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

/// Images per filter-gradient task: fixed, so the filter-gradient partials (and thus results) do not depend on
/// the number of threads.
const IMAGES_PER_TASK: usize = 4;
/// Floats per block of a filter-gradient task (128 KiB): its output-gradient panels stay in L2, and so does a
/// block's worth of patches.
const BLOCK_BUDGET: usize = 1 << 15;
/// A bias of zeros for tiles that have none.
const ZEROS: [f32; NR] = [0.0; NR];
/// Most output rows in one forward task.
const MAX_FORWARD_ROWS: usize = 256;

impl Conv2dGeometry {
    /// Output-gradient rows padded to whole NR-wide panels.
    fn padded_out_c(&self) -> usize {
        self.out_c.next_multiple_of(NR)
    }

    /// Images per block of a filter-gradient task (as many pixels × patches, or × output-gradient panels, as fit
    /// the budget), at most the task's.
    fn images_per_block(&self) -> usize {
        (BLOCK_BUDGET / (self.output_pixels() * self.patch_len().max(self.padded_out_c()))).clamp(1, IMAGES_PER_TASK)
    }

    /// Output rows (pixels counted across the batch) per forward task: fewer for longer patches, a multiple of
    /// the tile height, and at most [`MAX_FORWARD_ROWS`] so that a single image still splits across threads.
    fn rows_per_forward_task(&self) -> usize {
        (BLOCK_BUDGET / self.patch_len()).clamp(16, MAX_FORWARD_ROWS) / MR * MR
    }

    fn task_count(&self) -> usize {
        self.batch.div_ceil(IMAGES_PER_TASK)
    }
}

enum BackwardTask {
    Filter(usize),
    Input(usize),
}

/// Each filter task beside the input tasks of its images: the first half of the batch as filter task then
/// images, the second half as images then filter task. Threads work inwards from both ends (see
/// `par::for_each_task`), so each keeps to one half of the batch, and they meet on short input tasks.
fn backward_tasks(g: &Conv2dGeometry) -> Vec<BackwardTask> {
    let filter_tasks = g.task_count();
    let mut tasks = Vec::with_capacity(filter_tasks + g.batch);
    for task in 0..filter_tasks {
        let images = (task * IMAGES_PER_TASK..g.batch.min((task + 1) * IMAGES_PER_TASK)).map(BackwardTask::Input);
        if 2 * task < filter_tasks {
            tasks.push(BackwardTask::Filter(task));
            tasks.extend(images);
        } else {
            tasks.extend(images);
            tasks.push(BackwardTask::Filter(task));
        }
    }
    tasks
}

/// The image ranges `(first, count)` of task `task`'s blocks, `first` relative to the task.
fn blocks(g: &Conv2dGeometry, task: usize) -> impl Iterator<Item = (usize, usize)> {
    let images = IMAGES_PER_TASK.min(g.batch - task * IMAGES_PER_TASK);
    let per = g.images_per_block();
    (0..images).step_by(per).map(move |first| (first, per.min(images - first)))
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
    g.check_forward_operands(KERNEL, input, filter, bias)?;
    g.check_output(KERNEL, "output", output.len())?;
    let forward = Forward::new(g, input, filter, bias, activation);
    let rows_per_task = g.rows_per_forward_task();
    let taper = par::Taper::new(g.batch * g.output_pixels(), rows_per_task, (rows_per_task / 8).next_multiple_of(MR));
    // One parallel region over blocks of output rows (each row is computed the same way whatever the split).
    par::for_each_tapered_mut(output, g.out_c, &taper, |first_row, out| {
        let firsts = forward.source.first_taps(g, first_row, out.len() / g.out_c);
        forward.rows(&firsts, out);
    });
    Ok(())
}

/// A forward pass made ready once per call: the (padded) input, its runs, the filter's panels and the bias.
struct Forward<'a> {
    g: &'a Conv2dGeometry,
    source: Source<'a>,
    runs: Vec<Run>,
    panels: Vec<f32>,
    bias: Vec<f32>,
    epilogue: Epilogue,
}

impl<'a> Forward<'a> {
    fn new(g: &'a Conv2dGeometry, input: &'a [f32], filter: &[f32], bias: Option<&[f32]>, activation: ConvActivation) -> Self {
        let source = Source::new(g, input);
        Forward {
            g,
            runs: source.runs(g),
            source,
            panels: filter_panels(g, filter),
            bias: (0..g.padded_out_c()).map(|j| bias.and_then(|b| b.get(j)).copied().unwrap_or(0.0)).collect(),
            epilogue: if activation == ConvActivation::Relu { Epilogue::Relu } else { Epilogue::Store },
        }
    }

    /// The output rows of the pixels whose first taps are at `firsts`, into `out` (rows of out_c): per filter
    /// panel, 4×8 tiles read their pixels' taps straight from the input, start from the bias and leave through
    /// the activation.
    fn rows(&self, firsts: &[usize], out: &mut [f32]) {
        let (rows, out_c) = (firsts.len(), self.g.out_c);
        let mut edge = [0.0f32; MR * NR];
        for (panel, b) in self.panels.chunks_exact(self.g.patch_len() * NR).enumerate() {
            let (j0, cols) = (panel * NR, NR.min(out_c - panel * NR));
            let bias = self.bias[j0..].as_ptr();
            for i0 in (0..rows).step_by(MR) {
                let tile_rows = MR.min(rows - i0);
                // SAFETY: Source guarantees every run of every pixel lies inside its data; `b` is one panel of
                // patch × NR floats and `bias` holds whole panels; the tile is inside `out` or is `edge`. The
                // lanes of a short last tile repeat its first pixel and are dropped.
                unsafe {
                    let lanes = std::array::from_fn(|lane| {
                        self.source.data.as_ptr().add(firsts[i0 + if lane < tile_rows { lane } else { 0 }])
                    });
                    if tile_rows == MR && cols == NR {
                        let dst = std::array::from_fn(|r| out.as_mut_ptr().add((i0 + r) * out_c + j0));
                        kernel::conv_4x8(lanes, &self.runs, b.as_ptr(), bias, dst, self.epilogue);
                    } else {
                        let dst = std::array::from_fn(|r| edge.as_mut_ptr().add(r * NR));
                        kernel::conv_4x8(lanes, &self.runs, b.as_ptr(), bias, dst, self.epilogue);
                        for (r, tile_row) in edge.chunks_exact(NR).take(tile_rows).enumerate() {
                            out[(i0 + r) * out_c + j0..][..cols].copy_from_slice(&tile_row[..cols]);
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's patch-gradient and output-gradient buffer, kept between calls: no allocation per task.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `work` on three scratch slices of the given lengths (contents unspecified: callers overwrite what they
/// read). Tasks never nest on one thread, so the buffer is never borrowed twice.
fn with_scratch<R>(lens: [usize; 3], work: impl FnOnce([&mut [f32]; 3]) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let (a, rest) = grown(&mut scratch, lens.iter().sum()).split_at_mut(lens[0]);
        let (b, c) = rest.split_at_mut(lens[1]);
        work([a, b, c])
    })
}

/// One task's share of the filter gradient (`[patch rounded up to MR][padded out_c]`) and bias gradient.
struct Partial {
    filter: Vec<f32>,
    bias: Vec<f64>,
}

/// Writes the output gradient `dy` (rows of `out_c`), zeroed where `mask` (the ReLU output) is not positive, as
/// NR-wide panels `[panel][row][NR]` with zeros past out_c; returns its column sums (padded to whole panels).
fn output_gradient_panels(dy: &[f32], mask: Option<&[f32]>, out_c: usize, panels: &mut [f32]) -> Vec<f32> {
    let rows = dy.len() / out_c;
    let mut sums = vec![0.0f32; out_c.next_multiple_of(NR)];
    for ((panel, dst), panel_sums) in panels.chunks_exact_mut(rows * NR).enumerate().zip(sums.chunks_exact_mut(NR)) {
        let (j0, cols) = (panel * NR, NR.min(out_c - panel * NR));
        let mut panel_sum = [0.0f32; NR];
        for (r, d) in dst.chunks_exact_mut(NR).enumerate() {
            let mut row = padded_row(&dy[r * out_c + j0..], cols);
            if let Some(y) = mask {
                let keep = padded_row(&y[r * out_c + j0..], cols);
                row.iter_mut().zip(keep).for_each(|(v, y)| *v = if y > 0.0 { *v } else { 0.0 });
            }
            panel_sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            <&mut [f32; NR]>::try_from(d).expect("NR-wide panel row").copy_from_slice(&row);
        }
        panel_sums.copy_from_slice(&panel_sum);
    }
    sums
}

/// The first `cols` (at most NR) values of `src`, zero-padded to NR: a whole row is a fixed-size copy (vector
/// moves), not a bulk-memory call per row.
fn padded_row(src: &[f32], cols: usize) -> [f32; NR] {
    if cols == NR {
        return src[..NR].try_into().expect("NR values");
    }
    let mut row = [0.0f32; NR];
    row[..cols].copy_from_slice(&src[..cols]);
    row
}

/// Adds the patch gradients `dY · Wᵀ` of a block's pixels into `target` (the block's images as [`Source`] lays
/// them out) at the taps they came from. A tile of 8 taps adjacent in the image adds each pixel's row with
/// vector stores; other tiles (and a short last group of pixels) go through a buffer, tap by tap.
fn add_patch_gradients(g: &Conv2dGeometry, source: &Source, tap_offsets: &[usize], dy: &[f32], filter_t: &[f32], target: &mut [f32]) {
    let (patch, out_c) = (g.patch_len(), g.out_c);
    let rows = dy.len() / out_c;
    let whole_row = [Run { offset: 0, len: out_c }];
    let mut edge = [0.0f32; MR * NR];
    // Each pixel's first tap, in whole tiles (a short last tile's extra lanes are never written).
    let all_firsts = source.first_taps(g, 0, rows.next_multiple_of(MR));
    for (panel, b) in filter_t.chunks_exact(out_c * NR).enumerate() {
        let t0 = panel * NR;
        let adjacent = t0 + NR <= patch && (1..NR).all(|j| tap_offsets[t0 + j] == tap_offsets[t0] + j);
        for (i0, firsts) in (0..rows).step_by(MR).zip(all_firsts.chunks_exact(MR)) {
            let tile_rows = MR.min(rows - i0);
            // SAFETY: the lanes are rows of dy (a short group repeats its first); each pixel's taps lie inside
            // the block's images in `target`, and `b` is one panel of out_c × NR floats.
            unsafe {
                let lanes = std::array::from_fn(|lane| dy.as_ptr().add((i0 + if lane < tile_rows { lane } else { 0 }) * out_c));
                if adjacent && tile_rows == MR {
                    let dst = std::array::from_fn(|r| target.as_mut_ptr().add(firsts[r] + tap_offsets[t0]));
                    kernel::conv_4x8(lanes, &whole_row, b.as_ptr(), ZEROS.as_ptr(), dst, Epilogue::Add);
                } else {
                    let dst = std::array::from_fn(|r| edge.as_mut_ptr().add(r * NR));
                    kernel::conv_4x8(lanes, &whole_row, b.as_ptr(), ZEROS.as_ptr(), dst, Epilogue::Store);
                    for (first, tile_row) in firsts.iter().zip(edge.chunks_exact(NR)).take(tile_rows) {
                        for (&offset, &v) in tap_offsets[t0..].iter().zip(tile_row).take(patch - t0) {
                            target[first + offset] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Copies the input-gradient images out of their zero-padded layout (`padded`, as [`Source`] lays them out)
/// into `dx`; input pixels no tap reads get zero.
fn crop_padding(g: &Conv2dGeometry, source: &Source, padded: &[f32], dx: &mut [f32]) {
    let c = g.in_c;
    let (rows, cols) = (g.in_h.min(source.h - g.pad_top), g.in_w.min(source.w - g.pad_left));
    dx.fill(0.0);
    for (image, padded_image) in dx.chunks_exact_mut(g.input_image_len()).zip(padded.chunks_exact(source.image_len(g))) {
        for (y, row) in image.chunks_exact_mut(g.in_w * c).take(rows).enumerate() {
            row[..cols * c].copy_from_slice(&padded_image[((y + g.pad_top) * source.w + g.pad_left) * c..][..cols * c]);
        }
    }
}

/// The gradient reaching a convolution's output.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a> {
    /// Of [`conv2d_forward`]'s output; `relu_output` is that output when it applied [`ConvActivation::Relu`]:
    /// the gradient then flows only where it is positive.
    Direct { grad: &'a [f32], relu_output: Option<&'a [f32]> },
    /// Of [`conv2d_max_pool_forward`]'s pooled output, with the winners it recorded.
    MaxPooled { pool: &'a Pool2dGeometry, grad: &'a [f32], winners: &'a [u8] },
}

/// Gradients of [`conv2d_forward`] or [`conv2d_max_pool_forward`] with respect to its input, filter and bias.
pub fn conv2d_backward(
    g: &Conv2dGeometry,
    input: &[f32],
    filter: &[f32],
    output_grad: OutputGrad,
    grads: Conv2dGrads,
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_backward";
    g.check(KERNEL)?;
    g.check_activation(KERNEL, "input", input.len())?;
    g.check_filter(KERNEL, "filter", filter.len())?;
    match output_grad {
        OutputGrad::Direct { grad, relu_output } => {
            if let Some(y) = relu_output {
                g.check_output(KERNEL, "relu_output", y.len())?;
            }
            g.check_output(KERNEL, "grad_output", grad.len())?;
        }
        OutputGrad::MaxPooled { pool, grad, winners } => {
            check_pool(KERNEL, g, pool)?;
            let dims = [pool.batch, pool.out_h, pool.out_w, pool.channels];
            check_len(KERNEL, "grad_output", grad.len(), &dims)?;
            check_len(KERNEL, "winners", winners.len(), &dims)?;
        }
    }
    let Conv2dGrads { input: grad_input, filter: grad_filter, bias: grad_bias } = grads;
    if let Some(dx) = &grad_input {
        g.check_activation(KERNEL, "grad_input", dx.len())?;
    }
    g.check_filter(KERNEL, "grad_filter", grad_filter.len())?;
    if let Some(db) = &grad_bias {
        check_len(KERNEL, "grad_bias", db.len(), &[g.out_c])?;
    }
    let (patch, pixels, out_c, ld) = (g.patch_len(), g.output_pixels(), g.out_c, g.padded_out_c());
    let (in_len, out_len) = (g.input_image_len(), g.output_image_len());
    let with_bias = grad_bias.is_some();
    let source = Source::new(g, input);
    let taps = patch.next_multiple_of(MR);
    // Each tap's offset from its pixel's first tap; taps past the patch (a short last tile) read tap 0.
    let tap_offsets: Vec<usize> = (0..taps).map(|t| if t < patch { source.tap_offset(g, t) } else { 0 }).collect();
    let filter_t = if grad_input.is_some() { transposed_filter_panels(g, filter) } else { Vec::new() };
    let padded = matches!(source.data, Cow::Owned(_));
    let image_len = source.image_len(g);
    // Filter tasks, IMAGES_PER_TASK images each: per block, copy the output gradient (unpooled, masked by ReLU)
    // into panels, add its column sums to the bias partial, and sweep 4-tap × 8-channel tiles of the filter
    // partial over the block's pixels, reading the taps straight from the input.
    let filter_task = |task: usize| -> Partial {
        let first_image = task * IMAGES_PER_TASK;
        with_scratch([0, 0, g.images_per_block() * pixels * ld], |[_, _, dy_panels]| {
            let mut partial = Partial { filter: vec![0.0; taps * ld], bias: vec![0.0; if with_bias { out_c } else { 0 }] };
            for (first, count) in blocks(g, task) {
                let (image, rows) = (first_image + first, count * pixels);
                let dy_panels = &mut dy_panels[..rows * ld];
                let sums = match output_grad {
                    OutputGrad::Direct { grad, relu_output } => {
                        let at = image * out_len;
                        output_gradient_panels(&grad[at..][..rows * out_c], relu_output.map(|y| &y[at..][..rows * out_c]), out_c, dy_panels)
                    }
                    OutputGrad::MaxPooled { pool, grad, winners } => unpool_panels(g, pool, grad, winners, image, dy_panels),
                };
                if with_bias {
                    partial.bias.iter_mut().zip(&sums).for_each(|(b, &s)| *b += s as f64);
                }
                let sweep = Sweep {
                    images: count,
                    rows: g.out_h,
                    cols: g.out_w,
                    a: [image_len, g.stride_h * source.w * g.in_c, g.stride_w * g.in_c],
                    b: [pixels * NR, g.out_w * NR, NR],
                };
                let images = &source.data[image * image_len..];
                for (panel, b) in dy_panels.chunks_exact(rows * NR).enumerate() {
                    for t0 in (0..patch).step_by(MR) {
                        // SAFETY: the sweep stays inside the block's images (Source holds every tap) and inside
                        // this panel of the output gradient; the tile lies inside the padded partial.
                        unsafe {
                            let lanes = std::array::from_fn(|lane| images.as_ptr().add(tap_offsets[t0 + lane]));
                            let c = partial.filter.as_mut_ptr().add(t0 * ld + panel * NR);
                            kernel::filter_grad_4x8(lanes, b.as_ptr(), &sweep, c, ld);
                        }
                    }
                }
            }
            partial
        })
    };
    // Input-gradient tasks, one image each: form 4-pixel × 8-tap tiles of the patch gradients dY·Wᵀ and add
    // each row straight into the input gradient (col2im without a column buffer), zero-padded like the input
    // when the geometry pads.
    let input_task = |image: usize, dx: &mut [f32]| {
        let made_len = if matches!(output_grad, OutputGrad::Direct { relu_output: None, .. }) { 0 } else { out_len };
        with_scratch([if padded { image_len } else { 0 }, made_len, 0], |[padded_dx, made_dy, _]| {
            let at = image * out_len;
            let dy: &[f32] = match output_grad {
                OutputGrad::Direct { grad, relu_output: None } => &grad[at..][..out_len],
                OutputGrad::Direct { grad, relu_output: Some(y) } => {
                    let (grad, y) = (&grad[at..][..out_len], &y[at..][..out_len]);
                    made_dy.iter_mut().zip(grad).zip(y).for_each(|((m, &d), &y)| *m = if y > 0.0 { d } else { 0.0 });
                    made_dy
                }
                OutputGrad::MaxPooled { pool, grad, winners } => {
                    unpool(g, pool, grad, winners, image, made_dy);
                    made_dy
                }
            };
            if padded {
                padded_dx.fill(0.0);
                add_patch_gradients(g, &source, &tap_offsets, dy, &filter_t, padded_dx);
                crop_padding(g, &source, padded_dx, dx);
            } else {
                dx.fill(0.0);
                add_patch_gradients(g, &source, &tap_offsets, dy, &filter_t, dx);
            }
        })
    };
    let partials: Vec<Partial> = match grad_input {
        None => par::map_tasks(g.task_count(), filter_task),
        Some(dx) => {
            let images = par::Chunks::new(dx, in_len);
            let tasks = backward_tasks(g);
            let results = par::map_tasks(tasks.len(), |t| match tasks[t] {
                BackwardTask::Filter(task) => Some(filter_task(task)),
                // SAFETY: each image's task runs once, so each piece of dx is borrowed once.
                BackwardTask::Input(image) => {
                    input_task(image, unsafe { images.get(image) });
                    None
                }
            });
            // The filter tasks come in order, so their partials do too.
            results.into_iter().flatten().collect()
        }
    };
    // The partials add up in task order, taps split across threads.
    let taps_per_task = (par::ELEMENTWISE_CHUNK / (partials.len() * out_c).max(1)).max(1);
    par::for_each_chunk_mut(grad_filter, taps_per_task * out_c, |chunk, dst| {
        let first = chunk * taps_per_task * ld;
        dst.fill(0.0);
        for partial in &partials {
            for (d, src) in dst.chunks_exact_mut(out_c).zip(partial.filter[first..].chunks_exact(ld)) {
                d.iter_mut().zip(src).for_each(|(d, p)| *d += p);
            }
        }
    });
    if let Some(db) = grad_bias {
        for (channel, d) in db.iter_mut().enumerate() {
            *d = partials.iter().map(|p| p.bias[channel]).sum::<f64>() as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

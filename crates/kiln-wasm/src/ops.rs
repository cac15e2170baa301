//! Entry points for the training and inference kernels. Buffers arrive as (pointer, length) pairs of
//! allocations from `alloc_f32` (int32 tensors use the same 4-byte buffers, read as u32); the TypeScript
//! backend never passes the same buffer as an input and an output of one call.

use kiln_kernels::{self as k, Conv2dGeometry, KernelError, Padding, Pool2dGeometry};
use wasm_bindgen::prelude::*;

fn f32s<'a>(ptr: *const f32, len: usize) -> &'a [f32] {
    // SAFETY: (ptr, len) describes a live buffer from `alloc_f32`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

fn f32s_mut<'a>(ptr: *mut f32, len: usize) -> &'a mut [f32] {
    // SAFETY: as `f32s`, and the TypeScript side gives each call distinct output buffers.
    unsafe { std::slice::from_raw_parts_mut(ptr, len) }
}

fn u32s<'a>(ptr: *const f32, len: usize) -> &'a [u32] {
    // SAFETY: int32 tensors are 4-byte buffers from `alloc_f32`, read here as u32.
    unsafe { std::slice::from_raw_parts(ptr as *const u32, len) }
}

fn js(e: KernelError) -> JsError {
    JsError::new(&e.to_string())
}

/// Elementwise maps; `op`: 0 neg, 1 exp, 2 log, 3 sqrt, 4 square, 5 relu, 6 sigmoid, 7 tanh.
#[wasm_bindgen]
pub fn unary(op: u32, x: *const f32, out: *mut f32, len: usize) -> Result<(), JsError> {
    let (x, out) = (f32s(x, len), f32s_mut(out, len));
    match op {
        5 => k::relu_forward(x, out),
        6 => k::sigmoid_forward(x, out),
        7 => k::tanh_forward(x, out),
        _ => k::elementwise::unary(unary_op(op)?, x, out),
    }
    .map_err(js)
}

fn unary_op(op: u32) -> Result<k::elementwise::UnaryOp, JsError> {
    use k::elementwise::UnaryOp::*;
    Ok(match op {
        0 => Neg,
        1 => Exp,
        2 => Log,
        3 => Sqrt,
        4 => Square,
        _ => return Err(JsError::new(&format!("unary: unknown op {op}"))),
    })
}

/// dx = dy · f'(y) for `op`: 0 relu, 1 sigmoid, 2 tanh.
#[wasm_bindgen]
pub fn activation_grad(op: u32, y: *const f32, dy: *const f32, dx: *mut f32, len: usize) -> Result<(), JsError> {
    let (y, dy, dx) = (f32s(y, len), f32s(dy, len), f32s_mut(dx, len));
    match op {
        0 => k::relu_backward(y, dy, dx),
        1 => k::sigmoid_backward(y, dy, dx),
        2 => k::tanh_backward(y, dy, dx),
        _ => return Err(JsError::new(&format!("activation_grad: unknown op {op}"))),
    }
    .map_err(js)
}

/// out = a ∘ b with b repeating along a; `op`: 0 add, 1 sub, 2 mul, 3 div.
#[wasm_bindgen]
pub fn binary(op: u32, a: *const f32, a_len: usize, b: *const f32, b_len: usize, out: *mut f32) -> Result<(), JsError> {
    use k::elementwise::BinaryOp::*;
    let op = match op {
        0 => Add,
        1 => Sub,
        2 => Mul,
        3 => Div,
        _ => return Err(JsError::new(&format!("binary: unknown op {op}"))),
    };
    k::elementwise::binary(op, f32s(a, a_len), f32s(b, b_len), f32s_mut(out, a_len)).map_err(js)
}

#[wasm_bindgen]
pub fn affine(x: *const f32, len: usize, alpha: f32, beta: f32, out: *mut f32) -> Result<(), JsError> {
    k::elementwise::affine(f32s(x, len), alpha, beta, f32s_mut(out, len)).map_err(js)
}

/// `out[i] = bytes[i] / divisor`; the bytes arrive copied into wasm memory by the bindings.
#[wasm_bindgen]
pub fn bytes_to_f32(bytes: &[u8], divisor: f32, out: *mut f32, out_len: usize) -> Result<(), JsError> {
    k::elementwise::bytes_to_f32(bytes, divisor, f32s_mut(out, out_len)).map_err(js)
}

#[wasm_bindgen]
pub fn fill(out: *mut f32, len: usize, value: f32) {
    f32s_mut(out, len).fill(value);
}

#[wasm_bindgen]
pub fn sum_rows(x: *const f32, rows: usize, cols: usize, out: *mut f32) -> Result<(), JsError> {
    k::bias_grad(f32s(x, rows * cols), rows, cols, f32s_mut(out, cols)).map_err(js)
}

#[wasm_bindgen]
pub fn sum_cols(x: *const f32, rows: usize, cols: usize, out: *mut f32) -> Result<(), JsError> {
    k::elementwise::sum_cols(f32s(x, rows * cols), rows, cols, f32s_mut(out, rows)).map_err(js)
}

#[wasm_bindgen]
pub fn softmax_rows(x: *const f32, rows: usize, cols: usize, out: *mut f32) -> Result<(), JsError> {
    k::softmax_rows(f32s(x, rows * cols), rows, cols, f32s_mut(out, rows * cols)).map_err(js)
}

#[wasm_bindgen]
pub fn log_softmax_rows(x: *const f32, rows: usize, cols: usize, out: *mut f32) -> Result<(), JsError> {
    k::elementwise::log_softmax_rows(f32s(x, rows * cols), rows, cols, f32s_mut(out, rows * cols)).map_err(js)
}

/// Mean sparse softmax cross-entropy; writes the gradient of the mean into `grad`.
#[wasm_bindgen]
pub fn softmax_cross_entropy(
    logits: *const f32,
    labels: *const f32,
    rows: usize,
    classes: usize,
    grad: *mut f32,
) -> Result<f32, JsError> {
    let n = rows * classes;
    k::softmax_cross_entropy_sparse(f32s(logits, n), rows, classes, u32s(labels, rows), f32s_mut(grad, n)).map_err(js)
}

/// Mean binary cross-entropy of probabilities or (with `from_logits`) of sigmoid(logits); writes the gradient.
#[wasm_bindgen]
pub fn binary_cross_entropy(pred: *const f32, target: *const f32, len: usize, from_logits: bool, grad: *mut f32) -> Result<f32, JsError> {
    let (pred, target, grad) = (f32s(pred, len), f32s(target, len), f32s_mut(grad, len));
    if from_logits {
        k::binary_cross_entropy_with_logits(pred, target, grad)
    } else {
        k::binary_cross_entropy(pred, target, grad)
    }
    .map_err(js)
}

/// The conv geometry from the sizes TypeScript validated; Rust re-derives and checks padding and outputs.
#[wasm_bindgen]
pub struct Conv2dShape(Conv2dGeometry);

#[wasm_bindgen]
impl Conv2dShape {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        in_h: usize,
        in_w: usize,
        in_c: usize,
        out_c: usize,
        k_h: usize,
        k_w: usize,
        stride_h: usize,
        stride_w: usize,
        dilation_h: usize,
        dilation_w: usize,
        same: bool,
    ) -> Result<Conv2dShape, JsError> {
        let padding = if same { Padding::Same } else { Padding::Valid };
        Conv2dGeometry::new(batch, in_h, in_w, in_c, out_c, k_h, k_w, (stride_h, stride_w), (dilation_h, dilation_w), padding)
            .map(Conv2dShape)
            .map_err(js)
    }
}

impl Conv2dShape {
    fn lens(&self) -> (usize, usize, usize) {
        let g = &self.0;
        (g.batch * g.in_h * g.in_w * g.in_c, g.k_h * g.k_w * g.in_c * g.out_c, g.batch * g.out_h * g.out_w * g.out_c)
    }
}

/// `bias` 0 means none; `relu` applies max(·, 0) to the output.
#[wasm_bindgen]
pub fn conv2d(s: &Conv2dShape, x: *const f32, filter: *const f32, bias: *const f32, relu: bool, out: *mut f32) -> Result<(), JsError> {
    let (x_len, f_len, y_len) = s.lens();
    let bias = (!bias.is_null()).then(|| f32s(bias, s.0.out_c));
    let activation = if relu { k::ConvActivation::Relu } else { k::ConvActivation::Linear };
    k::conv2d_forward(&s.0, f32s(x, x_len), f32s(filter, f_len), bias, activation, f32s_mut(out, y_len)).map_err(js)
}

/// `relu_output` (the forward's output when it applied ReLU), `dx` and `d_bias`: 0 means none.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn conv2d_backward(
    s: &Conv2dShape,
    x: *const f32,
    filter: *const f32,
    relu_output: *const f32,
    dy: *const f32,
    dx: *mut f32,
    d_filter: *mut f32,
    d_bias: *mut f32,
) -> Result<(), JsError> {
    let (x_len, f_len, y_len) = s.lens();
    let relu_output = (!relu_output.is_null()).then(|| f32s(relu_output, y_len));
    let output_grad = k::OutputGrad::Direct { grad: f32s(dy, y_len), relu_output };
    k::conv2d_backward(&s.0, f32s(x, x_len), f32s(filter, f_len), output_grad, conv_grads(s, dx, d_filter, d_bias)).map_err(js)
}

/// conv2d then max pooling in one pass (windows that neither overlap nor pad): `out` is the pooled output and
/// `winners` (one byte per pooled value) the window cell each came from.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn conv2d_max_pool(
    s: &Conv2dShape,
    pool: &Pool2dShape,
    x: *const f32,
    filter: *const f32,
    bias: *const f32,
    relu: bool,
    out: *mut f32,
    winners: *mut u8,
) -> Result<(), JsError> {
    let (x_len, f_len, _) = s.lens();
    let (_, pooled_len) = pool.lens();
    let bias = (!bias.is_null()).then(|| f32s(bias, s.0.out_c));
    let activation = if relu { k::ConvActivation::Relu } else { k::ConvActivation::Linear };
    // SAFETY: `winners` is a live buffer of at least one byte per pooled value (TypeScript sizes it).
    let winners = unsafe { std::slice::from_raw_parts_mut(winners, pooled_len) };
    k::conv2d_max_pool_forward(&s.0, &pool.0, f32s(x, x_len), f32s(filter, f_len), bias, activation, f32s_mut(out, pooled_len), winners)
        .map_err(js)
}

/// Gradients of `conv2d_max_pool` from the gradient of its pooled output `dy` and its `winners`; `dx` and
/// `d_bias`: 0 means none.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn conv2d_max_pool_backward(
    s: &Conv2dShape,
    pool: &Pool2dShape,
    x: *const f32,
    filter: *const f32,
    dy: *const f32,
    winners: *const u8,
    dx: *mut f32,
    d_filter: *mut f32,
    d_bias: *mut f32,
) -> Result<(), JsError> {
    let (x_len, f_len, _) = s.lens();
    let (_, pooled_len) = pool.lens();
    // SAFETY: as in `conv2d_max_pool`.
    let winners = unsafe { std::slice::from_raw_parts(winners, pooled_len) };
    let output_grad = k::OutputGrad::MaxPooled { pool: &pool.0, grad: f32s(dy, pooled_len), winners };
    k::conv2d_backward(&s.0, f32s(x, x_len), f32s(filter, f_len), output_grad, conv_grads(s, dx, d_filter, d_bias)).map_err(js)
}

fn conv_grads<'a>(s: &Conv2dShape, dx: *mut f32, d_filter: *mut f32, d_bias: *mut f32) -> k::Conv2dGrads<'a> {
    let (x_len, f_len, _) = s.lens();
    k::Conv2dGrads {
        input: (!dx.is_null()).then(|| f32s_mut(dx, x_len)),
        filter: f32s_mut(d_filter, f_len),
        bias: (!d_bias.is_null()).then(|| f32s_mut(d_bias, s.0.out_c)),
    }
}

/// The pooling geometry from the sizes TypeScript validated; Rust re-derives and checks it.
#[wasm_bindgen]
pub struct Pool2dShape(Pool2dGeometry);

#[wasm_bindgen]
impl Pool2dShape {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        in_h: usize,
        in_w: usize,
        channels: usize,
        pool_h: usize,
        pool_w: usize,
        stride_h: usize,
        stride_w: usize,
        same: bool,
    ) -> Result<Pool2dShape, JsError> {
        let padding = if same { Padding::Same } else { Padding::Valid };
        Pool2dGeometry::new(batch, in_h, in_w, channels, (pool_h, pool_w), (stride_h, stride_w), padding)
            .map(Pool2dShape)
            .map_err(js)
    }
}

impl Pool2dShape {
    fn lens(&self) -> (usize, usize) {
        let g = &self.0;
        (g.batch * g.in_h * g.in_w * g.channels, g.batch * g.out_h * g.out_w * g.channels)
    }
}

#[wasm_bindgen]
pub fn max_pool2d(s: &Pool2dShape, x: *const f32, out: *mut f32) -> Result<(), JsError> {
    let (x_len, y_len) = s.lens();
    k::max_pool2d_forward(&s.0, f32s(x, x_len), f32s_mut(out, y_len)).map_err(js)
}

#[wasm_bindgen]
pub fn max_pool2d_backward(s: &Pool2dShape, x: *const f32, y: *const f32, dy: *const f32, dx: *mut f32) -> Result<(), JsError> {
    let (x_len, y_len) = s.lens();
    k::max_pool2d_backward(&s.0, f32s(x, x_len), f32s(y, y_len), f32s(dy, y_len), f32s_mut(dx, x_len)).map_err(js)
}

#[wasm_bindgen]
pub fn avg_pool2d(s: &Pool2dShape, x: *const f32, out: *mut f32) -> Result<(), JsError> {
    let (x_len, y_len) = s.lens();
    k::avg_pool2d_forward(&s.0, f32s(x, x_len), f32s_mut(out, y_len)).map_err(js)
}

#[wasm_bindgen]
pub fn avg_pool2d_backward(s: &Pool2dShape, dy: *const f32, dx: *mut f32) -> Result<(), JsError> {
    let (x_len, y_len) = s.lens();
    k::avg_pool2d_backward(&s.0, f32s(dy, y_len), f32s_mut(dx, x_len)).map_err(js)
}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    param: *mut f32,
    grad: *const f32,
    m: *mut f32,
    v: *mut f32,
    len: usize,
    lr: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    step: u32,
    weight_decay: f32,
) -> Result<(), JsError> {
    let (param, grad, m, v) = (f32s_mut(param, len), f32s(grad, len), f32s_mut(m, len), f32s_mut(v, len));
    k::adam_update(param, grad, m, v, lr, beta1, beta2, epsilon, step, weight_decay).map_err(js)
}

/// `velocity` 0 means plain SGD.
#[wasm_bindgen]
pub fn sgd_update(
    param: *mut f32,
    grad: *const f32,
    velocity: *mut f32,
    len: usize,
    lr: f32,
    momentum: f32,
    nesterov: bool,
) -> Result<(), JsError> {
    let velocity = (!velocity.is_null()).then(|| f32s_mut(velocity, len));
    k::sgd_update(f32s_mut(param, len), f32s(grad, len), velocity, lr, momentum, nesterov).map_err(js)
}

#[wasm_bindgen]
pub fn adagrad_update(param: *mut f32, grad: *const f32, accum: *mut f32, len: usize, lr: f32, epsilon: f32) -> Result<(), JsError> {
    k::adagrad_update(f32s_mut(param, len), f32s(grad, len), f32s_mut(accum, len), lr, epsilon).map_err(js)
}

#[wasm_bindgen]
pub fn rmsprop_update(
    param: *mut f32,
    grad: *const f32,
    mean_square: *mut f32,
    len: usize,
    lr: f32,
    rho: f32,
    epsilon: f32,
) -> Result<(), JsError> {
    let (param, grad, ms) = (f32s_mut(param, len), f32s(grad, len), f32s_mut(mean_square, len));
    k::rmsprop_update(param, grad, ms, lr, rho, epsilon).map_err(js)
}

/// Inverted dropout: `mask` gets 1/(1-rate) or 0 per element (drawn from `seed` and the position), `y = x·mask`.
#[wasm_bindgen]
pub fn dropout(x: *const f32, len: usize, rate: f32, seed: u32, y: *mut f32, mask: *mut f32) -> Result<(), JsError> {
    k::dropout_forward(f32s(x, len), rate, seed, f32s_mut(y, len), f32s_mut(mask, len)).map_err(js)
}

/// Moving mean and variance updated in place from a training step's `mean` and `inv_std`.
#[wasm_bindgen]
pub fn batch_norm_update_moving(
    mean: *const f32,
    inv_std: *const f32,
    channels: usize,
    epsilon: f32,
    momentum: f32,
    moving_mean: *mut f32,
    moving_var: *mut f32,
) -> Result<(), JsError> {
    let (mean, inv_std) = (f32s(mean, channels), f32s(inv_std, channels));
    k::batch_norm_update_moving(mean, inv_std, epsilon, momentum, f32s_mut(moving_mean, channels), f32s_mut(moving_var, channels)).map_err(js)
}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train(
    x: *const f32,
    rows: usize,
    channels: usize,
    gamma: *const f32,
    beta: *const f32,
    epsilon: f32,
    y: *mut f32,
    mean: *mut f32,
    inv_std: *mut f32,
) -> Result<(), JsError> {
    let n = rows * channels;
    let (gamma, beta) = (f32s(gamma, channels), f32s(beta, channels));
    k::batch_norm_forward_train(f32s(x, n), rows, channels, gamma, beta, epsilon, f32s_mut(y, n), f32s_mut(mean, channels), f32s_mut(inv_std, channels))
        .map_err(js)
}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_inference(
    x: *const f32,
    rows: usize,
    channels: usize,
    gamma: *const f32,
    beta: *const f32,
    moving_mean: *const f32,
    moving_var: *const f32,
    epsilon: f32,
    y: *mut f32,
) -> Result<(), JsError> {
    let n = rows * channels;
    let (gamma, beta) = (f32s(gamma, channels), f32s(beta, channels));
    let (mean, var) = (f32s(moving_mean, channels), f32s(moving_var, channels));
    k::batch_norm_forward_inference(f32s(x, n), rows, channels, gamma, beta, mean, var, epsilon, f32s_mut(y, n)).map_err(js)
}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    x: *const f32,
    dy: *const f32,
    rows: usize,
    channels: usize,
    gamma: *const f32,
    mean: *const f32,
    inv_std: *const f32,
    dx: *mut f32,
    d_gamma: *mut f32,
    d_beta: *mut f32,
) -> Result<(), JsError> {
    let n = rows * channels;
    let (gamma, mean, inv_std) = (f32s(gamma, channels), f32s(mean, channels), f32s(inv_std, channels));
    let (dx, d_gamma, d_beta) = (f32s_mut(dx, n), f32s_mut(d_gamma, channels), f32s_mut(d_beta, channels));
    k::batch_norm_backward(f32s(x, n), f32s(dy, n), rows, channels, gamma, mean, inv_std, dx, d_gamma, d_beta).map_err(js)
}

/// y = x where positive, alpha·x elsewhere.
#[wasm_bindgen]
pub fn leaky_relu(x: *const f32, len: usize, alpha: f32, y: *mut f32) -> Result<(), JsError> {
    k::leaky_relu_forward(f32s(x, len), alpha, f32s_mut(y, len)).map_err(js)
}

/// dx = dy where the forward output y is positive, alpha·dy elsewhere.
#[wasm_bindgen]
pub fn leaky_relu_grad(y: *const f32, len: usize, alpha: f32, dy: *const f32, dx: *mut f32) -> Result<(), JsError> {
    k::leaky_relu_backward(f32s(y, len), alpha, f32s(dy, len), f32s_mut(dx, len)).map_err(js)
}

/// Copies `outer × inner` blocks of `width` values between strided positions (see `kiln_kernels::copy`).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn copy_blocks(
    outer: usize,
    inner: usize,
    width: usize,
    src: *const f32,
    src_len: usize,
    src_offset: usize,
    src_outer: usize,
    src_inner: usize,
    dst: *mut f32,
    dst_len: usize,
    dst_offset: usize,
    dst_outer: usize,
    dst_inner: usize,
) -> Result<(), JsError> {
    use k::copy::Blocks;
    let from = Blocks { offset: src_offset, outer_stride: src_outer, inner_stride: src_inner };
    let to = Blocks { offset: dst_offset, outer_stride: dst_outer, inner_stride: dst_inner };
    k::copy::copy_blocks(outer, inner, width, f32s(src, src_len), from, f32s_mut(dst, dst_len), to).map_err(js)
}

/// Writes into `out[0]` how many values of the buffers (`ptrs[i]`, `lens[i]` floats) are NaN or infinite.
#[wasm_bindgen]
pub fn count_non_finite(ptrs: &[u32], lens: &[u32], out: *mut f32) -> Result<(), JsError> {
    if ptrs.len() != lens.len() {
        return Err(JsError::new(&format!("count_non_finite: {} pointers but {} lengths", ptrs.len(), lens.len())));
    }
    let count: usize = ptrs.iter().zip(lens).map(|(&p, &n)| k::elementwise::count_non_finite(f32s(p as *const f32, n as usize))).sum();
    f32s_mut(out, 1)[0] = count as f32;
    Ok(())
}

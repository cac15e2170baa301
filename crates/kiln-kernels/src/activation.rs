//! Elementwise activations and their gradients, plus row-wise softmax and bias. Each forward has an
//! `_in_place` twin that overwrites its input; each backward has one that overwrites the incoming gradient.
//! Sigmoid and tanh gradients are taken from the forward output `y`; ReLU's from either `x` or `y` (both are
//! positive exactly where the gradient passes).

use crate::error::{check_len, KernelError};
use crate::par::{self, rows_per_task, ELEMENTWISE_CHUNK};

/// `y[i] = f(x[i])`.
pub(crate) fn map_into(
    kernel: &'static str,
    x: &[f32],
    y: &mut [f32],
    f: impl Fn(f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    check_len(kernel, "y", y.len(), &[x.len()])?;
    par::for_each_chunk_mut(y, ELEMENTWISE_CHUNK, |i, y| {
        for (y, &x) in y.iter_mut().zip(&x[i * ELEMENTWISE_CHUNK..]) {
            *y = f(x);
        }
    });
    Ok(())
}

/// `x[i] = f(x[i])`.
fn map_in_place(x: &mut [f32], f: impl Fn(f32) -> f32 + Sync) {
    par::for_each_chunk_mut(x, ELEMENTWISE_CHUNK, |_, x| {
        for v in x {
            *v = f(*v);
        }
    });
}

/// `grad[i] = f(saved[i], grad[i])` for a backward pass that reuses the incoming gradient's buffer.
fn backward_in_place(
    kernel: &'static str,
    saved: &[f32],
    grad: &mut [f32],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    check_len(kernel, "grad", grad.len(), &[saved.len()])?;
    par::for_each_chunk_mut(grad, ELEMENTWISE_CHUNK, |i, grad| {
        for (g, &s) in grad.iter_mut().zip(&saved[i * ELEMENTWISE_CHUNK..]) {
            *g = f(s, *g);
        }
    });
    Ok(())
}

/// `dx[i] = f(saved[i], dy[i])`.
fn backward_into(
    kernel: &'static str,
    saved: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    check_len(kernel, "dy", dy.len(), &[saved.len()])?;
    check_len(kernel, "dx", dx.len(), &[saved.len()])?;
    par::for_each_chunk_mut(dx, ELEMENTWISE_CHUNK, |i, dx| {
        let start = i * ELEMENTWISE_CHUNK;
        for ((d, &s), &g) in dx.iter_mut().zip(&saved[start..]).zip(&dy[start..]) {
            *d = f(s, g);
        }
    });
    Ok(())
}

fn relu(x: f32) -> f32 {
    x.max(0.0)
}

fn relu_grad(x_or_y: f32, dy: f32) -> f32 {
    if x_or_y > 0.0 {
        dy
    } else {
        0.0
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn sigmoid_grad(y: f32, dy: f32) -> f32 {
    dy * y * (1.0 - y)
}

fn tanh_grad(y: f32, dy: f32) -> f32 {
    dy * (1.0 - y * y)
}

/// `y = max(x, 0)`.
pub fn relu_forward(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into("relu_forward", x, y, relu)
}

pub fn relu_forward_in_place(x: &mut [f32]) {
    map_in_place(x, relu)
}

/// `dx = dy` where the forward input (or output) is positive, 0 elsewhere.
pub fn relu_backward(x_or_y: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<(), KernelError> {
    backward_into("relu_backward", x_or_y, dy, dx, relu_grad)
}

/// [`relu_backward`] overwriting `grad` (dy in, dx out).
pub fn relu_backward_in_place(x_or_y: &[f32], grad: &mut [f32]) -> Result<(), KernelError> {
    backward_in_place("relu_backward_in_place", x_or_y, grad, relu_grad)
}

/// `y = x` where positive, `alpha·x` elsewhere (`alpha` ≥ 0, so y and x share their sign).
pub fn leaky_relu_forward(x: &[f32], alpha: f32, y: &mut [f32]) -> Result<(), KernelError> {
    check_alpha("leaky_relu_forward", alpha)?;
    map_into("leaky_relu_forward", x, y, |v| if v > 0.0 { v } else { alpha * v })
}

/// `dx = dy` where the forward output `y` is positive, `alpha·dy` elsewhere.
pub fn leaky_relu_backward(y: &[f32], alpha: f32, dy: &[f32], dx: &mut [f32]) -> Result<(), KernelError> {
    check_alpha("leaky_relu_backward", alpha)?;
    backward_into("leaky_relu_backward", y, dy, dx, |y, g| if y > 0.0 { g } else { alpha * g })
}

fn check_alpha(kernel: &'static str, alpha: f32) -> Result<(), KernelError> {
    if alpha.is_finite() && alpha >= 0.0 {
        return Ok(());
    }
    Err(KernelError::Value { kernel, argument: "alpha", expected: "finite and ≥ 0".into(), got: alpha.to_string() })
}

/// `y = 1 / (1 + exp(-x))`.
pub fn sigmoid_forward(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into("sigmoid_forward", x, y, sigmoid)
}

pub fn sigmoid_forward_in_place(x: &mut [f32]) {
    map_in_place(x, sigmoid)
}

/// `dx = dy · y · (1 - y)` from the forward output `y`.
pub fn sigmoid_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<(), KernelError> {
    backward_into("sigmoid_backward", y, dy, dx, sigmoid_grad)
}

/// [`sigmoid_backward`] overwriting `grad` (dy in, dx out).
pub fn sigmoid_backward_in_place(y: &[f32], grad: &mut [f32]) -> Result<(), KernelError> {
    backward_in_place("sigmoid_backward_in_place", y, grad, sigmoid_grad)
}

/// `y = tanh(x)`.
pub fn tanh_forward(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into("tanh_forward", x, y, f32::tanh)
}

pub fn tanh_forward_in_place(x: &mut [f32]) {
    map_in_place(x, f32::tanh)
}

/// `dx = dy · (1 - y²)` from the forward output `y`.
pub fn tanh_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<(), KernelError> {
    backward_into("tanh_backward", y, dy, dx, tanh_grad)
}

/// [`tanh_backward`] overwriting `grad` (dy in, dx out).
pub fn tanh_backward_in_place(y: &[f32], grad: &mut [f32]) -> Result<(), KernelError> {
    backward_in_place("tanh_backward_in_place", y, grad, tanh_grad)
}

/// Softmax of each `cols`-long row of `x`, stabilised by subtracting the row max.
pub fn softmax_rows(x: &[f32], rows: usize, cols: usize, y: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "softmax_rows";
    check_len(KERNEL, "x", x.len(), &[rows, cols])?;
    check_len(KERNEL, "y", y.len(), &[rows, cols])?;
    let block = rows_per_task(cols) * cols;
    par::for_each_chunk_mut(y, block, |i, y| {
        for (y, x) in y.chunks_exact_mut(cols).zip(x[i * block..].chunks_exact(cols)) {
            softmax_row(x, y);
        }
    });
    Ok(())
}

/// Softmax of one row (at least one element); returns the row max and `Σ exp(x - max)`, from which callers
/// form log-softmax.
pub(crate) fn softmax_row(x: &[f32], y: &mut [f32]) -> (f32, f32) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0f32;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - max).exp();
        sum += *y;
    }
    let scale = 1.0 / sum;
    for y in y {
        *y *= scale;
    }
    (max, sum)
}

/// `y[r, c] = x[r, c] + bias[c]`.
pub fn bias_add(x: &[f32], rows: usize, cols: usize, bias: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "bias_add";
    check_len(KERNEL, "x", x.len(), &[rows, cols])?;
    check_len(KERNEL, "bias", bias.len(), &[cols])?;
    check_len(KERNEL, "y", y.len(), &[rows, cols])?;
    let block = rows_per_task(cols) * cols;
    par::for_each_chunk_mut(y, block, |i, y| {
        for (y, x) in y.chunks_exact_mut(cols).zip(x[i * block..].chunks_exact(cols)) {
            for ((y, &x), &b) in y.iter_mut().zip(x).zip(bias) {
                *y = x + b;
            }
        }
    });
    Ok(())
}

/// `db[c] = Σ_r dy[r, c]` (overwrites `db`).
pub fn bias_grad(dy: &[f32], rows: usize, cols: usize, db: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "bias_grad";
    check_len(KERNEL, "dy", dy.len(), &[rows, cols])?;
    check_len(KERNEL, "db", db.len(), &[cols])?;
    column_sums(dy, db);
    Ok(())
}

/// `sums[c] = Σ_r data[r, c]` over rows of `sums.len()` (lengths already checked), accumulated in float64 per
/// block of rows and the blocks added in order.
pub(crate) fn column_sums(data: &[f32], sums: &mut [f32]) {
    let cols = sums.len();
    if cols == 0 {
        return;
    }
    let partials = par::map_chunks(data, rows_per_task(cols) * cols, |_, block| {
        let mut acc = vec![0.0f64; cols];
        for row in block.chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
        acc
    });
    let mut total = vec![0.0f64; cols];
    for partial in partials {
        for (t, p) in total.iter_mut().zip(partial) {
            *t += p;
        }
    }
    for (s, t) in sums.iter_mut().zip(total) {
        *s = t as f32;
    }
}

#[cfg(test)]
mod tests;

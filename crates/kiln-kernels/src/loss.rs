//! Losses averaged over their elements (or rows), each writing the gradient of that mean into `grad`.
//! Sums run in float64 per chunk, chunks added in order, so results do not depend on the thread count.

use crate::activation::softmax_row;
use crate::error::{check_len, check_positive, KernelError};
use crate::par::{self, rows_per_task, ELEMENTWISE_CHUNK};

/// Probabilities are clipped to `[PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON]` as Keras does.
pub const PROBABILITY_EPSILON: f32 = 1e-7;

/// Mean over elements of `term(a, b) -> (loss, gradient of loss)`; `grad` gets the gradient divided by the count.
fn elementwise_mean(
    kernel: &'static str,
    names: (&'static str, &'static str),
    a: &[f32],
    b: &[f32],
    grad: &mut [f32],
    term: impl Fn(f32, f32) -> (f64, f32) + Sync,
) -> Result<f32, KernelError> {
    check_positive(kernel, names.0, a.len())?;
    check_len(kernel, names.1, b.len(), &[a.len()])?;
    check_len(kernel, "grad", grad.len(), &[a.len()])?;
    let scale = 1.0 / a.len() as f32;
    let partials = par::map_chunks_mut(grad, ELEMENTWISE_CHUNK, |i, grad| {
        let start = i * ELEMENTWISE_CHUNK;
        let mut sum = 0.0f64;
        for ((g, &a), &b) in grad.iter_mut().zip(&a[start..]).zip(&b[start..]) {
            let (loss, d) = term(a, b);
            sum += loss;
            *g = d * scale;
        }
        sum
    });
    Ok((partials.iter().sum::<f64>() / a.len() as f64) as f32)
}

/// Mean over rows of `-log softmax(logits[r])[labels[r]]`; `grad_logits = (softmax - onehot) / rows`.
/// A label not below `classes` is an error naming its row.
pub fn softmax_cross_entropy_sparse(
    logits: &[f32],
    rows: usize,
    classes: usize,
    labels: &[u32],
    grad_logits: &mut [f32],
) -> Result<f32, KernelError> {
    const KERNEL: &str = "softmax_cross_entropy_sparse";
    check_positive(KERNEL, "rows", rows)?;
    check_positive(KERNEL, "classes", classes)?;
    check_len(KERNEL, "logits", logits.len(), &[rows, classes])?;
    check_len(KERNEL, "labels", labels.len(), &[rows])?;
    check_len(KERNEL, "grad_logits", grad_logits.len(), &[rows, classes])?;
    if let Some((row, label)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= classes) {
        return Err(KernelError::Value {
            kernel: KERNEL,
            argument: "labels",
            expected: format!("below {classes} (classes)"),
            got: format!("labels[{row}] = {label}"),
        });
    }
    let block_rows = rows_per_task(classes);
    let scale = 1.0 / rows as f32;
    let partials = par::map_chunks_mut(grad_logits, block_rows * classes, |i, grad| {
        let first = i * block_rows;
        let logits = logits[first * classes..].chunks_exact(classes);
        let mut sum = 0.0f64;
        for ((grad, logits), &label) in grad.chunks_exact_mut(classes).zip(logits).zip(&labels[first..]) {
            let (max, exp_sum) = softmax_row(logits, grad);
            let label = label as usize;
            // -log p[label] from the logits, so a tiny probability does not underflow to log(0).
            sum += (exp_sum as f64).ln() - (logits[label] - max) as f64;
            grad[label] -= 1.0;
            grad.iter_mut().for_each(|g| *g *= scale);
        }
        sum
    });
    Ok((partials.iter().sum::<f64>() / rows as f64) as f32)
}

/// Mean squared error `mean((pred - target)²)`; `grad = 2 (pred - target) / n`.
pub fn mse(pred: &[f32], target: &[f32], grad: &mut [f32]) -> Result<f32, KernelError> {
    elementwise_mean("mse", ("pred", "target"), pred, target, grad, |p, t| {
        let d = p - t;
        ((d as f64) * (d as f64), 2.0 * d)
    })
}

/// `mean(-(t·ln p + (1-t)·ln(1-p)))` with `p` clipped to `[1e-7, 1-1e-7]` (Keras); `grad` is with respect to
/// `prob` and, as through Keras's clip, 0 where `prob` lies outside that range.
pub fn binary_cross_entropy(prob: &[f32], target: &[f32], grad: &mut [f32]) -> Result<f32, KernelError> {
    elementwise_mean("binary_cross_entropy", ("prob", "target"), prob, target, grad, |p, t| {
        let clipped = p.clamp(PROBABILITY_EPSILON, 1.0 - PROBABILITY_EPSILON);
        let (pc, t64) = (clipped as f64, t as f64);
        let loss = -(t64 * pc.ln() + (1.0 - t64) * (1.0 - pc).ln());
        let d = if clipped == p { ((1.0 - t64) / (1.0 - pc) - t64 / pc) as f32 } else { 0.0 };
        (loss, d)
    })
}

/// Binary cross-entropy of `sigmoid(logits)` in the stable form `mean(max(x,0) - x·t + ln(1 + e^-|x|))`;
/// `grad = (sigmoid(x) - t) / n`.
pub fn binary_cross_entropy_with_logits(logits: &[f32], target: &[f32], grad: &mut [f32]) -> Result<f32, KernelError> {
    elementwise_mean("binary_cross_entropy_with_logits", ("logits", "target"), logits, target, grad, |x, t| {
        let (x64, t64) = (x as f64, t as f64);
        let loss = x64.max(0.0) - x64 * t64 + (-x64.abs()).exp().ln_1p();
        (loss, 1.0 / (1.0 + (-x).exp()) - t)
    })
}

#[cfg(test)]
mod tests;

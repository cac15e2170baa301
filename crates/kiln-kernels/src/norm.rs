//! Batch normalization over the last axis (the channels of NHWC activations, viewed as `[rows, channels]`).
//! Per-channel sums run in float64 per block of rows, blocks added in order, so results do not depend on the
//! thread count.

use crate::error::{check_len, check_positive, KernelError};
use crate::par::{self, rows_per_task};

fn check_input(
    kernel: &'static str,
    x: &[f32],
    rows: usize,
    channels: usize,
    gamma: &[f32],
) -> Result<(), KernelError> {
    check_positive(kernel, "rows", rows)?;
    check_positive(kernel, "channels", channels)?;
    check_len(kernel, "x", x.len(), &[rows, channels])?;
    check_len(kernel, "gamma", gamma.len(), &[channels])
}

fn check_eps(kernel: &'static str, eps: f32) -> Result<(), KernelError> {
    if eps.is_finite() && eps >= 0.0 {
        return Ok(());
    }
    Err(KernelError::Value { kernel, argument: "eps", expected: "finite and at least 0".into(), got: eps.to_string() })
}

/// Sums `width·channels` float64 accumulators over blocks of rows of `x`: `accumulate(first_element, x_block, acc)`
/// adds one block's terms into its own zeroed `acc`; the blocks' results are added in order.
fn reduce_rows(
    x: &[f32],
    channels: usize,
    width: usize,
    accumulate: impl Fn(usize, &[f32], &mut [f64]) + Sync,
) -> Vec<f64> {
    let block = rows_per_task(channels) * channels;
    let partials = par::map_chunks(x, block, |i, x| {
        let mut acc = vec![0.0f64; width * channels];
        accumulate(i * block, x, &mut acc);
        acc
    });
    let mut total = vec![0.0f64; width * channels];
    for partial in partials {
        total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
    }
    total
}

/// `y = scale[c]·x + shift[c]` row by row.
fn scale_shift(x: &[f32], channels: usize, scale: &[f32], shift: &[f32], y: &mut [f32]) {
    let block = rows_per_task(channels) * channels;
    par::for_each_chunk_mut(y, block, |i, y| {
        for (y, x) in y.chunks_exact_mut(channels).zip(x[i * block..].chunks_exact(channels)) {
            for (((y, &x), &s), &b) in y.iter_mut().zip(x).zip(scale).zip(shift) {
                *y = s * x + b;
            }
        }
    });
}

/// Training-mode batch norm: per channel, the batch `mean` and biased variance `var` over the rows,
/// `y = gamma·(x - mean)/sqrt(var + eps) + beta`. Writes `mean_out` and `inv_std_out = 1/sqrt(var + eps)` for
/// the backward pass (and for moving averages: `var = 1/inv_std² - eps`).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train(
    x: &[f32],
    rows: usize,
    channels: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
    mean_out: &mut [f32],
    inv_std_out: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "batch_norm_forward_train";
    check_input(KERNEL, x, rows, channels, gamma)?;
    check_eps(KERNEL, eps)?;
    check_len(KERNEL, "beta", beta.len(), &[channels])?;
    check_len(KERNEL, "y", y.len(), &[rows, channels])?;
    check_len(KERNEL, "mean_out", mean_out.len(), &[channels])?;
    check_len(KERNEL, "inv_std_out", inv_std_out.len(), &[channels])?;
    let sums = reduce_rows(x, channels, 1, |_, x, acc| {
        for row in x.chunks_exact(channels) {
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
        }
    });
    let mean: Vec<f64> = sums.iter().map(|s| s / rows as f64).collect();
    let squares = reduce_rows(x, channels, 1, |_, x, acc| {
        for row in x.chunks_exact(channels) {
            for ((a, &v), &m) in acc.iter_mut().zip(row).zip(&mean) {
                *a += (v as f64 - m) * (v as f64 - m);
            }
        }
    });
    let mut scale = vec![0.0f32; channels];
    let mut shift = vec![0.0f32; channels];
    for c in 0..channels {
        let inv_std = 1.0 / (squares[c] / rows as f64 + eps as f64).sqrt();
        mean_out[c] = mean[c] as f32;
        inv_std_out[c] = inv_std as f32;
        scale[c] = (gamma[c] as f64 * inv_std) as f32;
        shift[c] = (beta[c] as f64 - mean[c] * gamma[c] as f64 * inv_std) as f32;
    }
    scale_shift(x, channels, &scale, &shift, y);
    Ok(())
}

/// Moving averages after a training step, in place: `moving = momentum·moving + (1 − momentum)·batch`, the batch
/// variance recovered from [`batch_norm_forward_train`]'s outputs as `1/inv_std² − eps`.
pub fn batch_norm_update_moving(
    mean: &[f32],
    inv_std: &[f32],
    eps: f32,
    momentum: f32,
    moving_mean: &mut [f32],
    moving_var: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "batch_norm_update_moving";
    check_eps(KERNEL, eps)?;
    if !(0.0..=1.0).contains(&momentum) {
        return Err(KernelError::Value { kernel: KERNEL, argument: "momentum", expected: "in [0, 1]".into(), got: momentum.to_string() });
    }
    let channels = mean.len();
    check_len(KERNEL, "inv_std", inv_std.len(), &[channels])?;
    check_len(KERNEL, "moving_mean", moving_mean.len(), &[channels])?;
    check_len(KERNEL, "moving_var", moving_var.len(), &[channels])?;
    let (keep, take) = (momentum as f64, 1.0 - momentum as f64);
    for c in 0..channels {
        let var = 1.0 / (inv_std[c] as f64 * inv_std[c] as f64) - eps as f64;
        moving_mean[c] = (keep * moving_mean[c] as f64 + take * mean[c] as f64) as f32;
        moving_var[c] = (keep * moving_var[c] as f64 + take * var) as f32;
    }
    Ok(())
}

/// Inference-mode batch norm: `y = gamma·(x - moving_mean)/sqrt(moving_var + eps) + beta`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_inference(
    x: &[f32],
    rows: usize,
    channels: usize,
    gamma: &[f32],
    beta: &[f32],
    moving_mean: &[f32],
    moving_var: &[f32],
    eps: f32,
    y: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "batch_norm_forward_inference";
    check_input(KERNEL, x, rows, channels, gamma)?;
    check_eps(KERNEL, eps)?;
    check_len(KERNEL, "beta", beta.len(), &[channels])?;
    check_len(KERNEL, "moving_mean", moving_mean.len(), &[channels])?;
    check_len(KERNEL, "moving_var", moving_var.len(), &[channels])?;
    check_len(KERNEL, "y", y.len(), &[rows, channels])?;
    let scale: Vec<f32> = gamma.iter().zip(moving_var).map(|(&g, &v)| g / (v + eps).sqrt()).collect();
    let shift: Vec<f32> = beta.iter().zip(moving_mean).zip(&scale).map(|((&b, &m), &s)| b - m * s).collect();
    scale_shift(x, channels, &scale, &shift, y);
    Ok(())
}

/// Gradients of [`batch_norm_forward_train`] given its saved `mean` and `inv_std`; overwrites `dx`, `dgamma`
/// and `dbeta`. With `x̂ = (x - mean)·inv_std`: `dbeta = Σ dy`, `dgamma = Σ dy·x̂`,
/// `dx = gamma·inv_std/N · (N·dy - dbeta - x̂·dgamma)`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    x: &[f32],
    dy: &[f32],
    rows: usize,
    channels: usize,
    gamma: &[f32],
    mean: &[f32],
    inv_std: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Result<(), KernelError> {
    const KERNEL: &str = "batch_norm_backward";
    check_input(KERNEL, x, rows, channels, gamma)?;
    check_len(KERNEL, "dy", dy.len(), &[rows, channels])?;
    check_len(KERNEL, "mean", mean.len(), &[channels])?;
    check_len(KERNEL, "inv_std", inv_std.len(), &[channels])?;
    check_len(KERNEL, "dx", dx.len(), &[rows, channels])?;
    check_len(KERNEL, "dgamma", dgamma.len(), &[channels])?;
    check_len(KERNEL, "dbeta", dbeta.len(), &[channels])?;
    // acc[c] = Σ dy, acc[channels + c] = Σ dy·x̂.
    let sums = reduce_rows(x, channels, 2, |first, x, acc| {
        let (sum_dy, sum_dy_xhat) = acc.split_at_mut(channels);
        for (x, dy) in x.chunks_exact(channels).zip(dy[first..].chunks_exact(channels)) {
            for c in 0..channels {
                let xhat = (x[c] - mean[c]) * inv_std[c];
                sum_dy[c] += dy[c] as f64;
                sum_dy_xhat[c] += (dy[c] * xhat) as f64;
            }
        }
    });
    let n = rows as f32;
    let mut scale = vec![0.0f32; channels];
    for c in 0..channels {
        dbeta[c] = sums[c] as f32;
        dgamma[c] = sums[channels + c] as f32;
        scale[c] = gamma[c] * inv_std[c] / n;
    }
    let block = rows_per_task(channels) * channels;
    par::for_each_chunk_mut(dx, block, |i, dx| {
        let first = i * block;
        let rows = dx
            .chunks_exact_mut(channels)
            .zip(x[first..].chunks_exact(channels))
            .zip(dy[first..].chunks_exact(channels));
        for ((dx, x), dy) in rows {
            for c in 0..channels {
                let xhat = (x[c] - mean[c]) * inv_std[c];
                dx[c] = scale[c] * (n * dy[c] - dbeta[c] - xhat * dgamma[c]);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;

//! Optimizer steps with Keras semantics, updating flat parameter slices and their state in place. Slices are
//! cut into fixed chunks that run in parallel with the `parallel` feature.

use crate::error::{check_len, KernelError};
use crate::par;

/// Elements per parallel task. An update reads and writes three or four slices and may take a square root
/// and a division per element, so a quarter of an elementwise chunk is as much work, and the seed CNN's
/// 18k-65k-element weights split into several tasks each.
const CHUNK: usize = par::ELEMENTWISE_CHUNK / 4;

/// Fails unless `value` is finite and `in_range` holds; `range` describes the valid values for the message.
fn check_hyperparameter(
    kernel: &'static str,
    argument: &'static str,
    value: f32,
    range: &str,
    in_range: bool,
) -> Result<(), KernelError> {
    if value.is_finite() && in_range {
        return Ok(());
    }
    Err(KernelError::Value { kernel, argument, expected: range.into(), got: value.to_string() })
}

fn check_unit_interval(kernel: &'static str, argument: &'static str, value: f32) -> Result<(), KernelError> {
    check_hyperparameter(kernel, argument, value, "in [0, 1)", (0.0..1.0).contains(&value))
}

fn check_learning_rate(kernel: &'static str, lr: f32) -> Result<(), KernelError> {
    check_hyperparameter(kernel, "lr", lr, "finite", true)
}

fn check_epsilon(kernel: &'static str, eps: f32) -> Result<(), KernelError> {
    check_hyperparameter(kernel, "eps", eps, "at least 0", eps >= 0.0)
}

/// Stochastic gradient descent. Without momentum (`momentum == 0`, `velocity` may be None):
/// `param -= lr·grad`. With it: `velocity = momentum·velocity - lr·grad`, then `param += velocity`, or with
/// `nesterov`, `param += momentum·velocity - lr·grad`.
pub fn sgd_update(
    param: &mut [f32],
    grad: &[f32],
    velocity: Option<&mut [f32]>,
    lr: f32,
    momentum: f32,
    nesterov: bool,
) -> Result<(), KernelError> {
    const KERNEL: &str = "sgd_update";
    check_len(KERNEL, "grad", grad.len(), &[param.len()])?;
    check_learning_rate(KERNEL, lr)?;
    check_unit_interval(KERNEL, "momentum", momentum)?;
    match velocity {
        None if momentum != 0.0 => Err(KernelError::Value {
            kernel: KERNEL,
            argument: "velocity",
            expected: "a slice when momentum is not 0".into(),
            got: "None".into(),
        }),
        None => {
            par::for_each_chunk_mut(param, CHUNK, |i, param| {
                for (p, &g) in param.iter_mut().zip(&grad[i * CHUNK..]) {
                    *p -= lr * g;
                }
            });
            Ok(())
        }
        Some(velocity) => {
            check_len(KERNEL, "velocity", velocity.len(), &[param.len()])?;
            par::for_each_chunk_mut2(param, velocity, CHUNK, |i, param, velocity| {
                for ((p, v), &g) in param.iter_mut().zip(velocity).zip(&grad[i * CHUNK..]) {
                    *v = momentum * *v - lr * g;
                    *p += if nesterov { momentum * *v - lr * g } else { *v };
                }
            });
            Ok(())
        }
    }
}

/// Adagrad: `accum += grad²`, `param -= lr·grad / (sqrt(accum) + eps)`.
pub fn adagrad_update(
    param: &mut [f32],
    grad: &[f32],
    accum: &mut [f32],
    lr: f32,
    eps: f32,
) -> Result<(), KernelError> {
    const KERNEL: &str = "adagrad_update";
    check_len(KERNEL, "grad", grad.len(), &[param.len()])?;
    check_len(KERNEL, "accum", accum.len(), &[param.len()])?;
    check_learning_rate(KERNEL, lr)?;
    check_epsilon(KERNEL, eps)?;
    par::for_each_chunk_mut2(param, accum, CHUNK, |i, param, accum| {
        for ((p, a), &g) in param.iter_mut().zip(accum).zip(&grad[i * CHUNK..]) {
            *a += g * g;
            *p -= lr * g / (a.sqrt() + eps);
        }
    });
    Ok(())
}

/// RMSprop (uncentred, no momentum): `mean_square = rho·mean_square + (1-rho)·grad²`,
/// `param -= lr·grad / (sqrt(mean_square) + eps)`.
pub fn rmsprop_update(
    param: &mut [f32],
    grad: &[f32],
    mean_square: &mut [f32],
    lr: f32,
    rho: f32,
    eps: f32,
) -> Result<(), KernelError> {
    const KERNEL: &str = "rmsprop_update";
    check_len(KERNEL, "grad", grad.len(), &[param.len()])?;
    check_len(KERNEL, "mean_square", mean_square.len(), &[param.len()])?;
    check_learning_rate(KERNEL, lr)?;
    check_unit_interval(KERNEL, "rho", rho)?;
    check_epsilon(KERNEL, eps)?;
    par::for_each_chunk_mut2(param, mean_square, CHUNK, |i, param, mean_square| {
        for ((p, s), &g) in param.iter_mut().zip(mean_square).zip(&grad[i * CHUNK..]) {
            *s = rho * *s + (1.0 - rho) * g * g;
            *p -= lr * g / (s.sqrt() + eps);
        }
    });
    Ok(())
}

/// Adam step number `step` (1 for the first update), Keras form: `m = β1·m + (1-β1)·grad`,
/// `v = β2·v + (1-β2)·grad²`, `param -= lr_t·m / (sqrt(v) + eps)` with `lr_t = lr·sqrt(1-β2^t) / (1-β1^t)`.
/// A nonzero `weight_decay` makes it AdamW: `param -= lr·weight_decay·param` first (decoupled from the
/// gradient, as Keras applies it).
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    step: u32,
    weight_decay: f32,
) -> Result<(), KernelError> {
    const KERNEL: &str = "adam_update";
    check_len(KERNEL, "grad", grad.len(), &[param.len()])?;
    check_len(KERNEL, "m", m.len(), &[param.len()])?;
    check_len(KERNEL, "v", v.len(), &[param.len()])?;
    check_learning_rate(KERNEL, lr)?;
    check_unit_interval(KERNEL, "beta1", beta1)?;
    check_unit_interval(KERNEL, "beta2", beta2)?;
    check_epsilon(KERNEL, eps)?;
    check_hyperparameter(KERNEL, "weight_decay", weight_decay, "at least 0", weight_decay >= 0.0)?;
    if step == 0 {
        return Err(KernelError::Value {
            kernel: KERNEL,
            argument: "step",
            expected: "at least 1".into(),
            got: "0".into(),
        });
    }
    let t = step as f64;
    let lr_t = (lr as f64 * (1.0 - (beta2 as f64).powf(t)).sqrt() / (1.0 - (beta1 as f64).powf(t))) as f32;
    let decay = 1.0 - lr * weight_decay;
    par::for_each_chunk_mut3(param, m, v, CHUNK, |i, param, m, v| {
        for (((p, m), v), &g) in param.iter_mut().zip(m).zip(v).zip(&grad[i * CHUNK..]) {
            *m = beta1 * *m + (1.0 - beta1) * g;
            *v = beta2 * *v + (1.0 - beta2) * g * g;
            *p = *p * decay - lr_t * *m / (v.sqrt() + eps);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests;

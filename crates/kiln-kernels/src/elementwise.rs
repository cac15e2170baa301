//! Elementwise maps, broadcasting binary ops, row reductions and log-softmax: the primitives the autodiff
//! tape composes into custom losses. Inputs and outputs are distinct slices.

use crate::activation::{map_into, softmax_row};
use crate::error::{check_len, KernelError};
use crate::par::{self, rows_per_task, ELEMENTWISE_CHUNK};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Square,
}

/// `out = op(x)`.
pub fn unary(op: UnaryOp, x: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    match op {
        UnaryOp::Neg => map_into("unary", x, out, |v| -v),
        UnaryOp::Exp => map_into("unary", x, out, f32::exp),
        UnaryOp::Log => map_into("unary", x, out, f32::ln),
        UnaryOp::Sqrt => map_into("unary", x, out, f32::sqrt),
        UnaryOp::Square => map_into("unary", x, out, |v| v * v),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `out[i] = a[i] ∘ b[i mod b.len()]`: b is either a's length or repeats along it (a bias, a scalar).
pub fn binary(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "binary";
    check_len(KERNEL, "out", out.len(), &[a.len()])?;
    if b.is_empty() || !a.len().is_multiple_of(b.len()) {
        return Err(KernelError::Shape {
            kernel: KERNEL,
            argument: "b",
            expected: format!("a divisor of a's length {}", a.len()),
            got: b.len().to_string(),
        });
    }
    // One monomorphized (vectorizable) loop per op, not a call through a function pointer per element.
    match op {
        BinaryOp::Add => zip_broadcast(a, b, out, |x, y| x + y),
        BinaryOp::Sub => zip_broadcast(a, b, out, |x, y| x - y),
        BinaryOp::Mul => zip_broadcast(a, b, out, |x, y| x * y),
        BinaryOp::Div => zip_broadcast(a, b, out, |x, y| x / y),
    }
    Ok(())
}

/// `out[i] = f(a[i], b[i mod b.len()])`, lengths already checked.
fn zip_broadcast(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    if b.len() == a.len() {
        par::for_each_chunk_mut(out, ELEMENTWISE_CHUNK, |i, out| {
            let start = i * ELEMENTWISE_CHUNK;
            for ((o, &x), &y) in out.iter_mut().zip(&a[start..]).zip(&b[start..]) {
                *o = f(x, y);
            }
        });
        return;
    }
    // Chunks hold whole repetitions of b, so each one restarts b at its beginning.
    let chunk = ELEMENTWISE_CHUNK.div_ceil(b.len()) * b.len();
    par::for_each_chunk_mut(out, chunk, |i, out| {
        for (out, a) in out.chunks_mut(b.len()).zip(a[i * chunk..].chunks(b.len())) {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }
    });
}

/// `out[i] = bytes[i] / divisor` (e.g. pixels to [0, 1] with 255), correctly rounded like a float32 division.
pub fn bytes_to_f32(bytes: &[u8], divisor: f32, out: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "bytes_to_f32";
    check_len(KERNEL, "out", out.len(), &[bytes.len()])?;
    if !(divisor.is_finite() && divisor != 0.0) {
        return Err(KernelError::Value { kernel: KERNEL, argument: "divisor", expected: "finite and nonzero".into(), got: divisor.to_string() });
    }
    par::for_each_chunk_mut(out, ELEMENTWISE_CHUNK, |i, out| {
        for (o, &b) in out.iter_mut().zip(&bytes[i * ELEMENTWISE_CHUNK..]) {
            *o = b as f32 / divisor;
        }
    });
    Ok(())
}

/// `out = alpha·x + beta`.
pub fn affine(x: &[f32], alpha: f32, beta: f32, out: &mut [f32]) -> Result<(), KernelError> {
    map_into("affine", x, out, |v| alpha * v + beta)
}

/// How many values of `x` are NaN or infinite (a training step checks its gradients with it).
pub fn count_non_finite(x: &[f32]) -> usize {
    // Branch-free over the exponent bits, so the loop vectorises: all ones means NaN or ±∞.
    x.iter().map(|v| ((v.to_bits() & 0x7f80_0000) == 0x7f80_0000) as usize).sum()
}

/// `out[r] = Σ_c x[r, c]`.
pub fn sum_cols(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "sum_cols";
    check_len(KERNEL, "x", x.len(), &[rows, cols])?;
    check_len(KERNEL, "out", out.len(), &[rows])?;
    let block = rows_per_task(cols);
    par::for_each_chunk_mut(out, block, |i, out| {
        for (o, row) in out.iter_mut().zip(x[i * block * cols..].chunks_exact(cols.max(1))) {
            // f64 accumulation: whole-tensor sums (losses) run over millions of values.
            *o = row.iter().map(|&v| v as f64).sum::<f64>() as f32;
        }
    });
    Ok(())
}

/// `out[r, c] = x[r, c] − max_r − ln Σ_c exp(x[r, c] − max_r)`.
pub fn log_softmax_rows(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "log_softmax_rows";
    check_len(KERNEL, "x", x.len(), &[rows, cols])?;
    check_len(KERNEL, "out", out.len(), &[rows, cols])?;
    let block = rows_per_task(cols) * cols;
    par::for_each_chunk_mut(out, block, |i, out| {
        for (out, x) in out.chunks_exact_mut(cols).zip(x[i * block..].chunks_exact(cols)) {
            let (max, total) = softmax_row(x, out);
            let shift = max + total.ln();
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v - shift;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unary_ops_match_std() {
        let x = [0.5f32, 1.0, 2.25, 3.0, 0.1];
        let mut out = [0.0; 5];
        for (op, f) in [
            (UnaryOp::Neg, (|v: f32| -v) as fn(f32) -> f32),
            (UnaryOp::Exp, f32::exp),
            (UnaryOp::Log, f32::ln),
            (UnaryOp::Sqrt, f32::sqrt),
            (UnaryOp::Square, |v| v * v),
        ] {
            unary(op, &x, &mut out).unwrap();
            for (o, &v) in out.iter().zip(&x) {
                assert!((o - f(v)).abs() <= 1e-6 * f(v).abs().max(1.0), "{op:?}({v}) = {o}");
            }
        }
    }

    #[test]
    fn binary_broadcasts_a_trailing_vector_across_chunks() {
        let cols = 3;
        let rows = ELEMENTWISE_CHUNK / 2 + 7; // spans several parallel chunks, not a multiple of the chunk
        let a: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5).collect();
        let b = [1.0f32, 2.0, 4.0];
        let mut out = vec![0.0; a.len()];
        for (op, f) in [
            (BinaryOp::Add, (|x: f32, y: f32| x + y) as fn(f32, f32) -> f32),
            (BinaryOp::Sub, |x, y| x - y),
            (BinaryOp::Mul, |x, y| x * y),
            (BinaryOp::Div, |x, y| x / y),
        ] {
            binary(op, &a, &b, &mut out).unwrap();
            for (i, &o) in out.iter().enumerate() {
                assert_eq!(o, f(a[i], b[i % cols]), "{op:?} at {i}");
            }
        }
        let e = binary(BinaryOp::Add, &a[..7], &b[..2], &mut out[..7]).unwrap_err();
        assert_eq!(e.to_string(), "binary: b has 2 elements, expected a divisor of a's length 7");
    }

    #[test]
    fn sums_and_log_softmax() {
        let x = [1.0f32, 2.0, 3.0, -1.0, 0.0, 1000.0];
        let mut sums = [0.0; 2];
        sum_cols(&x, 2, 3, &mut sums).unwrap();
        assert_eq!(sums, [6.0, 999.0]);
        let mut out = [0.0; 6];
        log_softmax_rows(&x, 2, 3, &mut out).unwrap();
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        for j in 0..3 {
            assert!((out[j] as f64 - (x[j] as f64 - lse)).abs() < 1e-6);
        }
        assert!((out[5]).abs() < 1e-6 && out[3] < -1000.0, "stable for large logits: {out:?}");
        let mut y = [0.0; 5];
        affine(&x[..5], 2.0, 1.0, &mut y).unwrap();
        assert_eq!(y, [3.0, 5.0, 7.0, -1.0, 1.0]);
    }

    #[test]
    fn bytes_to_f32_divides_every_byte_value_over_several_chunks() {
        // Every byte value, repeated past one parallel chunk, ending mid-pattern.
        let bytes: Vec<u8> = (0..ELEMENTWISE_CHUNK * 2 + 77).map(|i| (i * 7 % 256) as u8).collect();
        for divisor in [255.0f32, 1.0, -3.5] {
            let mut out = vec![f32::NAN; bytes.len()];
            bytes_to_f32(&bytes, divisor, &mut out).unwrap();
            for (i, (&o, &b)) in out.iter().zip(&bytes).enumerate() {
                // Division in f64 rounded once to f32 is the correctly rounded float32 quotient.
                assert_eq!(o, (b as f64 / divisor as f64) as f32, "byte {b} at {i} / {divisor}");
            }
        }
    }

    #[test]
    fn bytes_to_f32_rejects_bad_arguments() {
        let mut out = [0.0f32; 3];
        let err = bytes_to_f32(&[1, 2], 255.0, &mut out).unwrap_err().to_string();
        assert!(err.contains("bytes_to_f32: out has 3 elements, expected 2"), "{err}");
        for divisor in [0.0, f32::NAN, f32::INFINITY] {
            let err = bytes_to_f32(&[1, 2, 3], divisor, &mut out).unwrap_err().to_string();
            assert!(err.contains("divisor must be finite and nonzero"), "{err}");
        }
    }

    #[test]
    fn counts_nan_and_infinities_only() {
        let x = [0.0, -0.0, 1.0, f32::MAX, f32::MIN_POSITIVE, 1e-45, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN];
        assert_eq!(count_non_finite(&x), 4);
        assert_eq!(count_non_finite(&[]), 0);
    }
}

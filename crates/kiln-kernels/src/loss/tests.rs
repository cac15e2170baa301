use super::*;
use crate::test_util::{assert_close, numeric_grad, random_vec, rng, to_f64};
use rand::Rng;

fn assert_scalar(what: &str, got: f32, want: f64) {
    let err = (got as f64 - want).abs() / want.abs().max(1e-6);
    assert!(err < 1e-4, "{what}: got {got}, want {want}");
}

fn softmax_ce64(logits: &[f64], classes: usize, labels: &[u32]) -> f64 {
    let rows = labels.len();
    let total: f64 = logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &l)| row.iter().map(|v| v.exp()).sum::<f64>().ln() - row[l as usize])
        .sum();
    total / rows as f64
}

#[test]
fn softmax_cross_entropy_matches_reference_and_gradient() {
    for &(rows, classes) in &[(1, 1), (7, 5), (13, 10), (4001, 11)] {
        let mut r = rng(rows as u64);
        let logits = random_vec(&mut r, rows * classes, -4.0, 4.0);
        let labels: Vec<u32> = (0..rows).map(|_| r.gen_range(0..classes as u32)).collect();
        let mut grad = vec![f32::NAN; logits.len()];
        let loss = softmax_cross_entropy_sparse(&logits, rows, classes, &labels, &mut grad).unwrap();
        let x64 = to_f64(&logits);
        assert_scalar("softmax ce", loss, softmax_ce64(&x64, classes, &labels));
        if rows < 100 {
            let want = numeric_grad(&x64, |x| softmax_ce64(x, classes, &labels));
            assert_close("softmax ce grad", &grad, &want, 1e-4);
        }
    }
    // A confident wrong answer gives a large finite loss, not infinity.
    let mut grad = [0.0; 2];
    let loss = softmax_cross_entropy_sparse(&[200.0, -200.0], 1, 2, &[1], &mut grad).unwrap();
    assert_eq!(loss, 400.0);
    assert_eq!(grad, [1.0, -1.0]);
}

#[test]
fn softmax_cross_entropy_rejects_bad_labels_and_shapes() {
    let mut grad = [0.0; 6];
    let e = softmax_cross_entropy_sparse(&[0.0; 6], 2, 3, &[0, 3], &mut grad).unwrap_err();
    assert_eq!(e.to_string(), "softmax_cross_entropy_sparse: labels must be below 3 (classes), got labels[1] = 3");
    let e = softmax_cross_entropy_sparse(&[0.0; 6], 2, 3, &[0], &mut grad).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "labels", .. }), "{e}");
    let e = softmax_cross_entropy_sparse(&[], 0, 3, &[], &mut []).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "rows", .. }), "{e}");
}

type ElementwiseLoss = fn(&[f32], &[f32], &mut [f32]) -> Result<f32, KernelError>;

/// Checks `kernel` against the float64 mean of `term` and its central-difference gradient in the first argument.
fn check_elementwise(
    name: &str,
    kernel: ElementwiseLoss,
    inputs: (f32, f32),
    binary_target: bool,
    term: fn(f64, f64) -> f64,
) {
    for &len in &[1, 37, 3 * ELEMENTWISE_CHUNK + 7] {
        let mut r = rng(len as u64);
        let a = random_vec(&mut r, len, inputs.0, inputs.1);
        let b: Vec<f32> =
            (0..len).map(|_| if binary_target { r.gen_range(0..2) as f32 } else { r.gen_range(-1.0..1.0) }).collect();
        let mut grad = vec![f32::NAN; len];
        let loss = kernel(&a, &b, &mut grad).unwrap();
        let (a64, b64) = (to_f64(&a), to_f64(&b));
        let mean = |a: &[f64]| a.iter().zip(&b64).map(|(&a, &b)| term(a, b)).sum::<f64>() / len as f64;
        assert_scalar(name, loss, mean(&a64));
        if len < 100 {
            assert_close(&format!("{name} grad"), &grad, &numeric_grad(&a64, mean), 1e-4);
        }
    }
}

#[test]
fn mse_matches_reference_and_gradient() {
    check_elementwise("mse", mse, (-2.0, 2.0), false, |p, t| (p - t) * (p - t));
}

#[test]
fn binary_cross_entropy_matches_reference_and_gradient() {
    let term = |p: f64, t: f64| -(t * p.ln() + (1.0 - t) * (1.0 - p).ln());
    check_elementwise("bce", binary_cross_entropy, (0.05, 0.95), true, term);
    // Soft targets too.
    check_elementwise("bce soft", binary_cross_entropy, (0.05, 0.95), false, term);
}

#[test]
fn binary_cross_entropy_clips_like_keras() {
    let mut grad = [f32::NAN; 2];
    let loss = binary_cross_entropy(&[0.0, 1.0], &[1.0, 0.0], &mut grad).unwrap();
    let want = -(PROBABILITY_EPSILON as f64).ln();
    assert!((loss as f64 - want).abs() < 1e-2 * want, "loss {loss}, want about {want}");
    assert_eq!(grad, [0.0, 0.0]);
}

#[test]
fn binary_cross_entropy_with_logits_matches_reference_and_gradient() {
    let term = |x: f64, t: f64| {
        let p = 1.0 / (1.0 + (-x).exp());
        -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
    };
    check_elementwise("bce logits", binary_cross_entropy_with_logits, (-6.0, 6.0), true, term);
    check_elementwise("bce logits soft", binary_cross_entropy_with_logits, (-6.0, 6.0), false, term);
    // Stable for large logits.
    let mut grad = [0.0; 2];
    let loss = binary_cross_entropy_with_logits(&[-500.0, 500.0], &[1.0, 0.0], &mut grad).unwrap();
    assert_eq!(loss, 500.0);
    assert_eq!(grad, [-0.5, 0.5]);
}

#[test]
fn elementwise_losses_reject_bad_lengths() {
    let e = mse(&[0.0; 3], &[0.0; 2], &mut [0.0; 3]).unwrap_err();
    assert_eq!(e.to_string(), "mse: target has 2 elements, expected 3");
    let e = binary_cross_entropy(&[0.5; 3], &[0.0; 3], &mut [0.0; 4]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad", .. }), "{e}");
    let e = binary_cross_entropy_with_logits(&[], &[], &mut []).unwrap_err();
    assert_eq!(e.to_string(), "binary_cross_entropy_with_logits: logits must be at least 1, got 0");
}

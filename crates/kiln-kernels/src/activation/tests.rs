use super::*;
use crate::test_util::{assert_close, dot, numeric_grad, random_vec, rng, to_f64};

/// Odd sizes; the large one spans several parallel chunks.
const LENS: [usize; 3] = [1, 37, 3 * ELEMENTWISE_CHUNK + 5];

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Checks forward, both in-place forms, and backward (gradient from `saved(x, y)`) against central differences
/// of `reference` on L = Σ f(x)·R.
#[allow(clippy::type_complexity)]
fn check_unary(
    name: &str,
    forward: fn(&[f32], &mut [f32]) -> Result<(), KernelError>,
    forward_in_place: fn(&mut [f32]),
    backward: fn(&[f32], &[f32], &mut [f32]) -> Result<(), KernelError>,
    backward_in_place: fn(&[f32], &mut [f32]) -> Result<(), KernelError>,
    saved_is_output: bool,
    reference: fn(f64) -> f64,
) {
    for (s, &len) in LENS.iter().enumerate() {
        let mut r = rng(s as u64);
        // Keep ReLU inputs away from the kink so central differences are exact.
        let x: Vec<f32> =
            random_vec(&mut r, len, -3.0, 3.0).into_iter().map(|v| if v.abs() < 1e-3 { 0.5 } else { v }).collect();
        let dy = random_vec(&mut r, len, -1.0, 1.0);
        let x64 = to_f64(&x);
        let want: Vec<f64> = x64.iter().map(|&v| reference(v)).collect();
        let mut y = vec![f32::NAN; len];
        forward(&x, &mut y).unwrap();
        assert_close(&format!("{name} forward"), &y, &want, 1e-5);
        let mut inplace = x.clone();
        forward_in_place(&mut inplace);
        assert_eq!(inplace, y, "{name} in place");

        let saved = if saved_is_output { &y } else { &x };
        let mut dx = vec![f32::NAN; len];
        backward(saved, &dy, &mut dx).unwrap();
        if len < 100 {
            let want = numeric_grad(&x64, |x| dot(&x.iter().map(|&v| reference(v)).collect::<Vec<_>>(), &dy));
            assert_close(&format!("{name} backward"), &dx, &want, 1e-4);
        }
        let mut grad = dy.clone();
        backward_in_place(saved, &mut grad).unwrap();
        assert_eq!(grad, dx, "{name} backward in place");
    }
}

#[test]
fn relu_matches_reference_and_gradient() {
    check_unary("relu", relu_forward, relu_forward_in_place, relu_backward, relu_backward_in_place, false, |x| {
        x.max(0.0)
    });
    // From the output too, and zero gradient at x == 0.
    let (x, dy) = ([-1.0, 0.0, 2.0], [5.0, 5.0, 5.0]);
    let mut y = [0.0; 3];
    relu_forward(&x, &mut y).unwrap();
    let mut dx = [f32::NAN; 3];
    relu_backward(&y, &dy, &mut dx).unwrap();
    assert_eq!(dx, [0.0, 0.0, 5.0]);
}

#[test]
fn sigmoid_matches_reference_and_gradient() {
    check_unary(
        "sigmoid",
        sigmoid_forward,
        sigmoid_forward_in_place,
        sigmoid_backward,
        sigmoid_backward_in_place,
        true,
        sigmoid64,
    );
    let mut y = [0.0; 2];
    sigmoid_forward(&[-200.0, 200.0], &mut y).unwrap();
    assert_eq!(y, [0.0, 1.0]);
}

#[test]
fn tanh_matches_reference_and_gradient() {
    check_unary("tanh", tanh_forward, tanh_forward_in_place, tanh_backward, tanh_backward_in_place, true, f64::tanh);
}

fn softmax64(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|row| {
            let sum: f64 = row.iter().map(|v| v.exp()).sum();
            row.iter().map(move |v| v.exp() / sum)
        })
        .collect()
}

#[test]
fn softmax_matches_reference() {
    for &(rows, cols) in &[(1, 1), (7, 9), (3001, 13)] {
        let mut r = rng(rows as u64);
        let x = random_vec(&mut r, rows * cols, -5.0, 5.0);
        let mut y = vec![f32::NAN; x.len()];
        softmax_rows(&x, rows, cols, &mut y).unwrap();
        assert_close("softmax", &y, &softmax64(&to_f64(&x), cols), 1e-5);
    }
    // Large logits do not overflow.
    let mut y = [0.0; 2];
    softmax_rows(&[1000.0, 1000.0], 1, 2, &mut y).unwrap();
    assert_eq!(y, [0.5, 0.5]);
}

#[test]
fn bias_add_and_grad_match_reference() {
    for &(rows, cols) in &[(7, 9), (5003, 6)] {
        let mut r = rng(cols as u64);
        let x = random_vec(&mut r, rows * cols, -1.0, 1.0);
        let b = random_vec(&mut r, cols, -1.0, 1.0);
        let mut y = vec![f32::NAN; x.len()];
        bias_add(&x, rows, cols, &b, &mut y).unwrap();
        let want: Vec<f64> = x.iter().enumerate().map(|(i, &v)| v as f64 + b[i % cols] as f64).collect();
        assert_close("bias_add", &y, &want, 1e-6);

        // d/db Σ (x + b)·R = column sums of R.
        let dy = random_vec(&mut r, rows * cols, -1.0, 1.0);
        let mut db = vec![f32::NAN; cols];
        bias_grad(&dy, rows, cols, &mut db).unwrap();
        let b64 = to_f64(&b);
        let x64 = to_f64(&x);
        let want =
            numeric_grad(&b64, |b| dot(&x64.iter().enumerate().map(|(i, v)| v + b[i % cols]).collect::<Vec<_>>(), &dy));
        assert_close("bias_grad", &db, &want, 1e-4);
    }
}

#[test]
fn rejects_mismatched_lengths() {
    let e = relu_forward(&[0.0; 3], &mut [0.0; 2]).unwrap_err();
    assert_eq!(e.to_string(), "relu_forward: y has 2 elements, expected 3");
    let e = sigmoid_backward(&[0.0; 3], &[0.0; 4], &mut [0.0; 3]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "dy", .. }), "{e}");
    let e = tanh_backward_in_place(&[0.0; 3], &mut [0.0; 4]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad", .. }), "{e}");
    let e = softmax_rows(&[0.0; 6], 2, 4, &mut [0.0; 8]).unwrap_err();
    assert_eq!(e.to_string(), "softmax_rows: x has 6 elements, expected 2*4 = 8");
    let e = bias_add(&[0.0; 6], 2, 3, &[0.0; 2], &mut [0.0; 6]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "bias", .. }), "{e}");
    let e = bias_grad(&[0.0; 6], 2, 3, &mut [0.0; 2]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "db", .. }), "{e}");
}

#[test]
fn leaky_relu_matches_reference_and_gradient() {
    let x: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.37).collect();
    let dy: Vec<f32> = (0..37).map(|i| 1.0 + i as f32 * 0.1).collect();
    let (mut y, mut dx) = (vec![0.0; 37], vec![0.0; 37]);
    leaky_relu_forward(&x, 0.2, &mut y).unwrap();
    leaky_relu_backward(&y, 0.2, &dy, &mut dx).unwrap();
    for i in 0..37 {
        let slope = if x[i] > 0.0 { 1.0 } else { 0.2 };
        assert_eq!(y[i], slope * x[i]);
        assert_eq!(dx[i], slope * dy[i]);
    }
    assert!(leaky_relu_forward(&x, -1.0, &mut y).is_err());
    assert!(leaky_relu_forward(&x, f32::NAN, &mut y).is_err());
}

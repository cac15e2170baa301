use super::*;
use crate::test_util::{assert_close, dot, numeric_grad, random_vec, rng, to_f64};

/// Training-mode batch norm in float64; returns (y, mean, inv_std).
fn reference(x: &[f64], channels: usize, gamma: &[f64], beta: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let rows = x.len() / channels;
    let mut mean = vec![0.0; channels];
    let mut var = vec![0.0; channels];
    for row in x.chunks(channels) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / rows as f64);
    }
    for row in x.chunks(channels) {
        for c in 0..channels {
            var[c] += (row[c] - mean[c]).powi(2) / rows as f64;
        }
    }
    let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let y = x.iter().enumerate().map(|(i, &v)| {
        let c = i % channels;
        gamma[c] * (v - mean[c]) * inv_std[c] + beta[c]
    });
    (y.collect(), mean, inv_std)
}

const EPS: f32 = 1e-3;

#[test]
fn forward_train_and_inference_match_reference() {
    for &(rows, channels) in &[(3 * 7 * 9, 5), (20_001, 3), (1, 4)] {
        let mut r = rng(rows as u64);
        let x: Vec<f32> = random_vec(&mut r, rows * channels, -2.0, 3.0);
        let gamma = random_vec(&mut r, channels, 0.5, 1.5);
        let beta = random_vec(&mut r, channels, -1.0, 1.0);
        let (mut y, mut mean, mut inv_std) =
            (vec![f32::NAN; x.len()], vec![f32::NAN; channels], vec![f32::NAN; channels]);
        batch_norm_forward_train(&x, rows, channels, &gamma, &beta, EPS, &mut y, &mut mean, &mut inv_std).unwrap();
        let (want_y, want_mean, want_inv_std) =
            reference(&to_f64(&x), channels, &to_f64(&gamma), &to_f64(&beta), EPS as f64);
        assert_close("y", &y, &want_y, 1e-4);
        assert_close("mean", &mean, &want_mean, 1e-5);
        assert_close("inv_std", &inv_std, &want_inv_std, 1e-5);

        let moving_mean = random_vec(&mut r, channels, -1.0, 1.0);
        let moving_var = random_vec(&mut r, channels, 0.5, 2.0);
        batch_norm_forward_inference(&x, rows, channels, &gamma, &beta, &moving_mean, &moving_var, EPS, &mut y)
            .unwrap();
        let want: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = i % channels;
                let (g, b, m, s) = (gamma[c] as f64, beta[c] as f64, moving_mean[c] as f64, moving_var[c] as f64);
                g * (v as f64 - m) / (s + EPS as f64).sqrt() + b
            })
            .collect();
        assert_close("inference y", &y, &want, 1e-4);
    }
}

#[test]
fn backward_matches_central_differences() {
    let (rows, channels) = (3 * 7 * 9, 5);
    let mut r = rng(7);
    let x = random_vec(&mut r, rows * channels, -2.0, 3.0);
    let gamma = random_vec(&mut r, channels, 0.5, 1.5);
    let beta = random_vec(&mut r, channels, -1.0, 1.0);
    let dy = random_vec(&mut r, rows * channels, -1.0, 1.0);
    let (mut y, mut mean, mut inv_std) = (vec![0.0; x.len()], vec![0.0; channels], vec![0.0; channels]);
    batch_norm_forward_train(&x, rows, channels, &gamma, &beta, EPS, &mut y, &mut mean, &mut inv_std).unwrap();
    let (mut dx, mut dgamma, mut dbeta) = (vec![f32::NAN; x.len()], vec![f32::NAN; channels], vec![f32::NAN; channels]);
    batch_norm_backward(&x, &dy, rows, channels, &gamma, &mean, &inv_std, &mut dx, &mut dgamma, &mut dbeta).unwrap();

    let (x64, g64, b64, e) = (to_f64(&x), to_f64(&gamma), to_f64(&beta), EPS as f64);
    let loss = |x: &[f64], g: &[f64], b: &[f64]| dot(&reference(x, channels, g, b, e).0, &dy);
    assert_close("dx", &dx, &numeric_grad(&x64, |x| loss(x, &g64, &b64)), 1e-4);
    assert_close("dgamma", &dgamma, &numeric_grad(&g64, |g| loss(&x64, g, &b64)), 1e-4);
    assert_close("dbeta", &dbeta, &numeric_grad(&b64, |b| loss(&x64, &g64, b)), 1e-4);
}

#[test]
fn rejects_bad_arguments() {
    let (mut y, mut m, mut s) = ([0.0; 6], [0.0; 3], [0.0; 3]);
    let e = batch_norm_forward_train(&[0.0; 6], 2, 3, &[1.0; 2], &[0.0; 3], 1e-3, &mut y, &mut m, &mut s).unwrap_err();
    assert_eq!(e.to_string(), "batch_norm_forward_train: gamma has 2 elements, expected 3");
    let e = batch_norm_forward_train(&[0.0; 6], 2, 3, &[1.0; 3], &[0.0; 3], -1.0, &mut y, &mut m, &mut s).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "eps", .. }), "{e}");
    let e = batch_norm_forward_inference(&[0.0; 6], 2, 3, &[1.0; 3], &[0.0; 3], &[0.0; 3], &[1.0; 4], 1e-3, &mut y)
        .unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "moving_var", .. }), "{e}");
    let (mut dg, mut db) = ([0.0; 3], [0.0; 3]);
    let e = batch_norm_backward(&[0.0; 6], &[0.0; 5], 2, 3, &[1.0; 3], &m, &s, &mut y, &mut dg, &mut db).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "dy", .. }), "{e}");
    let e = batch_norm_backward(&[], &[], 0, 3, &[1.0; 3], &m, &s, &mut [], &mut dg, &mut db).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "rows", .. }), "{e}");
}

#[test]
fn moving_averages_blend_in_the_batch_statistics() {
    let (mean, inv_std) = ([1.0f32, -2.0], [0.5f32, 2.0]);
    let (mut moving_mean, mut moving_var) = ([0.0f32, 4.0], [1.0f32, 1.0]);
    batch_norm_update_moving(&mean, &inv_std, 1e-3, 0.75, &mut moving_mean, &mut moving_var).unwrap();
    // batch variances: 1/0.25 - 1e-3 = 3.999 and 1/4 - 1e-3 = 0.249
    assert_close("moving mean", &moving_mean, &[0.25, 2.5], 1e-6);
    assert_close("moving var", &moving_var, &[0.75 + 0.25 * 3.999, 0.75 + 0.25 * 0.249], 1e-6);
    let e = batch_norm_update_moving(&mean, &inv_std, 1e-3, 1.5, &mut moving_mean, &mut moving_var).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "momentum", .. }), "{e}");
    let e = batch_norm_update_moving(&mean, &inv_std[..1], 1e-3, 0.5, &mut moving_mean, &mut moving_var).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "inv_std", .. }), "{e}");
}

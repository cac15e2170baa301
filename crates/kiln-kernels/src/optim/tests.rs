use super::*;
use crate::test_util::{assert_close, random_vec, rng, to_f64};

/// Odd sizes; the large one spans several parallel chunks.
const LENS: [usize; 2] = [37, 9 * CHUNK + 3];
const STEPS: usize = 3;

/// Runs `STEPS` updates of the kernel and of a float64 reference with the same random gradients, then compares
/// parameters and every state slice. `update(param, grad, state, step)`; `reference(p, g, state, step)`.
fn check(
    name: &str,
    state_count: usize,
    update: impl Fn(&mut [f32], &[f32], &mut [Vec<f32>], u32),
    reference: impl Fn(&mut f64, f64, &mut [f64], u32),
) {
    for &len in &LENS {
        let mut r = rng(len as u64);
        let mut param = random_vec(&mut r, len, -1.0, 1.0);
        let mut state = vec![vec![0.0f32; len]; state_count];
        let mut param64 = to_f64(&param);
        let mut state64 = vec![vec![0.0f64; state_count]; len];
        for step in 1..=STEPS as u32 {
            let grad = random_vec(&mut r, len, -1.0, 1.0);
            update(&mut param, &grad, &mut state, step);
            for ((p, s), &g) in param64.iter_mut().zip(&mut state64).zip(&grad) {
                reference(p, g as f64, s, step);
            }
        }
        assert_close(&format!("{name} param"), &param, &param64, 1e-4);
        for (k, s) in state.iter().enumerate() {
            let want: Vec<f64> = state64.iter().map(|s| s[k]).collect();
            assert_close(&format!("{name} state {k}"), s, &want, 1e-4);
        }
    }
}

#[test]
fn sgd_matches_reference() {
    check("sgd", 0, |p, g, _, _| sgd_update(p, g, None, 0.1, 0.0, false).unwrap(), |p, g, _, _| *p -= 0.1 * g);
    for nesterov in [false, true] {
        check(
            "sgd momentum",
            1,
            |p, g, s, _| sgd_update(p, g, Some(&mut s[0]), 0.1, 0.9, nesterov).unwrap(),
            |p, g, s, _| {
                s[0] = 0.9 * s[0] - 0.1 * g;
                *p += if nesterov { 0.9 * s[0] - 0.1 * g } else { s[0] };
            },
        );
    }
}

#[test]
fn adagrad_matches_reference() {
    check(
        "adagrad",
        1,
        |p, g, s, _| adagrad_update(p, g, &mut s[0], 0.05, 1e-7).unwrap(),
        |p, g, s, _| {
            s[0] += g * g;
            *p -= 0.05 * g / (s[0].sqrt() + 1e-7);
        },
    );
}

#[test]
fn rmsprop_matches_reference() {
    check(
        "rmsprop",
        1,
        |p, g, s, _| rmsprop_update(p, g, &mut s[0], 0.01, 0.9, 1e-7).unwrap(),
        |p, g, s, _| {
            s[0] = 0.9 * s[0] + 0.1 * g * g;
            *p -= 0.01 * g / (s[0].sqrt() + 1e-7);
        },
    );
}

#[test]
fn adam_and_adamw_match_reference() {
    for weight_decay in [0.0f32, 0.04] {
        check(
            "adam",
            2,
            |p, g, s, t| {
                let (m, v) = s.split_at_mut(1);
                adam_update(p, g, &mut m[0], &mut v[0], 0.01, 0.9, 0.999, 1e-7, t, weight_decay).unwrap()
            },
            |p, g, s, t| {
                let (b1, b2, lr, wd) = (0.9f64, 0.999f64, 0.01f64, weight_decay as f64);
                s[0] = b1 * s[0] + (1.0 - b1) * g;
                s[1] = b2 * s[1] + (1.0 - b2) * g * g;
                let lr_t = lr * (1.0 - b2.powi(t as i32)).sqrt() / (1.0 - b1.powi(t as i32));
                *p -= lr * wd * *p;
                *p -= lr_t * s[0] / (s[1].sqrt() + 1e-7);
            },
        );
    }
}

#[test]
fn rejects_bad_arguments() {
    let mut p = [0.0f32; 3];
    let e = sgd_update(&mut p, &[0.0; 2], None, 0.1, 0.0, false).unwrap_err();
    assert_eq!(e.to_string(), "sgd_update: grad has 2 elements, expected 3");
    let e = sgd_update(&mut p, &[0.0; 3], None, 0.1, 0.9, false).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "velocity", .. }), "{e}");
    let e = adagrad_update(&mut p, &[0.0; 3], &mut [0.0; 4], 0.1, 1e-7).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "accum", .. }), "{e}");
    let e = rmsprop_update(&mut p, &[0.0; 3], &mut [0.0; 3], 0.1, 1.5, 1e-7).unwrap_err();
    assert_eq!(e.to_string(), "rmsprop_update: rho must be in [0, 1), got 1.5");
    let e = adam_update(&mut p, &[0.0; 3], &mut [0.0; 3], &mut [0.0; 3], 0.1, 0.9, 0.999, 1e-7, 0, 0.0).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "step", .. }), "{e}");
    let e =
        adam_update(&mut p, &[0.0; 3], &mut [0.0; 3], &mut [0.0; 3], f32::NAN, 0.9, 0.999, 1e-7, 1, 0.0).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "lr", .. }), "{e}");
}

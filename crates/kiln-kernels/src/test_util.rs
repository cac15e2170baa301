//! Shared helpers for the native tests: seeded random data, float64 comparison, numeric gradients.

use rand::{rngs::SmallRng, Rng, SeedableRng};

pub(crate) fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

pub(crate) fn random_vec(rng: &mut SmallRng, len: usize, low: f32, high: f32) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(low..high)).collect()
}

/// `len` values in [-1, 1) at least `2/len` apart, shuffled: no ties, so max/argmax are stable under nudges.
pub(crate) fn distinct_vec(rng: &mut SmallRng, len: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..len).map(|i| (2 * i) as f32 / len as f32 - 1.0).collect();
    for i in (1..len).rev() {
        v.swap(i, rng.gen_range(0..=i));
    }
    v
}

pub(crate) fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Σ a·b in float64.
pub(crate) fn dot(a: &[f64], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x * y as f64).sum()
}

/// Relative error per element, measured against max(|want|, 1% of the largest |want|) so that entries near zero
/// in a vector of ordinary magnitude are judged on the vector's scale.
pub(crate) fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())) * 1e-2;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs() / w.abs().max(scale).max(1e-30);
        assert!(err < tol, "{what}[{i}]: got {g}, want {w} (relative error {err:e})");
    }
}

/// Central-difference gradient of `f` at `x`, in float64.
pub(crate) fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = 1e-5 * x[i].abs().max(1.0);
            probe[i] = x[i] + h;
            let up = f(&probe);
            probe[i] = x[i] - h;
            let down = f(&probe);
            probe[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

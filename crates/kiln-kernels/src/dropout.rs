//! Inverted dropout: each element is kept with probability `1 - rate` and scaled by `1 / (1 - rate)`. Element
//! `i`'s draw is splitmix64 of `(seed, i)`, so the mask depends only on the seed and the position, never on how
//! the work is split across threads.

use crate::error::{check_len, KernelError};
use crate::par::{self, ELEMENTWISE_CHUNK};

fn check_rate(kernel: &'static str, rate: f32) -> Result<(), KernelError> {
    if (0.0..1.0).contains(&rate) {
        return Ok(());
    }
    Err(KernelError::Value { kernel, argument: "rate", expected: "in [0, 1)".into(), got: rate.to_string() })
}

/// The `index`-th output of a splitmix64 stream started at `seed`, as a uniform float in [0, 1).
fn uniform(seed: u64, index: usize) -> f32 {
    let mut z = seed.wrapping_add((index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// `mask[i] = 1` (kept) with probability `1 - rate`, else 0; `y = x · mask / (1 - rate)`.
pub fn dropout_forward(x: &[f32], rate: f32, seed: u64, y: &mut [f32], mask: &mut [u8]) -> Result<(), KernelError> {
    const KERNEL: &str = "dropout_forward";
    check_rate(KERNEL, rate)?;
    check_len(KERNEL, "y", y.len(), &[x.len()])?;
    check_len(KERNEL, "mask", mask.len(), &[x.len()])?;
    let scale = 1.0 / (1.0 - rate);
    par::for_each_chunk_mut2(y, mask, ELEMENTWISE_CHUNK, |i, y, mask| {
        let first = i * ELEMENTWISE_CHUNK;
        for (j, ((y, m), &x)) in y.iter_mut().zip(mask).zip(&x[first..]).enumerate() {
            let keep = uniform(seed, first + j) >= rate;
            *m = keep as u8;
            *y = if keep { x * scale } else { 0.0 };
        }
    });
    Ok(())
}

/// `dx = dy · mask / (1 - rate)` with the mask and rate of the forward pass (nonzero mask entries are kept).
pub fn dropout_backward(dy: &[f32], mask: &[u8], rate: f32, dx: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "dropout_backward";
    check_rate(KERNEL, rate)?;
    check_len(KERNEL, "mask", mask.len(), &[dy.len()])?;
    check_len(KERNEL, "dx", dx.len(), &[dy.len()])?;
    let scale = 1.0 / (1.0 - rate);
    par::for_each_chunk_mut(dx, ELEMENTWISE_CHUNK, |i, dx| {
        let first = i * ELEMENTWISE_CHUNK;
        for ((d, &g), &m) in dx.iter_mut().zip(&dy[first..]).zip(&mask[first..]) {
            *d = if m != 0 { g * scale } else { 0.0 };
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, dot, numeric_grad, random_vec, rng, to_f64};

    #[test]
    fn keeps_about_one_minus_rate_and_scales() {
        let len = 3 * ELEMENTWISE_CHUNK + 7;
        let x = random_vec(&mut rng(1), len, -1.0, 1.0);
        for rate in [0.0f32, 0.25, 0.5, 0.9] {
            let (mut y, mut mask) = (vec![f32::NAN; len], vec![7u8; len]);
            dropout_forward(&x, rate, 42, &mut y, &mut mask).unwrap();
            let kept = mask.iter().filter(|&&m| m == 1).count();
            assert_eq!(kept + mask.iter().filter(|&&m| m == 0).count(), len);
            let fraction = kept as f64 / len as f64;
            assert!((fraction - (1.0 - rate as f64)).abs() < 0.01, "rate {rate}: kept {fraction}");
            let want: Vec<f64> =
                x.iter().zip(&mask).map(|(&v, &m)| m as f64 * v as f64 / (1.0 - rate as f64)).collect();
            assert_close("dropout y", &y, &want, 1e-6);
        }
    }

    #[test]
    fn mask_depends_only_on_seed_and_position() {
        let len = 2 * ELEMENTWISE_CHUNK + 3;
        let x = vec![1.0f32; len];
        let run = |seed: u64, len: usize| {
            let (mut y, mut mask) = (vec![0.0; len], vec![0u8; len]);
            dropout_forward(&x[..len], 0.5, seed, &mut y, &mut mask).unwrap();
            mask
        };
        let whole = run(9, len);
        assert_eq!(whole, run(9, len));
        assert_eq!(whole[..37], run(9, 37)[..], "a prefix call draws the same mask");
        assert_ne!(whole, run(10, len));
    }

    #[test]
    fn backward_matches_central_differences() {
        let mut r = rng(3);
        let x = random_vec(&mut r, 37, -1.0, 1.0);
        let dy = random_vec(&mut r, 37, -1.0, 1.0);
        let (mut y, mut mask) = (vec![0.0; 37], vec![0u8; 37]);
        dropout_forward(&x, 0.3, 5, &mut y, &mut mask).unwrap();
        let mut dx = vec![f32::NAN; 37];
        dropout_backward(&dy, &mask, 0.3, &mut dx).unwrap();
        let forward =
            |x: &[f64]| x.iter().zip(&mask).map(|(&v, &m)| m as f64 * v / (1.0 - 0.3f32 as f64)).collect::<Vec<_>>();
        assert_close("dropout dx", &dx, &numeric_grad(&to_f64(&x), |x| dot(&forward(x), &dy)), 1e-4);
    }

    #[test]
    fn rejects_bad_arguments() {
        let e = dropout_forward(&[0.0; 3], 1.0, 0, &mut [0.0; 3], &mut [0; 3]).unwrap_err();
        assert_eq!(e.to_string(), "dropout_forward: rate must be in [0, 1), got 1");
        let e = dropout_forward(&[0.0; 3], 0.5, 0, &mut [0.0; 3], &mut [0; 2]).unwrap_err();
        assert!(matches!(e, KernelError::Shape { argument: "mask", .. }), "{e}");
        let e = dropout_backward(&[0.0; 3], &[0; 3], 0.5, &mut [0.0; 4]).unwrap_err();
        assert!(matches!(e, KernelError::Shape { argument: "dx", .. }), "{e}");
    }
}

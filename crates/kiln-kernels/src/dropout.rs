//! Inverted dropout: each element is kept with probability `1 - rate` and scaled by `1 / (1 - rate)`. Element
//! `i`'s draw is a 32-bit hash of `(seed, i)`, so the mask depends only on the seed and the position, never on
//! how the work is split across threads (and the plain-TypeScript reference reproduces it exactly).

use crate::error::{check_len, KernelError};
use crate::par::{self, ELEMENTWISE_CHUNK};

fn check_rate(kernel: &'static str, rate: f32) -> Result<(), KernelError> {
    if (0.0..1.0).contains(&rate) {
        return Ok(());
    }
    Err(KernelError::Value { kernel, argument: "rate", expected: "in [0, 1)".into(), got: rate.to_string() })
}

/// A 32-bit integer hash with good avalanche (Wellons' lowbias32).
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Draw `index` of the stream keyed by `hash32(seed)`, as a uniform float in [0, 1) with 24 random bits.
fn uniform(seed_hash: u32, index: usize) -> f32 {
    let h = hash32((index as u32).wrapping_mul(0x9e37_79b9) ^ seed_hash);
    (h >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// `mask[i] = 1 / (1 - rate)` (kept) with probability `1 - rate`, else 0, and `y = x · mask`; the backward
/// pass is `dx = dy · mask`. At most 2³² elements (the draw index is 32-bit).
pub fn dropout_forward(x: &[f32], rate: f32, seed: u32, y: &mut [f32], mask: &mut [f32]) -> Result<(), KernelError> {
    const KERNEL: &str = "dropout_forward";
    check_rate(KERNEL, rate)?;
    check_len(KERNEL, "y", y.len(), &[x.len()])?;
    check_len(KERNEL, "mask", mask.len(), &[x.len()])?;
    if u32::try_from(x.len()).is_err() {
        return Err(KernelError::Value { kernel: KERNEL, argument: "x", expected: "at most 2^32 elements".into(), got: x.len().to_string() });
    }
    let (scale, seed_hash) = (1.0 / (1.0 - rate), hash32(seed));
    par::for_each_chunk_mut2(y, mask, ELEMENTWISE_CHUNK, |i, y, mask| {
        let first = i * ELEMENTWISE_CHUNK;
        for (j, ((y, m), &x)) in y.iter_mut().zip(mask).zip(&x[first..]).enumerate() {
            *m = if uniform(seed_hash, first + j) >= rate { scale } else { 0.0 };
            *y = x * *m;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, random_vec, rng};

    #[test]
    fn keeps_about_one_minus_rate_and_scales() {
        let len = 3 * ELEMENTWISE_CHUNK + 7;
        let x = random_vec(&mut rng(1), len, -1.0, 1.0);
        for rate in [0.0f32, 0.25, 0.5, 0.9] {
            let (mut y, mut mask) = (vec![f32::NAN; len], vec![f32::NAN; len]);
            dropout_forward(&x, rate, 42, &mut y, &mut mask).unwrap();
            let scale = 1.0 / (1.0 - rate);
            let kept = mask.iter().filter(|&&m| m == scale).count();
            assert_eq!(kept + mask.iter().filter(|&&m| m == 0.0).count(), len);
            let fraction = kept as f64 / len as f64;
            assert!((fraction - (1.0 - rate as f64)).abs() < 0.01, "rate {rate}: kept {fraction}");
            let want: Vec<f64> = x.iter().zip(&mask).map(|(&v, &m)| m as f64 * v as f64).collect();
            assert_close("dropout y", &y, &want, 1e-6);
        }
    }

    #[test]
    fn mask_depends_only_on_seed_and_position() {
        let len = 2 * ELEMENTWISE_CHUNK + 3;
        let x = vec![1.0f32; len];
        let run = |seed: u32, len: usize| {
            let (mut y, mut mask) = (vec![0.0; len], vec![0.0; len]);
            dropout_forward(&x[..len], 0.5, seed, &mut y, &mut mask).unwrap();
            mask
        };
        let whole = run(9, len);
        assert_eq!(whole, run(9, len));
        assert_eq!(whole[..37], run(9, 37)[..], "a prefix call draws the same mask");
        assert_ne!(whole, run(10, len));
    }

    #[test]
    fn draws_match_the_typescript_reference() {
        // ts/backend/reference computes the same hash; these values pin it down on both sides.
        assert_eq!(hash32(0), 0);
        assert_eq!(hash32(1), 0x6889_90c0);
        let draws: Vec<u32> = (0..4).map(|i| (uniform(hash32(7), i) as f64 * 1e6) as u32).collect();
        assert_eq!(draws, vec![330_763, 621_155, 851_647, 104_301]);
    }

    #[test]
    fn rejects_bad_arguments() {
        let e = dropout_forward(&[0.0; 3], 1.0, 0, &mut [0.0; 3], &mut [0.0; 3]).unwrap_err();
        assert_eq!(e.to_string(), "dropout_forward: rate must be in [0, 1), got 1");
        let e = dropout_forward(&[0.0; 3], 0.5, 0, &mut [0.0; 3], &mut [0.0; 2]).unwrap_err();
        assert!(matches!(e, KernelError::Shape { argument: "mask", .. }), "{e}");
    }
}

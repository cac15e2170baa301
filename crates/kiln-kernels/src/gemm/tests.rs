use super::*;
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn reference(
    ta: bool, tb: bool, m: usize, n: usize, k: usize, alpha: f32,
    a: &[f32], lda: usize, b: &[f32], ldb: usize, beta: f32, c: &[f32], ldc: usize,
) -> Vec<f64> {
    let mut out: Vec<f64> = c.iter().map(|&v| v as f64).collect();
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for p in 0..k {
                let av = if ta { a[p * lda + i] } else { a[i * lda + p] };
                let bv = if tb { b[j * ldb + p] } else { b[p * ldb + j] };
                s += av as f64 * bv as f64;
            }
            let old = c[i * ldc + j] as f64;
            out[i * ldc + j] = alpha as f64 * s + if beta == 0.0 { 0.0 } else { beta as f64 * old };
        }
    }
    out
}

fn check(m: usize, n: usize, k: usize, ta: bool, tb: bool, alpha: f32, beta: f32, pad: usize, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (ar, ac) = if ta { (k, m) } else { (m, k) };
    let (br, bc) = if tb { (n, k) } else { (k, n) };
    let (lda, ldb, ldc) = (ac.max(1) + pad, bc.max(1) + pad, n.max(1) + pad);
    let mut fill = |len: usize| (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>();
    let a = fill(ar.max(1) * lda);
    let b = fill(br.max(1) * ldb);
    let mut c = fill(m.max(1) * ldc);
    let want = reference(ta, tb, m, n, k, alpha, &a, lda, &b, ldb, beta, &c, ldc);
    let t = |x| if x { Transpose::Yes } else { Transpose::No };
    sgemm(t(ta), t(tb), m, n, k, alpha, &a, lda, &b, ldb, beta, &mut c, ldc).unwrap();
    let scale = (k as f64).sqrt().max(1.0);
    for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
        let err = (got as f64 - w).abs() / (w.abs().max(scale * 1e-2));
        assert!(err < 1e-4, "{m}x{n}x{k} ta={ta} tb={tb} at {idx}: got {got}, want {w}");
    }
}

#[test]
fn matches_reference_on_odd_and_blocked_shapes() {
    // The last two fit one tile; with several threads they are cut in two: by columns, then (too narrow) by rows.
    let shapes = [(1, 1, 1), (3, 5, 7), (4, 8, 16), (17, 33, 65), (65, 257, 300), (257, 129, 511), (130, 9, 513), (37, 61, 500), (100, 9, 1200)];
    for (s, &(m, n, k)) in shapes.iter().enumerate() {
        for (t, &(ta, tb)) in [(false, false), (true, false), (false, true), (true, true)].iter().enumerate() {
            check(m, n, k, ta, tb, 1.0, 0.0, 0, (s * 4 + t) as u64);
        }
    }
}

#[test]
fn a_large_single_tile_product_is_cut_in_two_for_several_threads() {
    let tiles = |m, n, k| output_tiles(m, n, k, 2).iter().map(|t| [t.i0, t.j0, t.rows, t.cols]).collect::<Vec<_>>();
    assert_eq!(tiles(32, 64, 1024), [[0, 0, 32, 32], [0, 32, 32, 32]]);
    assert_eq!(tiles(37, 61, 500), [[0, 0, 37, 32], [0, 32, 37, 29]]);
    assert_eq!(tiles(100, 9, 1200), [[0, 0, 52, 9], [52, 0, 48, 9]]);
    assert_eq!(tiles(32, 64, 100), [[0, 0, 32, 64]], "too little work to share");
    assert_eq!(tiles(3, 9, 100_000), [[0, 0, 3, 9]], "nothing to cut");
    assert_eq!(output_tiles(32, 64, 1024, 1).len(), 1, "one thread gains nothing from a cut");
}

#[test]
fn alpha_beta_and_leading_dimensions() {
    check(19, 23, 29, false, false, 0.5, 2.0, 3, 1);
    check(19, 23, 29, true, true, -1.5, 0.25, 5, 2);
    check(7, 300, 270, false, true, 2.0, -1.0, 1, 3);
}

#[test]
fn beta_zero_ignores_nan_in_c() {
    let a = [1.0, 2.0];
    let b = [3.0, 4.0];
    let mut c = [f32::NAN];
    sgemm(Transpose::No, Transpose::No, 1, 1, 2, 1.0, &a, 2, &b, 1, 0.0, &mut c, 1).unwrap();
    assert_eq!(c[0], 11.0);
}

#[test]
fn k_zero_scales_c() {
    let mut c = [2.0, 4.0];
    sgemm(Transpose::No, Transpose::No, 1, 2, 0, 1.0, &[], 1, &[], 2, 0.5, &mut c, 2).unwrap();
    assert_eq!(c, [1.0, 2.0]);
}

#[test]
fn rejects_bad_arguments() {
    let mut c = [0.0; 4];
    let e = sgemm(Transpose::No, Transpose::No, 2, 2, 2, f32::NAN, &[0.0; 4], 2, &[0.0; 4], 2, 0.0, &mut c, 2);
    assert!(matches!(e, Err(GemmError::NonFinite { operand: "alpha", .. })), "{e:?}");
    let e = sgemm(Transpose::No, Transpose::No, 2, 2, 2, 1.0, &[0.0; 3], 2, &[0.0; 4], 2, 0.0, &mut c, 2);
    assert_eq!(e, Err(GemmError::BufferTooSmall { operand: "A", expected: 4, got: 3 }));
    let e = sgemm(Transpose::No, Transpose::No, 2, 2, 2, 1.0, &[0.0; 4], 1, &[0.0; 4], 2, 0.0, &mut c, 2);
    assert_eq!(e, Err(GemmError::LeadingDimension { operand: "A", min: 2, got: 1 }));
}

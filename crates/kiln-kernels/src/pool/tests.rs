use super::*;
use crate::test_util::{assert_close, distinct_vec, dot, numeric_grad, random_vec, rng, to_f64};

/// Max (or, with `mean`, average) of each window's real cells, in float64.
fn reference(g: &Pool2dGeometry, x: &[f64], mean: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(g.batch * g.output_image_len());
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for c in 0..g.channels {
                    let (mut best, mut sum, mut count) = (f64::NEG_INFINITY, 0.0, 0.0);
                    for ky in 0..g.pool_h {
                        for kx in 0..g.pool_w {
                            let y = (oy * g.stride_h + ky) as isize - g.pad_top as isize;
                            let xx = (ox * g.stride_w + kx) as isize - g.pad_left as isize;
                            if y < 0 || xx < 0 || y >= g.in_h as isize || xx >= g.in_w as isize {
                                continue;
                            }
                            let v = x[((b * g.in_h + y as usize) * g.in_w + xx as usize) * g.channels + c];
                            best = best.max(v);
                            sum += v;
                            count += 1.0;
                        }
                    }
                    out.push(if mean { sum / count } else { best });
                }
            }
        }
    }
    out
}

/// (batch, in_h, in_w, channels, pool, stride, padding)
type Case = (usize, usize, usize, usize, (usize, usize), (usize, usize), Padding);

const CASES: [Case; 6] = [
    (3, 7, 9, 3, (3, 3), (1, 1), Padding::Same),
    (3, 7, 9, 3, (3, 3), (2, 2), Padding::Valid),
    (3, 7, 9, 5, (2, 3), (2, 2), Padding::Same),
    (3, 7, 9, 5, (2, 3), (1, 2), Padding::Valid),
    (3, 7, 9, 5, (3, 3), (2, 2), Padding::Same),
    (2, 5, 5, 3, (2, 2), (3, 3), Padding::Same), // stride wider than the window
];

fn geometry(c: &Case) -> Pool2dGeometry {
    Pool2dGeometry::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6).unwrap()
}

#[test]
fn max_pool_matches_reference_and_gradient() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let mut r = rng(i as u64);
        let x = distinct_vec(&mut r, g.batch * g.input_image_len());
        let x64 = to_f64(&x);
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        let mut argmax = vec![u32::MAX; y.len()];
        max_pool2d_forward(&g, &x, &mut y, &mut argmax).unwrap();
        assert_close(&format!("case {i} max"), &y, &reference(&g, &x64, false), 1e-6);
        for (&v, &a) in y.iter().zip(&argmax) {
            assert_eq!(x[a as usize], v, "case {i}: argmax points at the maximum");
        }

        let dy = random_vec(&mut r, y.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        max_pool2d_backward(&g, &dy, &argmax, &mut dx).unwrap();
        let want = numeric_grad(&x64, |x| dot(&reference(&g, x, false), &dy));
        assert_close(&format!("case {i} max grad"), &dx, &want, 1e-4);
    }
}

#[test]
fn avg_pool_matches_reference_and_gradient() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let mut r = rng(50 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let x64 = to_f64(&x);
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        avg_pool2d_forward(&g, &x, &mut y).unwrap();
        assert_close(&format!("case {i} avg"), &y, &reference(&g, &x64, true), 1e-4);

        let dy = random_vec(&mut r, y.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        avg_pool2d_backward(&g, &dy, &mut dx).unwrap();
        let want = numeric_grad(&x64, |x| dot(&reference(&g, x, true), &dy));
        assert_close(&format!("case {i} avg grad"), &dx, &want, 1e-4);
    }
}

#[test]
fn rejects_bad_geometry_and_buffers() {
    let e = Pool2dGeometry::new(1, 4, 4, 2, (5, 2), (1, 1), Padding::Valid).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "pool_h", .. }), "{e}");
    let e = Pool2dGeometry::new(1, 4, 4, 0, (2, 2), (1, 1), Padding::Valid).unwrap_err();
    assert_eq!(e.to_string(), "Pool2dGeometry::new: channels must be at least 1, got 0");

    let g = Pool2dGeometry::new(2, 4, 4, 1, (2, 2), (2, 2), Padding::Valid).unwrap();
    let e = max_pool2d_forward(&g, &[0.0; 32], &mut [0.0; 8], &mut [0; 7]).unwrap_err();
    assert_eq!(e.to_string(), "max_pool2d_forward: argmax has 7 elements, expected 2*2*2*1 = 8");
    let e = avg_pool2d_forward(&g, &[0.0; 31], &mut [0.0; 8]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "input", .. }), "{e}");
    let e = avg_pool2d_backward(&g, &[0.0; 8], &mut [0.0; 33]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad_input", .. }), "{e}");
    // Image 1's gradient may not point into image 0.
    let argmax = [0, 1, 2, 3, 4, 5, 6, 7];
    let e = max_pool2d_backward(&g, &[0.0; 8], &argmax, &mut [0.0; 32]).unwrap_err();
    assert_eq!(e.to_string(), "max_pool2d_backward: argmax must be an index into image 1 (16..32), got argmax[4] = 4");
}

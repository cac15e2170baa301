use super::*;
use crate::test_util::{assert_close, distinct_vec, dot, numeric_grad, random_vec, rng, to_f64};
use rand::Rng;

/// Flat input indices of the real cells under each output element's window, row-major.
fn windows(g: &Pool2dGeometry) -> Vec<Vec<usize>> {
    let mut all = Vec::with_capacity(g.batch * g.output_image_len());
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for c in 0..g.channels {
                    let mut cells = Vec::new();
                    for ky in 0..g.pool_h {
                        for kx in 0..g.pool_w {
                            let y = (oy * g.stride_h + ky) as isize - g.pad_top as isize;
                            let xx = (ox * g.stride_w + kx) as isize - g.pad_left as isize;
                            if y >= 0 && xx >= 0 && y < g.in_h as isize && xx < g.in_w as isize {
                                cells.push(((b * g.in_h + y as usize) * g.in_w + xx as usize) * g.channels + c);
                            }
                        }
                    }
                    all.push(cells);
                }
            }
        }
    }
    all
}

/// Max (or, with `mean`, average) of `x` over each of `windows`, in float64.
fn reference(windows: &[Vec<usize>], x: &[f64], mean: bool) -> Vec<f64> {
    let values = |w: &[usize]| w.iter().map(|&i| x[i]).collect::<Vec<f64>>();
    windows
        .iter()
        .map(|w| if mean { values(w).iter().sum::<f64>() / w.len() as f64 } else { values(w).into_iter().fold(f64::NEG_INFINITY, f64::max) })
        .collect()
}

/// Max-pool gradient, in float64: each window's gradient goes to its first cell holding the maximum.
fn reference_max_grad(windows: &[Vec<usize>], x: &[f32], dy: &[f32]) -> Vec<f64> {
    let mut dx = vec![0.0; x.len()];
    for (w, &d) in windows.iter().zip(dy) {
        let max = w.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max);
        dx[*w.iter().find(|&&i| x[i] == max).unwrap()] += d as f64;
    }
    dx
}

/// (batch, in_h, in_w, channels, pool, stride, padding)
type Case = (usize, usize, usize, usize, (usize, usize), (usize, usize), Padding);

const CASES: [Case; 11] = [
    (3, 7, 9, 3, (3, 3), (1, 1), Padding::Same), // overlapping
    (3, 7, 9, 3, (3, 3), (2, 2), Padding::Valid),
    (3, 7, 9, 5, (2, 3), (2, 2), Padding::Same),
    (3, 7, 9, 5, (2, 3), (1, 2), Padding::Valid),
    (3, 7, 9, 5, (3, 3), (2, 2), Padding::Same),
    (2, 5, 5, 3, (2, 2), (3, 3), Padding::Same), // stride wider than the window
    (2, 7, 11, 7, (2, 2), (3, 4), Padding::Valid),
    (2, 7, 9, 7, (2, 2), (2, 2), Padding::Valid), // last row and column outside every window
    (2, 9, 7, 33, (2, 2), (2, 2), Padding::Same),
    (1, 6, 5, 1, (3, 2), (3, 2), Padding::Same),
    (2, 5, 7, 9, (5, 7), (1, 1), Padding::Valid), // one window over the whole image
];

fn geometry(c: &Case) -> Pool2dGeometry {
    Pool2dGeometry::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6).unwrap()
}

#[test]
fn max_pool_matches_reference_and_gradient() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let w = windows(&g);
        let mut r = rng(i as u64);
        let x = distinct_vec(&mut r, g.batch * g.input_image_len());
        let x64 = to_f64(&x);
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        max_pool2d_forward(&g, &x, &mut y).unwrap();
        assert_close(&format!("case {i} max"), &y, &reference(&w, &x64, false), 1e-6);

        let dy = random_vec(&mut r, y.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        max_pool2d_backward(&g, &x, &y, &dy, &mut dx).unwrap();
        let want = numeric_grad(&x64, |x| dot(&reference(&w, x, false), &dy));
        assert_close(&format!("case {i} max grad"), &dx, &want, 1e-4);
    }
}

#[test]
fn max_pool_gradient_goes_to_the_first_of_tied_maxima() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let w = windows(&g);
        let mut r = rng(100 + i as u64);
        // Three values only: most windows hold their maximum more than once.
        let x: Vec<f32> = (0..g.batch * g.input_image_len()).map(|_| r.gen_range(-1i8..=1) as f32).collect();
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        max_pool2d_forward(&g, &x, &mut y).unwrap();
        assert_close(&format!("case {i} max"), &y, &reference(&w, &to_f64(&x), false), 1e-6);

        let dy = random_vec(&mut r, y.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        max_pool2d_backward(&g, &x, &y, &dy, &mut dx).unwrap();
        assert_close(&format!("case {i} max grad with ties"), &dx, &reference_max_grad(&w, &x, &dy), 1e-6);
    }
}

#[test]
fn avg_pool_matches_reference_and_gradient() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let w = windows(&g);
        let mut r = rng(50 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let x64 = to_f64(&x);
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        avg_pool2d_forward(&g, &x, &mut y).unwrap();
        assert_close(&format!("case {i} avg"), &y, &reference(&w, &x64, true), 1e-4);

        let dy = random_vec(&mut r, y.len(), -1.0, 1.0);
        let mut dx = vec![f32::NAN; x.len()];
        avg_pool2d_backward(&g, &dy, &mut dx).unwrap();
        let want = numeric_grad(&x64, |x| dot(&reference(&w, x, true), &dy));
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
    let e = max_pool2d_forward(&g, &[0.0; 32], &mut [0.0; 7]).unwrap_err();
    assert_eq!(e.to_string(), "max_pool2d_forward: output has 7 elements, expected 2*2*2*1 = 8");
    let e = max_pool2d_backward(&g, &[0.0; 32], &[0.0; 9], &[0.0; 8], &mut [0.0; 32]).unwrap_err();
    assert_eq!(e.to_string(), "max_pool2d_backward: output has 9 elements, expected 2*2*2*1 = 8");
    let e = max_pool2d_backward(&g, &[0.0; 32], &[0.0; 8], &[0.0; 8], &mut [0.0; 31]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad_input", .. }), "{e}");
    let e = avg_pool2d_forward(&g, &[0.0; 31], &mut [0.0; 8]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "input", .. }), "{e}");
    let e = avg_pool2d_backward(&g, &[0.0; 8], &mut [0.0; 33]).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad_input", .. }), "{e}");

    let mut edited = g;
    edited.out_w = 3;
    let e = max_pool2d_forward(&edited, &[0.0; 32], &mut [0.0; 12]).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "geometry", .. }), "{e}");
}

use super::*;
use crate::test_util::{assert_close, dot, numeric_grad, random_vec, rng, to_f64};

/// Calls `visit(out_index, in_index, filter_index)` for every tap of the convolution inside the input.
fn for_each_tap(g: &Conv2dGeometry, mut visit: impl FnMut(usize, usize, usize)) {
    for b in 0..g.batch {
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                for ky in 0..g.k_h {
                    for kx in 0..g.k_w {
                        let y = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
                        let xx = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_left as isize;
                        if y < 0 || xx < 0 || y >= g.in_h as isize || xx >= g.in_w as isize {
                            continue;
                        }
                        for c in 0..g.in_c {
                            for o in 0..g.out_c {
                                visit(
                                    ((b * g.out_h + oy) * g.out_w + ox) * g.out_c + o,
                                    ((b * g.in_h + y as usize) * g.in_w + xx as usize) * g.in_c + c,
                                    ((ky * g.k_w + kx) * g.in_c + c) * g.out_c + o,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Direct float64 convolution.
fn reference(g: &Conv2dGeometry, x: &[f64], w: &[f64], bias: Option<&[f64]>) -> Vec<f64> {
    let mut out: Vec<f64> = (0..g.batch * g.output_image_len()).map(|i| bias.map_or(0.0, |b| b[i % g.out_c])).collect();
    for_each_tap(g, |o, i, f| out[o] += x[i] * w[f]);
    out
}

/// Float64 gradients of `dot(reference(x, w, b), dy)`.
fn reference_grads(g: &Conv2dGeometry, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; g.out_c]);
    for_each_tap(g, |o, i, f| {
        dx[i] += dy[o] * w[f];
        dw[f] += dy[o] * x[i];
    });
    dy.iter().enumerate().for_each(|(o, d)| db[o % g.out_c] += d);
    (dx, dw, db)
}

fn relu64(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&v| v.max(0.0)).collect()
}

/// (batch, in_h, in_w, in_c, out_c, k_h, k_w, stride, dilation, padding)
type Case = (usize, usize, usize, usize, usize, usize, usize, (usize, usize), (usize, usize), Padding);

const CASES: [Case; 11] = [
    (3, 7, 9, 3, 6, 3, 3, (1, 1), (1, 1), Padding::Same),
    (3, 7, 9, 3, 6, 3, 3, (2, 2), (1, 1), Padding::Valid),
    (3, 7, 9, 5, 6, 2, 3, (1, 2), (1, 1), Padding::Same),
    (3, 7, 9, 5, 6, 3, 3, (2, 2), (1, 1), Padding::Same),
    (3, 7, 9, 5, 6, 3, 3, (1, 1), (2, 2), Padding::Valid),
    (3, 7, 9, 3, 6, 2, 3, (2, 1), (2, 2), Padding::Same),
    (1, 5, 5, 5, 7, 1, 1, (1, 1), (1, 1), Padding::Valid),
    (11, 5, 7, 3, 4, 3, 3, (2, 2), (1, 1), Padding::Same), // three tasks, the last one short
    (3, 7, 6, 8, 5, 3, 3, (1, 1), (1, 1), Padding::Same),
    (2, 9, 7, 12, 3, 3, 2, (2, 1), (2, 1), Padding::Valid),
    (2, 6, 8, 7, 19, 3, 3, (1, 2), (1, 2), Padding::Same), // three filter panels, the last one short
];

/// Larger images: one image per block, several blocks per task, odd sizes everywhere.
const BLOCKED_CASES: [Case; 2] = [
    (6, 21, 19, 17, 5, 3, 3, (1, 1), (1, 1), Padding::Valid),
    (5, 23, 23, 13, 9, 3, 3, (1, 1), (1, 1), Padding::Same),
];

fn geometry(c: &Case) -> Conv2dGeometry {
    Conv2dGeometry::new(c.0, c.1, c.2, c.3, c.4, c.5, c.6, c.7, c.8, c.9).unwrap()
}

#[test]
fn forward_matches_reference() {
    for (i, case) in CASES.iter().chain(&BLOCKED_CASES).enumerate() {
        let g = geometry(case);
        let mut r = rng(i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let w = random_vec(&mut r, g.patch_len() * g.out_c, -1.0, 1.0);
        let b = random_vec(&mut r, g.out_c, -1.0, 1.0);
        let want = reference(&g, &to_f64(&x), &to_f64(&w), Some(&to_f64(&b)));
        let mut y = vec![f32::NAN; g.batch * g.output_image_len()];
        conv2d_forward(&g, &x, &w, Some(&b), ConvActivation::Linear, &mut y).unwrap();
        assert_close(&format!("case {i} output"), &y, &want, 1e-4);
        conv2d_forward(&g, &x, &w, Some(&b), ConvActivation::Relu, &mut y).unwrap();
        assert_close(&format!("case {i} relu output"), &y, &relu64(&want), 1e-4);
        let want = reference(&g, &to_f64(&x), &to_f64(&w), None);
        conv2d_forward(&g, &x, &w, None, ConvActivation::Linear, &mut y).unwrap();
        assert_close(&format!("case {i} output without bias"), &y, &want, 1e-4);
        conv2d_forward(&g, &x, &w, None, ConvActivation::Relu, &mut y).unwrap();
        assert_close(&format!("case {i} relu output without bias"), &y, &relu64(&want), 1e-4);
    }
}

/// Runs [`conv2d_backward`] with every gradient requested.
fn backward(g: &Conv2dGeometry, x: &[f32], w: &[f32], relu_output: Option<&[f32]>, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mut dx, mut dw, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; w.len()], vec![f32::NAN; g.out_c]);
    let grads = Conv2dGrads { input: Some(&mut dx), filter: &mut dw, bias: Some(&mut db) };
    conv2d_backward(g, x, w, OutputGrad::Direct { grad: dy, relu_output }, grads).unwrap();
    (dx, dw, db)
}

#[test]
fn gradients_match_central_differences() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let mut r = rng(100 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let w = random_vec(&mut r, g.patch_len() * g.out_c, -1.0, 1.0);
        let b = random_vec(&mut r, g.out_c, -1.0, 1.0);
        let dy = random_vec(&mut r, g.batch * g.output_image_len(), -1.0, 1.0);
        let (x64, w64, b64) = (to_f64(&x), to_f64(&w), to_f64(&b));
        let (dx, dw, db) = backward(&g, &x, &w, None, &dy);
        let want = numeric_grad(&x64, |x| dot(&reference(&g, x, &w64, Some(&b64)), &dy));
        assert_close(&format!("case {i} grad_input"), &dx, &want, 1e-4);
        let want = numeric_grad(&w64, |w| dot(&reference(&g, &x64, w, Some(&b64)), &dy));
        assert_close(&format!("case {i} grad_filter"), &dw, &want, 1e-4);
        let want = numeric_grad(&b64, |b| dot(&reference(&g, &x64, &w64, Some(b)), &dy));
        assert_close(&format!("case {i} grad_bias"), &db, &want, 1e-4);
    }
}

#[test]
fn relu_gradients_match_central_differences() {
    for (i, case) in CASES.iter().enumerate() {
        let g = geometry(case);
        let mut r = rng(200 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let w = random_vec(&mut r, g.patch_len() * g.out_c, -1.0, 1.0);
        let b = random_vec(&mut r, g.out_c, -1.0, 1.0);
        let dy = random_vec(&mut r, g.batch * g.output_image_len(), -1.0, 1.0);
        let (x64, w64, b64) = (to_f64(&x), to_f64(&w), to_f64(&b));
        let mut y = vec![f32::NAN; dy.len()];
        conv2d_forward(&g, &x, &w, Some(&b), ConvActivation::Relu, &mut y).unwrap();
        let (dx, dw, db) = backward(&g, &x, &w, Some(&y), &dy);
        let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&relu64(&reference(&g, x, w, Some(b))), &dy);
        assert_close(&format!("case {i} relu grad_input"), &dx, &numeric_grad(&x64, |x| loss(x, &w64, &b64)), 1e-4);
        assert_close(&format!("case {i} relu grad_filter"), &dw, &numeric_grad(&w64, |w| loss(&x64, w, &b64)), 1e-4);
        assert_close(&format!("case {i} relu grad_bias"), &db, &numeric_grad(&b64, |b| loss(&x64, &w64, b)), 1e-4);
    }
}

#[test]
fn blocked_gradients_match_reference_and_input_gradient_is_optional() {
    for (i, case) in BLOCKED_CASES.iter().enumerate() {
        let g = geometry(case);
        assert_eq!(g.images_per_block(), 1, "case {i} should need one block per image");
        let mut r = rng(300 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let w = random_vec(&mut r, g.patch_len() * g.out_c, -1.0, 1.0);
        let dy = random_vec(&mut r, g.batch * g.output_image_len(), -1.0, 1.0);
        let (want_dx, want_dw, want_db) = reference_grads(&g, &to_f64(&x), &to_f64(&w), &to_f64(&dy));
        let (dx, dw, db) = backward(&g, &x, &w, None, &dy);
        assert_close(&format!("blocked case {i} grad_input"), &dx, &want_dx, 1e-4);
        assert_close(&format!("blocked case {i} grad_filter"), &dw, &want_dw, 1e-4);
        assert_close(&format!("blocked case {i} grad_bias"), &db, &want_db, 1e-4);
        let mut dw_only = vec![f32::NAN; w.len()];
        conv2d_backward(&g, &x, &w, OutputGrad::Direct { grad: &dy, relu_output: None }, Conv2dGrads { input: None, filter: &mut dw_only, bias: None }).unwrap();
        assert_eq!(dw_only, dw, "blocked case {i}: the filter gradient does not depend on the input gradient");
    }
}

#[test]
fn same_padding_follows_tensorflow() {
    let g = Conv2dGeometry::new(1, 7, 9, 3, 1, 3, 2, (2, 1), (1, 1), Padding::Same).unwrap();
    assert_eq!((g.out_h, g.pad_top, g.out_w, g.pad_left), (4, 1, 9, 0));
    let g = Conv2dGeometry::new(1, 7, 9, 3, 1, 3, 3, (1, 1), (2, 2), Padding::Same).unwrap();
    assert_eq!((g.out_h, g.pad_top, g.out_w, g.pad_left), (7, 2, 9, 2));
    // A kernel wider than the input is fine with Same padding.
    let g = Conv2dGeometry::new(1, 2, 2, 1, 1, 5, 5, (1, 1), (1, 1), Padding::Same).unwrap();
    assert_eq!((g.out_h, g.pad_top), (2, 2));
}

#[test]
fn rejects_bad_geometry_and_buffers() {
    let e = Conv2dGeometry::new(1, 5, 5, 3, 4, 3, 3, (0, 1), (1, 1), Padding::Valid).unwrap_err();
    assert_eq!(e.to_string(), "Conv2dGeometry::new: stride_h must be at least 1, got 0");
    let e = Conv2dGeometry::new(1, 5, 5, 3, 4, 3, 3, (1, 1), (3, 1), Padding::Valid).unwrap_err();
    assert!(matches!(e, KernelError::Value { argument: "k_h", .. }), "{e}");

    let g = Conv2dGeometry::new(1, 5, 5, 4, 2, 3, 3, (1, 1), (1, 1), Padding::Same).unwrap();
    let mut out = vec![0.0; 50];
    let linear = ConvActivation::Linear;
    let e = conv2d_forward(&g, &[0.0; 99], &[0.0; 72], None, linear, &mut out).unwrap_err();
    assert_eq!(e.to_string(), "conv2d_forward: input has 99 elements, expected 1*5*5*4 = 100");
    let e = conv2d_forward(&g, &[0.0; 100], &[0.0; 72], Some(&[0.0; 3]), linear, &mut out).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "bias", .. }), "{e}");
    let mut dw = [0.0; 72];
    let grads = Conv2dGrads { input: Some(&mut [0.0; 100]), filter: &mut dw, bias: None };
    let e = conv2d_backward(&g, &[0.0; 100], &[0.0; 71], OutputGrad::Direct { grad: &[0.0; 50], relu_output: None }, grads).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "filter", .. }), "{e}");
    let grads = Conv2dGrads { input: None, filter: &mut dw, bias: Some(&mut [0.0; 1]) };
    let e = conv2d_backward(&g, &[0.0; 100], &[0.0; 72], OutputGrad::Direct { grad: &[0.0; 50], relu_output: None }, grads).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "grad_bias", .. }), "{e}");
    let grads = Conv2dGrads { input: None, filter: &mut dw, bias: None };
    let e = conv2d_backward(&g, &[0.0; 100], &[0.0; 72], OutputGrad::Direct { grad: &[0.0; 50], relu_output: Some(&[0.0; 49]) }, grads).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "relu_output", .. }), "{e}");

    let mut tampered = g;
    tampered.out_h = 6;
    let e = conv2d_forward(&tampered, &[0.0; 100], &[0.0; 72], None, linear, &mut [0.0; 60]).unwrap_err();
    assert!(matches!(e, KernelError::Value { kernel: "conv2d_forward", argument: "geometry", .. }), "{e}");
}

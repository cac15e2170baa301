use super::*;
use crate::conv::{conv2d_backward, conv2d_forward, Conv2dGrads, OutputGrad};
use crate::pool::{max_pool2d_backward, max_pool2d_forward};
use crate::test_util::{random_vec, rng};

/// (conv: batch, in_h, in_w, in_c, out_c, k, stride, padding; pool: window, stride)
type Case = (usize, usize, usize, usize, usize, usize, usize, Padding, (usize, usize), (usize, usize));

const CASES: [Case; 5] = [
    (5, 32, 32, 3, 32, 3, 1, Padding::Valid, (2, 2), (2, 2)), // conv1 of the seed CNN: tasks of 4 pooled rows, then of 1
    (6, 15, 15, 9, 13, 3, 1, Padding::Valid, (2, 2), (2, 2)), // odd output: its last row and column unpooled
    (3, 9, 11, 4, 6, 3, 1, Padding::Same, (3, 2), (3, 2)),
    (2, 10, 9, 5, 7, 2, 2, Padding::Same, (2, 1), (3, 2)), // gaps between windows
    (9, 6, 6, 3, 5, 3, 1, Padding::Valid, (1, 1), (1, 1)), // one-cell windows; three backward tasks
];

fn geometries(case: &Case) -> (Conv2dGeometry, Pool2dGeometry) {
    let &(batch, h, w, in_c, out_c, k, stride, padding, window, pool_stride) = case;
    let g = Conv2dGeometry::new(batch, h, w, in_c, out_c, k, k, (stride, stride), (1, 1), padding).unwrap();
    let pool = Pool2dGeometry::new(batch, g.out_h, g.out_w, out_c, window, pool_stride, Padding::Valid).unwrap();
    (g, pool)
}

fn pooled_len(pool: &Pool2dGeometry) -> usize {
    pool.batch * pool.out_h * pool.out_w * pool.channels
}

#[test]
fn fused_equals_convolution_then_max_pool() {
    for (i, case) in CASES.iter().enumerate() {
        let (g, pool) = geometries(case);
        let mut r = rng(700 + i as u64);
        let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
        let w = random_vec(&mut r, g.patch_len() * g.out_c, -0.5, 0.5);
        let bias = random_vec(&mut r, g.out_c, -0.2, 0.2);
        let dpooled = random_vec(&mut r, pooled_len(&pool), -1.0, 1.0);
        for activation in [ConvActivation::Linear, ConvActivation::Relu] {
            let relu = activation == ConvActivation::Relu;
            let mut y = vec![0.0; g.batch * g.output_image_len()];
            conv2d_forward(&g, &x, &w, Some(&bias), activation, &mut y).unwrap();
            let mut pooled = vec![0.0; pooled_len(&pool)];
            max_pool2d_forward(&pool, &y, &mut pooled).unwrap();
            let (mut fused, mut winners) = (vec![f32::NAN; pooled.len()], vec![0u8; pooled.len()]);
            conv2d_max_pool_forward(&g, &pool, &x, &w, Some(&bias), activation, &mut fused, &mut winners).unwrap();
            assert_eq!(fused, pooled, "case {i} relu {relu}: pooled output");
            let some_dead = winners.contains(&NO_WINNER);
            assert_eq!(some_dead, relu && pooled.contains(&0.0), "case {i} relu {relu}: windows without a winner");

            // Backward: the same gradients as max-pool backward, then the convolution's (ReLU-masked) backward.
            let mut dy = vec![0.0; y.len()];
            max_pool2d_backward(&pool, &y, &pooled, &dpooled, &mut dy).unwrap();
            let relu_output = relu.then_some(&y[..]);
            let grads = |dx: &mut Vec<f32>, dw: &mut Vec<f32>, db: &mut Vec<f32>, output_grad: OutputGrad| {
                let grads = Conv2dGrads { input: Some(dx), filter: dw, bias: Some(db) };
                conv2d_backward(&g, &x, &w, output_grad, grads).unwrap();
            };
            let (mut dx, mut dw, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; w.len()], vec![f32::NAN; g.out_c]);
            grads(&mut dx, &mut dw, &mut db, OutputGrad::Direct { grad: &dy, relu_output });
            let (mut fx, mut fw, mut fb) = (vec![f32::NAN; x.len()], vec![f32::NAN; w.len()], vec![f32::NAN; g.out_c]);
            grads(&mut fx, &mut fw, &mut fb, OutputGrad::MaxPooled { pool: &pool, grad: &dpooled, winners: &winners });
            assert_eq!((fx, fw, fb), (dx, dw, db), "case {i} relu {relu}: gradients");

            // Without an input gradient (a first layer) the pooled gradient is unpooled straight into panels.
            let filter_grads = |output_grad: OutputGrad| {
                let (mut dw, mut db) = (vec![f32::NAN; w.len()], vec![f32::NAN; g.out_c]);
                conv2d_backward(&g, &x, &w, output_grad, Conv2dGrads { input: None, filter: &mut dw, bias: Some(&mut db) }).unwrap();
                (dw, db)
            };
            let fused = filter_grads(OutputGrad::MaxPooled { pool: &pool, grad: &dpooled, winners: &winners });
            assert_eq!(fused, filter_grads(OutputGrad::Direct { grad: &dy, relu_output }), "case {i} relu {relu}: filter gradients");
        }
    }
}

#[test]
fn winners_outside_the_window_pass_no_gradient_with_or_without_an_input_gradient() {
    let (g, pool) = geometries(&CASES[2]);
    let mut r = rng(77);
    let x = random_vec(&mut r, g.batch * g.input_image_len(), -1.0, 1.0);
    let w = random_vec(&mut r, g.patch_len() * g.out_c, -0.5, 0.5);
    let dpooled = random_vec(&mut r, pooled_len(&pool), -1.0, 1.0);
    let cells = (pool.pool_h * pool.pool_w) as u8;
    // Every other value points past its window (hostile or corrupted winners); the rest are valid cells.
    let winners: Vec<u8> = (0..dpooled.len()).map(|i| if i % 2 == 0 { cells + (i % 7) as u8 } else { (i % cells as usize) as u8 }).collect();
    let valid_only: Vec<f32> = dpooled.iter().enumerate().map(|(i, &v)| if i % 2 == 0 { 0.0 } else { v }).collect();
    let run = |grad: &[f32], with_input: bool| {
        let output_grad = OutputGrad::MaxPooled { pool: &pool, grad, winners: &winners };
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; g.out_c]);
        let input = with_input.then_some(&mut dx[..]);
        conv2d_backward(&g, &x, &w, output_grad, Conv2dGrads { input, filter: &mut dw, bias: Some(&mut db) }).unwrap();
        (dw, db)
    };
    let expected = run(&valid_only, true);
    assert_eq!(run(&dpooled, true), expected);
    assert_eq!(run(&dpooled, false), expected);
}

#[test]
fn rejects_poolings_it_cannot_fuse_and_bad_buffers() {
    let (g, pool) = geometries(&CASES[2]);
    let (x, w) = (vec![0.0; g.batch * g.input_image_len()], vec![0.0; g.patch_len() * g.out_c]);
    let mut out = vec![0.0; pooled_len(&pool)];
    let mut winners = vec![0u8; out.len()];
    let run = |pool: &Pool2dGeometry, out: &mut [f32], winners: &mut [u8]| {
        conv2d_max_pool_forward(&g, pool, &x, &w, None, ConvActivation::Relu, out, winners).unwrap_err()
    };
    let overlapping = Pool2dGeometry::new(g.batch, g.out_h, g.out_w, g.out_c, (2, 2), (1, 1), Padding::Valid).unwrap();
    let padded = Pool2dGeometry::new(g.batch, g.out_h, g.out_w, g.out_c, (2, 2), (2, 2), Padding::Same).unwrap();
    let other_input = Pool2dGeometry::new(g.batch, g.out_h + 1, g.out_w, g.out_c, (3, 2), (3, 2), Padding::Valid).unwrap();
    for bad in [overlapping, padded, other_input] {
        let mut out = vec![0.0; pooled_len(&bad)];
        let mut winners = vec![0u8; out.len()];
        let e = run(&bad, &mut out, &mut winners);
        assert!(matches!(e, KernelError::Value { argument: "pool", .. }), "{e}");
    }
    let e = run(&pool, &mut out, &mut winners[1..]);
    assert!(matches!(e, KernelError::Shape { argument: "winners", .. }), "{e}");
    let e = run(&pool, &mut out[1..], &mut winners);
    assert!(matches!(e, KernelError::Shape { argument: "output", .. }), "{e}");
    let grads = Conv2dGrads { input: None, filter: &mut vec![0.0; w.len()], bias: None };
    let output_grad = OutputGrad::MaxPooled { pool: &pool, grad: &out, winners: &winners[1..] };
    let e = conv2d_backward(&g, &x, &w, output_grad, grads).unwrap_err();
    assert!(matches!(e, KernelError::Shape { argument: "winners", .. }), "{e}");
}

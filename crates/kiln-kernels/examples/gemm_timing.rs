//! Native GEMM timing (scalar micro-kernel, autovectorized): `cargo run --release --example gemm_timing --features parallel`.
use kiln_kernels::{sgemm, Transpose};
use std::time::Instant;

fn main() {
    for n in [256usize, 512, 1024] {
        let a = vec![0.5f32; n * n];
        let b = vec![0.25f32; n * n];
        let mut c = vec![0.0f32; n * n];
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            sgemm(Transpose::No, Transpose::No, n, n, n, 1.0, &a, n, &b, n, 0.0, &mut c, n).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{n}: {:.1} GFLOP/s", 2.0 * (n as f64).powi(3) / best / 1e9);
    }
}

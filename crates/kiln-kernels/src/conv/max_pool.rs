//! A convolution whose output goes straight through a max-pool, so the full-size output is never written:
//! the forward pass pools each block of output rows while it is in cache and records, per pooled value, which
//! cell of its window won; the backward pass rebuilds the output gradient of a block from those winners.
//! Windows must not overlap and the pooling must not pad, so that each output cell has at most one window.

use super::{check_len, with_scratch, ConvActivation, Conv2dGeometry, Forward, KernelError, Padding, Pixel, MAX_FORWARD_ROWS};
use crate::gemm::{MR, NR};
use crate::par;
use crate::pool::Pool2dGeometry;

/// Marks a pooled value whose window passes no gradient: under ReLU, its maximum is a zero.
pub const NO_WINNER: u8 = u8::MAX;

/// Checks that `pool` pools `g`'s output with windows that neither overlap nor pad (at most 254 cells).
pub(super) fn check_pool(kernel: &'static str, g: &Conv2dGeometry, pool: &Pool2dGeometry) -> Result<(), KernelError> {
    pool.check(kernel)?;
    let error = |expected: String| KernelError::Value { kernel, argument: "pool", expected, got: format!("{pool:?}") };
    if (pool.batch, pool.in_h, pool.in_w, pool.channels) != (g.batch, g.out_h, g.out_w, g.out_c) {
        return Err(error(format!("a pooling of the convolution's output [{}, {}, {}, {}]", g.batch, g.out_h, g.out_w, g.out_c)));
    }
    if pool.padding != Padding::Valid || pool.stride_h < pool.pool_h || pool.stride_w < pool.pool_w {
        return Err(error("windows that neither overlap (stride at least the window) nor pad".into()));
    }
    if pool.pool_h * pool.pool_w >= NO_WINNER as usize {
        return Err(error(format!("a window of fewer than {NO_WINNER} cells")));
    }
    Ok(())
}

/// `output = max_pool(act(conv2d(input, filter) + bias))` as [`super::conv2d_forward`] then
/// [`crate::max_pool2d_forward`] compute it, and `winners[i]` = the window cell (row-major) of the first
/// maximum behind `output[i]`, or [`NO_WINNER`] where ReLU left the window all zeros.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_max_pool_forward(
    g: &Conv2dGeometry,
    pool: &Pool2dGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    activation: ConvActivation,
    output: &mut [f32],
    winners: &mut [u8],
) -> Result<(), KernelError> {
    const KERNEL: &str = "conv2d_max_pool_forward";
    g.check_forward_operands(KERNEL, input, filter, bias)?;
    check_pool(KERNEL, g, pool)?;
    let dims = [pool.batch, pool.out_h, pool.out_w, pool.channels];
    check_len(KERNEL, "output", output.len(), &dims)?;
    check_len(KERNEL, "winners", winners.len(), &dims)?;
    let forward = Forward::new(g, input, filter, bias, activation);
    let c = g.out_c;
    let (pooled_row_len, window_rows_len) = (pool.out_w * c, pool.pool_h * g.out_w * c);
    // Tasks of whole tiles: pooled rows in multiples of `small`, whose output rows fill whole MR-row tiles.
    let rows_per_pooled_row = pool.pool_h * g.out_w;
    let small = (1..MR).find(|s| (s * rows_per_pooled_row).is_multiple_of(MR)).unwrap_or(MR);
    let pooled_rows_per_task = (MAX_FORWARD_ROWS / rows_per_pooled_row).max(small) / small * small;
    // Each window cell's offset from the window's first, in a block of output rows.
    let cell_offsets: Vec<usize> = window_cell_rows(g, pool).into_iter().map(|row| row * c).collect();
    let taper = par::Taper::new(pool.batch * pool.out_h, pooled_rows_per_task, small);
    // Tasks of whole pooled rows: the output rows under them are computed into scratch, then pooled.
    par::for_each_tapered_mut2(output, pooled_row_len, winners, pooled_row_len, &taper, |first_row, output, winners| {
        let pooled_rows = output.len() / pooled_row_len;
        let mut firsts = Vec::with_capacity(pooled_rows * pool.pool_h * g.out_w);
        for row in first_row..first_row + pooled_rows {
            let (image, py) = (row / pool.out_h, row % pool.out_h);
            for oy in py * pool.stride_h..py * pool.stride_h + pool.pool_h {
                let first = forward.source.pixel_offset(g, &Pixel { image, oy, ox: 0 });
                firsts.extend((0..g.out_w).map(|ox| first + ox * g.stride_w * g.in_c));
            }
        }
        with_scratch([firsts.len() * c, 0, 0], |[block, _, _]| {
            forward.rows(&firsts, block);
            let rows = output.chunks_exact_mut(pooled_row_len).zip(winners.chunks_exact_mut(pooled_row_len));
            for ((out_row, winner_row), window_rows) in rows.zip(block.chunks_exact(window_rows_len)) {
                for (px, (best, won)) in out_row.chunks_exact_mut(c).zip(winner_row.chunks_exact_mut(c)).enumerate() {
                    let window = &window_rows[px * pool.stride_w * c..];
                    pool_window(window, &cell_offsets, activation == ConvActivation::Relu, best, won);
                }
            }
        });
    });
    Ok(())
}

/// Channels a window is reduced over at once: running maxima and their cells stay in registers.
const LANES: usize = 8;

/// `best` = the maximum over the window's cells (channel 0 of cell k at `window[cell_offsets[k]]`) per
/// channel, `won` = the first cell holding it, or [`NO_WINNER`] under ReLU where it is not positive.
fn pool_window(window: &[f32], cell_offsets: &[usize], relu: bool, best: &mut [f32], won: &mut [u8]) {
    let winner = |cell: u32, max: f32| {
        let positive = max > 0.0;
        if relu && !positive { NO_WINNER } else { cell as u8 }
    };
    let c = best.len();
    let full = c / LANES * LANES;
    for ch in (0..full).step_by(LANES) {
        let mut max: [f32; LANES] = window[cell_offsets[0] + ch..][..LANES].try_into().expect("LANES values");
        let mut at = [0u32; LANES];
        for (cell, &offset) in cell_offsets.iter().enumerate().skip(1) {
            let v: &[f32; LANES] = window[offset + ch..][..LANES].try_into().expect("LANES values");
            for j in 0..LANES {
                let wins = v[j] > max[j];
                max[j] = if wins { v[j] } else { max[j] };
                at[j] = if wins { cell as u32 } else { at[j] };
            }
        }
        best[ch..ch + LANES].copy_from_slice(&max);
        won[ch..ch + LANES].iter_mut().zip(at.iter().zip(&max)).for_each(|(w, (&cell, &m))| *w = winner(cell, m));
    }
    for ch in full..c {
        let (mut max, mut at) = (window[cell_offsets[0] + ch], 0);
        for (cell, &offset) in cell_offsets.iter().enumerate().skip(1) {
            let v = window[offset + ch];
            if v > max {
                (max, at) = (v, cell);
            }
        }
        best[ch] = max;
        won[ch] = winner(at as u32, max);
    }
}

/// The output gradient of images `first_image..` (as many as `dy` holds, rows of out_c) from the gradient of
/// their pooled values: each goes to its window's winner, every other cell gets zero.
pub(super) fn unpool(g: &Conv2dGeometry, pool: &Pool2dGeometry, grad: &[f32], winners: &[u8], first_image: usize, dy: &mut [f32]) {
    let c = g.out_c;
    let pooled_len = pool.out_h * pool.out_w * c;
    // Cells no window covers (gaps, or the remainder past the last window) keep this zero.
    dy.fill(0.0);
    let mut won = vec![0.0f32; c];
    for (image, dy) in dy.chunks_exact_mut(g.output_image_len()).enumerate() {
        let at = (first_image + image) * pooled_len;
        let cells = grad[at..][..pooled_len].chunks_exact(c).zip(winners[at..][..pooled_len].chunks_exact(c));
        for (cell, (grad, winners)) in cells.enumerate() {
            let (py, px) = (cell / pool.out_w, cell % pool.out_w);
            won.iter_mut().zip(winners).for_each(|(w, &b)| *w = b as f32);
            for wy in 0..pool.pool_h {
                for wx in 0..pool.pool_w {
                    let window_cell = (wy * pool.pool_w + wx) as f32;
                    let (oy, ox) = (py * pool.stride_h + wy, px * pool.stride_w + wx);
                    let dst = &mut dy[(oy * g.out_w + ox) * c..][..c];
                    for ((d, &v), &w) in dst.iter_mut().zip(grad).zip(&won) {
                        *d = if w == window_cell { v } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Each window cell's output pixel (row-major) counted from its window's first.
fn window_cell_rows(g: &Conv2dGeometry, pool: &Pool2dGeometry) -> Vec<usize> {
    (0..pool.pool_h * pool.pool_w).map(|cell| cell / pool.pool_w * g.out_w + cell % pool.pool_w).collect()
}

/// [`unpool`] then `output_gradient_panels` without the row-major gradient in between: the gradient of images
/// `first_image..` (as many as `panels` holds) as NR-wide panels `[panel][row][NR]`, and its column sums
/// (added in the same order, so the results are the same to the bit).
pub(super) fn unpool_panels(g: &Conv2dGeometry, pool: &Pool2dGeometry, grad: &[f32], winners: &[u8], first_image: usize, panels: &mut [f32]) -> Vec<f32> {
    let (c, pixels) = (g.out_c, g.out_h * g.out_w);
    let ld = c.next_multiple_of(NR);
    let rows = panels.len() / ld;
    let pooled_len = pool.out_h * pool.out_w * c;
    let cell_rows = window_cell_rows(g, pool);
    panels.fill(0.0);
    for image in 0..rows / pixels {
        let at = (first_image + image) * pooled_len;
        let pooled = grad[at..][..pooled_len].chunks_exact(c).zip(winners[at..][..pooled_len].chunks_exact(c));
        for (cell, (grad, winners)) in pooled.enumerate() {
            let (py, px) = (cell / pool.out_w, cell % pool.out_w);
            let window_row = image * pixels + py * pool.stride_h * g.out_w + px * pool.stride_w;
            for (ch, (&v, &won)) in grad.iter().zip(winners).enumerate() {
                // NO_WINNER (and any index past the window) passes nothing, as in `unpool`.
                if let Some(&cell_row) = cell_rows.get(won as usize) {
                    panels[(ch / NR * rows + window_row + cell_row) * NR + ch % NR] = v;
                }
            }
        }
    }
    let mut sums = vec![0.0f32; ld];
    for (panel, panel_sums) in panels.chunks_exact(rows * NR).zip(sums.chunks_exact_mut(NR)) {
        let mut sum = [0.0f32; NR];
        for row in panel.chunks_exact(NR) {
            sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        panel_sums.copy_from_slice(&sum);
    }
    sums
}

#[cfg(test)]
mod tests;

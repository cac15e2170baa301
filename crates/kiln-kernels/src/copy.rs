//! Strided block copies: the data movement behind concatenation, zero padding, slicing and their gradients.

use crate::error::KernelError;

/// `outer × inner` blocks of `width` contiguous values; block (o, i) starts at
/// `offset + o·outer_stride + i·inner_stride` in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    pub offset: usize,
    pub outer_stride: usize,
    pub inner_stride: usize,
}

/// Copies block (o, i) of `src` to block (o, i) of `dst` for every o < `outer`, i < `inner`.
pub fn copy_blocks(
    outer: usize,
    inner: usize,
    width: usize,
    src: &[f32],
    from: Blocks,
    dst: &mut [f32],
    to: Blocks,
) -> Result<(), KernelError> {
    if outer == 0 || inner == 0 || width == 0 {
        return Ok(());
    }
    check_end("src", src.len(), outer, inner, width, from)?;
    check_end("dst", dst.len(), outer, inner, width, to)?;
    for o in 0..outer {
        for i in 0..inner {
            let s = from.offset + o * from.outer_stride + i * from.inner_stride;
            let d = to.offset + o * to.outer_stride + i * to.inner_stride;
            dst[d..d + width].copy_from_slice(&src[s..s + width]);
        }
    }
    Ok(())
}

/// Fails unless the last block ends inside a buffer of `len` values.
fn check_end(argument: &'static str, len: usize, outer: usize, inner: usize, width: usize, b: Blocks) -> Result<(), KernelError> {
    let end = (outer - 1)
        .checked_mul(b.outer_stride)
        .and_then(|x| (inner - 1).checked_mul(b.inner_stride).and_then(|y| x.checked_add(y)))
        .and_then(|x| x.checked_add(b.offset))
        .and_then(|x| x.checked_add(width));
    match end {
        Some(end) if end <= len => Ok(()),
        _ => Err(KernelError::Shape {
            kernel: "copy_blocks",
            argument,
            expected: format!("at least {}", end.map_or_else(|| "overflow".to_string(), |e| e.to_string())),
            got: len.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates_along_the_last_axis_and_splits_back() {
        // Two rows of [a0 a1 | b0 b1 b2].
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let mut out = [0.0; 10];
        let rows = |offset, stride| Blocks { offset, outer_stride: stride, inner_stride: 0 };
        copy_blocks(2, 1, 2, &a, rows(0, 2), &mut out, rows(0, 5)).unwrap();
        copy_blocks(2, 1, 3, &b, rows(0, 3), &mut out, rows(2, 5)).unwrap();
        assert_eq!(out, [1.0, 2.0, 5.0, 6.0, 7.0, 3.0, 4.0, 8.0, 9.0, 10.0]);
        let mut back = [0.0; 6];
        copy_blocks(2, 1, 3, &out, rows(2, 5), &mut back, rows(0, 3)).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn pads_images_with_two_strides() {
        // 2 images of 2×1 pixels (1 channel) into 4×3 with one pixel all round.
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0; 24];
        let from = Blocks { offset: 0, outer_stride: 2, inner_stride: 1 };
        let to = Blocks { offset: 3 + 1, outer_stride: 12, inner_stride: 3 };
        copy_blocks(2, 2, 1, &x, from, &mut y, to).unwrap();
        let mut want = [0.0; 24];
        for (i, v) in [(4, 1.0), (7, 2.0), (16, 3.0), (19, 4.0)] {
            want[i] = v;
        }
        assert_eq!(y, want);
    }

    #[test]
    fn rejects_blocks_that_end_outside_a_buffer() {
        let mut y = [0.0; 4];
        let flat = Blocks { offset: 0, outer_stride: 2, inner_stride: 0 };
        let err = copy_blocks(3, 1, 2, &[0.0; 6], flat, &mut y, flat).unwrap_err();
        assert!(err.to_string().contains("dst"), "{err}");
        let huge = Blocks { offset: usize::MAX, outer_stride: 1, inner_stride: 0 };
        assert!(copy_blocks(1, 1, 1, &[0.0; 6], huge, &mut y, flat).is_err());
        copy_blocks(0, 5, 5, &[], flat, &mut [], flat).unwrap();
    }
}

//! The error every kernel returns for bad user input: a named argument, what was expected and what came.

use std::fmt;

use crate::gemm::GemmError;

#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// A slice does not have the length its shape requires.
    Shape { kernel: &'static str, argument: &'static str, expected: String, got: String },
    /// A scalar argument (a size, a label, a rate) is out of its valid range.
    Value { kernel: &'static str, argument: &'static str, expected: String, got: String },
    /// The matrix multiply underneath rejected its operands.
    Gemm(GemmError),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape { kernel, argument, expected, got } => {
                write!(f, "{kernel}: {argument} has {got} elements, expected {expected}")
            }
            KernelError::Value { kernel, argument, expected, got } => {
                write!(f, "{kernel}: {argument} must be {expected}, got {got}")
            }
            KernelError::Gemm(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KernelError {}

impl From<GemmError> for KernelError {
    fn from(e: GemmError) -> Self {
        KernelError::Gemm(e)
    }
}

/// Product of `dims`, or None when it overflows `usize`.
pub(crate) fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Fails with a Shape error unless `len` equals the product of `dims` (shown as `a*b*c = n`).
pub(crate) fn check_len(
    kernel: &'static str,
    argument: &'static str,
    len: usize,
    dims: &[usize],
) -> Result<(), KernelError> {
    let want = product(dims);
    if want == Some(len) {
        return Ok(());
    }
    let total = want.map_or_else(|| "overflow".to_string(), |n| n.to_string());
    let expected = match dims {
        [_] => total,
        _ => {
            let factors: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("{} = {total}", factors.join("*"))
        }
    };
    Err(KernelError::Shape { kernel, argument, expected, got: len.to_string() })
}

/// Fails with a Value error unless `value` is at least 1.
pub(crate) fn check_positive(kernel: &'static str, argument: &'static str, value: usize) -> Result<(), KernelError> {
    if value == 0 {
        return Err(KernelError::Value { kernel, argument, expected: "at least 1".into(), got: "0".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_message_names_argument_and_factors() {
        let e = check_len("conv2d", "input", 99, &[1, 5, 5, 4]).unwrap_err();
        assert_eq!(e.to_string(), "conv2d: input has 99 elements, expected 1*5*5*4 = 100");
        let e = check_len("bias_add", "bias", 4, &[6]).unwrap_err();
        assert_eq!(e.to_string(), "bias_add: bias has 4 elements, expected 6");
        assert!(check_len("k", "x", 0, &[usize::MAX, 2]).is_err());
        assert!(check_len("k", "x", 6, &[2, 3]).is_ok());
    }

    #[test]
    fn value_message() {
        let e = check_positive("pool2d", "stride_h", 0).unwrap_err();
        assert_eq!(e.to_string(), "pool2d: stride_h must be at least 1, got 0");
    }
}

/// Fails unless `current` equals what its constructor builds from the same defining fields (`rebuilt`), so a
/// hand-edited geometry is an error rather than an out-of-bounds access.
pub(crate) fn check_rebuilt<G: PartialEq + fmt::Debug>(
    kernel: &'static str,
    type_name: &str,
    current: &G,
    rebuilt: Result<G, KernelError>,
) -> Result<(), KernelError> {
    let rebuilt = rebuilt.map_err(|e| match e {
        KernelError::Value { argument, expected, got, .. } => KernelError::Value { kernel, argument, expected, got },
        other => other,
    })?;
    if rebuilt != *current {
        return Err(KernelError::Value {
            kernel,
            argument: "geometry",
            expected: format!("{rebuilt:?} (as {type_name}::new builds it)"),
            got: format!("{current:?}"),
        });
    }
    Ok(())
}

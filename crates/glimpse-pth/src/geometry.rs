//! A tensor view's geometry (rank, shape, strides, offset), checked against its storage before
//! anything is read or allocated.
//!
//! Every number here comes from the file. A shape of [50000, 50000] with strides [0, 0] over
//! one float is a valid view that would allocate 10 GB; a shape whose product overflows would
//! wrap to a small count; strides can reach past the storage. So: the rank is capped, the
//! element count is computed with checked arithmetic over the non-zero dimensions (a product
//! that overflows is an error, never 0) and capped at [`MAX_ELEMENTS`], and the highest element
//! the view reaches (`offset + Σ (size - 1) · stride`, checked) must lie inside the storage.

use crate::error::PthError;
use crate::pickle::{MAX_RANK, TensorRef};

/// The most elements one tensor may have: 2^28 (1 GiB as f32). The largest tensors of the
/// models read here (a 50,000-word embedding of 1,024, ResNet's 2048×1000 classifier) have
/// about 2^26.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// A view that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Elements in the view.
    pub(crate) numel: usize,
}

/// Checks rank, strides, element count and bounds; the view is then safe to read.
pub(crate) fn check(tensor: &TensorRef) -> Result<Extent, PthError> {
    let (shape, stride) = (&tensor.shape, &tensor.stride);
    if shape.len() > MAX_RANK {
        return Err(PthError::Rank {
            rank: shape.len(),
            limit: MAX_RANK,
        });
    }
    if stride.len() != shape.len() {
        return Err(PthError::Strides {
            dims: shape.len(),
            strides: stride.len(),
        });
    }
    let numel = element_count(tensor)?;
    if numel == 0 {
        return Ok(Extent { numel });
    }
    let last = shape
        .iter()
        .zip(stride)
        .try_fold(tensor.offset, |sum, (&n, &s)| {
            sum.checked_add((n - 1).checked_mul(s)?)
        })
        .ok_or_else(|| overflow(tensor))?;
    if last >= tensor.storage.numel {
        return Err(PthError::OutOfStorage {
            last,
            numel: tensor.storage.numel,
        });
    }
    Ok(Extent { numel })
}

/// The product of the dimensions: checked over the non-zero ones (so that `[0, 2^63, 4]` is
/// refused like `[2^63, 4]`, not accepted as empty), then capped.
fn element_count(tensor: &TensorRef) -> Result<usize, PthError> {
    let nonzero = tensor
        .shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| overflow(tensor))?;
    if nonzero > MAX_ELEMENTS {
        return Err(PthError::TooManyElements {
            shape: tensor.shape.clone(),
            limit: MAX_ELEMENTS,
        });
    }
    Ok(if tensor.shape.contains(&0) { 0 } else { nonzero })
}

fn overflow(tensor: &TensorRef) -> PthError {
    PthError::Overflow {
        shape: tensor.shape.clone(),
        offset: tensor.offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_views::view;

    #[test]
    fn hostile_geometry_is_refused_before_reading() {
        let broadcast = check(&view(0, &[50_000, 50_000], &[0, 0], 1)).unwrap_err();
        assert!(
            matches!(
                broadcast,
                PthError::TooManyElements {
                    limit: MAX_ELEMENTS,
                    ..
                }
            ),
            "{broadcast}"
        );
        let wraps = check(&view(0, &[1 << 32, 1 << 32], &[1, 1], 1)).unwrap_err();
        assert!(matches!(wraps, PthError::Overflow { .. }), "{wraps}");
        let hidden = check(&view(0, &[0, 1 << 62, 8], &[1, 1, 1], 1)).unwrap_err();
        assert!(matches!(hidden, PthError::Overflow { .. }), "{hidden}");
        let stride = check(&view(0, &[3], &[1 << 63], 10)).unwrap_err();
        assert!(matches!(stride, PthError::Overflow { .. }), "{stride}");
        let outside = check(&view(0, &[2, 2], &[1, 1 << 40], 10)).unwrap_err();
        assert!(matches!(outside, PthError::OutOfStorage { .. }), "{outside}");
        let rank = check(&view(0, &[1; 17], &[1; 17], 1)).unwrap_err();
        assert!(matches!(rank, PthError::Rank { rank: 17, .. }), "{rank}");
    }

    #[test]
    fn ordinary_views_pass() {
        assert_eq!(check(&view(1, &[3, 2], &[1, 3], 7)).unwrap().numel, 6);
        assert_eq!(check(&view(0, &[0, 5], &[5, 1], 0)).unwrap().numel, 0);
        assert_eq!(check(&view(0, &[4, 3], &[0, 1], 3)).unwrap().numel, 12);
        assert_eq!(check(&view(0, &[], &[], 1)).unwrap().numel, 1);
    }
}

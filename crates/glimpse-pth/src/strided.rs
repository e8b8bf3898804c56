//! A tensor's values from its storage's bytes: strided views, storage offsets and the float
//! dtypes PyTorch stores, in row-major order.

use crate::error::PthError;
use crate::geometry::{self, Extent};
use crate::pickle::{StorageDtype, TensorRef};

/// Elements `storage.offset .. storage.offset + storage.numel` of the root storage are the
/// storage the tensor views; this is how many bytes of the root that takes.
pub(crate) fn storage_bytes_needed(tensor: &TensorRef) -> Option<usize> {
    let storage = &tensor.storage;
    storage
        .offset
        .checked_add(storage.numel)?
        .checked_mul(storage.dtype.size())
}

/// Checks the view (`geometry.rs`) and the storage's bytes, then converts each element to
/// `f32`. Nothing is allocated before the checks pass.
pub(crate) fn read_f32(tensor: &TensorRef, bytes: &[u8]) -> Result<Vec<f32>, PthError> {
    let Extent { numel } = geometry::check(tensor)?;
    let storage = &tensor.storage;
    let available = bytes.len() / storage.dtype.size();
    if storage
        .offset
        .checked_add(storage.numel)
        .is_none_or(|end| end > available)
    {
        return Err(PthError::StorageTooSmall {
            key: storage.key.to_string(),
            available,
        });
    }
    if !storage.dtype.is_float() {
        return Err(PthError::NotFloat(storage.dtype));
    }
    // Every position below is at most the last element checked above: no overflow.
    let base = storage.offset + tensor.offset;
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; tensor.shape.len()];
    for _ in 0..numel {
        let position = base
            + index
                .iter()
                .zip(&tensor.stride)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(
            element(bytes, storage.dtype, position).ok_or(PthError::OutOfStorage {
                last: position,
                numel: available,
            })?,
        );
        advance(&mut index, &tensor.shape);
    }
    Ok(out)
}

/// Steps a row-major multi-index to the next element.
fn advance(index: &mut [usize], shape: &[usize]) {
    for (i, &size) in index.iter_mut().zip(shape).rev() {
        *i += 1;
        if *i < size {
            return;
        }
        *i = 0;
    }
}

/// Element `position` of a little-endian storage, as `f32`.
fn element(bytes: &[u8], dtype: StorageDtype, position: usize) -> Option<f32> {
    let rest = bytes.get(position.checked_mul(dtype.size())?..)?;
    Some(match dtype {
        StorageDtype::F32 => f32::from_le_bytes(*rest.first_chunk()?),
        StorageDtype::F64 => f64::from_le_bytes(*rest.first_chunk()?) as f32,
        StorageDtype::F16 => half::f16::from_le_bytes(*rest.first_chunk()?).to_f32(),
        StorageDtype::BF16 => half::bf16::from_le_bytes(*rest.first_chunk()?).to_f32(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_views::view;

    fn bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn transposed_and_offset_views_read_row_major() {
        let data = bytes(&[0., 1., 2., 3., 4., 5., 6.]);
        // The 2×3 row-major matrix at element 1, read transposed: shape [3, 2], stride [1, 3].
        let tensor = view(1, &[3, 2], &[1, 3], 7);
        assert_eq!(read_f32(&tensor, &data).unwrap(), [1., 4., 2., 5., 3., 6.]);
    }

    #[test]
    fn views_past_their_storage_are_refused() {
        let data = bytes(&[0., 1., 2.]);
        let err = read_f32(&view(1, &[3], &[1], 3), &data).unwrap_err();
        assert!(
            matches!(err, PthError::OutOfStorage { last: 3, numel: 3 }),
            "{err}"
        );
        let err = read_f32(&view(0, &[usize::MAX, 2], &[1, 1], 3), &data).unwrap_err();
        assert!(matches!(err, PthError::Overflow { .. }), "{err}");
        let err = read_f32(&view(0, &[2], &[1], 4), &data).unwrap_err();
        assert!(
            matches!(err, PthError::StorageTooSmall { available: 3, .. }),
            "{err}"
        );
    }
}

//! Tensor views over one f32 storage, for the geometry and strided-read unit tests.

use std::rc::Rc;

use crate::pickle::{StorageDtype, StorageRef, TensorRef};

/// A view of `shape` and `stride` at `offset` into a storage of `numel` f32 elements.
pub(crate) fn view(offset: usize, shape: &[usize], stride: &[usize], numel: usize) -> TensorRef {
    TensorRef {
        storage: Rc::new(StorageRef {
            key: "0".into(),
            dtype: StorageDtype::F32,
            offset: 0,
            numel,
        }),
        offset,
        shape: shape.to_vec(),
        stride: stride.to_vec(),
    }
}

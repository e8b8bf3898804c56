//! `.pth` files as bytes: every float tensor read as the importer reads it (all of them, where
//! the importer reads only those it keeps).

use std::path::Path;

use glimpse_import::TorchWeights;
use glimpse_model::TensorMap;

use crate::check_refusal;

pub fn run(data: &[u8]) {
    match TorchWeights::from_bytes(Path::new("fuzz.pth"), data.to_vec()).and_then(|w| w.tensors.read_all()) {
        Ok(tensors) => check_tensors(&tensors),
        Err(error) => check_refusal(error),
    }
}

/// Every tensor read holds exactly as many values as its shape says.
pub(crate) fn check_tensors(tensors: &TensorMap) {
    for (name, tensor) in tensors.iter() {
        let numel = tensor.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(
            numel,
            Some(tensor.data.len()),
            "tensor `{name}`: shape {:?}",
            tensor.shape
        );
    }
}

//! A PyTorch `.pth` file's float tensors and top-level numbers, read with `glimpse-pth`
//! (which parses the pickle without executing anything in it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use glimpse_files::{caps, read_regular};
use glimpse_model::error::excerpt;
use glimpse_model::{HostTensor, TensorMap};

use glimpse_pth as pth;

/// A checkpoint's float tensors (as f32) and its top-level numbers.
#[derive(Debug)]
pub struct TorchWeights {
    pub path: PathBuf,
    pub tensors: TensorMap,
    /// Tensors left out: integer ones (step counters, `num_batches_tracked`) and kinds that
    /// cannot be represented (sparse, quantized).
    pub skipped: Vec<String>,
    /// The skipped integer tensors named as weights (`` `conv1.weight` (torch.int64) ``).
    pub integer_weights: Vec<String>,
    /// Top-level integers and floats (`embed_size`, `epoch`, `bleu-4`, …).
    pub scalars: BTreeMap<String, f64>,
}

/// The most float elements read from one checkpoint, all tensors together: 2^28 (1 GiB as f32).
/// A ResNet-152 state dict with an Adam optimizer's two moments holds about 180 million; a
/// hostile file whose many tensors view one storage (or broadcast with zero strides) is stopped
/// here rather than by the machine's memory.
pub const MAX_TOTAL_ELEMENTS: usize = 1 << 28;

/// The last parts of the names the importer reads weights under. An integer tensor named so is
/// left out like any other, but named in the import's error: an int64 `conv1.weight` was reported
/// as missing.
const WEIGHT_NAMES: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// Reads every float tensor of a `.pth` / `.pt` file (zip or legacy container). Only a regular
/// file of at most [`caps::MODEL`] bytes is read: a FIFO or a device is refused at once.
pub fn read_checkpoint(path: &Path) -> Result<TorchWeights> {
    let bytes = read_regular(path, caps::MODEL, "checkpoint")?;
    TorchWeights::from_bytes(path, bytes)
}

impl TorchWeights {
    /// Reads the float tensors of a checkpoint's bytes; `path` names it in messages.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<TorchWeights> {
        let file = pth::PthFile::from_bytes(bytes).map_err(|source| pth::PthError::Checkpoint {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let pth::TensorWalk {
            found,
            unsupported: mut skipped,
            left_out,
        } = file.walk_tensors();
        if let Some(first) = left_out.first() {
            bail!(
                "{}: refused: part of the object tree was not searched for tensors ({first}{})",
                path.display(),
                if left_out.len() > 1 { "; …" } else { "" }
            );
        }
        let mut tensors = TensorMap::new();
        let mut integer_weights = Vec::new();
        let mut budget = MAX_TOTAL_ELEMENTS;
        for pth::FoundTensor { name, tensor } in found {
            let dtype = tensor.storage.dtype;
            if !dtype.is_float() {
                if WEIGHT_NAMES.contains(&name.rsplit('.').next().unwrap_or_default()) {
                    integer_weights.push(format!("`{}` ({})", excerpt(&name), dtype.torch_name()));
                }
                skipped.push(name);
                continue;
            }
            let tensor = read_tensor(&file, &tensor, &mut budget)
                .with_context(|| format!("{}: tensor `{name}`", path.display()))?;
            if tensors.insert(name.clone(), tensor).is_some() {
                bail!("{}: two tensors are named `{name}`", path.display());
            }
        }
        Ok(TorchWeights {
            path: path.to_path_buf(),
            tensors,
            skipped,
            integer_weights,
            scalars: file.scalars(),
        })
    }
}

/// One float tensor, its element count first taken from `budget` (geometry, bounds and the
/// per-tensor cap are checked by `read_f32` before anything is allocated).
fn read_tensor(
    file: &pth::PthFile,
    tensor: &pth::pickle::TensorRef,
    budget: &mut usize,
) -> Result<HostTensor> {
    let numel = tensor.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if let Some(numel) = numel {
        *budget = budget.checked_sub(numel).ok_or_else(|| {
            anyhow!(
                "shape {:?}: the checkpoint's float tensors hold more than {MAX_TOTAL_ELEMENTS} elements in all",
                tensor.shape
            )
        })?;
    }
    let data = file.read_f32(tensor)?;
    HostTensor::new(tensor.shape.clone(), data).map_err(|e| anyhow!("{e}"))
}

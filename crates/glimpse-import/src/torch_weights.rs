//! A PyTorch `.pth` file's float tensors and top-level numbers, read with `glimpse-pth`
//! (which parses the pickle without executing anything in it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
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
    /// Top-level integers and floats (`embed_size`, `epoch`, `bleu-4`, …).
    pub scalars: BTreeMap<String, f64>,
}

/// Reads every float tensor of a `.pth` / `.pt` file (zip or legacy container).
pub fn read_checkpoint(path: &Path) -> Result<TorchWeights> {
    let file = pth::PthFile::open(path)?;
    let (found, mut skipped) = file.tensors();
    let mut tensors = TensorMap::new();
    for pth::FoundTensor { name, tensor } in found {
        if !tensor.storage.dtype.is_float() {
            skipped.push(name);
            continue;
        }
        let data = file
            .read_f32(&tensor)
            .with_context(|| format!("{}: tensor `{name}`", path.display()))?;
        let tensor = HostTensor::new(tensor.shape.clone(), data)
            .map_err(|e| anyhow!("{}: tensor `{name}`: {e}", path.display()))?;
        if tensors.insert(name.clone(), tensor).is_some() {
            bail!("{}: two tensors are named `{name}`", path.display());
        }
    }
    Ok(TorchWeights {
        path: path.to_path_buf(),
        tensors,
        skipped,
        scalars: file.scalars(),
    })
}

//! A PyTorch `.pth` file's float tensors and top-level numbers, read with `glimpse-pth`
//! (which parses the pickle without executing anything in it). A tensor's data is read only
//! when the import takes it: an optimizer's moments or a classifier that it leaves out are
//! never inflated (hostile round 22: 1 MB of an ignored deflated tensor cost 2 GB).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use glimpse_files::{caps, read_regular};
use glimpse_model::error::excerpt;
use glimpse_model::{HostTensor, TensorMap};

use glimpse_pth as pth;

/// A checkpoint's float tensors and its top-level numbers.
#[derive(Debug)]
pub struct TorchWeights {
    pub path: PathBuf,
    pub tensors: StoredTensors,
    /// Tensors left out: integer ones (step counters, `num_batches_tracked`) and kinds that
    /// cannot be represented (sparse, quantized).
    pub skipped: Vec<String>,
    /// The skipped integer tensors named as weights (`` `conv1.weight` (torch.int64) ``).
    pub integer_weights: Vec<String>,
    /// Top-level integers and floats (`embed_size`, `epoch`, `bleu-4`, …).
    pub scalars: BTreeMap<String, f64>,
}

/// The most float elements read from one checkpoint, all tensors taken together: 2^28 (1 GiB as
/// f32), counted by their views (each view taken inflates its storage up to where it ends,
/// within `glimpse-pth`'s own caps on inflation).
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
        let mut tensors = BTreeMap::new();
        let mut integer_weights = Vec::new();
        for pth::FoundTensor { name, tensor } in found {
            let dtype = tensor.storage.dtype;
            if !dtype.is_float() {
                if WEIGHT_NAMES.contains(&name.rsplit('.').next().unwrap_or_default()) {
                    integer_weights.push(format!("`{}` ({})", excerpt(&name), dtype.torch_name()));
                }
                skipped.push(name);
                continue;
            }
            // Every view is checked now, used or not: a file with a broken one is refused.
            pth::PthFile::check_f32(&tensor)
                .map_err(|e| anyhow!("{}: tensor `{name}`: {e}", path.display()))?;
            if tensors.insert(name.clone(), tensor).is_some() {
                bail!("{}: two tensors are named `{name}`", path.display());
            }
        }
        let scalars = file.scalars();
        Ok(TorchWeights {
            path: path.to_path_buf(),
            tensors: StoredTensors {
                path: path.to_path_buf(),
                file,
                views: tensors,
                budget: MAX_TOTAL_ELEMENTS,
            },
            skipped,
            integer_weights,
            scalars,
        })
    }
}

/// A checkpoint's float tensors by name, each read (inflated, converted to f32) only when
/// taken, and then no longer held here.
pub struct StoredTensors {
    path: PathBuf,
    file: pth::PthFile,
    views: BTreeMap<String, Rc<pth::pickle::TensorRef>>,
    /// Elements that may still be read: [`MAX_TOTAL_ELEMENTS`] less those taken.
    budget: usize,
}

impl std::fmt::Debug for StoredTensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTensors")
            .field("path", &self.path)
            .field("names", &self.views.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StoredTensors {
    /// The names of the tensors not yet taken, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.views.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.views.len()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.views.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }

    /// Reads tensor `name` and lets go of it (an error if there is no such tensor, or it was
    /// taken). Its element count comes out of the budget before anything is allocated.
    pub fn take(&mut self, name: &str) -> Result<HostTensor> {
        let at = format!("{}: tensor `{name}`", self.path.display());
        let view = self
            .views
            .remove(name)
            .ok_or_else(|| anyhow!("{at}: none (or read already)"))?;
        self.read(&view).context(at)
    }

    /// Every tensor, read.
    pub fn read_all(mut self) -> Result<TensorMap> {
        let names: Vec<String> = self.views.keys().cloned().collect();
        names
            .into_iter()
            .map(|name| {
                let tensor = self.take(&name)?;
                Ok((name, tensor))
            })
            .collect()
    }

    fn read(&mut self, view: &pth::pickle::TensorRef) -> Result<HostTensor> {
        // (A product that overflows has a zero dimension: the view was checked at opening.)
        if let Some(numel) = view.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
            self.budget = self.budget.checked_sub(numel).ok_or_else(|| {
                anyhow!(
                    "shape {:?}: the checkpoint's float tensors hold more than {MAX_TOTAL_ELEMENTS} elements in all",
                    view.shape
                )
            })?;
        }
        let data = self.file.read_f32(view)?;
        HostTensor::new(view.shape.clone(), data).map_err(|e| anyhow!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read, Write};

    use super::*;
    use crate::layout::{CheckpointLayout, captioner_weights};
    use glimpse_pth::{NamedTensor, write_state_dict};

    /// `bytes`, a `.pth` zip, with every entry deflated (as a crafted file may store them).
    fn deflated(bytes: &[u8]) -> Vec<u8> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.start_file(entry.name().unwrap().to_string(), options)
                .unwrap();
            out.write_all(&data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn a_tensor_left_out_is_never_inflated() {
        // Hostile round 22: 1 MB of deflated zeros under a name the import ignores took 2 GB,
        // its storage inflated and converted before the layout dropped it. Here 64 MiB.
        let (kept, left_out) = ([1.0f32, 2.0, 3.0, 4.0], vec![0.0f32; 1 << 24]);
        let bytes = write_state_dict(&[
            NamedTensor {
                name: "state_dict.decoder.embedding.weight",
                shape: &[4],
                data: &kept,
            },
            NamedTensor {
                name: "decoder_optimizer.state.0.exp_avg",
                shape: &[1 << 24],
                data: &left_out,
            },
        ])
        .unwrap();
        drop(left_out);
        let file = deflated(&bytes);
        let mut notes = Vec::new();
        // Opening the file and importing it (reading every tensor at opening was round 22's).
        let (weights, peak) = crate::peak_alloc::peak_during(|| {
            let file = TorchWeights::from_bytes(Path::new("crafted.pth"), file).unwrap();
            captioner_weights(file, CheckpointLayout::Notebook, &mut notes).unwrap()
        });
        // Reading it would allocate 128 MiB or more (inflated, then as f32).
        assert!(peak < 1 << 20, "{peak} bytes allocated");
        assert_eq!(
            weights.decoder.get("decoder.embedding.weight").unwrap().data,
            kept
        );
        assert!(
            notes[0].contains("(decoder_optimizer.state.0.exp_avg)"),
            "{notes:?}"
        );
    }
}

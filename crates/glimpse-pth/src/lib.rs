//! Reading PyTorch checkpoints (`.pth`, `.pt`, `.pth.tar`) without PyTorch and without executing
//! anything in them.
//!
//! ```no_run
//! use glimpse_pth::PthFile;
//!
//! # fn main() -> Result<(), glimpse_pth::PthError> {
//! let file = PthFile::open("BEST_checkpoint_flickr8k.pth.tar")?;
//! let (tensors, unsupported) = file.tensors();
//! for found in &tensors {
//!     println!("{} {:?} {:?}", found.name, found.tensor.shape, found.tensor.storage.dtype);
//! }
//! println!("{} tensors of kinds this reader cannot represent", unsupported.len());
//! if let Some(first) = tensors.iter().find(|t| t.tensor.storage.dtype.is_float()) {
//!     let values: Vec<f32> = file.read_f32(&first.tensor)?; // row-major, shape `first.tensor.shape`
//!     println!("{}: {} values", first.name, values.len());
//! }
//! println!("epoch {:?}", file.scalars().get("epoch"));
//! # Ok(())
//! # }
//! ```
//!
//! Two containers exist: the zip archive `torch.save` has written since PyTorch 1.6 (`data.pkl`
//! plus one entry per storage) and the legacy stream before it (magic number, protocol, system
//! info, the pickle, the storage keys, then each storage's element count and bytes). Both are
//! read here, including whole pickled modules (`torch.save(model)`), which are walked as their
//! `state_dict()` would list them.

mod archive;
mod error;
mod legacy;
mod persistent;
pub mod pickle;
mod strided;
mod walk;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use self::archive::ZipStorages;
pub use self::error::PthError;
use self::persistent::StorageLoader;
use self::pickle::{TensorRef, Value, parse};
use self::walk::Walker;

/// Which container the file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    Legacy,
}

/// An opened checkpoint: its object tree and where each storage's bytes are.
#[derive(Debug)]
pub struct PthFile {
    pub container: Container,
    pub root: Value,
    storages: Storages,
}

enum Storages {
    Zip(ZipStorages),
    Legacy {
        data: Vec<u8>,
        /// Storage key → byte range in `data`.
        ranges: HashMap<String, Range<usize>>,
    },
}

impl fmt::Debug for Storages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storages::Zip(zip) => zip.fmt(f),
            Storages::Legacy { data, ranges } => f
                .debug_struct("Legacy")
                .field("bytes", &data.len())
                .field("ranges", ranges)
                .finish(),
        }
    }
}

/// A tensor found in the object tree, under its dotted path (`state_dict.decoder.fc.weight`).
#[derive(Debug, Clone)]
pub struct FoundTensor {
    pub name: String,
    pub tensor: Rc<TensorRef>,
}

impl PthFile {
    pub fn open(path: impl AsRef<Path>) -> Result<PthFile, PthError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| PthError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PthFile::from_bytes(data).map_err(|source| PthError::Checkpoint {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Tells the containers apart by their first bytes.
    pub fn from_bytes(data: Vec<u8>) -> Result<PthFile, PthError> {
        if data.starts_with(b"PK\x03\x04") {
            return PthFile::from_zip(data);
        }
        if data.get(257..262) == Some(b"ustar") {
            return Err(PthError::TarCheckpoint);
        }
        if data.first() == Some(&0x80) {
            return PthFile::from_legacy(data);
        }
        Err(PthError::UnknownFormat {
            first_bytes: data[..data.len().min(8)].to_vec(),
        })
    }

    fn from_zip(data: Vec<u8>) -> Result<PthFile, PthError> {
        let zip = ZipStorages::open(data)?;
        if let Some(order) = zip.entry("byteorder", None)?
            && *order != *b"little"
        {
            return Err(PthError::BigEndian);
        }
        let pickle = zip.entry("data.pkl", None)?.ok_or(PthError::NoDataPkl)?;
        let mut loader = StorageLoader::new(false);
        let (root, _) = parse(&pickle, &mut loader).map_err(|error| PthError::Pickle {
            part: "data.pkl",
            error,
        })?;
        drop(pickle);
        Ok(PthFile {
            container: Container::Zip,
            root,
            storages: Storages::Zip(zip),
        })
    }

    fn from_legacy(data: Vec<u8>) -> Result<PthFile, PthError> {
        let legacy::Legacy { root, ranges } = legacy::read(&data)?;
        Ok(PthFile {
            container: Container::Legacy,
            root,
            storages: Storages::Legacy { data, ranges },
        })
    }

    /// Every tensor, named by its path through dicts, lists and modules; plus the paths of
    /// values that are tensors of a kind this reader cannot represent.
    pub fn tensors(&self) -> (Vec<FoundTensor>, Vec<String>) {
        let mut walker = Walker::default();
        walker.value(&self.root, "", 0);
        (walker.found, walker.unsupported)
    }

    /// Top-level numbers of a dict checkpoint (`epoch`, `embed_size`, `bleu-4`, …).
    pub fn scalars(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if let Value::Dict(items) = &self.root {
            for (key, value) in items.borrow().iter() {
                let number = match value {
                    Value::Int(v) => Some(*v as f64),
                    Value::Float(v) => Some(*v),
                    _ => None,
                };
                if let (Some(key), Some(number)) = (key.as_str(), number) {
                    out.insert(key.to_string(), number);
                }
            }
        }
        out
    }

    /// A float tensor's values in row-major order, whatever its strides. The storage is read
    /// now, once, and not kept.
    pub fn read_f32(&self, tensor: &TensorRef) -> Result<Vec<f32>, PthError> {
        let bytes = self.storage_bytes(tensor)?;
        strided::read_f32(tensor, &bytes)
    }

    /// The bytes of the (root) storage a tensor views.
    fn storage_bytes(&self, tensor: &TensorRef) -> Result<Cow<'_, [u8]>, PthError> {
        let key = &tensor.storage.key;
        let missing = || PthError::StorageMissing { key: key.clone() };
        match &self.storages {
            Storages::Zip(zip) => {
                let limit = strided::storage_bytes_needed(tensor).and_then(|n| u64::try_from(n).ok());
                zip.entry(&format!("data/{key}"), limit)?.ok_or_else(missing)
            }
            Storages::Legacy { data, ranges } => {
                let range = ranges.get(key).ok_or_else(missing)?;
                data.get(range.clone()).map(Cow::Borrowed).ok_or_else(missing)
            }
        }
    }
}

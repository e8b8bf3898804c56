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
//!
//! Every file is untrusted. Reading one is bounded whatever it claims: only a regular file of at
//! most [`MAX_FILE_BYTES`] is read; the pickle machine caps its work, memo and containers and
//! shares values instead of copying them ([`pickle`]); the tensor walk visits each container
//! once, at most [`MAX_DEPTH`] deep; a tensor's geometry is checked with checked arithmetic and
//! capped at [`MAX_ELEMENTS`] before its storage is read; ambiguous archives (two `data.pkl`)
//! are refused. Errors show at most a short preview of any value from the file.

mod archive;
mod error;
mod geometry;
mod legacy;
mod persistent;
pub mod pickle;
mod strided;
#[cfg(test)]
mod test_views;
mod walk;
mod write;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use self::archive::ZipStorages;
pub use self::error::PthError;
pub use self::geometry::MAX_ELEMENTS;
use self::persistent::StorageLoader;
use self::pickle::{TensorRef, Value, parse};
use self::walk::Walker;
pub use self::walk::{MAX_DEPTH, MAX_FOUND, MAX_NAME_BYTES};
pub use self::write::{NamedTensor, write_checkpoint, write_state_dict};

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

/// What [`PthFile::walk_tensors`] found.
#[derive(Debug, Clone, Default)]
pub struct TensorWalk {
    /// Every tensor, under its path.
    pub found: Vec<FoundTensor>,
    /// `path: description` of tensors of a kind this reader cannot represent (sparse,
    /// quantized, …).
    pub unsupported: Vec<String>,
    /// `path: why` of parts of the tree the walk did not search (nested deeper than
    /// [`MAX_DEPTH`], names longer than [`MAX_NAME_BYTES`], past [`MAX_FOUND`] entries): empty
    /// for every real checkpoint, and a reason to refuse the file when not.
    pub left_out: Vec<String>,
}

/// A tensor found in the object tree, under its dotted path (`state_dict.decoder.fc.weight`).
#[derive(Debug, Clone)]
pub struct FoundTensor {
    pub name: String,
    pub tensor: Rc<TensorRef>,
}

/// The largest checkpoint file read: 4 GiB. The largest models read here (ResNet-152 with an
/// optimizer's state) take under 1 GB.
pub const MAX_FILE_BYTES: u64 = 1 << 32;

/// The most of a `byteorder` entry read (torch writes `little` or `big`).
const MAX_BYTE_ORDER: u64 = 16;
/// The most a compressed `data.pkl` may inflate to: a checkpoint's is tens of KB (a model's
/// structure and names); this leaves room for pickled arrays. (A stored one is in the file.)
const MAX_PICKLE: u64 = 1 << 26;

/// The longest top-level key [`PthFile::scalars`] reports (real ones are words like `epoch`).
const MAX_SCALAR_KEY_BYTES: usize = 256;

impl PthFile {
    /// Reads a regular file of at most [`MAX_FILE_BYTES`] (a FIFO would block, `/dev/zero`
    /// never ends) and parses it.
    pub fn open(path: impl AsRef<Path>) -> Result<PthFile, PthError> {
        let path = path.as_ref();
        let data = read_regular_file(path)?;
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
        // Each inflated within what it can hold: within a storage's cap, a 1 MB `byteorder` or
        // `data.pkl` took 1.1 GB (hostile round 22).
        match zip.entry("byteorder", Some(MAX_BYTE_ORDER))?.as_deref() {
            None | Some(b"little") => {}
            Some(b"big") => return Err(PthError::BigEndian),
            Some(other) => {
                let shown = &other[..other.len().min(MAX_BYTE_ORDER as usize)];
                return Err(PthError::UnknownByteOrder(String::from_utf8_lossy(shown).into()));
            }
        }
        let pickle = zip
            .entry("data.pkl", Some(MAX_PICKLE + 1))?
            .ok_or(PthError::NoDataPkl)?;
        // (Stored, it is in the file already; inflated past the limit, it is refused.)
        if matches!(pickle, Cow::Owned(_)) && pickle.len() as u64 > MAX_PICKLE {
            return Err(PthError::EntryTooLarge {
                name: "data.pkl".into(),
                limit: MAX_PICKLE,
            });
        }
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
    ///
    /// Bounded whatever the pickle shares: each container is walked once (the first path that
    /// reaches it names what is below it), at most [`MAX_DEPTH`] levels deep, with at most
    /// [`MAX_FOUND`] entries; what is left out is listed among the unsupported paths.
    pub fn tensors(&self) -> (Vec<FoundTensor>, Vec<String>) {
        let TensorWalk {
            found,
            mut unsupported,
            left_out,
        } = self.walk_tensors();
        unsupported.extend(left_out);
        (found, unsupported)
    }

    /// As [`PthFile::tensors`], with the parts of the tree left out kept apart.
    pub fn walk_tensors(&self) -> TensorWalk {
        let mut walker = Walker::default();
        walker.value(&self.root, "", 0);
        TensorWalk {
            found: walker.found,
            unsupported: walker.unsupported,
            left_out: walker.left_out,
        }
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
                if let (Some(key), Some(number)) = (key.as_str(), number)
                    && key.len() <= MAX_SCALAR_KEY_BYTES
                {
                    out.insert(key.to_string(), number);
                }
            }
        }
        out
    }

    /// A float tensor's values in row-major order, whatever its strides. The view's geometry
    /// is checked first (at most [`MAX_ELEMENTS`] elements, all inside the storage); then the
    /// storage is read, once, and not kept.
    pub fn read_f32(&self, tensor: &TensorRef) -> Result<Vec<f32>, PthError> {
        Self::check_f32(tensor)?;
        let bytes = self.storage_bytes(tensor)?;
        strided::read_f32(tensor, &bytes)
    }

    /// What [`PthFile::read_f32`] checks before it reads: a float tensor whose view lies inside
    /// its storage. Nothing is read, so a tensor that is never used costs nothing.
    pub fn check_f32(tensor: &TensorRef) -> Result<(), PthError> {
        geometry::check(tensor)?;
        if !tensor.storage.dtype.is_float() {
            return Err(PthError::NotFloat(tensor.storage.dtype));
        }
        Ok(())
    }

    /// The bytes of the (root) storage a tensor views.
    fn storage_bytes(&self, tensor: &TensorRef) -> Result<Cow<'_, [u8]>, PthError> {
        let key = &tensor.storage.key;
        let missing = || PthError::StorageMissing { key: key.to_string() };
        match &self.storages {
            Storages::Zip(zip) => {
                let limit = strided::storage_bytes_needed(tensor).and_then(|n| u64::try_from(n).ok());
                zip.entry(&format!("data/{key}"), limit)?.ok_or_else(missing)
            }
            Storages::Legacy { data, ranges } => {
                let range = ranges.get(&**key).ok_or_else(missing)?;
                data.get(range.clone()).map(Cow::Borrowed).ok_or_else(missing)
            }
        }
    }
}

/// The bytes of `path`, refused unless it is a regular file of at most [`MAX_FILE_BYTES`]. The
/// open handle is checked, not the path (a file swapped for a FIFO after a check of the path
/// blocked the open for ever), and the open itself never blocks.
fn read_regular_file(path: &Path) -> Result<Vec<u8>, PthError> {
    use glimpse_files::FileProblem;
    use std::io::Read;

    let read_error = |source| PthError::Read {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |size| PthError::FileTooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_FILE_BYTES,
    };
    let (file, size) = glimpse_files::open_regular(path, "checkpoint").map_err(|e| match e.problem {
        FileProblem::Io(source) => read_error(source),
        _ => PthError::NotAFile {
            path: path.to_path_buf(),
        },
    })?;
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    let size = data.len() as u64;
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    Ok(data)
}

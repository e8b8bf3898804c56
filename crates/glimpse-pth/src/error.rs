//! Why a checkpoint, or one of its tensors, cannot be read.

use std::path::PathBuf;

use thiserror::Error;

use crate::pickle::{PickleError, StorageDtype};

#[derive(Debug, Error)]
pub enum PthError {
    #[error("{}: cannot read", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("{}: {size} bytes, more than the {limit} a checkpoint may have", path.display())]
    FileTooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("{}: not a readable PyTorch checkpoint", path.display())]
    Checkpoint { path: PathBuf, source: Box<PthError> },

    // Which container.
    #[error(
        "this is a pre-2017 (PyTorch < 0.1.10) tar checkpoint; load and re-save it with torch.save to convert it"
    )]
    TarCheckpoint,
    #[error("neither a zip archive nor a pickle stream (the first bytes are {first_bytes:02x?})")]
    UnknownFormat { first_bytes: Vec<u8> },
    #[error("the checkpoint was written on a big-endian machine; only little-endian files are supported")]
    BigEndian,
    #[error(
        "the checkpoint's byte order is {0:?}, neither \"little\" nor \"big\": not a file torch.save wrote"
    )]
    UnknownByteOrder(String),
    #[error("{part}: {error}")]
    Pickle { part: &'static str, error: PickleError },

    // The zip container.
    #[error("no zip end-of-central-directory record: the file is truncated or not a zip")]
    NoZipEnd,
    #[error(
        "the zip directory lists {entries} entries in {bytes} bytes; a checkpoint has at most {max_entries} entries in {max_bytes} bytes"
    )]
    ZipDirectoryTooLarge {
        entries: u64,
        bytes: u64,
        max_entries: u64,
        max_bytes: u64,
    },
    #[error("unreadable zip archive: {0}")]
    Zip(zip::result::ZipError),
    #[error("zip entry `{name}`: {error}")]
    ZipEntry {
        name: String,
        error: zip::result::ZipError,
    },
    #[error("zip entry `{name}` is compressed with method {method}, which this reader does not support")]
    Compressed { name: String, method: String },
    #[error("zip archive without data.pkl: not a torch.save file")]
    NoDataPkl,
    #[error("ambiguous zip archive: both `{first}` and `{second}` could be the checkpoint")]
    AmbiguousArchive { first: String, second: String },
    #[error("zip entry `{name}` would inflate to more than {limit} bytes")]
    EntryTooLarge { name: String, limit: u64 },
    #[error("zip entries inflate to more than {limit} bytes in all")]
    InflateBudget { limit: u64 },

    // Writing.
    #[error("tensor `{name}`: shape {shape:?} holds {} values, but {values} were given", shape.iter().product::<usize>())]
    WriteShape {
        name: String,
        shape: Vec<usize>,
        values: usize,
    },
    #[error("tensor `{name}`: {value} does not fit a pickle integer (at most 2147483647)")]
    WriteDimension { name: String, value: usize },

    // The legacy container.
    #[error("a pickle, but not a torch.save file (no PyTorch magic number)")]
    NotTorchSave,
    #[error("legacy protocol version {0} is not 1001")]
    LegacyProtocol(String),
    #[error("the storage key list is not a list of strings")]
    StorageKeys,
    #[error("storage {key} is listed but never used")]
    UnusedStorage { key: String },
    #[error("truncated: storage {key}'s size is missing")]
    StorageSizeMissing { key: String },
    #[error("storage {key} has size {count}")]
    StorageSize { key: String, count: i64 },
    #[error("storage {key} holds {count} elements in the file, but the checkpoint declares {declared}")]
    StorageSizeMismatch {
        key: String,
        declared: usize,
        count: i64,
    },
    #[error("truncated: storage {key} needs {bytes} bytes at byte {start}, the file has {len}")]
    StorageTruncated {
        key: String,
        bytes: usize,
        start: usize,
        len: usize,
    },

    // Reading a tensor.
    #[error("storage {key} is missing from the checkpoint")]
    StorageMissing { key: String },
    #[error("storage {key} holds {available} elements, fewer than its view needs")]
    StorageTooSmall { key: String, available: usize },
    #[error("tensor has {dims} dimensions but {strides} strides")]
    Strides { dims: usize, strides: usize },
    #[error("tensor reaches element {last} of a storage of {numel}")]
    OutOfStorage { last: usize, numel: usize },
    #[error("tensor of shape {shape:?} over a storage at element {offset} is too large to address")]
    Overflow { shape: Vec<usize>, offset: usize },
    #[error("tensor of shape {shape:?} has more than {limit} elements, this reader's limit")]
    TooManyElements { shape: Vec<usize>, limit: usize },
    #[error("tensor has {rank} dimensions, more than the limit of {limit}")]
    Rank { rank: usize, limit: usize },
    #[error("a {0:?} tensor is not a float tensor")]
    NotFloat(StorageDtype),
}

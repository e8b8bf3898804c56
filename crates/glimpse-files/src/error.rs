//! Why a file was not read: the file, what it was meant to be, and the problem.

use std::fmt;
use std::path::PathBuf;

use crate::caps::human;
use crate::terminal::shown;

/// A file that could not be read, naming the file and what it was for (`model`, `image`, …).
/// Displays as `PATH: cannot read the WHAT: REASON` for an I/O failure and `PATH: the WHAT
/// REASON` otherwise, the path with its control characters escaped.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    /// What the file was meant to be, for the message: `model`, `image`, `training config`.
    pub what: &'static str,
    pub problem: FileProblem,
}

/// What was wrong, without the file's name: what a caller shows when the name is already
/// beside the message (as `glimpse caption` does for each image).
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Opening or reading failed (missing, permissions, an I/O error).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a regular file: reading a FIFO may block forever and a device may never end.
    #[error("is {kind}, not a regular file; refusing to read it")]
    NotRegular { kind: &'static str },
    /// Larger than the cap for its kind of file.
    #[error("is over {}, the most Glimpse reads for this kind of file{}", human(*.cap), size_note(*.size))]
    TooLarge {
        cap: u64,
        /// The size the file system reports, when it reports one over the cap.
        size: Option<u64>,
    },
    /// A file with other names (hard links), where only a file of its own is read: it may be
    /// another file of this user's that a co-user linked in.
    #[error("has {names} names (hard links), so it may be another file; refusing to read it")]
    HardLinked { names: u64 },
    /// Text that is not UTF-8.
    #[error("is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
}

fn size_note(size: Option<u64>) -> String {
    size.map(|s| format!(" (it has {s} bytes)")).unwrap_or_default()
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = shown(&self.path);
        match &self.problem {
            FileProblem::Io(e) => write!(f, "{path}: cannot read the {}: {e}", self.what),
            problem => write!(f, "{path}: the {} {problem}", self.what),
        }
    }
}

impl std::error::Error for FileError {}

impl FileError {
    /// Whether the file does not exist (callers that treat a missing file as empty ask).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.problem, FileProblem::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

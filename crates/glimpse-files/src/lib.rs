//! # glimpse-files
//!
//! Glimpse reads files that come from strangers: downloaded checkpoints and bundles, photos,
//! datasets. This crate is the one way it opens them, so that no file can hang it, exhaust its
//! memory or make it read outside the folder it was pointed at, and no name or word in one can
//! take over the terminal:
//!
//! - [`read_regular`] / [`read_regular_to_string`] read only regular files (a FIFO, a device such
//!   as `/dev/zero`, a directory or a socket is refused without blocking), and at most a cap
//!   that depends on the kind of file ([`caps`]);
//! - [`confined`] joins a path named inside a data file to its folder, refusing absolute paths
//!   and `..`;
//! - [`unique_names`] gives output files (attention figures) names that never collide, and
//!   [`fitting_name`] names that a file system takes however long the input's;
//! - [`terminal_safe`] escapes control characters (ESC, tabs, newlines, …) in text bound for a
//!   terminal or a line-oriented output, and [`shown`] does so for paths;
//! - [`number_text`] and [`rounded_text`] write a number a file supplied in a few characters;
//! - [`write_atomically`] writes outputs so that a crash never leaves half of one, through a
//!   [`Staged`] temporary file of a random name, which [`abandon_staged`] removes when the
//!   process is interrupted;
//! - [`output_over_input`] tells when an output would replace one of the command's inputs;
//! - [`zip_directory_claims`] reads what a zip's end records claim of its directory, to refuse
//!   one too large before a zip reader lists it;
//! - [`say!`] and [`note!`] print lines that a full disk or a closed output cannot turn into a
//!   panic, as `println!`'s would;
//! - [`PinnedFolder`] reaches a folder's files relative to the open folder (on Unix; elsewhere
//!   by its path), so that a folder swapped for a link once checked sends no write
//!   ([`StagedInFolder`]) and no read elsewhere, and [`PinnedFolder::read_regular`] reads no file
//!   through a link or a hard link;
//! - [`lock_folder`] holds an output folder for one process at a time ([`hold_folder`] goes on
//!   without a lock, saying so, where the file system has none).
//!
//! ```no_run
//! use glimpse_files::{caps, read_regular, shown};
//!
//! let bytes = read_regular("model.safetensors".as_ref(), caps::MODEL, "model")?;
//! println!("{}: {} bytes", shown("model.safetensors".as_ref()), bytes.len());
//! # Ok::<(), glimpse_files::FileError>(())
//! ```

mod atomic;
pub mod caps;
mod confine;
pub mod console;
mod error;
mod identity;
mod lock;
mod names;
mod numbers;
mod pinned;
mod read;
mod staged;
mod terminal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod zip_end;

pub use atomic::{
    WriteError, check_output_folder, check_replaceable, create_fresh, open_append, stage, write_atomically,
    write_replacing, write_together, write_together_durably,
};
pub use confine::{PathError, confined};
pub use console::OutputError;
pub use error::{FileError, FileProblem};
pub use identity::{FileId, file_id, output_over_input, same_file};
pub use lock::{FolderLock, LOCK_FILE, LockError, hold_folder, lock_folder, share_folder};
pub use names::{MAX_NAME_BYTES, fitting_name, unique_by, unique_names};
pub use numbers::{number_text, rounded_text};
pub use pinned::{PinnedFolder, is_link_refused};
pub use read::{open_regular, read_regular, read_regular_to_string};
pub use staged::{
    Staged, StagedFolder, StagedInFolder, abandon_staged, is_staged_name, remove_every_staged_leftover,
    remove_staged_leftovers,
};
pub use terminal::{
    Shown, is_escaped, path_text, shown, terminal_safe, terminal_safe_json, terminal_safe_message,
};
pub use zip_end::{ZipDirectory, zip_directory_claims};

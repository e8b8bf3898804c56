//! Temporary files beside an output: each of a random name, which no other process takes for
//! its own (two processes writing one folder removed each other's under a fixed name, hostile
//! round 13, and process ids repeat across containers and hosts sharing a folder), and each on
//! a list of this process's, which an interrupt removes before the process ends (an interrupted
//! `export` left a full-size hidden temporary file behind).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::hash::{BuildHasher, RandomState};
use std::io::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::names::fitting_name;

/// What every temporary file's name ends with.
const SUFFIX: &str = ".glimpse-tmp";

/// Hex digits of the random part of a temporary file's name.
const NONCE_DIGITS: usize = 16;

/// This process's temporary files that are neither placed nor removed yet; `None` once the
/// process is ending ([`abandon_staged`]), when no new one may be made.
static LIVE: Mutex<Option<Vec<PathBuf>>> = Mutex::new(Some(Vec::new()));

fn live() -> MutexGuard<'static, Option<Vec<PathBuf>>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file beside an output, to be written and then [placed](Staged::place) at the
/// output's name in one rename; dropped unplaced (a failed write), it is removed.
#[derive(Debug)]
pub struct Staged {
    listed: Listed,
    file: File,
}

impl Staged {
    /// Creates `.NAME.<16 random hex digits>.glimpse-tmp` beside `output`: hidden, named after
    /// the output, and made only where nothing is (`O_EXCL`, which never follows a link, so a
    /// link planted in the folder cannot send the write elsewhere). A name too long for that
    /// keeps a prefix and a hash of the output's name ([`fitting_name`]).
    pub fn beside(output: &Path) -> Result<Staged> {
        let create = |path: &Path| fs::OpenOptions::new().write(true).create_new(true).open(path);
        let (listed, file) = make_beside(output, create)?;
        Ok(Staged { listed, file })
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.listed.path
    }

    /// The temporary file, open for writing.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Renames the temporary file over `output`. On failure it is removed (when dropped).
    pub fn place(mut self, output: &Path) -> Result<()> {
        self.listed.place(output)
    }
}

/// A temporary folder beside an output folder, to be filled and then [placed](Self::place) at
/// the output's name in one rename, so that a set cut short (a full disk, Ctrl-C) never lies
/// at that name; dropped unplaced, it is removed with what it holds.
#[derive(Debug)]
pub struct StagedFolder(Listed);

impl StagedFolder {
    /// Creates `.NAME.<16 random hex digits>.glimpse-tmp/` beside `output`.
    pub fn beside(output: &Path) -> Result<StagedFolder> {
        let (listed, ()) = make_beside(output, |path| fs::create_dir(path))?;
        Ok(StagedFolder(listed))
    }

    /// Where the temporary folder is.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Renames the folder to `output`, which must be absent or an empty folder.
    pub fn place(mut self, output: &Path) -> Result<()> {
        self.0.place(output)
    }
}

/// A temporary file or folder on the list, removed (and taken off it) when dropped unless
/// placed.
#[derive(Debug)]
struct Listed {
    path: PathBuf,
    placed: bool,
}

impl Listed {
    /// Renames the file or folder to `output`, holding the list: an interrupt's removal of a
    /// temporary folder raced a file being placed into it, and left the folder behind.
    fn place(&mut self, output: &Path) -> Result<()> {
        let live = live();
        if live.is_none() {
            return Err(ending());
        }
        fs::rename(&self.path, output)?;
        self.placed = true;
        Ok(())
    }
}

/// The error of a temporary file asked for, or placed, once the process is ending.
fn ending() -> Error {
    Error::new(ErrorKind::Interrupted, "the process is ending")
}

impl Drop for Listed {
    fn drop(&mut self) {
        forget(&self.path, !self.placed);
    }
}

/// Makes a temporary file or folder (by `create`, which must fail where something is) of a
/// random name beside `output`, listed while the list is held, so that an interrupt never
/// misses it.
fn make_beside<T>(output: &Path, create: impl Fn(&Path) -> Result<T>) -> Result<(Listed, T)> {
    let mut live = live();
    let Some(list) = live.as_mut() else {
        return Err(ending());
    };
    // A 64-bit random name is taken already only where someone planted it: a few tries.
    for _ in 0..8 {
        let path = staged_name(output, &nonce());
        match create(&path) {
            Ok(made) => {
                list.push(path.clone());
                return Ok((Listed { path, placed: false }, made));
            }
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(Error::new(
        ErrorKind::AlreadyExists,
        "no free temporary name beside it",
    ))
}

/// Takes `path` off the list, removing it (and all it holds) first when `remove`.
fn forget(path: &Path, remove: bool) {
    let mut live = live();
    if remove {
        remove_staged(path);
    }
    if let Some(list) = live.as_mut() {
        list.retain(|listed| listed != path);
    }
}

/// Removes a temporary file, or a temporary folder with what it holds (links in it are removed,
/// never followed).
fn remove_staged(path: &Path) {
    let _ = match fs::symlink_metadata(path) {
        Ok(found) if found.is_dir() => fs::remove_dir_all(path),
        _ => fs::remove_file(path),
    };
}

/// Removes every temporary file and folder this process has made and not yet placed, and
/// refuses new ones: what a signal handler calls right before the process ends.
pub fn abandon_staged() {
    if let Some(list) = live().take() {
        list.iter().for_each(|path| remove_staged(path));
    }
}

/// Whether `name` is one of `output`'s temporary file names: this version's
/// `.NAME.<16 hex digits>.glimpse-tmp`, or `.NAME.glimpse-tmp` of earlier versions.
pub fn is_staged_name(name: &OsStr, output: &OsStr) -> bool {
    let (Some(name), Some(output)) = (name.to_str(), output.to_str()) else {
        return false;
    };
    let hidden = format!(".{output}");
    if name == fitting_name(&hidden, SUFFIX) {
        return true;
    }
    let Some(nonce) = name
        .strip_suffix(SUFFIX)
        .and_then(|rest| rest.get(rest.len().checked_sub(NONCE_DIGITS)?..))
    else {
        return false;
    };
    // Lower-case, as written: a name of upper-case digits is no temporary file of glimpse's.
    nonce.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && name == staged_name(Path::new(output), nonce).as_os_str()
}

/// Removes, in `dir`, the temporary files of the outputs named `outputs`, and says how many: for
/// a folder this process holds ([`crate::lock_folder`]), where every one is a leftover of a
/// process that was killed while writing (`kill -9`, a power cut).
pub fn remove_staged_leftovers(dir: &Path, outputs: &[&str]) -> Result<usize> {
    remove_where(dir, |name| {
        outputs
            .iter()
            .any(|output| is_staged_name(name, OsStr::new(output)))
    })
}

/// Removes every temporary file in `dir` (any hidden `….glimpse-tmp`), and says how many: for a
/// folder that only glimpse writes and that no other process shares now
/// ([`crate::share_folder`]), a data folder's feature cache.
pub fn remove_every_staged_leftover(dir: &Path) -> Result<usize> {
    remove_where(dir, |name| {
        name.to_str()
            .is_some_and(|name| name.starts_with('.') && name.ends_with(SUFFIX))
    })
}

/// Removes the files and links in `dir` whose names `is_leftover` picks; a folder is left, and
/// one gone meanwhile counts as removed.
fn remove_where(dir: &Path, is_leftover: impl Fn(&OsStr) -> bool) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // A link is removed itself, never what it names.
        if is_leftover(&entry.file_name()) && !entry.file_type()?.is_dir() {
            match fs::remove_file(entry.path()) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => removed += 1,
            }
        }
    }
    Ok(removed)
}

/// `.NAME.<nonce>.glimpse-tmp` beside `output`.
fn staged_name(output: &Path, nonce: &str) -> PathBuf {
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    output.with_file_name(fitting_name(&format!(".{name}"), &format!(".{nonce}{SUFFIX}")))
}

/// Sixteen hex digits from the system's randomness (a fresh key at every call).
fn nonce() -> String {
    format!("{:016x}", RandomState::new().hash_one(std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn each_temporary_file_has_its_own_name_and_a_dropped_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("model.safetensors");
        let mut first = Staged::beside(&output).unwrap();
        let second = Staged::beside(&output).unwrap();
        assert_ne!(first.path(), second.path());
        for staged in [&first, &second] {
            let name = staged.path().file_name().unwrap();
            assert!(is_staged_name(name, OsStr::new("model.safetensors")), "{name:?}");
            assert!(!is_staged_name(name, OsStr::new("model.safetensor")), "{name:?}");
        }
        first.file().write_all(b"bundle").unwrap();
        first.place(&output).unwrap();
        let left = second.path().to_path_buf();
        drop(second);
        assert!(!left.exists());
        assert_eq!(fs::read(&output).unwrap(), b"bundle");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn names_too_long_for_a_suffix_are_still_recognised() {
        let output = "é".repeat(120) + ".png";
        let path = staged_name(Path::new(&output), &nonce());
        let name = path.file_name().unwrap();
        assert!(name.len() <= crate::MAX_NAME_BYTES);
        assert!(is_staged_name(name, OsStr::new(&output)));
        assert!(is_staged_name(
            OsStr::new(".cat.png.glimpse-tmp"),
            OsStr::new("cat.png")
        ));
        for other in [
            ".cat.png.0123456789abcdeg.glimpse-tmp",
            ".cat.png.0123456789ABCDEF.glimpse-tmp",
            ".cat.png.01234.glimpse-tmp",
            "cat.png",
        ] {
            assert!(
                !is_staged_name(OsStr::new(other), OsStr::new("cat.png")),
                "{other}"
            );
        }
    }

    #[test]
    fn leftovers_of_the_named_outputs_alone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let keep = [
            "notes.txt",
            ".other.glimpse-tmp",
            ".last.safetensors.0123.glimpse-tmp",
        ];
        let stale = [
            ".last.safetensors.0123456789abcdef.glimpse-tmp",
            ".config.json.glimpse-tmp",
        ];
        for name in keep.iter().chain(&stale) {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = remove_staged_leftovers(dir.path(), &["last.safetensors", "config.json"]);
        assert_eq!(removed.unwrap(), 2);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = keep.map(String::from).to_vec();
        expected.sort();
        assert_eq!(left, expected);
    }
}

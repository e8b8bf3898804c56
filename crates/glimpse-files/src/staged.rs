//! Temporary files beside an output: each of a random name, which no other process takes for
//! its own (two processes writing one folder removed each other's under a fixed name, hostile
//! round 13, and process ids repeat across containers and hosts sharing a folder), and each on
//! a list of this process's, which an interrupt removes before the process ends (an interrupted
//! `export` left a full-size hidden temporary file behind).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::hash::{BuildHasher, RandomState};
use std::io::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::PinnedFolder;
use crate::names::fitting_name;

/// What every temporary file's name ends with.
const SUFFIX: &str = ".glimpse-tmp";

/// Hex digits of the random part of a temporary file's name.
const NONCE_DIGITS: usize = 16;

/// This process's temporary files that are neither placed nor removed yet, each by a number of
/// its own; `None` once the process is ending ([`abandon_staged`]), when no new one may be made.
static LIVE: Mutex<Option<LiveFiles>> = Mutex::new(Some(LiveFiles {
    next: 0,
    files: Vec::new(),
}));

/// The temporary files listed, each with its number, and the number of the next.
#[derive(Debug)]
struct LiveFiles {
    next: u64,
    files: Vec<(u64, Location)>,
}

fn live() -> MutexGuard<'static, Option<LiveFiles>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A temporary file beside an output, to be written and then [placed](Staged::place) at the
/// output's name in one rename; dropped unplaced (a failed write), it is removed.
#[derive(Debug)]
pub struct Staged {
    listed: Listed,
    file: File,
    /// Where it is, as its user knows it.
    path: PathBuf,
}

impl Staged {
    /// Creates `.NAME.<16 random hex digits>.glimpse-tmp` beside `output`: hidden, named after
    /// the output, and made only where nothing is (`O_EXCL`, which never follows a link, so a
    /// link planted in the folder cannot send the write elsewhere). A name too long for that
    /// keeps a prefix and a hash of the output's name ([`fitting_name`]).
    pub fn beside(output: &Path) -> Result<Staged> {
        let at = |nonce: &str| Location::Path(staged_name(output, nonce));
        let (listed, file) = make(at, Location::create_file)?;
        let path = listed.location.shown();
        Ok(Staged { listed, file, path })
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.path
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

/// A [`Staged`] file in a [`PinnedFolder`], made, placed and removed relative to the open
/// folder, for the output it was made for.
#[derive(Debug)]
pub struct StagedInFolder {
    listed: Listed,
    file: File,
    output: OsString,
}

impl StagedInFolder {
    /// Creates `.NAME.<16 random hex digits>.glimpse-tmp` in `folder` for the output `name`
    /// (one name), as [`Staged::beside`] does.
    pub fn new(folder: &PinnedFolder, name: &str) -> Result<StagedInFolder> {
        crate::pinned::one_name(name.as_ref())?;
        let at = |nonce: &str| {
            let staged = staged_name(Path::new(name), nonce).into_os_string();
            Location::In(folder.clone(), staged)
        };
        let (listed, file) = make(at, Location::create_file)?;
        let output = name.into();
        Ok(StagedInFolder { listed, file, output })
    }

    /// The temporary file, open for writing.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Renames the temporary file over its output. On failure it is removed (when dropped).
    pub fn place(mut self) -> Result<()> {
        let output = std::mem::take(&mut self.output);
        self.listed.place(Path::new(&output))
    }
}

/// A temporary folder beside an output folder, to be filled and then [placed](Self::place) at
/// the output's name in one rename, so that a set cut short (a full disk, Ctrl-C) never lies
/// at that name; dropped unplaced, it is removed with what it holds.
#[derive(Debug)]
pub struct StagedFolder {
    listed: Listed,
    path: PathBuf,
}

impl StagedFolder {
    /// Creates `.NAME.<16 random hex digits>.glimpse-tmp/` beside `output`.
    pub fn beside(output: &Path) -> Result<StagedFolder> {
        let at = |nonce: &str| Location::Path(staged_name(output, nonce));
        let (listed, ()) = make(at, Location::create_folder)?;
        let path = listed.location.shown();
        Ok(StagedFolder { listed, path })
    }

    /// Where the temporary folder is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the folder to `output`, which must be absent or an empty folder.
    pub fn place(mut self, output: &Path) -> Result<()> {
        self.listed.place(output)
    }
}

/// A temporary file or folder on the list, removed (and taken off it) when dropped unless
/// placed.
#[derive(Debug)]
struct Listed {
    number: u64,
    location: Location,
    placed: bool,
}

/// Where a temporary file or folder is: at a path, or at a name in a pinned folder.
#[derive(Debug, Clone)]
enum Location {
    Path(PathBuf),
    In(PinnedFolder, OsString),
}

impl Location {
    /// Where it is, as its user knows it: the path itself, or the folder's path and the name
    /// (for messages only, since the folder's name may name another by now).
    fn shown(&self) -> PathBuf {
        match self {
            Location::Path(path) => path.clone(),
            Location::In(folder, name) => folder.shown_file(name),
        }
    }

    /// Removes the file, or the folder with all it holds (links in it are removed, never
    /// followed).
    fn remove(&self) {
        let _ = match self {
            Location::Path(path) => match fs::symlink_metadata(path) {
                Ok(found) if found.is_dir() => fs::remove_dir_all(path),
                _ => fs::remove_file(path),
            },
            Location::In(folder, name) => folder.remove_file(name),
        };
    }

    /// Creates the file where nothing is (`O_EXCL`).
    fn create_file(&self) -> Result<File> {
        match self {
            Location::Path(path) => fs::OpenOptions::new().write(true).create_new(true).open(path),
            Location::In(folder, name) => folder.create_new(name),
        }
    }

    /// Creates the folder where nothing is (only at a path: no folder is staged in a pinned one).
    fn create_folder(&self) -> Result<()> {
        match self {
            Location::Path(path) => fs::create_dir(path),
            Location::In(..) => Err(Error::new(ErrorKind::Unsupported, "a folder in a pinned folder")),
        }
    }

    /// Renames it to `output`: a path, or a name in the same pinned folder.
    fn rename(&self, output: &Path) -> Result<()> {
        match self {
            Location::Path(path) => fs::rename(path, output),
            Location::In(folder, name) => folder.rename(name, output.as_os_str()),
        }
    }
}

impl Listed {
    /// Renames the file or folder to `output`, holding the list: an interrupt's removal of a
    /// temporary folder raced a file being placed into it, and left the folder behind.
    fn place(&mut self, output: &Path) -> Result<()> {
        let live = live();
        if live.is_none() {
            return Err(ending());
        }
        self.location.rename(output)?;
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
        let mut live = live();
        if !self.placed {
            self.location.remove();
        }
        if let Some(list) = live.as_mut() {
            list.files.retain(|(number, _)| *number != self.number);
        }
    }
}

/// Makes a temporary file or folder by `create` (which must fail where something is) at the
/// location that `at` gives a random nonce, listed while the list is held, so that an interrupt
/// never misses it.
fn make<T>(at: impl Fn(&str) -> Location, create: impl Fn(&Location) -> Result<T>) -> Result<(Listed, T)> {
    let mut live = live();
    let Some(list) = live.as_mut() else {
        return Err(ending());
    };
    // A 64-bit random name is taken already only where someone planted it: a few tries.
    for _ in 0..8 {
        let location = at(&nonce());
        match create(&location) {
            Ok(made) => {
                let number = list.next;
                list.next += 1;
                list.files.push((number, location.clone()));
                let listed = Listed {
                    number,
                    location,
                    placed: false,
                };
                return Ok((listed, made));
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

/// Removes every temporary file and folder this process has made and not yet placed, and
/// refuses new ones: what a signal handler calls right before the process ends.
pub fn abandon_staged() {
    if let Some(list) = live().take() {
        list.files.iter().for_each(|(_, location)| location.remove());
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
    remove_where(&PinnedFolder::open(dir)?, |name| {
        outputs
            .iter()
            .any(|output| is_staged_name(name, OsStr::new(output)))
    })
}

/// Removes every temporary file in `folder` (any hidden `….glimpse-tmp`), and says how many:
/// for a folder that only glimpse writes and that no other process shares now
/// ([`crate::share_folder`]), a data folder's feature cache.
pub fn remove_every_staged_leftover(folder: &PinnedFolder) -> Result<usize> {
    remove_where(folder, |name| {
        name.to_str()
            .is_some_and(|name| name.starts_with('.') && name.ends_with(SUFFIX))
    })
}

/// Removes the files and links in `folder` whose names `is_leftover` picks; a folder is left,
/// and one gone meanwhile counts as removed.
fn remove_where(folder: &PinnedFolder, is_leftover: impl Fn(&OsStr) -> bool) -> Result<usize> {
    let mut removed = 0;
    for entry in folder.entries()? {
        // A link is removed itself, never what it names.
        if is_leftover(&entry.name) && !entry.is_dir {
            match folder.remove_file(&entry.name) {
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

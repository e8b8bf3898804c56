//! Folders held open, whose files are reached relative to the open folder rather than by its
//! name: a co-user who can write a shared data folder, and swaps a folder of it for a link once
//! it was checked, sends nothing elsewhere (hostile round 14's F3: the feature cache's writes and
//! its removal of temporary files followed such a link into another folder).
//!
//! On Unix the folder is held by a descriptor (`O_PATH` on Linux: no read permission needed,
//! and a FIFO or device is refused without opening it) and every file in it is reached by
//! `openat`, `renameat`, `unlinkat` and `fstatat` relative to that descriptor, which keeps
//! naming the folder that was opened whatever its name names since; nothing depends on `/proc`
//! (reaching the folder as `/proc/self/fd/N` did, and a sandbox without `/proc` lost the
//! protection: hostile round 15's F3). Elsewhere the folder is checked, then reached by its path.
//!
//! Every name given is one name, never a path: a name with a `/` would be looked up through
//! the folders it names, following any link among them.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Error, ErrorKind, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::{FileError, FileProblem};
use crate::read::{read_capped, regular};

/// A folder held open; its files are reached through its methods, relative to it.
#[derive(Debug, Clone)]
pub struct PinnedFolder {
    /// Shared with the [`crate::StagedInFolder`] files made in it, which may outlive this value.
    handle: Arc<sys::Handle>,
    /// The folder's own path, for messages.
    own: PathBuf,
}

/// Whether a link at a file's name is followed, or refused (in a folder that others can
/// write): a symbolic link, and a file with other names (a hard link, which a co-user can make
/// to another's file where `fs.protected_hardlinks` is 0).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Links {
    Followed,
    Refused,
}

/// What [`PinnedFolder::entries`] tells of an entry.
pub(crate) struct Entry {
    pub name: OsString,
    pub is_dir: bool,
}

impl PinnedFolder {
    /// The folder at `path` (a link there is followed: whoever names a folder chooses it); the
    /// empty path is the current folder, as it is to `Path::join`.
    pub fn open(path: &Path) -> Result<PinnedFolder> {
        let reached = match path.as_os_str().is_empty() {
            true => Path::new("."),
            false => path,
        };
        Ok(PinnedFolder {
            handle: Arc::new(sys::open(None, reached.as_os_str(), Links::Followed)?),
            own: path.to_path_buf(),
        })
    }

    /// The folder `name` (one name, not a path) in this one, made where missing. A link at
    /// `name` is refused, never followed ([`is_link_refused`]).
    pub fn child(&self, name: &str) -> Result<PinnedFolder> {
        let name = one_name(name.as_ref())?;
        match sys::make_folder(&self.handle, name) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let handle =
            sys::open(Some(&self.handle), name, Links::Refused).map_err(|e| match self.is_link(name) {
                true => Error::new(ErrorKind::InvalidInput, LinkRefused),
                false => e,
            })?;
        Ok(PinnedFolder {
            handle: Arc::new(handle),
            own: self.own.join(name),
        })
    }

    /// The folder's own path, as its user knows it: for messages only, since its name may
    /// name another folder by now.
    pub fn shown_path(&self) -> &Path {
        &self.own
    }

    /// The size of the regular file `name` that has no other name; `None` where `name` is
    /// something else (a link, a hard link, a folder, a FIFO); an error where nothing is, or
    /// where `name` is no name (`a/b`).
    pub fn regular_len(&self, name: &str) -> Result<Option<u64>> {
        let found = sys::status(&self.handle, one_name(name.as_ref())?)?;
        Ok((found.is_file && found.names == 1).then_some(found.len))
    }

    /// Reads the regular file `name` (one name), of at most `max_bytes`, as
    /// [`crate::read_regular`] does, except that a link at `name` is refused rather than
    /// followed, and so is a file with other names (a hard link): in a folder others can write
    /// (a data folder's feature cache), a co-user's link named as a cache file fed any file this
    /// user can read into training (hostile rounds 15 and 16).
    pub fn read_regular(
        &self,
        name: &str,
        max_bytes: u64,
        what: &'static str,
    ) -> std::result::Result<Vec<u8>, FileError> {
        let (file, size) = self.open_regular(name.as_ref(), what, Links::Refused)?;
        let fail = |problem| self.file_error(name.as_ref(), what, problem);
        read_capped(file, size, max_bytes, &fail)
    }

    /// Opens the regular file `name` for reading without blocking, following a link there or
    /// refusing it as `links` says; returns it and its size.
    pub(crate) fn open_regular(
        &self,
        name: &OsStr,
        what: &'static str,
        links: Links,
    ) -> std::result::Result<(File, u64), FileError> {
        let fail = |problem: FileProblem| self.file_error(name, what, problem);
        let name = one_name(name).map_err(|e| fail(e.into()))?;
        let opened = sys::open_file(&self.handle, name, links);
        let file = opened.map_err(|e| match links == Links::Refused && self.is_link(name) {
            true => fail(FileProblem::NotRegular {
                kind: "a symbolic link",
            }),
            false => fail(e.into()),
        })?;
        let (file, size) = regular(file, &fail)?;
        let names = sys::names(&file).map_err(|e| fail(e.into()))?;
        if links == Links::Refused && names > 1 {
            return Err(fail(FileProblem::HardLinked { names }));
        }
        Ok((file, size))
    }

    /// Creates the file `name` for writing where nothing is (`O_EXCL`, which never follows a
    /// link).
    pub(crate) fn create_new(&self, name: &OsStr) -> Result<File> {
        sys::create_new(&self.handle, one_name(name)?)
    }

    /// Renames `from` to `to`, both in this folder.
    pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> Result<()> {
        sys::rename(&self.handle, one_name(from)?, one_name(to)?)
    }

    /// Removes the file or link `name` (never what a link names).
    pub(crate) fn remove_file(&self, name: &OsStr) -> Result<()> {
        sys::remove_file(&self.handle, one_name(name)?)
    }

    /// What the folder holds, `.` and `..` left out.
    pub(crate) fn entries(&self) -> Result<Vec<Entry>> {
        sys::entries(&self.handle)
    }

    /// `name` in this folder as its user knows it, for messages.
    pub(crate) fn shown_file(&self, name: &OsStr) -> PathBuf {
        self.own.join(name)
    }

    fn file_error(&self, name: &OsStr, what: &'static str, problem: FileProblem) -> FileError {
        FileError {
            path: self.shown_file(name),
            what,
            problem,
        }
    }

    /// Whether `name` (checked to be one name) is a link.
    fn is_link(&self, name: &OsStr) -> bool {
        sys::status(&self.handle, name).is_ok_and(|found| found.is_link)
    }
}

/// `name` where it is one name, not a path (`..`, `a/b`, `/tmp`, `.` and the empty name are
/// refused).
pub(crate) fn one_name(name: &OsStr) -> Result<&OsStr> {
    match Path::new(name).components().collect::<Vec<_>>()[..] {
        [Component::Normal(one)] if one == name => Ok(name),
        _ => Err(Error::new(ErrorKind::InvalidInput, "a name, not a path")),
    }
}

/// [`PinnedFolder::child`]'s refusal of a link where a folder was to be.
#[derive(Debug)]
struct LinkRefused;

impl std::fmt::Display for LinkRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a symbolic link, where a folder was expected")
    }
}

impl std::error::Error for LinkRefused {}

/// Whether `error` is [`PinnedFolder::child`]'s refusal of a link.
pub fn is_link_refused(error: &Error) -> bool {
    error.get_ref().is_some_and(|e| e.is::<LinkRefused>())
}

/// What [`sys::status`] tells of a name, the name's own (a link is not followed).
struct Status {
    is_file: bool,
    is_link: bool,
    len: u64,
    /// How many names the file has (hard links); 1 where that is not known.
    names: u64,
}

/// The folder's descriptor, and calls relative to it.
#[cfg(unix)]
#[path = "pinned/unix.rs"]
mod sys;

#[cfg(not(unix))]
#[path = "pinned/other.rs"]
mod sys;

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::StagedInFolder;
    use std::fs;

    #[test]
    fn a_link_a_path_or_a_file_where_a_folder_is_to_be_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("cache")).unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        let error = data.child("cache").unwrap_err();
        assert!(is_link_refused(&error), "{error}");
        fs::write(root.path().join("file"), b"").unwrap();
        let error = data.child("file").unwrap_err();
        assert!(!is_link_refused(&error), "{error}");
        for path in ["..", "a/b", "/tmp", ".", "", "a/"] {
            assert_eq!(
                data.child(path).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{path}"
            );
            let refusals = [
                data.regular_len(path).map(drop),
                StagedInFolder::new(&data, path).map(drop),
                data.rename("file".as_ref(), path.as_ref()),
                data.remove_file(path.as_ref()),
            ];
            for refused in refusals {
                assert_eq!(refused.unwrap_err().kind(), ErrorKind::InvalidInput, "{path}");
            }
            let error = data.read_regular(path, 10, "feature cache file").unwrap_err();
            assert!(
                matches!(&error.problem, FileProblem::Io(e) if e.kind() == ErrorKind::InvalidInput),
                "{error}"
            );
        }
        assert!(root.path().join("file").exists());
        // A FIFO is refused at once, never waited on for a writer.
        crate::testing::mkfifo(&root.path().join("fifo"));
        assert!(PinnedFolder::open(&root.path().join("fifo")).is_err());
        assert!(data.child("fifo").is_err());
        assert_eq!(data.regular_len("fifo").unwrap(), None);
        let error = data.read_regular("fifo", 10, "feature cache file").unwrap_err();
        assert!(error.to_string().contains("is a named pipe (FIFO)"), "{error}");
    }

    /// A link at a file's name, or a hard link, is refused, never read through, and what it
    /// names is left alone.
    #[test]
    fn a_link_named_as_a_file_is_not_read() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("secret");
        fs::write(&target, b"features").unwrap();
        std::os::unix::fs::symlink(&target, root.path().join("a.f16")).unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        assert_eq!(data.regular_len("a.f16").unwrap(), None);
        let error = data.read_regular("a.f16", 10, "feature cache file").unwrap_err();
        assert!(
            error.to_string().ends_with(
                "a.f16: the feature cache file is a symbolic link, not a regular file; refusing to read it"
            ),
            "{error}"
        );
        data.remove_file("a.f16".as_ref()).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"features");
        // A hard link to another file (where the system lets a co-user make one): refused too.
        fs::hard_link(&target, root.path().join("b.f16")).unwrap();
        assert_eq!(data.regular_len("b.f16").unwrap(), None);
        let error = data.read_regular("b.f16", 10, "feature cache file").unwrap_err();
        assert!(
            error.to_string().ends_with(
                "b.f16: the feature cache file has 2 names (hard links), so it may be another file; refusing to read it"
            ),
            "{error}"
        );
    }
}

//! Folders held open, whose files are reached through the open folder rather than by its name:
//! a co-user who can write a shared data folder, and swaps a folder of it for a link once it
//! was checked, sends nothing elsewhere (hostile round 14's F3: the feature cache's writes and
//! its removal of temporary files followed such a link into another folder).
//!
//! On Linux the open folder is reached as `/proc/self/fd/N`, which the kernel resolves to the
//! folder that was opened whatever its name names since, so every path-based call (a staged
//! write, a rename, a listing) stays in it. Elsewhere, or without `/proc`, the folder's path is
//! used as it is. Messages show the folder's own path: [`crate::shown`] maps a pinned path back.

use std::fs::{self, File};
use std::io::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// (pinned path, the folder's own path) of every folder pinned now.
static PINNED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

fn pinned() -> MutexGuard<'static, Vec<(PathBuf, PathBuf)>> {
    PINNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A folder held open; [`path`](Self::path) reaches its files through the open folder.
#[derive(Debug)]
pub struct PinnedFolder {
    /// Held for `through` to keep naming this folder.
    _handle: File,
    /// `/proc/self/fd/N`, or the folder's path where that does not reach it.
    through: PathBuf,
    /// The folder's own path, for messages.
    own: PathBuf,
}

impl PinnedFolder {
    /// The folder at `path` (a link there is followed: whoever names a folder chooses it).
    pub fn open(path: &Path) -> Result<PinnedFolder> {
        let handle = File::open(path)?;
        if !handle.metadata()?.is_dir() {
            return Err(Error::new(ErrorKind::NotADirectory, "not a folder"));
        }
        Ok(Self::pin(handle, path.to_path_buf()))
    }

    /// The folder `name` in this one, made where missing. A link at `name` is refused, never
    /// followed: the error says so ([`is_link_refused`]).
    pub fn child(&self, name: &str) -> Result<PinnedFolder> {
        let inside = self.through.join(name);
        match fs::create_dir(&inside) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let handle = open_folder_not_link(&inside).map_err(|e| {
            match fs::symlink_metadata(&inside).is_ok_and(|m| m.file_type().is_symlink()) {
                true => Error::new(ErrorKind::InvalidInput, LINK_REFUSED),
                false => e,
            }
        })?;
        Ok(Self::pin(handle, self.own.join(name)))
    }

    /// Where this folder's files are reached: join a name to it for every call that takes one.
    pub fn path(&self) -> &Path {
        &self.through
    }

    /// The folder's own path, as its user knows it.
    pub fn shown_path(&self) -> &Path {
        &self.own
    }

    fn pin(handle: File, own: PathBuf) -> PinnedFolder {
        let through = through_handle(&handle).unwrap_or_else(|| own.clone());
        if through != own {
            pinned().push((through.clone(), own.clone()));
        }
        PinnedFolder {
            _handle: handle,
            through,
            own,
        }
    }
}

impl Drop for PinnedFolder {
    fn drop(&mut self) {
        // Before the handle closes: its number may name another folder next.
        pinned().retain(|(through, _)| through != &self.through);
    }
}

/// What [`PinnedFolder::child`] says of a link where a folder was to be.
const LINK_REFUSED: &str = "a symbolic link, where a folder was expected";

/// Whether `error` is [`PinnedFolder::child`]'s refusal of a link.
pub fn is_link_refused(error: &Error) -> bool {
    error.kind() == ErrorKind::InvalidInput && error.to_string() == LINK_REFUSED
}

/// `path` with a pinned folder's `/proc/self/fd/N` prefix replaced by that folder's own path,
/// for messages; `None` where it names no pinned folder.
pub(crate) fn unpinned(path: &Path) -> Option<PathBuf> {
    if !path.starts_with("/proc/self/fd") {
        return None;
    }
    let pinned = pinned();
    let (through, own) = pinned.iter().find(|(through, _)| path.starts_with(through))?;
    Some(own.join(path.strip_prefix(through).ok()?))
}

#[cfg(unix)]
fn open_folder_not_link(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(not(unix))]
fn open_folder_not_link(path: &Path) -> Result<File> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Err(Error::new(ErrorKind::InvalidInput, LINK_REFUSED));
    }
    File::open(path)
}

/// `/proc/self/fd/N` for `handle`, where that path reaches the very folder it holds.
#[cfg(target_os = "linux")]
fn through_handle(handle: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let through = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    let (held, reached) = (handle.metadata().ok()?, fs::metadata(&through).ok()?);
    (held.dev() == reached.dev() && held.ino() == reached.ino()).then_some(through)
}

#[cfg(not(target_os = "linux"))]
fn through_handle(_: &File) -> Option<PathBuf> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Staged, remove_every_staged_leftover, shown};
    use std::io::Write;

    /// The swap of hostile round 14's F3: once pinned, a folder renamed away and replaced by a
    /// link to another keeps getting the writes and the clearing, and the other gets nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_swapped_for_a_link_keeps_its_files() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let planted = elsewhere.path().join(".victim.0123456789abcdef.glimpse-tmp");
        fs::write(&planted, b"keep").unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        let cache = data.child(".cache").unwrap().child("features").unwrap();
        assert_eq!(cache.shown_path(), root.path().join(".cache/features"));
        fs::rename(root.path().join(".cache"), root.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join(".cache")).unwrap();

        let mut staged = Staged::beside(&cache.path().join("a.f16")).unwrap();
        staged.file().write_all(b"features").unwrap();
        staged.place(&cache.path().join("a.f16")).unwrap();
        assert_eq!(remove_every_staged_leftover(cache.path()).unwrap(), 0);
        assert_eq!(
            fs::read(root.path().join("moved/features/a.f16")).unwrap(),
            b"features"
        );
        assert!(planted.exists());
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 1);
        // Messages name the folder, not the process's handle of it.
        let file = cache.path().join("a.f16");
        assert_eq!(
            shown(&file).to_string(),
            root.path().join(".cache/features/a.f16").display().to_string()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_where_a_folder_is_to_be_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.path().join("cache")).unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        let error = data.child("cache").unwrap_err();
        assert!(is_link_refused(&error), "{error}");
        fs::write(root.path().join("file"), b"").unwrap();
        let error = data.child("file").unwrap_err();
        assert!(!is_link_refused(&error), "{error}");
    }

    #[test]
    fn a_dropped_folder_is_shown_by_its_handle_no_more() {
        let root = tempfile::tempdir().unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        let through = data.path().join("x");
        drop(data);
        assert!(unpinned(&through).is_none());
    }
}

//! Folders held open, whose files are reached through the open folder rather than by its name:
//! a co-user who can write a shared data folder, and swaps a folder of it for a link once it
//! was checked, sends nothing elsewhere (hostile round 14's F3: the feature cache's writes and
//! its removal of temporary files followed such a link into another folder).
//!
//! On Linux the folder is held by an `O_PATH` descriptor (no read permission needed, and a FIFO
//! or device is refused without opening it) and reached as `/proc/self/fd/N`, which the kernel
//! resolves to the folder that was opened whatever its name names since, so every path-based
//! call (a staged write, a rename, a listing) stays in it. Elsewhere, or where `/proc` does not
//! reach the folder (said once), the folder's path is used as it is.
//!
//! Messages name the folder by its own path: [`crate::shown`] maps a pinned path back, and the
//! crate's errors are given the folder's path when they are made ([`own_path`]), since they are
//! often shown after the folder was let go.

use std::fs;
use std::io::{Error, ErrorKind, Result};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// (pinned path, the folder's own path) of every folder pinned now.
static PINNED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

fn pinned() -> MutexGuard<'static, Vec<(PathBuf, PathBuf)>> {
    PINNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A folder held open; [`path`](Self::path) reaches its files through the open folder.
#[derive(Debug)]
pub struct PinnedFolder {
    /// Held for `through` to keep naming this folder; `None` where the path is used.
    _handle: Option<fs::File>,
    /// `/proc/self/fd/N`, or the folder's path.
    through: PathBuf,
    /// The folder's own path, for messages.
    own: PathBuf,
}

impl PinnedFolder {
    /// The folder at `path` (a link there is followed: whoever names a folder chooses it).
    pub fn open(path: &Path) -> Result<PinnedFolder> {
        let handle = hold(path, false)?;
        Ok(Self::pin(handle, path.to_path_buf()))
    }

    /// The folder `name` (one name, not a path) in this one, made where missing. A link at
    /// `name` is refused, never followed ([`is_link_refused`]).
    pub fn child(&self, name: &str) -> Result<PinnedFolder> {
        if !matches!(
            Path::new(name).components().collect::<Vec<_>>()[..],
            [Component::Normal(_)]
        ) {
            return Err(Error::new(ErrorKind::InvalidInput, "a folder name, not a path"));
        }
        let inside = self.through.join(name);
        match fs::create_dir(&inside) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        let handle = hold(&inside, true).map_err(|e| {
            match fs::symlink_metadata(&inside).is_ok_and(|m| m.file_type().is_symlink()) {
                true => Error::new(ErrorKind::InvalidInput, LinkRefused),
                false => e,
            }
        })?;
        Ok(Self::pin(handle, self.own.join(name)))
    }

    /// Where this folder's files are reached: join a name to it for every call that takes one.
    /// A path made from it is good only while `self` lives (its descriptor's number may name
    /// another folder next).
    pub fn path(&self) -> &Path {
        &self.through
    }

    /// The folder's own path, as its user knows it.
    pub fn shown_path(&self) -> &Path {
        &self.own
    }

    fn pin(handle: Option<fs::File>, own: PathBuf) -> PinnedFolder {
        let through = handle.as_ref().and_then(through_handle);
        let Some(through) = through else {
            return PinnedFolder {
                _handle: None,
                through: own.clone(),
                own,
            };
        };
        pinned().push((through.clone(), own.clone()));
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

/// `path` with a pinned folder's `/proc/self/fd/N` prefix replaced by that folder's own path,
/// for messages; `None` where it names no pinned folder.
pub(crate) fn unpinned(path: &Path) -> Option<PathBuf> {
    if !path.starts_with("/proc/self/fd") {
        return None;
    }
    let pinned = pinned();
    let (through, own) = pinned.iter().find(|(through, _)| path.starts_with(through))?;
    let rest = path.strip_prefix(through).ok()?;
    Some(match rest.as_os_str().is_empty() {
        true => own.clone(),
        false => own.join(rest),
    })
}

/// `path` as an error of this crate keeps it: a pinned folder's files by the folder's own path,
/// fixed while the folder is held (shown later, `/proc/self/fd/N` named nothing, or another
/// folder).
pub(crate) fn own_path(path: &Path) -> PathBuf {
    unpinned(path).unwrap_or_else(|| path.to_path_buf())
}

/// A handle on the folder at `path` (not following a link there when `not_link`), or `None`
/// where folders are reached by their paths.
#[cfg(target_os = "linux")]
fn hold(path: &Path, not_link: bool) -> Result<Option<fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let no_follow = if not_link { libc::O_NOFOLLOW } else { 0 };
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | no_follow)
        .open(path)?;
    Ok(Some(handle))
}

/// Elsewhere the folder is checked, not held: a link swapped in after the check is followed.
#[cfg(not(target_os = "linux"))]
fn hold(path: &Path, not_link: bool) -> Result<Option<fs::File>> {
    let found = match not_link {
        true => fs::symlink_metadata(path)?,
        false => fs::metadata(path)?,
    };
    if found.file_type().is_symlink() {
        return Err(Error::new(ErrorKind::InvalidInput, LinkRefused));
    }
    if !found.is_dir() {
        return Err(Error::new(ErrorKind::NotADirectory, "not a folder"));
    }
    Ok(None)
}

/// `/proc/self/fd/N` for `handle`, where that path reaches the very folder it holds; said once
/// where it does not (a sandbox without `/proc`).
#[cfg(target_os = "linux")]
fn through_handle(handle: &fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let through = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
    let reached = |held: fs::Metadata| {
        let found = fs::metadata(&through).ok()?;
        (held.dev() == found.dev() && held.ino() == found.ino()).then_some(())
    };
    if handle.metadata().ok().and_then(reached).is_some() {
        return Some(through);
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::note!(
            "warning: /proc/self/fd does not reach open folders here, so the feature cache is reached by its path: a link swapped in for it while glimpse runs would be followed"
        )
    });
    None
}

#[cfg(not(target_os = "linux"))]
fn through_handle(_: &fs::File) -> Option<PathBuf> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::{Staged, lock_folder, read_regular, remove_every_staged_leftover, shown};
    use std::io::Write;

    /// The swap of hostile round 14's F3: once pinned, a folder renamed away and replaced by a
    /// link to another keeps getting the writes and the clearing, and the other gets nothing.
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
        assert_eq!(
            shown(cache.path()).to_string(),
            cache.shown_path().display().to_string()
        );
    }

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
        for path in ["..", "a/b", "/tmp", "."] {
            assert_eq!(
                data.child(path).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{path}"
            );
        }
        // A FIFO is refused at once, never waited on for a writer.
        crate::testing::mkfifo(&root.path().join("fifo"));
        assert!(PinnedFolder::open(&root.path().join("fifo")).is_err());
    }

    /// Errors are often shown after the folder was let go, when `/proc/self/fd/N` names
    /// nothing, or another folder.
    #[test]
    fn errors_name_the_folder_after_it_was_let_go() {
        let root = tempfile::tempdir().unwrap();
        let data = PinnedFolder::open(root.path()).unwrap();
        let cache = data.child("cache").unwrap();
        assert!(cache.path().starts_with("/proc/self/fd"));
        let missing = read_regular(&cache.path().join("missing.f16"), 10, "feature cache file").unwrap_err();
        let _held = lock_folder(cache.path()).unwrap();
        let busy = lock_folder(cache.path()).unwrap_err();
        let through = cache.path().to_path_buf();
        drop((cache, data));
        let other = tempfile::tempdir().unwrap();
        let _other = PinnedFolder::open(other.path()).unwrap();
        assert!(unpinned(&through).is_none());
        let own = root.path().join("cache");
        assert!(
            missing
                .to_string()
                .starts_with(&format!("{}: ", own.join("missing.f16").display())),
            "{missing}"
        );
        assert!(
            busy.to_string().starts_with(&format!("{}: ", own.display())),
            "{busy}"
        );
    }
}

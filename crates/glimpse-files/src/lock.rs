//! Holding a folder for one process: two `glimpse train` runs into one folder replaced each
//! other's files (a run finished with most of its `steps.csv` gone). Or sharing one among
//! several, where only the first may clear up after killed ones.

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::pinned::Links;
use crate::terminal::shown;
use crate::{PinnedFolder, note};

/// The lock file [`lock_folder`] holds, hidden in the folder.
pub const LOCK_FILE: &str = ".glimpse-lock";

/// A folder held by this process until the value is dropped. The operating system releases the
/// lock when the process ends however it ends (`kill -9` included), so a stale lock never
/// blocks the next run; the lock file itself stays, empty.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Why a folder could not be held.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: another glimpse process is using this folder; wait for it to end, or choose another folder", shown(.0))]
    Busy(PathBuf),
    #[error("{}: cannot take the folder's lock: {error}", shown(.path))]
    Io { path: PathBuf, error: std::io::Error },
    /// The file system has no locks (some network and FUSE file systems): the caller may go on
    /// without one, as cargo does, and say so.
    #[error("{}: this file system does not support locks ({error}), so another glimpse process could write into this folder at the same time", shown(.path))]
    Unsupported { path: PathBuf, error: std::io::Error },
    #[error("{}: removing temporary files left by a killed process: {error}", shown(.path))]
    Leftovers { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    File(#[from] crate::FileError),
}

/// Takes an exclusive lock on `dir` (an advisory lock, `flock(LOCK_EX | LOCK_NB)` on Unix, on
/// its [`LOCK_FILE`]) without waiting: a folder another process holds is refused at once.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, LockError> {
    let folder = PinnedFolder::open(dir).map_err(|error| LockError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    // The folder is this user's own (a run's, a download's), where a link may have been made
    // by a tool that manages files as links.
    let (path, file) = open_lock_file(&folder, Links::Followed)?;
    match file.try_lock() {
        Ok(()) => Ok(FolderLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Busy(dir.to_path_buf())),
        Err(TryLockError::Error(error)) => Err(lock_failed(path, error)),
    }
}

/// How long [`share_folder`] waits for another process to finish removing leftovers.
const SHARE_PATIENCE: Duration = Duration::from_secs(10);

/// Holds `folder` beside the other processes that write it at once (runs filling one data folder's
/// feature cache) with a shared lock on its [`LOCK_FILE`]. Whoever finds no other process
/// holding it first removes the folder's temporary files ([`crate::remove_every_staged_leftover`]),
/// all of them then left by processes killed mid-write: a `kill -9` left a full-size one for
/// good. `None` on a file system without locks, where nothing is removed; nothing is either
/// where only a shared lock can be had.
pub fn share_folder(folder: &PinnedFolder) -> Result<Option<FolderLock>, LockError> {
    // A folder others write (a data folder's cache): a co-user's link, or hard link, at the lock
    // file's name had the run open what it names (a device) and lock a file of this user's for
    // the whole run, blocking this user's other tools that lock it (hostile round 16).
    let (path, file) = open_lock_file(folder, Links::Refused)?;
    match file.try_lock() {
        Ok(()) => {
            crate::remove_every_staged_leftover(folder).map_err(|error| LockError::Leftovers {
                path: folder.shown_path().to_path_buf(),
                error,
            })?;
            // Not atomic (flock drops the lock first), which is harmless: whoever takes it in
            // between finds nothing of this process's to remove, as it has written nothing yet.
            file.unlock().map_err(|error| lock_failed(path.clone(), error))?;
        }
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(error)) if locks_unsupported(&error) => return Ok(None),
        // NFS refuses an exclusive lock on a file opened for reading (EBADF), where a shared one
        // works: the folder is shared without clearing it (training on such a data folder
        // stopped at its second run).
        Err(TryLockError::Error(_)) => {}
    }
    wait_shared(folder.shown_path(), path, file).map(Some)
}

/// A shared lock on `file`, waited for while another process holds it alone (removing
/// leftovers takes it a moment), up to [`SHARE_PATIENCE`]: a process holding it longer is
/// refused as busy, never waited for without end.
fn wait_shared(dir: &Path, path: PathBuf, file: File) -> Result<FolderLock, LockError> {
    let started = Instant::now();
    loop {
        match file.try_lock_shared() {
            Ok(()) => return Ok(FolderLock { _file: file }),
            Err(TryLockError::WouldBlock) if started.elapsed() < SHARE_PATIENCE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => return Err(LockError::Busy(dir.to_path_buf())),
            Err(TryLockError::Error(error)) => return Err(lock_failed(path, error)),
        }
    }
}

/// `folder`'s lock file, opened (made where missing) following a link at its name or not, as
/// `links` says; and its path for messages.
fn open_lock_file(folder: &PinnedFolder, links: Links) -> Result<(PathBuf, File), LockError> {
    let name = OsStr::new(LOCK_FILE);
    let path = folder.shown_path().join(LOCK_FILE);
    // Opened for reading, never truncated or written; a FIFO or device is refused without
    // blocking.
    let file = match folder.open_regular(name, "lock file", links) {
        Ok((file, _)) => file,
        Err(e) if e.is_not_found() => create_lock_file(folder, &path, links)?,
        Err(e) => return Err(LockError::File(e)),
    };
    Ok((path, file))
}

/// The error of a lock that failed with `error`: [`LockError::Unsupported`] where the file
/// system has no locks.
fn lock_failed(path: PathBuf, error: std::io::Error) -> LockError {
    if locks_unsupported(&error) {
        LockError::Unsupported { path, error }
    } else {
        LockError::Io { path, error }
    }
}

/// Whether `error` says the file system cannot lock at all, rather than that this lock failed
/// (the errors cargo's own folder locks treat the same way).
fn locks_unsupported(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    // (Linux gives ENOTSUP and EOPNOTSUPP one number; macOS does not.)
    if let Some(code) = error.raw_os_error()
        && [libc::ENOLCK, libc::ENOTSUP, libc::EOPNOTSUPP].contains(&code)
    {
        return true;
    }
    error.kind() == std::io::ErrorKind::Unsupported
}

/// [`lock_folder`], except that on a file system without locks it says so on stderr and goes on
/// without one (`None`), as cargo does: refusing would make such a file system unusable.
pub fn hold_folder(dir: &Path) -> Result<Option<FolderLock>, LockError> {
    match lock_folder(dir) {
        Ok(lock) => Ok(Some(lock)),
        Err(unsupported @ LockError::Unsupported { .. }) => {
            note!("warning: {unsupported}; going on without a lock");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Creates the lock file (at `path`, for messages), or opens the one another process created
/// in the meantime.
fn create_lock_file(folder: &PinnedFolder, path: &Path, links: Links) -> Result<File, LockError> {
    let name = OsStr::new(LOCK_FILE);
    match folder.create_new(name) {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(folder.open_regular(name, "lock file", links)?.0)
        }
        Err(error) => Err(LockError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_held_folder_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_folder(dir.path()).unwrap();
        let err = lock_folder(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        assert!(err.to_string().contains("another glimpse process"), "{err}");
        drop(held);
        lock_folder(dir.path()).unwrap();
    }

    #[test]
    fn only_a_process_alone_in_a_shared_folder_removes_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join(".a.f16.0123456789abcdef.glimpse-tmp");
        let kept = [
            dir.path().join("a.f16"),
            dir.path().join("b.glimpse-tmp"),
            dir.path().join(".c.glimpse-tmp-not"),
        ];
        let folder = dir.path().join(".d.glimpse-tmp");
        fs::create_dir(&folder).unwrap();
        for file in kept.iter().chain([&leftover]) {
            fs::write(file, b"half").unwrap();
        }
        let first = share_folder(&PinnedFolder::open(dir.path()).unwrap())
            .unwrap()
            .unwrap();
        assert!(!leftover.exists());
        assert!(kept.iter().chain([&folder]).all(|path| path.exists()));
        // Another process's file, being written while the first holds the folder.
        fs::write(&leftover, b"half").unwrap();
        let second = share_folder(&PinnedFolder::open(dir.path()).unwrap())
            .unwrap()
            .unwrap();
        assert!(leftover.exists());
        let err = lock_folder(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        drop((first, second));
        let _alone = share_folder(&PinnedFolder::open(dir.path()).unwrap())
            .unwrap()
            .unwrap();
        assert!(!leftover.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_system_without_locks_is_told_apart_from_a_failed_lock() {
        for errno in [libc::ENOLCK, libc::ENOTSUP, libc::EOPNOTSUPP] {
            assert!(
                locks_unsupported(&std::io::Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
        assert!(locks_unsupported(&std::io::ErrorKind::Unsupported.into()));
        for errno in [libc::EBADF, libc::EINTR, libc::EIO] {
            assert!(
                !locks_unsupported(&std::io::Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_at_the_lock_files_name_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::mkfifo(&dir.path().join(LOCK_FILE));
        let err = lock_folder(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    /// A co-user's link, or hard link, at a shared folder's lock file had the run open what it
    /// names (a device) and lock a file of this user's, blocking its other tools (hostile round
    /// 16); in a folder of this user's own, a link there is followed.
    #[cfg(unix)]
    #[test]
    fn a_link_at_a_shared_folders_lock_file_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("backup.lock");
        fs::write(&theirs, b"").unwrap();
        let lock_file = dir.path().join(LOCK_FILE);
        std::os::unix::fs::symlink(&theirs, &lock_file).unwrap();
        let shared = PinnedFolder::open(dir.path()).unwrap();
        let err = share_folder(&shared).unwrap_err();
        assert!(err.to_string().contains("lock file is a symbolic link"), "{err}");
        let held = lock_folder(dir.path()).unwrap();
        assert!(File::open(&theirs).unwrap().try_lock().is_err());
        drop(held);
        fs::remove_file(&lock_file).unwrap();
        fs::hard_link(&theirs, &lock_file).unwrap();
        let err = share_folder(&shared).unwrap_err();
        assert!(
            err.to_string().contains("lock file has 2 names (hard links)"),
            "{err}"
        );
        // In a folder of this user's own (a run folder copied with `cp -al`), it is used.
        lock_folder(dir.path()).unwrap();
    }
}

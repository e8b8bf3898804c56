//! A pinned folder's descriptor, and the calls relative to it (`openat` and its kin).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Result;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags};

use super::{Entry, Links, Status};

pub type Handle = OwnedFd;

/// How a folder is held: on Linux by `O_PATH`, which needs no read permission (a 0711 data
/// root kept its shared cache) and opens nothing; elsewhere for reading (a folder this user
/// cannot read is refused, and the feature cache goes to the run folder), without blocking on
/// a FIFO.
#[cfg(any(target_os = "linux", target_os = "android"))]
const HOLD: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const HOLD: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK);

fn no_follow(links: Links) -> OFlags {
    match links {
        Links::Followed => OFlags::empty(),
        Links::Refused => OFlags::NOFOLLOW,
    }
}

pub fn open(at: Option<&Handle>, name: &OsStr, links: Links) -> Result<Handle> {
    let flags = HOLD | OFlags::DIRECTORY | OFlags::CLOEXEC | no_follow(links);
    Ok(match at {
        Some(folder) => rustix::fs::openat(folder, name, flags, Mode::empty())?,
        None => rustix::fs::openat(CWD, name, flags, Mode::empty())?,
    })
}

pub fn make_folder(folder: &Handle, name: &OsStr) -> Result<()> {
    // As `fs::create_dir` makes one: the umask decides.
    Ok(rustix::fs::mkdirat(folder, name, Mode::from_raw_mode(0o777))?)
}

/// For reading, with `O_NONBLOCK`: opening a FIFO otherwise waits for a writer.
pub fn open_file(folder: &Handle, name: &OsStr, links: Links) -> Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | no_follow(links);
    Ok(rustix::fs::openat(folder, name, flags, Mode::empty())?.into())
}

pub fn create_new(folder: &Handle, name: &OsStr) -> Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(folder, name, flags, Mode::from_raw_mode(0o666))?.into())
}

pub fn rename(folder: &Handle, from: &OsStr, to: &OsStr) -> Result<()> {
    Ok(rustix::fs::renameat(folder, from, folder, to)?)
}

pub fn remove_file(folder: &Handle, name: &OsStr) -> Result<()> {
    Ok(rustix::fs::unlinkat(folder, name, AtFlags::empty())?)
}

pub fn status(folder: &Handle, name: &OsStr) -> Result<Status> {
    let found = rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let kind = FileType::from_raw_mode(found.st_mode as _);
    Ok(Status {
        is_file: kind == FileType::RegularFile,
        is_link: kind == FileType::Symlink,
        len: found.st_size as u64,
        names: found.st_nlink as u64,
    })
}

/// How many names the open `file` has.
pub fn names(file: &File) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(file.metadata()?.nlink())
}

pub fn entries(folder: &Handle) -> Result<Vec<Entry>> {
    // A descriptor held by `O_PATH` cannot be listed: the folder is opened again through it.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let listed = rustix::fs::openat(folder, ".", flags, Mode::empty())?;
    let mut entries = Vec::new();
    for entry in Dir::new(listed)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        // Some file systems do not say what an entry is in the listing: it is asked, and one
        // gone since is left out (taken for a file, a folder's unlink stopped the clearing).
        let is_dir = match entry.file_type() {
            FileType::Unknown => match rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(found) => FileType::from_raw_mode(found.st_mode as _) == FileType::Directory,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(error) => return Err(error.into()),
            },
            kind => kind == FileType::Directory,
        };
        entries.push(Entry {
            name: name.to_os_string(),
            is_dir,
        });
    }
    Ok(entries)
}

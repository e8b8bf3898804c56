//! Where there are no descriptors to hold a folder by (not Unix): the folder is checked, not
//! held, and reached by its path, so a link swapped in after the check is followed.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Error, ErrorKind, Result};
use std::path::PathBuf;

use super::{Entry, LinkRefused, Links, Status};

pub type Handle = PathBuf;

pub fn open(at: Option<&Handle>, name: &OsStr, links: Links) -> Result<Handle> {
    let path = at.map_or_else(|| PathBuf::from(name), |folder| folder.join(name));
    let found = match links {
        Links::Refused => fs::symlink_metadata(&path)?,
        Links::Followed => fs::metadata(&path)?,
    };
    if found.file_type().is_symlink() {
        return Err(Error::new(ErrorKind::InvalidInput, LinkRefused));
    }
    if !found.is_dir() {
        return Err(Error::new(ErrorKind::NotADirectory, "not a folder"));
    }
    Ok(path)
}

pub fn make_folder(folder: &Handle, name: &OsStr) -> Result<()> {
    fs::create_dir(folder.join(name))
}

pub fn open_file(folder: &Handle, name: &OsStr, links: Links) -> Result<File> {
    let path = folder.join(name);
    if links == Links::Refused && fs::symlink_metadata(&path)?.file_type().is_symlink() {
        return Err(Error::other("a symbolic link"));
    }
    File::open(path)
}

pub fn create_new(folder: &Handle, name: &OsStr) -> Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(folder.join(name))
}

pub fn rename(folder: &Handle, from: &OsStr, to: &OsStr) -> Result<()> {
    fs::rename(folder.join(from), folder.join(to))
}

pub fn remove_file(folder: &Handle, name: &OsStr) -> Result<()> {
    fs::remove_file(folder.join(name))
}

pub fn status(folder: &Handle, name: &OsStr) -> Result<Status> {
    let found = fs::symlink_metadata(folder.join(name))?;
    Ok(Status {
        is_file: found.is_file(),
        is_link: found.file_type().is_symlink(),
        len: found.len(),
        names: 1,
    })
}

/// How many names the open file has: not known here.
pub fn names(_: &File) -> Result<u64> {
    Ok(1)
}

pub fn entries(folder: &Handle) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(folder)? {
        let entry = entry?;
        entries.push(Entry {
            name: entry.file_name(),
            is_dir: entry.file_type()?.is_dir(),
        });
    }
    Ok(entries)
}

//! Writing output files so that a crash never leaves half of one.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::terminal::shown;

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", shown(.path))]
pub struct WriteError {
    pub path: std::path::PathBuf,
    pub error: std::io::Error,
}

/// Write to `path.tmp`, fsync, rename over `path`, fsync the folder. A `path` that exists and
/// is neither a regular file nor a symbolic link (a device such as `/dev/null`, a FIFO, a
/// folder) is refused: the rename would replace it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let tmp = path.with_extension("tmp");
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |error| WriteError { path, error }
    };
    if let Ok(existing) = fs::symlink_metadata(path) {
        let kind = existing.file_type();
        if !kind.is_file() && !kind.is_symlink() {
            let error = std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "exists and is not a regular file; not replaced",
            );
            return Err(at(path)(error));
        }
    }
    {
        let mut file = create_fresh(&tmp).map_err(at(&tmp))?;
        file.write_all(bytes).map_err(at(&tmp))?;
        file.sync_all().map_err(at(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(at(path))?;
    if let Some(dir) = path.parent() {
        // Makes the rename itself durable; not supported everywhere, so best effort.
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Creates `path` afresh for writing: whatever is at that name is removed first (a symbolic
/// link itself, never its target), then the file is created only if nothing is there
/// (`O_EXCL`, which never follows a link), so a link planted at a temporary file's name cannot
/// send the write outside its folder.
pub fn create_fresh(path: &Path) -> std::io::Result<fs::File> {
    match fs::symlink_metadata(path) {
        Ok(existing) if !existing.is_dir() => fs::remove_file(path)?,
        _ => {}
    }
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn special_files_are_not_replaced_and_planted_links_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.safetensors");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = write_atomically(&fifo, b"x").unwrap_err().to_string();
        assert!(
            err.ends_with("exists and is not a regular file; not replaced"),
            "{err}"
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());

        let outside = dir.path().join("outside.txt");
        fs::write(&outside, b"keep").unwrap();
        let out = dir.path().join("cache.bin");
        std::os::unix::fs::symlink(&outside, dir.path().join("cache.tmp")).unwrap();
        write_atomically(&out, b"features").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        assert_eq!(fs::read(&out).unwrap(), b"features");
    }

    #[test]
    fn writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert!(!dir.path().join("out.tmp").exists());
    }
}

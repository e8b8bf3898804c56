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

/// Write to `path.tmp`, fsync, rename over `path`, fsync the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let tmp = path.with_extension("tmp");
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |error| WriteError { path, error }
    };
    {
        let mut file = fs::File::create(&tmp).map_err(at(&tmp))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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

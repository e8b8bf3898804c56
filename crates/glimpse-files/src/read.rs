//! Reading a file only when it is a regular one, and only up to a cap.
//!
//! The file is opened first and its *handle's* metadata checked, not the path's, so nothing can
//! swap the file between the check and the read. On Unix it is opened with `O_NONBLOCK`: opening
//! a FIFO for reading otherwise blocks until a writer appears (forever, if none does). For a
//! regular file the flag changes nothing.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::error::{FileError, FileProblem};

/// Opens `path` for reading if it is a regular file (symbolic links are followed), refusing
/// FIFOs, devices, directories and sockets without blocking. Returns the file and its size.
pub fn open_regular(path: &Path, what: &'static str) -> Result<(File, u64), FileError> {
    let fail = |problem: FileProblem| FileError {
        path: path.to_path_buf(),
        what,
        problem,
    };
    let file = open_nonblocking(path).map_err(|e| fail(e.into()))?;
    regular(file, &fail)
}

/// `file` and its size if it is a regular file; `fail` makes the error.
pub(crate) fn regular(file: File, fail: &dyn Fn(FileProblem) -> FileError) -> Result<(File, u64), FileError> {
    let metadata = file.metadata().map_err(|e| fail(e.into()))?;
    if !metadata.is_file() {
        return Err(fail(FileProblem::NotRegular {
            kind: kind_of(&metadata),
        }));
    }
    Ok((file, metadata.len()))
}

/// Reads the whole of `path` if it is a regular file of at most `max_bytes`; `what` names it in
/// errors (`model`, `image`, `training config`). A file that says it is larger is refused before
/// anything is allocated, and one that grows while being read is cut at `max_bytes + 1` and
/// refused.
pub fn read_regular(path: &Path, max_bytes: u64, what: &'static str) -> Result<Vec<u8>, FileError> {
    let (file, size) = open_regular(path, what)?;
    read_capped(file, size, max_bytes, &|problem| FileError {
        path: path.to_path_buf(),
        what,
        problem,
    })
}

/// The whole of `file`, which said it has `size` bytes, if that is at most `max_bytes`.
pub(crate) fn read_capped(
    file: File,
    size: u64,
    max_bytes: u64,
    fail: &dyn Fn(FileProblem) -> FileError,
) -> Result<Vec<u8>, FileError> {
    if size > max_bytes {
        return Err(fail(FileProblem::TooLarge {
            cap: max_bytes,
            size: Some(size),
        }));
    }
    // `size <= max_bytes`, and the caps fit in memory by construction; a file that grew since
    // only costs the reallocations `read_to_end` makes, up to the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.into()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(fail(FileProblem::TooLarge {
            cap: max_bytes,
            size: None,
        }));
    }
    Ok(bytes)
}

/// [`read_regular`] for UTF-8 text.
pub fn read_regular_to_string(path: &Path, max_bytes: u64, what: &'static str) -> Result<String, FileError> {
    let bytes = read_regular(path, max_bytes, what)?;
    String::from_utf8(bytes).map_err(|e| FileError {
        path: path.to_path_buf(),
        what,
        problem: FileProblem::NotUtf8 {
            offset: e.utf8_error().valid_up_to(),
        },
    })
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// What a file that is not a regular one is, for the message.
fn kind_of(metadata: &Metadata) -> &'static str {
    if metadata.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn message(result: Result<Vec<u8>, FileError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn regular_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_regular(&path, 5, "text").unwrap(), b"hello");
        assert_eq!(read_regular_to_string(&path, 100, "text").unwrap(), "hello");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        // Sparse: claims 5 GiB without using the disk.
        File::create(&path).unwrap().set_len(5 << 30).unwrap();
        let err = message(read_regular(&path, crate::caps::MODEL, "model"));
        assert!(
            err.ends_with(
                "big.bin: the model is over 4 GiB, the most Glimpse reads for this kind of file (it has 5368709120 bytes)"
            ),
            "{err}"
        );
        std::fs::write(&path, "123456").unwrap();
        let err = message(read_regular(&path, 5, "vocabulary"));
        assert!(err.contains("the vocabulary is over 5 bytes"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.jpg");
        crate::testing::mkfifo(&fifo);
        let started = Instant::now();
        let err = message(read_regular(&fifo, crate::caps::IMAGE, "image"));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            err.ends_with(
                "pipe.jpg: the image is a named pipe (FIFO), not a regular file; refusing to read it"
            ),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_directories_are_refused() {
        let err = message(read_regular(Path::new("/dev/zero"), crate::caps::MODEL, "model"));
        assert_eq!(
            err,
            "/dev/zero: the model is a character device, not a regular file; refusing to read it"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = message(read_regular(dir.path(), 10, "training config"));
        assert!(
            err.ends_with("the training config is a directory, not a regular file; refusing to read it"),
            "{err}"
        );
    }

    #[test]
    fn missing_files_and_bad_text_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.json");
        let err = read_regular(&path, 10, "vocabulary").unwrap_err();
        assert!(err.is_not_found());
        assert!(
            err.to_string()
                .contains("missing.json: cannot read the vocabulary: "),
            "{err}"
        );
        std::fs::write(&path, b"ab\xffcd").unwrap();
        let err = read_regular_to_string(&path, 10, "vocabulary")
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("the vocabulary is not UTF-8 text (invalid byte at offset 2)"),
            "{err}"
        );
    }
}

//! Helpers for the tests of the crates that read through this one (feature `testing`).

use std::path::Path;
use std::process::Command;

/// Makes a named pipe at `path`: the special file every reader must refuse at once (reading one
/// would block until a writer comes). Panics when it cannot, as a test helper may.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

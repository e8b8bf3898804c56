//! Helpers for the tests of the crates that read through this one (feature `testing`).

use std::path::Path;

/// Makes a named pipe at `path`: the special file every reader must refuse at once (reading one
/// would block until a writer comes). Panics when it cannot, as a test helper may.
///
/// Made by a system call, not by running `mkfifo`: a test process that forks shares the lock
/// file another test thread holds with the child until the child execs, so the lock outlives
/// its release (`lock::tests` failed once that way).
#[cfg(unix)]
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: `name` is a NUL-terminated string that lives across the call.
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    assert_eq!(
        made,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

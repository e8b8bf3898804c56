//! Helpers for the tests of the crates that read through this one (feature `testing`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

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

/// Held for writing while [`spawn`] starts a child, and for reading by [`no_child_starts`].
static STARTING_CHILD: RwLock<()> = RwLock::new(());

/// Starts `command` (`Command::spawn`, which returns once the child has exec'd) while no
/// [`no_child_starts`] guard is held.
pub fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let _starting = STARTING_CHILD.write().unwrap_or_else(PoisonError::into_inner);
    command.spawn()
}

/// [`spawn`], then the child's output, as `Command::output` gives it.
pub fn output(command: &mut Command) -> std::io::Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(command)?.wait_with_output()
}

/// Keeps [`spawn`] from starting a child while held. A folder lock this process takes is shared
/// with every child forked while it is open, until that child execs, so a lock dropped here may
/// be held a moment longer: a test that takes a folder's lock in process (a download, say) and
/// then takes it again holds this guard around both, and starts its children with [`spawn`].
pub fn no_child_starts() -> RwLockReadGuard<'static, ()> {
    STARTING_CHILD.read().unwrap_or_else(PoisonError::into_inner)
}

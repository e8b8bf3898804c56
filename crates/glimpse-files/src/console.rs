//! Lines for standard output and standard error that never panic.
//!
//! `println!` and `eprintln!` panic when the write fails: with standard output on a full disk
//! (`glimpse train > log`), `/dev/full` or a file past `ulimit -f`, a finished `export` exited
//! 101 after writing its files, and an error message sent to a full standard error panicked in
//! its turn. [`say!`] returns the failure as an error naming standard output; [`note!`] writes
//! a warning or a note where it can and drops it where it cannot (there is nowhere else to say
//! it, and losing a note must not end the work).

use std::fmt;
use std::io::{self, Write};

/// Standard output could not be written. The cause is part of the message, not a source, so
/// that a chain of causes shows it once.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct OutputError(pub io::Error);

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        OutputError(e)
    }
}

/// Standard output for commands that write as they go (`caption`, `score`, `man`): its errors
/// say that standard output failed ("No space left on device" alone named nothing).
pub struct Output(io::StdoutLock<'static>);

/// [`Output`], locked for this thread.
pub fn output() -> Output {
    Output(io::stdout().lock())
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes).map_err(named)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(named)
    }
}

/// `e`, its message saying it was standard output's.
fn named(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), OutputError(e))
}

/// Writes one line to standard output (what [`say!`] expands to).
pub fn say_line(line: fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    // Flushed now, so that a failure is reported here, by the line that failed.
    out.flush()?;
    Ok(())
}

/// Writes one line to standard error, if it can (what [`note!`] expands to).
pub fn note_line(line: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// `println!` that returns an [`OutputError`] instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::say_line(format_args!($($arg)*))
    };
}

/// `eprintln!` that drops the line instead of panicking when standard error cannot take it.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::console::note_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    /// The macros format as `println!` does; the failures are tested on `/dev/full` with the
    /// binary (trainer/tests/cli.rs).
    #[test]
    fn they_format_as_println_does() {
        let name = "x";
        crate::say!("{name}: {} bytes", 3).unwrap();
        crate::note!("warning: {name}");
    }
}

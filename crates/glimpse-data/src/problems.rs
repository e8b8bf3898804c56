//! What went wrong while reading data: each problem with its file and line, and counts.
//!
//! Messages quote names and text from the data files, so they are stored with control
//! characters escaped ([`terminal_safe`]): printed on a terminal or written one per line to
//! `data-problems.txt`, a name can neither send escape sequences nor forge lines.

use glimpse_files::terminal_safe;

/// Problems met while reading a dataset. Messages are kept (the first ones are shown to the
/// user; all are written to the run folder) and rows that could not be read are counted.
#[derive(Debug, Default)]
pub struct Problems {
    messages: Vec<String>,
    bad_rows: usize,
}

impl Problems {
    /// A row that could not be read at all (malformed, not UTF-8); `location` is `file:line`.
    pub fn bad_row(&mut self, location: &str, message: impl AsRef<str>) {
        self.bad_rows += 1;
        self.push(format!("{location}: {}", message.as_ref()));
    }

    /// A problem with a readable row (empty or over-long caption).
    pub fn at(&mut self, location: &str, message: impl AsRef<str>) {
        self.push(format!("{location}: {}", message.as_ref()));
    }

    /// A problem not tied to a line (a missing image file).
    pub fn note(&mut self, message: impl Into<String>) {
        self.push(message.into());
    }

    fn push(&mut self, message: String) {
        self.messages.push(terminal_safe(&message).into_owned());
    }

    pub fn bad_rows(&self) -> usize {
        self.bad_rows
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn all(&self) -> &[String] {
        &self.messages
    }

    pub fn first(&self, n: usize) -> Vec<String> {
        self.messages.iter().take(n).cloned().collect()
    }
}

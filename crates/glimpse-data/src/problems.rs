//! What went wrong while reading data: each problem with its file and line, and counts.
//!
//! Messages quote names and text from the data files, so they are stored with control
//! characters escaped ([`terminal_safe`]): printed on a terminal or written one per line to
//! `data-problems.txt`, a name can neither send escape sequences nor forge lines.

use glimpse_files::terminal_safe;
use glimpse_model::error::excerpt_of;

/// Problems met while reading a dataset. The first [`MAX_KEPT`] messages are kept (the first
/// ones are shown to the user; the kept ones are written to the run folder), all are counted,
/// and so are the rows that could not be read.
#[derive(Debug, Default)]
pub struct Problems {
    messages: Vec<String>,
    count: usize,
    bad_rows: usize,
}

/// Messages kept: a file of millions of bad rows is reported, not stored row by row.
pub const MAX_KEPT: usize = 10_000;

/// Messages a summary shows.
pub const NOTED: usize = 5;

/// Most characters of a message kept: its file and line, a problem, and the names it quotes,
/// which are the file's own and may be of any length.
pub const MESSAGE_CHARS: usize = 400;

impl Problems {
    /// A row that could not be read at all (malformed, not UTF-8); `location` is `file:line`.
    pub fn bad_row(&mut self, location: &str, message: impl AsRef<str>) {
        self.bad_rows += 1;
        self.push(format!("{location}: {}", message.as_ref()));
    }

    /// An entry of `rows` captions skipped whole (a Karpathy image): counted as that many bad
    /// rows, so that skipping it weighs what it drops against the unusable fraction.
    pub fn bad_entry(&mut self, location: &str, rows: usize, message: impl AsRef<str>) {
        self.bad_rows += rows;
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
        self.count += 1;
        if self.messages.len() < MAX_KEPT {
            // Cut before escaping: a name may be 200 MB of control characters.
            self.messages
                .push(terminal_safe(&excerpt_of(&message, MESSAGE_CHARS)).into_owned());
        }
    }

    pub fn bad_rows(&self) -> usize {
        self.bad_rows
    }

    /// Every problem met, kept or not.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The kept messages: all of them unless there were more than [`MAX_KEPT`].
    pub fn kept(&self) -> &[String] {
        &self.messages
    }

    pub fn first(&self, n: usize) -> Vec<String> {
        self.messages.iter().take(n).cloned().collect()
    }

    /// Notes on standard error how many problems there were and the first [`NOTED`]; `where_all`
    /// says where all kept ones are (`(all in run/data-problems.txt)`), if anywhere. Nothing
    /// when there were none.
    pub fn note_summary(&self, where_all: &str) {
        if self.is_empty() {
            return;
        }
        glimpse_files::note!(
            "data: {} problems, {} unreadable rows{where_all}:",
            self.len(),
            self.bad_rows()
        );
        for message in self.first(NOTED) {
            glimpse_files::note!("  {message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_past_the_cap_are_counted_not_kept() {
        let mut problems = Problems::default();
        for row in 0..MAX_KEPT + 5 {
            problems.bad_row(&format!("f:{row}"), "no comma");
        }
        assert_eq!(
            (problems.len(), problems.bad_rows()),
            (MAX_KEPT + 5, MAX_KEPT + 5)
        );
        assert_eq!(problems.kept().len(), MAX_KEPT);
        assert_eq!(problems.first(1), ["f:0: no comma"]);
    }
}

//! Text safe for a terminal and for line-oriented output.
//!
//! A vocabulary word, a caption or a file name comes from a file someone else wrote. Printed as
//! is, an escape sequence in it can retitle the terminal, move the cursor or hide text, and a
//! tab or newline in a file name forges columns and lines of `path<TAB>caption` output. Every
//! control character is therefore shown as `\u{..}`: C0 (including ESC, tab, newline, carriage
//! return), DEL and C1.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// `text` with every control character written as `\u{XX}`; borrowed when there is none.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// [`terminal_safe`] except for newlines, for messages of several lines that the tool composes
/// itself (an error followed by a list of problems). The parts that come from files should
/// already have been escaped with [`terminal_safe`] or [`shown`]; this is the last line of
/// defence against escape sequences.
pub fn terminal_safe_message(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    // Bidirectional controls (U+202A–U+202E, U+2066–U+2069) are not control characters, but
    // they reorder what a terminal shows after them.
    let bidi = |c: char| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let unsafe_char = |c: char| (c.is_control() || bidi(c)) && !keep(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as `serde_json` writes it) with DEL and the C1 controls, which JSON allows raw
/// inside strings but some terminals obey, written as `\u00XX` escapes: the same JSON value,
/// safe to print. (`serde_json` already escapes C0.)
pub fn terminal_safe_json(json: String) -> String {
    let raw_control = |c: char| c.is_control();
    if !json.contains(raw_control) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if raw_control(c) && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A path for a message or a line of output, control characters escaped.
pub struct Shown<'a>(&'a Path);

/// `path` as [`Shown`]: `format!("{}: …", shown(path))`.
pub fn shown(path: &Path) -> Shown<'_> {
    Shown(path)
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&terminal_safe(&self.0.to_string_lossy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_value_and_loses_del_and_c1() {
        let json = "{\n  \"word\": \"a\u{7f}b\u{9b}2J\u{e9}\"\n}".to_string();
        assert_eq!(
            terminal_safe_json(json),
            "{\n  \"word\": \"a\\u007fb\\u009b2J\u{e9}\"\n}"
        );
        let plain = "{\"word\": \"caf\u{e9}\"}".to_string();
        assert_eq!(terminal_safe_json(plain.clone()), plain);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            terminal_safe("a\u{1b}]0;owned\u{7}b\tc\nd\re\u{7f}f\u{9b}g"),
            "a\\u{1b}]0;owned\\u{7}b\\u{9}c\\u{a}d\\u{d}e\\u{7f}f\\u{9b}g"
        );
        assert!(matches!(terminal_safe("a cat on a mat"), Cow::Borrowed(_)));
        // Right-to-left override and isolate: they reorder the rest of the line.
        assert_eq!(
            terminal_safe("cat\u{202e}tac\u{2066}"),
            "cat\\u{202e}tac\\u{2066}"
        );
        assert_eq!(terminal_safe("café ☕"), "café ☕");
    }

    #[test]
    fn messages_keep_their_lines() {
        assert_eq!(
            terminal_safe_message("error\n  \u{1b}[2Jfirst\tproblem"),
            "error\n  \\u{1b}[2Jfirst\\u{9}problem"
        );
    }

    #[test]
    fn paths_are_shown_escaped() {
        let path = Path::new("photos/evil\nname\t.jpg");
        assert_eq!(shown(path).to_string(), "photos/evil\\u{a}name\\u{9}.jpg");
    }
}

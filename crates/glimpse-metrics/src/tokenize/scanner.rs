//! The scanner: at each position every rule proposes a token and the longest wins (the first
//! listed on a tie), then punctuation and symbols one character or run at a time.

use super::chars::{
    bracket, curly_quote, currency, fraction, lone_symbol, long_dash, run_symbol, unicode_hyphen,
};
use super::rules::{self, Candidate, run};

type Rule = fn(&[char], usize) -> Option<Candidate>;

/// Word-like rules in the jar's order of precedence.
const RULES: &[Rule] = &[
    rules::assimilation,
    rules::word,
    rules::negated_stem,
    rules::apostrophe_word,
    rules::clitic,
    rules::negation,
    rules::number,
    rules::fraction,
    rules::slashed,
    rules::dollar_sign,
    rules::abbreviation,
    rules::ampersand_initials,
    rules::thing,
    rules::hyphenated,
    rules::smiley,
];

/// No caption holds a longer token: every rule sees at most this many characters from where it
/// starts, which keeps scanning linear in the text and the hyphen rules' recursion shallow,
/// whatever a file holds (`a,a,a,…` would otherwise make every position rescan the rest).
pub const MAX_TOKEN_CHARS: usize = 256;

/// The raw tokens of `text` (before lower-casing and coco-caption's punctuation filter).
pub fn scan(text: &str) -> Vec<String> {
    let text: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < text.len() {
        if text[at].is_whitespace() {
            at += 1;
            continue;
        }
        let window = &text[..(at + MAX_TOKEN_CHARS).min(text.len())];
        let best = RULES
            .iter()
            .filter_map(|rule| rule(window, at))
            .fold(None::<Candidate>, |best, c| match best {
                Some(b) if b.length >= c.length => Some(b),
                _ => Some(c),
            })
            .unwrap_or_else(|| punctuation(window, at));
        tokens.extend(best.token);
        at += best.consumed.max(1);
    }
    tokens
}

/// Punctuation, quotes, dashes and symbols: what no word rule matched at `at`.
fn punctuation(text: &[char], at: usize) -> Candidate {
    let c = text[at];
    let same_run = |class: fn(char) -> bool| run(text, at, class) - at;
    if c == '.' {
        let dots = same_run(|c| c == '.');
        return if dots >= 3 {
            Candidate::written(dots, "...")
        } else {
            Candidate::written(1, ".")
        };
    }
    if c == '\u{2026}' || c == '\u{0085}' {
        return Candidate::written(1, "...");
    }
    if c == '?' || c == '!' {
        return Candidate::text(text, at, same_run(|c| c == '?' || c == '!'));
    }
    if matches!(c, ',' | ';' | ':') {
        return Candidate::text(text, at, 1);
    }
    if c == '-' {
        let dashes = same_run(|c| c == '-');
        return Candidate::written(dashes, if dashes == 1 { "-" } else { "--" });
    }
    if long_dash(c) {
        return Candidate::written(same_run(long_dash), "--");
    }
    if let Some(name) = bracket(c) {
        return Candidate::written(1, name);
    }
    if c == '\'' && text.get(at + 1) == Some(&'\'') {
        return Candidate::written(2, "''");
    }
    if let Some(first) = curly_quote(c) {
        // Quotation marks group in pairs (`‘“` is one token, written ```).
        return match text.get(at + 1).copied().and_then(curly_quote) {
            Some(second) => Candidate::written(2, format!("{first}{second}")),
            None => Candidate::written(1, first),
        };
    }
    if c == '"' {
        return Candidate::written(1, "''");
    }
    if c == '\'' {
        return Candidate::written(1, "'");
    }
    if let Some(sign) = currency(c) {
        return Candidate::written(1, sign);
    }
    if let Some(digits) = fraction(c) {
        return Candidate::written(1, digits);
    }
    if run_symbol(c) {
        return Candidate::text(text, at, run(text, at, |d| d == c) - at);
    }
    if lone_symbol(c) && !unicode_hyphen(c) {
        return Candidate::text(text, at, 1);
    }
    // The jar deletes characters it cannot tokenize (emoji, control characters), with a warning.
    Candidate {
        length: 1,
        consumed: 1,
        token: None,
    }
}

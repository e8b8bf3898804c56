//! The lexer's rules, each a function from (text, position) to the token it would make there.
//! As in JFlex, the scanner takes the longest match and, on a tie, the rule listed first; a rule
//! may look past what it consumes (trailing context, pushed-back characters), and that look-ahead
//! counts towards its length.

use super::abbreviations::{Abbreviation, abbreviation as listed_abbreviation};
use super::chars::{alnum, apostrophe, apostrophe_like, digit, hyphen, letter};

/// What one rule makes at one position.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Characters matched, look-ahead included: the scanner keeps the longest.
    pub length: usize,
    /// Characters consumed (fewer than `length` where the rule pushes characters back).
    pub consumed: usize,
    /// The token written, or `None` where the characters are deleted.
    pub token: Option<String>,
}

impl Candidate {
    pub fn text(text: &[char], at: usize, length: usize) -> Candidate {
        Candidate::split(text, at, length, length)
    }

    /// Matches `length` characters but writes (and consumes) only the first `consumed`.
    pub fn split(text: &[char], at: usize, length: usize, consumed: usize) -> Candidate {
        Candidate {
            length,
            consumed,
            token: Some(text[at..at + consumed].iter().collect()),
        }
    }

    pub fn written(length: usize, token: impl Into<String>) -> Candidate {
        Candidate {
            length,
            consumed: length,
            token: Some(token.into()),
        }
    }
}

/// Whether `text` at `at` starts with `word`, compared case-insensitively (ASCII).
pub fn starts_caseless(text: &[char], at: usize, word: &str) -> bool {
    let mut i = at;
    for w in word.chars() {
        match text.get(i) {
            Some(c) if c.eq_ignore_ascii_case(&w) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The end of a run of characters of class `class` from `at`.
pub fn run(text: &[char], at: usize, class: impl Fn(char) -> bool) -> usize {
    let mut i = at;
    while i < text.len() && class(text[i]) {
        i += 1;
    }
    i
}

fn at_class(text: &[char], at: usize, class: impl Fn(char) -> bool) -> bool {
    text.get(at).is_some_and(|&c| class(c))
}

/// Not followed by an ASCII letter (the end of the text counts as not).
fn no_ascii_letter(text: &[char], at: usize) -> bool {
    !text.get(at).is_some_and(|c| c.is_ascii_alphabetic())
}

/// `cannot` → `can` `not`; `gonna`, `gotta`, `lemme`, `gimme`, `wanna` → `gon` `na` and so on;
/// `'tis` and `'twas` → `'t` `is` / `was`.
pub fn assimilation(text: &[char], at: usize) -> Option<Candidate> {
    if starts_caseless(text, at, "cannot") {
        return Some(Candidate::split(text, at, 6, 3));
    }
    for word in ["gonna", "gotta", "lemme", "gimme", "wanna"] {
        if starts_caseless(text, at, word) && !at_class(text, at + 5, letter) {
            return Some(Candidate::split(text, at, 5, 3));
        }
    }
    if at_class(text, at, apostrophe) {
        if starts_caseless(text, at + 1, "twas") {
            return Some(Candidate::split(text, at, 5, 2));
        }
        if starts_caseless(text, at + 1, "tis") && !at_class(text, at + 4, letter) {
            return Some(Candidate::split(text, at, 4, 2));
        }
    }
    None
}

/// The end of a WORD: a letter, then letters and digits, and further such parts joined by `.`,
/// `!` or `?` (`grass.then` stays one word, as in the jar).
pub fn word_end(text: &[char], at: usize) -> Option<usize> {
    if !at_class(text, at, letter) {
        return None;
    }
    let mut end = run(text, at + 1, alnum);
    while matches!(text.get(end), Some('.' | '!' | '?')) && at_class(text, end + 1, letter) {
        end = run(text, end + 2, alnum);
    }
    Some(end)
}

/// A reduced auxiliary (`'s 'm 'd 're 've 'll`) at `at` whose apostrophe is of class `quote`:
/// its length.
fn reduced_auxiliary(text: &[char], at: usize, quote: fn(char) -> bool) -> Option<usize> {
    if !at_class(text, at, quote) {
        return None;
    }
    ["re", "ve", "ll", "s", "m", "d"]
        .iter()
        .find(|aux| starts_caseless(text, at + 1, aux))
        .map(|aux| aux.len() + 1)
}

/// A WORD; followed by a reduced auxiliary, the auxiliary counts as look-ahead (`it` of `it's`);
/// a period between it and `,` `;` `:` stays with it (`dog.,` → `dog.` `,`).
pub fn word(text: &[char], at: usize) -> Option<Candidate> {
    let end = word_end(text, at)?;
    if text.get(end) == Some(&'.') && matches!(text.get(end + 1), Some(',' | ';' | ':')) {
        return Some(Candidate::split(text, at, end + 2 - at, end + 1 - at));
    }
    let aux = reduced_auxiliary(text, end, apostrophe_like).unwrap_or(0);
    Some(Candidate::split(text, at, end - at + aux, end - at))
}

/// The stem before `n't` (`do` of `don't`, `ca` of `can't`): ASCII letters not ending in `n`.
pub fn negated_stem(text: &[char], at: usize) -> Option<Candidate> {
    let end = run(text, at, |c| c.is_ascii_alphabetic());
    // The stem is the run minus a final `n`, which must be the `n` of `n't`.
    let n = end.checked_sub(1).filter(|&n| n > at)?;
    if !text[n].eq_ignore_ascii_case(&'n') || text[n - 1].eq_ignore_ascii_case(&'n') {
        return None;
    }
    negation(text, n)?;
    Some(Candidate::split(text, at, n + 3 - at, n - at))
}

/// `n't`, with its apostrophe written straight.
pub fn negation(text: &[char], at: usize) -> Option<Candidate> {
    let n = text.get(at).filter(|c| c.eq_ignore_ascii_case(&'n'))?;
    let t = text.get(at + 2).filter(|c| c.eq_ignore_ascii_case(&'t'))?;
    at_class(text, at + 1, apostrophe_like).then(|| Candidate::written(3, format!("{n}'{t}")))
}

/// A reduced auxiliary standing alone (`'s` after a word), its apostrophe written straight.
/// Only a true apostrophe starts one (`‘d` is a quote and a letter).
pub fn clitic(text: &[char], at: usize) -> Option<Candidate> {
    let length = reduced_auxiliary(text, at, apostrophe)?;
    if !no_ascii_letter(text, at + length) {
        return None;
    }
    let rest: String = text[at + 1..at + length].iter().collect();
    Some(Candidate {
        length: length + 1,
        consumed: length,
        token: Some(format!("'{rest}")),
    })
}

/// Words with an apostrophe inside or at one end that stay whole: `'em`, `'80s`, `'n'`, `l'`,
/// `O'Neil`, `ma'am`, `y'`.
pub fn apostrophe_word(text: &[char], at: usize) -> Option<Candidate> {
    let c = *text.get(at)?;
    let mut best = 0;
    if apostrophe(c) {
        for tail in ["em", "till", "til", "cause"] {
            if starts_caseless(text, at + 1, tail) {
                best = best.max(tail.len() + 1);
            }
        }
        if matches!(text.get(at + 1), Some('2'..='9'))
            && text.get(at + 2) == Some(&'0')
            && text.get(at + 3).is_some_and(|c| c.eq_ignore_ascii_case(&'s'))
        {
            best = best.max(4);
        }
        // Feet and inches, years before a space: `5'11`, `'99`.
        if at_class(text, at + 1, digit)
            && at_class(text, at + 2, digit)
            && text.get(at + 3).is_none_or(|c| c.is_whitespace())
        {
            best = best.max(3);
        }
        // `'n'` and `'n` (rock 'n' roll), but `'near` is a quote and a word.
        if text.get(at + 1).is_some_and(|c| c.eq_ignore_ascii_case(&'n')) {
            if at_class(text, at + 2, apostrophe) {
                best = best.max(3);
            } else if !at_class(text, at + 2, letter) {
                best = best.max(2);
            }
        }
    }
    if matches!(c, 'l' | 'L' | 'd' | 'D' | 'j' | 'J' | 'y' | 'Y') && at_class(text, at + 1, apostrophe) {
        best = best.max(2);
    }
    // [A-HJ-XZn]'xx…: a capital (not I or Y) or `n`, an apostrophe, two letters or more.
    if (matches!(c, 'A'..='H' | 'J'..='X' | 'Z' | 'n')) && at_class(text, at + 1, apostrophe_like) {
        let end = run(text, at + 2, letter);
        if end >= at + 4 {
            best = best.max(end - at);
        }
    }
    best = best.max(vowel_apostrophe_word(text, at));
    (best > 0).then(|| Candidate::text(text, at, best))
}

/// Two or more letters ending in a vowel, an apostrophe, a vowel or capital, letters (`ma'am`).
fn vowel_apostrophe_word(text: &[char], at: usize) -> usize {
    let end = run(text, at, letter);
    // Any split of the letter run whose left part (≥ 2 letters) ends in a vowel works only at the
    // run's end, since the apostrophe must follow.
    let vowel = |c: char| "aeiouyAEIOUY".contains(c);
    if end < at + 2 || !vowel(text[end - 1]) || !at_class(text, end, apostrophe_like) {
        return 0;
    }
    if !text
        .get(end + 1)
        .is_some_and(|&c| "aeiou".contains(c) || c.is_ascii_uppercase())
    {
        return 0;
    }
    run(text, end + 2, letter) - at
}

/// NUM: digits with `.`, `,` or `:` groups (`1,000`, `3.14`, `12:30`, `.5`, `:1`).
pub fn num_end(text: &[char], at: usize) -> Option<usize> {
    let mut end = run(text, at, digit);
    let leading = end > at;
    let mut groups = 0;
    while matches!(text.get(end), Some('.' | ',' | ':')) && at_class(text, end + 1, digit) {
        end = run(text, end + 1, digit);
        groups += 1;
    }
    (leading || groups > 0).then_some(end)
}

/// NUMBER: a NUM with an optional sign.
pub fn number_end(text: &[char], at: usize) -> Option<usize> {
    let start = if matches!(text.get(at), Some('-' | '+')) {
        at + 1
    } else {
        at
    };
    num_end(text, start)
}

pub fn number(text: &[char], at: usize) -> Option<Candidate> {
    number_end(text, at).map(|end| Candidate::text(text, at, end - at))
}

/// THING: hyphenated words (`x-ray`, `o'clock`, `d'oh`, `re‐enter` with U+2010), or a number
/// followed by `-` and words (`2.5-year-old`; after a number only an ASCII hyphen joins).
pub fn thing(text: &[char], at: usize) -> Option<Candidate> {
    let words = thing_parts(text, at, alnum, hyphen);
    // After a number, only ASCII parts follow (`2.5-year-old-naïve` → `2.5-year-old-na` `ïve`).
    let number = digit_number_end(text, at).map(|end| match text.get(end) {
        Some('-') => thing_parts(text, end + 1, |c| c.is_ascii_alphanumeric(), |c| c == '-').unwrap_or(end),
        _ => end,
    });
    let end = words.max(number)?;
    Some(Candidate::text(text, at, end - at))
}

/// A number that starts with a digit, with `.` or `,` groups (`.5-vs.`, `-2-3` and `12:30-3rd`
/// are not THINGs).
fn digit_number_end(text: &[char], at: usize) -> Option<usize> {
    let mut end = run(text, at, digit);
    if end == at {
        return None;
    }
    while matches!(text.get(end), Some('.' | ',')) && at_class(text, end + 1, digit) {
        end = run(text, end + 1, digit);
    }
    Some(end)
}

/// The end of parts of characters of class `part` joined by hyphens of class `joins`, each part
/// optionally after an elided `d'`, `o'` or `l'` (`o'c` + `lock`).
fn thing_parts(text: &[char], at: usize, part: fn(char) -> bool, joins: fn(char) -> bool) -> Option<usize> {
    let mut starts = vec![at];
    if matches!(text.get(at), Some('d' | 'D' | 'o' | 'O' | 'l' | 'L'))
        && at_class(text, at + 1, apostrophe_like)
        && at_class(text, at + 2, part)
    {
        starts.push(at + 3);
    }
    starts
        .into_iter()
        .filter_map(|start| {
            let end = run(text, start, part);
            (end > start).then(|| match text.get(end) {
                Some(&c) if joins(c) => thing_parts(text, end + 1, part, joins).unwrap_or(end),
                _ => end,
            })
        })
        .max()
}

/// THING3: up to three ASCII words joined by slashes, each with up to two hyphenated letter parts
/// (`red/white/blue`, `3/4-inch`, `and/or`).
pub fn slashed(text: &[char], at: usize) -> Option<Candidate> {
    let part = |start: usize| -> Option<usize> {
        let mut end = run(text, start, |c| c.is_ascii_alphanumeric());
        if end == start {
            return None;
        }
        for _ in 0..2 {
            // Only ASCII letters after these hyphens (`w/o-résumé` → `w/o-r` `ésumé` in the jar).
            let letters = run(text, end + 1, |c| c.is_ascii_alphabetic());
            if text.get(end) == Some(&'-') && letters > end + 1 {
                end = letters;
            } else {
                break;
            }
        }
        Some(end)
    };
    let mut end = part(at)?;
    let mut slashes = 0;
    while slashes < 2 && text.get(end) == Some(&'/') {
        match part(end + 1) {
            Some(next) => end = next,
            None => break,
        }
        slashes += 1;
    }
    (slashes > 0).then(|| Candidate::text(text, at, end - at))
}

/// FRAC: `1/2`, `3/4`, with a whole number before it joined by a space or hyphen (`1 1/2`, written
/// with a no-break space, which coco-caption's BLEU and CIDEr split again but its ROUGE-L not).
pub fn fraction(text: &[char], at: usize) -> Option<Candidate> {
    let digits = |start: usize| -> Option<usize> {
        let end = run(text, start, digit).min(start + 4);
        (end > start).then_some(end)
    };
    let simple = |start: usize| -> Option<usize> {
        let end = digits(start)?;
        if text.get(end) != Some(&'/') {
            return None;
        }
        digits(end + 1)
    };
    let mixed = digits(at)
        .filter(|&e| matches!(text.get(e), Some(' ' | '-' | '\u{00A0}')))
        .and_then(|e| simple(e + 1));
    let end = mixed.max(simple(at))?;
    let token: String = text[at..end]
        .iter()
        .map(|&c| if c == ' ' { '\u{00A0}' } else { c })
        .collect();
    Some(Candidate::written(end - at, token))
}

/// Upper-case initials joined by `&` (`AT&T`, `R&D`, `B&W`; lower-case `b&w` splits).
pub fn ampersand_initials(text: &[char], at: usize) -> Option<Candidate> {
    let upper = |c: char| c.is_ascii_uppercase();
    let mut end = run(text, at, upper);
    if end == at {
        return None;
    }
    let mut joined = false;
    while text.get(end) == Some(&'&') && at_class(text, end + 1, upper) {
        end = run(text, end + 1, upper);
        joined = true;
    }
    joined.then(|| Candidate::text(text, at, end - at))
}

/// Currency with upper-case letters before it (`US$`).
pub fn dollar_sign(text: &[char], at: usize) -> Option<Candidate> {
    let end = run(text, at, |c| c.is_ascii_uppercase());
    (text.get(end) == Some(&'$')).then(|| Candidate::text(text, at, end + 1 - at))
}

/// Initials and abbreviations that keep their period (`u.s.`, `a.m.`, `mr.`, `st.`, `no. 5`).
pub fn abbreviation(text: &[char], at: usize) -> Option<Candidate> {
    let ascii_letter = |i: usize| at_class(text, i, |c| c.is_ascii_alphabetic());
    if !ascii_letter(at) {
        return None;
    }
    // Initials: a letter, then `.letter` pairs, then a period.
    let mut end = at + 1;
    while text.get(end) == Some(&'.') && ascii_letter(end + 1) {
        end += 2;
    }
    if text.get(end) == Some(&'.') {
        return Some(Candidate::text(text, at, end + 1 - at));
    }
    let word_end = run(text, at, |c| c.is_ascii_alphabetic());
    if text.get(word_end) != Some(&'.') {
        return None;
    }
    let after = run(text, word_end + 1, |c| c == ' ');
    let word: String = text[at..word_end].iter().collect();
    // The jar's abbreviation rules look two characters ahead, which counts towards their length
    // (`Inc.-Q` stays `Inc.` `-` `Q`, while `Inc.-Qa` is one hyphenated token).
    let length = word_end + 1 - at;
    let look_ahead = match listed_abbreviation(&word, at_class(text, after, digit))? {
        Abbreviation::LookingAhead => (text.len() - (word_end + 1)).min(2),
        Abbreviation::Title => 0,
    };
    Some(Candidate::split(text, at, length + look_ahead, length))
}

/// HTHING: ASCII letters and digits (with `.` and `,` inside), then hyphenated parts, each
/// letters and digits or initials with their period (`holds.10-15`, `p.m.-cat`,
/// `child.black-and-white`).
pub fn hyphenated(text: &[char], at: usize) -> Option<Candidate> {
    let ascii = |c: char| c.is_ascii_alphanumeric();
    if !at_class(text, at, ascii) {
        return None;
    }
    let head = run(text, at + 1, |c| ascii(c) || c == '.' || c == ',');
    let end = hyphen_parts(text, head)?;
    Some(Candidate::text(text, at, end - at))
}

/// The longest end of one or more `-part`s from `at` (a hyphen).
fn hyphen_parts(text: &[char], at: usize) -> Option<usize> {
    if text.get(at) != Some(&'-') {
        return None;
    }
    let mut ends = Vec::new();
    let body = run(text, at + 1, |c| c.is_ascii_alphanumeric());
    if body > at + 1 {
        ends.push(body);
    }
    let mut initials = at + 1;
    while at_class(text, initials, |c| c.is_ascii_alphabetic()) && text.get(initials + 1) == Some(&'.') {
        initials += 2;
    }
    if initials >= at + 5 {
        ends.push(initials);
    }
    ends.into_iter()
        .map(|end| hyphen_parts(text, end).unwrap_or(end).max(end))
        .max()
}

/// An emoticon (`:)`, `;-)`, `=D`), its round brackets written as the Treebank names them
/// (`:-rrb-`; `=]` stays).
pub fn smiley(text: &[char], at: usize) -> Option<Candidate> {
    let mut i = at;
    if matches!(text.get(i), Some('<' | '>')) {
        i += 1;
    }
    if !matches!(text.get(i), Some(':' | ';' | '=')) {
        return None;
    }
    i += 1;
    if matches!(text.get(i), Some('-' | 'o' | '*' | '\'')) {
        i += 1;
    }
    text.get(i).filter(|c| "()DPdpO\\{@|[]".contains(**c))?;
    let token: String = text[at..=i]
        .iter()
        .map(|&c| match c {
            '(' | ')' => super::chars::bracket(c).unwrap_or_default().to_string(),
            _ => c.to_string(),
        })
        .collect();
    Some(Candidate::written(i + 1 - at, token))
}

//! The character classes of coco-caption's PTB lexer (Stanford CoreNLP 3.4.1, `PTBLexer.flex`).
//! Its scanner is case-insensitive for literal words but not inside character classes, so the
//! classes below keep their case.

/// A letter (Java's `Character.isLetter`, which Unicode's Alphabetic property approximates).
pub fn letter(c: char) -> bool {
    c.is_alphabetic()
}

/// A digit. Only ASCII: captions in other digit scripts are outside what we match exactly.
pub fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

pub fn alnum(c: char) -> bool {
    letter(c) || digit(c)
}

/// An apostrophe: straight, right curly, or CP1252's right quote.
pub fn apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{0092}')
}

/// An apostrophe or a character often typed for one (backquote, left curly quotes).
pub fn apostrophe_like(c: char) -> bool {
    apostrophe(c) || matches!(c, '`' | '\u{0091}' | '\u{2018}' | '\u{201B}')
}

/// A hyphen that may join the parts of a word (`x-ray`, `3-year-old`).
pub fn hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{058A}' | '\u{2010}' | '\u{2011}')
}

/// Hyphens the jar joins words with but deletes when they stand alone.
pub fn unicode_hyphen(c: char) -> bool {
    hyphen(c) && c != '-'
}

/// Quotation marks that group in runs of one or two (`“`, `‘“`), with the LaTeX-style form the
/// tokenizer writes for each (`“` → two backquotes); low quotes are written unchanged.
pub fn curly_quote(c: char) -> Option<&'static str> {
    Some(match c {
        '`' | '\u{2018}' | '\u{2039}' | '\u{0091}' => "`",
        '\u{2019}' | '\u{203A}' | '\u{0092}' => "'",
        '\u{201C}' | '\u{00AB}' | '\u{0093}' => "``",
        '\u{201D}' | '\u{00BB}' | '\u{0094}' => "''",
        '\u{201A}' => "\u{201A}",
        '\u{201E}' => "\u{201E}",
        '\u{201B}' => "\u{201B}",
        '\u{201F}' => "\u{201F}",
        _ => return None,
    })
}

/// Brackets, written as the Penn Treebank names them (lower-cased: coco-caption keeps them).
pub fn bracket(c: char) -> Option<&'static str> {
    Some(match c {
        '(' => "-LRB-",
        ')' => "-RRB-",
        '[' => "-LSB-",
        ']' => "-RSB-",
        '{' => "-LCB-",
        '}' => "-RCB-",
        _ => return None,
    })
}

/// Dashes written as `--` (en, em, figure dashes, horizontal bar, CP1252's dashes).
pub fn long_dash(c: char) -> bool {
    matches!(c, '\u{2012}'..='\u{2015}' | '\u{0096}' | '\u{0097}')
}

/// Vulgar fraction characters, written as digits (`½` → `1/2`).
pub fn fraction(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00BC}' => "1/4",
        '\u{00BD}' => "1/2",
        '\u{00BE}' => "3/4",
        '\u{2153}' => "1/3",
        '\u{2154}' => "2/3",
        '\u{2155}' => "1/5",
        '\u{2156}' => "2/5",
        '\u{2157}' => "3/5",
        '\u{2158}' => "4/5",
        '\u{2159}' => "1/6",
        '\u{215A}' => "5/6",
        '\u{215B}' => "1/8",
        '\u{215C}' => "3/8",
        '\u{215D}' => "5/8",
        '\u{215E}' => "7/8",
        _ => return None,
    })
}

/// Currency signs, as the tokenizer normalises them (`£` → `#`, `€` → `$`, `¢` → `cents`).
pub fn currency(c: char) -> Option<&'static str> {
    Some(match c {
        '$' => "$",
        '#' | '\u{00A3}' => "#",
        '\u{20AC}' | '\u{0080}' => "$",
        '\u{00A2}' => "cents",
        '\u{00A4}' => "\u{00A4}",
        '\u{00A5}' => "\u{00A5}",
        _ => return None,
    })
}

/// Symbols that stand alone as tokens of their own (one character each).
pub fn lone_symbol(c: char) -> bool {
    matches!(
        c,
        '&' | '%' | '+' | '=' | '~' | '^' | '|' | '\\' | '/' | '<' | '>' | '\u{00A1}' | '\u{00BF}'
            | '\u{00A6}'..='\u{00A9}'
            | '\u{00AC}' | '\u{00AE}'..='\u{00B4}' | '\u{00B6}'..='\u{00B9}' | '\u{00D7}' | '\u{00F7}'
    )
}

/// Symbols that group in runs (`**`, `@@`, `__`).
pub fn run_symbol(c: char) -> bool {
    matches!(c, '*' | '@' | '_')
}

//! Caption tokenisation exactly as coco-caption (pycocoevalcap 1.2) tokenises before scoring.
//!
//! coco-caption runs Stanford CoreNLP 3.4.1's PTBTokenizer (`-preserveLines -lowerCase`) and then
//! drops the tokens of its punctuation list. That list names brackets in upper case (`-LRB-`)
//! while the tokens are lower-cased, so brackets survive as `-lrb-`, `-rsb-`, `-lcb-`…, and so do
//! symbols (`&`, `%`, `$`, `/`) and doubled marks (`!!`, `?!`). Clitics split off their word
//! (`man 's`, `do n't`, `ca n't`), hyphenated and slashed words stay whole (`t-shirt`,
//! `red/white/blue`), numbers keep their commas and decimals (`1,000`, `3.14`), titles and
//! initials keep their period (`mr.`, `st.`, `u.s.`), and a few words split as the jar splits
//! them (`cannot` → `can not`, `gonna` → `gon na`).
//!
//! The scanner reimplements the jar's lexer for what captions contain: letters of every
//! alphabet, digits, spaces, `. , ; : ! ? … ' " ‘ ’ “ ” « » ‹ › ‚ „ ( ) [ ] { } - – — / & $ € £ %`
//! and common symbols; `tests/fixtures/metrics/ptb_tokens.json` holds the jar's own tokens for
//! such text and the tests compare every one. It does not reproduce the jar's handling of URLs,
//! e-mail addresses, SGML tags, emoticons or non-ASCII digits.

mod abbreviations;
mod chars;
mod rules;
mod scanner;

/// Tokens coco-caption drops after tokenising (its `PUNCTUATIONS`, as they compare lower-cased).
const DROPPED: &[&str] = &[
    "''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";",
];

/// The tokens of `text` as coco-caption scores them.
///
/// A token may hold a no-break space (the jar writes `1 1/2` as one token `1\u{a0}1/2`):
/// coco-caption's ROUGE-L keeps it whole, its BLEU and CIDEr split it, and so do ours.
pub fn tokenize(text: &str) -> Vec<String> {
    scanner::scan(text)
        .into_iter()
        .map(|token| token.to_lowercase())
        .filter(|token| !DROPPED.contains(&token.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    fn t(text: &str) -> Vec<String> {
        tokenize(text)
    }

    #[test]
    fn lowercases_and_drops_punctuation() {
        assert_eq!(t("A dog runs, fast."), ["a", "dog", "runs", "fast"]);
        assert_eq!(t("Two dogs ... play!"), ["two", "dogs", "play"]);
        assert_eq!(t("\"Hello\" 'there'"), ["hello", "there"]);
    }

    #[test]
    fn keeps_brackets_symbols_and_doubled_marks_as_coco_caption_does() {
        assert_eq!(
            t("A dog (brown) [x] {y}"),
            [
                "a", "dog", "-lrb-", "brown", "-rrb-", "-lsb-", "x", "-rsb-", "-lcb-", "y", "-rcb-"
            ]
        );
        assert_eq!(
            t("black & white, 50% off!!"),
            ["black", "&", "white", "50", "%", "off", "!!"]
        );
    }

    #[test]
    fn splits_clitics_and_keeps_inner_hyphens() {
        assert_eq!(t("A man's t-shirt"), ["a", "man", "'s", "t-shirt"]);
        assert_eq!(t("It doesn't -- fit"), ["it", "does", "n't", "fit"]);
        assert_eq!(
            t("they’re here, can't you?"),
            ["they", "'re", "here", "ca", "n't", "you"]
        );
        assert_eq!(t("at 5 o'clock"), ["at", "5", "o'clock"]);
    }

    #[test]
    fn numbers_initials_and_titles() {
        assert_eq!(
            t("1,000 people and 3.14 pies"),
            ["1,000", "people", "and", "3.14", "pies"]
        );
        assert_eq!(
            t("Mr. Smith in the U.S. at 5 p.m."),
            ["mr.", "smith", "in", "the", "u.s.", "at", "5", "p.m."]
        );
        assert_eq!(t("the end."), ["the", "end"]);
    }

    #[test]
    fn hostile_captions_are_scanned_in_linear_time_and_shallow_recursion() {
        // Each would rescan the rest of the text at every position, or recurse once per hyphen.
        for (unit, count) in [
            ("a,", 200_000),
            ("a-", 200_000),
            ("d'a-", 100_000),
            ("-p.m.", 80_000),
        ] {
            let text = unit.repeat(count);
            let tokens = tokenize(&text);
            assert!(
                !tokens.is_empty() && tokens.iter().all(|t| t.chars().count() <= 256),
                "{unit}"
            );
        }
    }

    #[test]
    fn empty_and_blank_give_nothing() {
        assert!(tokenize("").is_empty());
        assert!(tokenize("  . , !").is_empty());
    }
}

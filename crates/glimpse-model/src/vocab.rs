//! The vocabulary: word ↔ id, and which ids are the special tokens.
//!
//! Two spellings of the special tokens are in use: the notebook's `<PAD> <SOS> <EOS> <UNK>` and
//! sgrvinod's `<pad> <start> <end> <unk>`. Both are recognised wherever they sit.

use std::collections::HashMap;

use crate::config::limits::{MAX_VOCAB_SIZE, MAX_WORD_BYTES};
use crate::error::{Error, Result, excerpt, parser_message};

/// Spellings of each special token, the notebook's first.
const PAD: [&str; 2] = ["<PAD>", "<pad>"];
const START: [&str; 2] = ["<SOS>", "<start>"];
const END: [&str; 2] = ["<EOS>", "<end>"];
const UNK: [&str; 2] = ["<UNK>", "<unk>"];

/// Words indexed by id, with the special tokens located.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    words: Vec<String>,
    ids: HashMap<String, u32>,
    /// Padding, when the vocabulary has one.
    pub pad: Option<u32>,
    /// The token that starts every caption.
    pub start: u32,
    /// The token that ends a caption.
    pub end: u32,
    /// The stand-in for rare words, when the vocabulary has one.
    pub unk: Option<u32>,
}

impl Vocabulary {
    /// Builds a vocabulary where `words[id]` is the word with that id.
    /// Words holding control characters are refused: they would reach the terminal as escape
    /// sequences when a caption is printed.
    pub fn from_words(words: Vec<String>) -> Result<Self> {
        if words.len() > MAX_VOCAB_SIZE {
            return Err(Error::Vocabulary(format!(
                "{} words, over the limit of {MAX_VOCAB_SIZE}",
                words.len()
            )));
        }
        let mut ids = HashMap::with_capacity(words.len());
        for (id, word) in words.iter().enumerate() {
            check_word(id, word)?;
            if let Some(previous) = ids.insert(word.clone(), id as u32) {
                return Err(Error::Vocabulary(format!(
                    "word {word:?} appears twice (ids {previous} and {id})"
                )));
            }
        }
        for spellings in [PAD, START, END, UNK] {
            if let [Some(first), Some(second)] = spellings.map(|s| ids.get(s)) {
                // The second would be an ordinary word: a caption could say `<end>` and go on.
                return Err(Error::Vocabulary(format!(
                    "holds both {:?} (id {first}) and {:?} (id {second}), two spellings of one special token",
                    spellings[0], spellings[1]
                )));
            }
        }
        let find = |spellings: [&str; 2]| spellings.iter().find_map(|s| ids.get(*s).copied());
        let start =
            find(START).ok_or_else(|| Error::Vocabulary(format!("no start token (one of {START:?})")))?;
        let end = find(END).ok_or_else(|| Error::Vocabulary(format!("no end token (one of {END:?})")))?;
        let (pad, unk) = (find(PAD), find(UNK));
        Ok(Vocabulary {
            words,
            ids,
            pad,
            start,
            end,
            unk,
        })
    }

    /// Reads a vocabulary from JSON: an array (index = id) or an object word → id whose ids are
    /// exactly `0..n` (sgrvinod's `WORDMAP_*.json`).
    pub fn from_json(json: &str) -> Result<Self> {
        // (A byte-order mark, as some editors save: refused as "expected value at line 1
        // column 1", where every other text file Glimpse reads takes it: hostile round 22.)
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        let entries: Entries = serde_json::from_str(json).map_err(|e| {
            Error::Vocabulary(parser_message(&format!(
                "not a JSON list of words or map of ids: {e}"
            )))
        })?;
        match entries {
            Entries::Array(items) => {
                let words = items
                    .into_iter()
                    .enumerate()
                    .map(|(id, item)| match item {
                        Item::Text(word) => Ok(word),
                        other => Err(Error::Vocabulary(format!(
                            "entry {id} is {}, not a string",
                            other.kind()
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Vocabulary::from_words(words)
            }
            Entries::Object(map) => {
                let n = map.len();
                let mut words: Vec<Option<String>> = vec![None; n];
                for (word, id) in map {
                    let Item::Whole(id) = id else {
                        return Err(Error::Vocabulary(format!(
                            "id of {:?} is {}, not an id (ids are whole numbers from 0, written without a point or exponent)",
                            excerpt(&word),
                            id.described()
                        )));
                    };
                    // Compared as u64: on wasm32 `as usize` would wrap a large id into range.
                    if id >= n as u64 {
                        return Err(Error::Vocabulary(format!(
                            "id {id} of {:?} is out of range for {n} words (ids must be 0..{n})",
                            excerpt(&word)
                        )));
                    }
                    let id = id as usize;
                    if words[id].as_ref() == Some(&word) {
                        // (A map's key twice: the old reader kept one.)
                        return Err(Error::Vocabulary(format!("{:?} is listed twice", excerpt(&word))));
                    }
                    if let Some(other) = &words[id] {
                        return Err(Error::Vocabulary(format!(
                            "id {id} is given to both {:?} and {:?}",
                            excerpt(other),
                            excerpt(&word)
                        )));
                    }
                    words[id] = Some(word);
                }
                // n distinct ids below n cover every id, so nothing is left unset.
                Vocabulary::from_words(words.into_iter().flatten().collect())
            }
            Entries::Other(kind) => Err(Error::Vocabulary(format!(
                "expected a JSON array or object, found {kind}"
            ))),
        }
    }

    /// The JSON array form stored in bundles.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.words).expect("strings always serialise")
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word with this id.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    /// The id of this word.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Whether the id is padding, start or end (which never show in a caption).
    pub fn is_control(&self, id: u32) -> bool {
        id == self.start || id == self.end || Some(id) == self.pad
    }
}

/// Refuses a word longer than [`MAX_WORD_BYTES`], a word with a control character (U+0000–U+001F,
/// U+007F–U+009F) or a bidirectional control (U+202A–U+202E, U+2066–U+2069), naming its id and the character, and an empty word
/// or one with whitespace, which a caption would show as no word or as two; the word is shown
/// escaped.
fn check_word(id: usize, word: &str) -> Result<()> {
    if word.len() > MAX_WORD_BYTES {
        return Err(Error::Vocabulary(format!(
            "word {id} ({:?}) is longer than {MAX_WORD_BYTES} bytes",
            excerpt(word)
        )));
    }
    if let Some(c) = word.chars().find(|&c| c.is_control() || is_bidi_control(c)) {
        return Err(Error::Vocabulary(format!(
            "word {id} ({word:?}) contains the control character U+{:04X}; words are printed \
             on terminals, where control characters act as commands or reorder the text",
            c as u32
        )));
    }
    if word.is_empty() || word.chars().any(char::is_whitespace) {
        return Err(Error::Vocabulary(format!(
            "word {id} ({word:?}) is empty or holds whitespace; a caption's words are separated by spaces"
        )));
    }
    Ok(())
}

/// A word a vocabulary may hold: [`check_word`] accepts it.
pub fn is_printable_word(word: &str) -> bool {
    check_word(0, word).is_ok()
}

/// The Unicode controls that reorder the text around them (the "Trojan Source" characters).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A vocabulary's JSON as read: its entries, refused past [`MAX_VOCAB_SIZE`] before more are
/// read (a tree of 25 million one-letter words took GBs for 100 MB of text).
enum Entries {
    Array(Vec<Item>),
    Object(Vec<(String, Item)>),
    /// Neither, by kind.
    Other(&'static str),
}

/// One value of a vocabulary's JSON, kept as far as a vocabulary can use it: an array or an
/// object there is skipped, never built (one entry of 44 million numbers took 1.65 GB).
enum Item {
    Text(String),
    Whole(u64),
    /// Anything else: its kind, and a number's text.
    Other(&'static str, Option<String>),
}

impl Item {
    fn kind(&self) -> &'static str {
        match self {
            Item::Text(_) => "a string",
            Item::Whole(_) => "a number",
            Item::Other(kind, _) => kind,
        }
    }

    /// A number as written, else its kind.
    fn described(&self) -> String {
        match self {
            Item::Other(_, Some(number)) => excerpt(number),
            other => other.kind().into(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(EntriesVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// Fails once `count` entries are more than a vocabulary may hold.
fn check_count<E: serde::de::Error>(count: usize) -> std::result::Result<(), E> {
    match count > MAX_VOCAB_SIZE {
        true => Err(E::custom(format!("more than {MAX_VOCAB_SIZE} words"))),
        false => Ok(()),
    }
}

struct EntriesVisitor;

impl<'de> serde::de::Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array or object")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Entries, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
            check_count(items.len())?;
        }
        Ok(Entries::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
            check_count(entries.len())?;
        }
        Ok(Entries::Object(entries))
    }

    fn visit_unit<E>(self) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("null"))
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<Entries, E> {
        Ok(Entries::Other("a string"))
    }
}

struct ItemVisitor;

impl<'de> serde::de::Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a word or an id")
    }

    fn visit_str<E>(self, text: &str) -> std::result::Result<Item, E> {
        Ok(Item::Text(text.to_string()))
    }

    fn visit_string<E>(self, text: String) -> std::result::Result<Item, E> {
        Ok(Item::Text(text))
    }

    fn visit_u64<E>(self, id: u64) -> std::result::Result<Item, E> {
        Ok(Item::Whole(id))
    }

    fn visit_i64<E>(self, number: i64) -> std::result::Result<Item, E> {
        Ok(Item::Other("a number", Some(number.to_string())))
    }

    fn visit_f64<E>(self, number: f64) -> std::result::Result<Item, E> {
        // As a float reads (46.0, 1.8446744073709552e19), not as a whole number (46).
        Ok(Item::Other("a number", Some(format!("{number:?}"))))
    }

    fn visit_unit<E>(self) -> std::result::Result<Item, E> {
        Ok(Item::Other("null", None))
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Item, E> {
        Ok(Item::Other("a boolean", None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Item, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Item::Other("an array", None))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Item, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Item::Other("an object", None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn notebook_tokens_are_found() {
        let vocab = Vocabulary::from_words(words(&["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "dog"])).unwrap();
        assert_eq!(
            (vocab.pad, vocab.start, vocab.end, vocab.unk),
            (Some(0), 1, 2, Some(3))
        );
        assert_eq!(vocab.id("dog"), Some(5));
        assert_eq!(vocab.word(4), Some("a"));
        assert!(vocab.is_control(1) && !vocab.is_control(3));
    }

    #[test]
    fn sgrvinod_wordmap_object_is_read() {
        let json = r#"{"a": 1, "dog": 2, "<unk>": 3, "<start>": 4, "<end>": 5, "<pad>": 0}"#;
        let vocab = Vocabulary::from_json(json).unwrap();
        assert_eq!(vocab.len(), 6);
        assert_eq!(
            (vocab.pad, vocab.start, vocab.end, vocab.unk),
            (Some(0), 4, 5, Some(3))
        );
        assert_eq!(vocab.word(2), Some("dog"));
        let again = Vocabulary::from_json(&vocab.to_json()).unwrap();
        assert_eq!(again, vocab);
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |json: &str| Vocabulary::from_json(json).unwrap_err().to_string();
        assert!(err(r#"["<SOS>", "a", "a", "<EOS>"]"#).contains(r#"word "a" appears twice"#));
        assert!(err(r#"["a", "<EOS>"]"#).contains("no start token"));
        assert!(err(r#"["<SOS>", "a"]"#).contains("no end token"));
        assert!(err(r#"{"<SOS>": 0, "<EOS>": 2}"#).contains("out of range"));
        assert!(err(r#"{"<SOS>": 0, "<EOS>": 0}"#).contains("is given to both"));
        assert!(err(r#"{"<SOS>": 0, "<SOS>": 0, "<EOS>": 1}"#).contains(r#""<SOS>" is listed twice"#));
        assert!(
            err(r#"{"<SOS>": 0, "<EOS>": "1"}"#).contains("is a string, not an id (ids are whole numbers")
        );
        // A fraction or a number past u64 was called "46, not a whole number" (hostile round 22).
        assert!(err(r#"{"<SOS>": 0, "<EOS>": 1.0}"#).contains("is 1.0, not an id"));
        assert!(
            err(r#"{"<SOS>": 0, "<EOS>": 18446744073709551621}"#)
                .contains("is 1.8446744073709552e19, not an id")
        );
        // A byte-order mark is taken, as in every other text file.
        assert!(Vocabulary::from_json("\u{feff}[\"<SOS>\", \"<EOS>\"]").is_ok());
        assert!(err(r#"["<SOS>", 3]"#).contains("entry 1"));
        assert!(err("42").contains("found a number"));
        assert!(err("[").contains("not a JSON list of words or map of ids: EOF"));
        // Words a caption would show as nothing, as two words, or reordering the line.
        assert!(err(r#"["<SOS>", "", "<EOS>"]"#).contains("word 1 (\"\") is empty or holds whitespace"));
        assert!(err(r#"["<SOS>", "a b", "<EOS>"]"#).contains("is empty or holds whitespace"));
        assert!(
            err(r#"["<SOS>", "ab\u202e", "<EOS>"]"#)
                .contains("(\"ab\\u{202e}\") contains the control character U+202E")
        );
    }
}

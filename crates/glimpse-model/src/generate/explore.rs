//! Asking a model about one image beyond its best caption: continue the caption from given
//! words, record the most probable words at every position, keep every beam hypothesis. Also
//! how a person's words become vocabulary ids (for a prefix or a caption to score).

use super::MAX_LENGTH;
use crate::error::{Error, Result};
use crate::vocab::Vocabulary;

/// Most alternatives recorded per position.
pub const MAX_ALTERNATIVES: usize = 50;

/// What a single-image search is asked besides its best caption.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExploreOptions {
    /// Words the caption starts with (ids, without the start token); the search continues after
    /// them, and they count towards the maximum length.
    pub prefix: Vec<u32>,
    /// How many of the most probable words to record at every position, the end position
    /// included (0: none). See [`super::Caption::alternatives`].
    pub alternatives: usize,
    /// Return every hypothesis the beam holds at the end, best first, not only the best.
    pub all_beams: bool,
}

impl ExploreOptions {
    /// Checks the prefix (vocabulary words, shorter than `max_len`) and the alternatives.
    pub fn validate(&self, vocab: &Vocabulary, max_len: usize) -> Result<()> {
        check_alternatives(self.alternatives)?;
        if self.prefix.len() >= max_len {
            return Err(Error::InvalidArgument(format!(
                "a prefix of {} words leaves nothing to decode within the maximum length of {max_len}",
                self.prefix.len()
            )));
        }
        check_caption_ids(vocab, &self.prefix)
    }
}

/// Refuses more alternatives than [`MAX_ALTERNATIVES`].
pub fn check_alternatives(alternatives: usize) -> Result<()> {
    if alternatives > MAX_ALTERNATIVES {
        return Err(Error::InvalidArgument(format!(
            "{alternatives} alternatives asked for, at most {MAX_ALTERNATIVES} are recorded"
        )));
    }
    Ok(())
}

/// Checks ids that stand for a caption's words: within the vocabulary, not the start, end or
/// padding token, and fewer than [`MAX_LENGTH`].
pub fn check_caption_ids(vocab: &Vocabulary, ids: &[u32]) -> Result<()> {
    check_length(ids.len())?;
    for (position, &id) in ids.iter().enumerate() {
        let Some(word) = vocab.word(id) else {
            return Err(Error::InvalidArgument(format!(
                "word {} has id {id}, outside the vocabulary of {} words",
                position + 1,
                vocab.len()
            )));
        };
        if id == vocab.start || id == vocab.end || Some(id) == vocab.pad {
            return Err(Error::InvalidArgument(format!(
                "word {} is {word}, a special token that a caption cannot contain",
                position + 1
            )));
        }
    }
    Ok(())
}

/// Refuses captions of [`MAX_LENGTH`] words or more (the end token must fit).
pub fn check_length(words: usize) -> Result<()> {
    if words >= MAX_LENGTH {
        return Err(Error::InvalidArgument(format!(
            "a caption of {words} words is over the limit of {}",
            MAX_LENGTH - 1
        )));
    }
    Ok(())
}

/// The longest text a caption or prefix may be given as, in bytes: far more than
/// [`MAX_LENGTH`] words of any vocabulary take, and checked before the text is split (100 million
/// characters took 20 s and 2.4 GB of a browser's WebAssembly memory to be refused by their
/// count of words).
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// The words of a caption a person typed, split and lowercased as training captions are
/// (coco-caption's tokenisation, punctuation dropped); a text over [`MAX_TEXT_BYTES`] is
/// refused unsplit.
pub fn caption_words(text: &str) -> Result<Vec<String>> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::InvalidArgument(format!(
            "a caption of {} bytes is over the limit of {MAX_TEXT_BYTES} bytes",
            text.len()
        )));
    }
    Ok(glimpse_metrics::tokenize(text))
}

/// Refuses a caption to score of no words (its end token alone was scored without a word: review
/// 73).
pub fn check_words_to_score(words: &[String]) -> Result<()> {
    if words.is_empty() {
        return Err(Error::InvalidArgument(
            "the caption to score has no words (split as training captions are: lowercased, \
             punctuation dropped)"
                .into(),
        ));
    }
    Ok(())
}

/// Vocabulary ids for a person's words, with a note for each word the vocabulary lacks, which
/// stands as `<UNK>` (refused when the vocabulary has no `<UNK>`). Special tokens other than
/// `<UNK>` are refused, naming the word.
pub fn lookup_words(vocab: &Vocabulary, words: &[String]) -> Result<(Vec<u32>, Vec<String>)> {
    check_length(words.len())?; // before anything is allocated for them
    let mut ids = Vec::with_capacity(words.len());
    let mut notes = Vec::new();
    for (position, word) in words.iter().enumerate() {
        let id = match (vocab.id(word), vocab.unk) {
            (Some(id), _) => id,
            (None, Some(unk)) => {
                let unk_word = vocab.word(unk).unwrap_or("<UNK>");
                notes.push(format!(
                    "word {} {word:?} is not in the vocabulary: read as {unk_word}",
                    position + 1
                ));
                unk
            }
            (None, None) => {
                return Err(Error::InvalidArgument(format!(
                    "word {} {word:?} is not in the vocabulary, which has no <UNK> token",
                    position + 1
                )));
            }
        };
        ids.push(id);
    }
    check_caption_ids(vocab, &ids)?;
    Ok((ids, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &[&str]) -> Vocabulary {
        Vocabulary::from_words(words.iter().map(|w| w.to_string()).collect()).unwrap()
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn unknown_words_read_as_unk_with_a_note() {
        let v = vocab(&["<PAD>", "<SOS>", "<EOS>", "<UNK>", "a", "dog"]);
        let (ids, notes) = lookup_words(&v, &caption_words("A zebra, a dog!").unwrap()).unwrap();
        assert_eq!(ids, [4, 3, 4, 5]);
        assert_eq!(
            notes,
            ["word 2 \"zebra\" is not in the vocabulary: read as <UNK>"]
        );
        let typed_unk = lookup_words(&v, &strings(&["<UNK>"])).unwrap();
        assert_eq!(typed_unk, (vec![3], Vec::new()));
    }

    #[test]
    fn special_tokens_and_unknown_words_without_unk_are_refused() {
        let v = vocab(&["<pad>", "<start>", "<end>", "a"]);
        let err = lookup_words(&v, &strings(&["a", "zebra"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("word 2 \"zebra\"") && err.contains("no <UNK>"),
            "{err}"
        );
        let err = lookup_words(&v, &strings(&["a", "<end>"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("word 2 is <end>, a special token"), "{err}");
        let err = check_caption_ids(&v, &[3, 9]).unwrap_err().to_string();
        assert!(
            err.contains("word 2 has id 9, outside the vocabulary of 4"),
            "{err}"
        );
        assert!(check_caption_ids(&v, &vec![3; MAX_LENGTH]).is_err());
    }

    #[test]
    fn a_prefix_must_leave_room_and_alternatives_are_bounded() {
        let v = vocab(&["<pad>", "<start>", "<end>", "a"]);
        let mut options = ExploreOptions {
            prefix: vec![3, 3],
            ..ExploreOptions::default()
        };
        options.validate(&v, 3).unwrap();
        let err = options.validate(&v, 2).unwrap_err().to_string();
        assert!(err.contains("prefix of 2 words"), "{err}");
        options.alternatives = MAX_ALTERNATIVES + 1;
        assert!(
            options
                .validate(&v, 3)
                .unwrap_err()
                .to_string()
                .contains("alternatives")
        );
    }
}

//! The training vocabulary: every train-split word seen at least `min_count` times, after the
//! special tokens `<PAD> <SOS> <EOS> <UNK>` (ids 0–3).

use std::collections::HashMap;

use glimpse_model::Vocabulary;
use glimpse_model::vocab::is_printable_word;

use crate::dataset::Sample;

pub const SPECIALS: [&str; 4] = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"];

/// Words ordered by frequency (ties alphabetical), so the same data always gives the same ids.
/// Words a vocabulary may not hold (control or bidirectional characters, whitespace such as the
/// no-break space coco-caption's tokenizer keeps) are left out: they read as `<UNK>`. Fails, naming the count, when the words that remain exceed
/// what a bundle may hold.
pub fn build_vocabulary(train: &[Sample], min_count: usize) -> anyhow::Result<Vocabulary> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for sample in train {
        for caption in &sample.tokens {
            for word in caption {
                *counts.entry(word.as_str()).or_insert(0) += 1;
            }
        }
    }
    let mut words: Vec<(&str, usize)> = counts
        .into_iter()
        .filter(|(word, count)| *count >= min_count.max(1) && !SPECIALS.contains(word))
        .filter(|(word, _)| is_printable_word(word))
        .collect();
    if words.is_empty() {
        // A model over the special tokens alone can only ever say `<UNK>` (a min_word_count of
        // 2^64 - 1 once trained one without a word).
        anyhow::bail!(
            "the training vocabulary (words seen at least {min_count} times) holds no word: lower \
             min_word_count, or train on more captions"
        );
    }
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let all = SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain(words.into_iter().map(|(w, _)| w.to_string()))
        .collect();
    // The special tokens are present and the words unique and printable: only the size can fail.
    Vocabulary::from_words(all).map_err(|e| {
        anyhow::anyhow!(
            "the training vocabulary (words seen at least {min_count} times): {e}; raise min_word_count"
        )
    })
}

/// A caption as ids: `<SOS> words… <EOS>`, unknown words as `<UNK>`.
pub fn encode(vocab: &Vocabulary, tokens: &[String]) -> Vec<u32> {
    let unk = vocab.unk.expect("training vocabularies have <UNK>");
    let mut ids = Vec::with_capacity(tokens.len() + 2);
    ids.push(vocab.start);
    ids.extend(tokens.iter().map(|t| vocab.id(t).unwrap_or(unk)));
    ids.push(vocab.end);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(captions: &[&[&str]]) -> Sample {
        Sample {
            name: "a.jpg".into(),
            path: "a.jpg".into(),
            raw: Vec::new(),
            tokens: captions
                .iter()
                .map(|c| c.iter().map(|w| w.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn words_by_frequency_after_the_special_tokens() {
        let train = [sample(&[&["a", "dog"], &["a", "cat"], &["a", "dog"]])];
        let vocab = build_vocabulary(&train, 1).unwrap();
        assert_eq!(vocab.len(), 7);
        assert_eq!(
            (vocab.id("a"), vocab.id("dog"), vocab.id("cat")),
            (Some(4), Some(5), Some(6))
        );
        assert_eq!(
            encode(&vocab, &["a".into(), "cow".into()]),
            vec![vocab.start, 4, 3, vocab.end]
        );
    }

    /// A caption can smuggle an escape sequence into a word; it must not reach the vocabulary
    /// (whose words are printed on terminals), and training must not stop on it.
    #[test]
    fn words_with_control_characters_are_left_out() {
        let train = [sample(&[
            &["a", "\u{1b}]0;pwned\u{7}", "dog"],
            &["a", "dog\u{9b}", "new\u{a0}york", "cat\u{202e}"],
        ])];
        let vocab = build_vocabulary(&train, 1).unwrap();
        assert_eq!(vocab.len(), 6, "only <PAD> <SOS> <EOS> <UNK> a dog");
        assert_eq!(vocab.id("\u{1b}]0;pwned\u{7}"), None);
    }

    #[test]
    fn a_vocabulary_without_a_word_is_refused() {
        let train = [sample(&[&["a", "dog"], &["a", "cat"]])];
        assert_eq!(
            build_vocabulary(&train, 2).unwrap().len(),
            5,
            "only a is seen twice"
        );
        let err = build_vocabulary(&train, 3).unwrap_err().to_string();
        assert!(err.contains("seen at least 3 times) holds no word"), "{err}");
        assert!(build_vocabulary(&train, usize::MAX).is_err());
    }
}

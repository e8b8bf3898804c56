//! The training vocabulary: every train-split word seen at least `min_count` times, after the
//! special tokens `<PAD> <SOS> <EOS> <UNK>` (ids 0–3).

use std::collections::HashMap;

use glimpse_model::Vocabulary;

use crate::dataset::Sample;

pub const SPECIALS: [&str; 4] = ["<PAD>", "<SOS>", "<EOS>", "<UNK>"];

/// Words ordered by frequency (ties alphabetical), so the same data always gives the same ids.
pub fn build_vocabulary(train: &[Sample], min_count: usize) -> Vocabulary {
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
        .collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let all = SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain(words.into_iter().map(|(w, _)| w.to_string()))
        .collect();
    Vocabulary::from_words(all).expect("the special tokens are present and words are unique")
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

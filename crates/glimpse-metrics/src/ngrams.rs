//! n-grams as small integer keys: words are interned once, an n-gram (n ≤ 4) becomes four word
//! ids padded with a marker. Hashing four integers instead of word strings is what keeps a
//! COCO-sized evaluation (5,000 × 5 captions) well under a second.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's hasher): a multiply and a rotate per word — n-gram keys are small integers
/// from one process, so SipHash's flooding resistance buys nothing and costs most of the time.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.add(value as u64);
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Up to four word ids; unused slots hold [`NONE`].
pub type Gram = [u32; 4];
pub const NONE: u32 = u32::MAX;

/// Word → id, shared by all captions of one evaluation.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxMap<String, u32>,
}

impl Interner {
    /// The ids of `tokens` as coco-caption's BLEU and CIDEr count words: split again on
    /// whitespace (Python's `str.split()`), so `1\u{a0}1/2` is two words there.
    pub fn ids(&mut self, tokens: &[String]) -> Vec<u32> {
        tokens
            .iter()
            .flat_map(|t| t.split_whitespace())
            .map(|word| {
                let next = self.ids.len() as u32;
                *self.ids.entry(word.to_string()).or_insert(next)
            })
            .collect()
    }
}

/// The n-gram starting at `start` of length `n`.
pub fn gram(ids: &[u32], start: usize, n: usize) -> Gram {
    let mut key = [NONE; 4];
    key[..n].copy_from_slice(&ids[start..start + n]);
    key
}

/// Its length.
pub fn order(gram: &Gram) -> usize {
    gram.iter().take_while(|&&id| id != NONE).count()
}

/// Counts of every n-gram of length `n`.
pub fn counts(ids: &[u32], n: usize) -> FxMap<Gram, u32> {
    let mut counts = FxMap::default();
    if ids.len() >= n {
        for start in 0..=ids.len() - n {
            *counts.entry(gram(ids, start, n)).or_insert(0) += 1;
        }
    }
    counts
}

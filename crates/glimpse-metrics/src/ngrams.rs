//! n-grams as small integer keys: words are interned once, an n-gram of n words becomes n word
//! ids. Hashing a few integers instead of word strings is what keeps a
//! COCO-sized evaluation (5,000 × 5 captions) well under a second.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

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
        // The multiply mixes well into the high bits, poorly into the low ones that pick a
        // bucket: words sharing their first bytes shared buckets (16 million distinct words
        // took twice as long to intern). rustc-hash 2 rotates the same way.
        self.0.rotate_left(26)
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// An n-gram: `N` word ids (so a unigram's key is 4 bytes, not a padded 16).
pub type Gram<const N: usize> = [u32; N];

/// Word → id, shared by all captions of one evaluation. The words are kept once, end to end in
/// one string, and the table holds only ids: a few tens of bytes a distinct word, its letters
/// included, where a map of `String`s took several times that. Ids are `u32`: callers hold far
/// fewer words (a dataset at most 2^24).
#[derive(Debug, Default, Clone)]
pub struct Interner {
    text: String,
    /// Word `i` is `text[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
    table: HashTable<u32>,
}

/// The id [`Interner::known_ids`] gives a word the table does not hold.
pub const UNKNOWN: u32 = u32::MAX;

impl Interner {
    /// The ids of `tokens` as coco-caption's BLEU and CIDEr count words: split again on
    /// whitespace (Python's `str.split()`), so `1\u{a0}1/2` is two words there.
    pub fn ids(&mut self, tokens: &[String]) -> Vec<u32> {
        words(tokens).map(|word| self.id(word)).collect()
    }

    /// The same for words already held, [`UNKNOWN`] for the others; nothing is added.
    pub fn known_ids(&self, tokens: &[String]) -> Vec<u32> {
        let Interner { text, ends, table } = self;
        words(tokens)
            .map(|word| {
                let found = table.find(hash(word), |&id| word_at(text, ends, id) == word);
                found.copied().unwrap_or(UNKNOWN)
            })
            .collect()
    }

    fn id(&mut self, word: &str) -> u32 {
        let Interner { text, ends, table } = self;
        let next = ends.len() as u32;
        let entry = table.entry(
            hash(word),
            |&id| word_at(text, ends, id) == word,
            |&id| hash(word_at(text, ends, id)),
        );
        match entry {
            Entry::Occupied(entry) => *entry.get(),
            Entry::Vacant(entry) => {
                entry.insert(next);
                text.push_str(word);
                ends.push(text.len());
                next
            }
        }
    }
}

/// The words of `tokens` split again on whitespace.
fn words(tokens: &[String]) -> impl Iterator<Item = &str> {
    tokens.iter().flat_map(|t| t.split_whitespace())
}

/// Word `id` of an [`Interner`]'s text.
fn word_at<'a>(text: &'a str, ends: &[usize], id: u32) -> &'a str {
    let end = ends[id as usize];
    let start = if id == 0 { 0 } else { ends[id as usize - 1] };
    &text[start..end]
}

fn hash(word: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(word.as_bytes());
    hasher.finish()
}

/// The n-grams of length `N` in `ids`, in order.
pub fn grams<const N: usize>(ids: &[u32]) -> impl Iterator<Item = Gram<N>> + '_ {
    ids.windows(N).map(|window| std::array::from_fn(|k| window[k]))
}

/// Counts of every n-gram of length `N`.
pub fn counts<const N: usize>(ids: &[u32]) -> FxMap<Gram<N>, u32> {
    let mut counts = FxMap::default();
    for gram in grams::<N>(ids) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

//! ROUGE-L as pycocoevalcap's `rouge.py` computes it: per candidate, the longest common
//! subsequence with each reference gives precision and recall; the best precision and the best
//! recall (over references, separately) combine into an F-measure with β = 1.2; the corpus
//! score is the mean over candidates.

use std::collections::HashMap;

const BETA: f64 = 1.2;

/// A candidate prepared for the bit-parallel longest common subsequence (Allison and Dix 1986,
/// Hyyrö 2004): for each of its distinct tokens, a bit per position holding it. A reference is
/// then read token by token with `m / 64` word operations each, where the textbook table takes
/// `m` (a long candidate against a long set of references took hours).
struct Pattern<'c> {
    len: usize,
    masks: HashMap<&'c str, Vec<u64>>,
}

impl<'c> Pattern<'c> {
    fn new(candidate: &'c [String]) -> Self {
        let words = candidate.len().div_ceil(64);
        let mut masks: HashMap<&str, Vec<u64>> = HashMap::new();
        for (i, token) in candidate.iter().enumerate() {
            masks.entry(token.as_str()).or_insert_with(|| vec![0; words])[i / 64] |= 1 << (i % 64);
        }
        Pattern {
            len: candidate.len(),
            masks,
        }
    }

    /// Length of the longest common subsequence with `reference`. `v` has a zero bit for each
    /// candidate position that ends a match of the subsequence so far; a reference token holding
    /// at `mask` updates it as `v' = (v + (v & mask)) | (v & !mask)`, the addition carried across
    /// words (bits above the candidate's length only ever receive carries, never send them).
    fn lcs(&self, reference: &[String]) -> usize {
        let words = self.len.div_ceil(64);
        let mut v = vec![u64::MAX; words];
        for token in reference {
            let Some(mask) = self.masks.get(token.as_str()) else {
                continue;
            };
            let mut carry = false;
            for (word, &m) in v.iter_mut().zip(mask) {
                let matched = *word & m;
                let (sum, c1) = word.overflowing_add(matched);
                let (sum, c2) = sum.overflowing_add(u64::from(carry));
                carry = c1 || c2;
                *word = sum | (*word & !m);
            }
        }
        let ones: usize = v
            .iter()
            .enumerate()
            .map(|(k, &word)| {
                let bits = (self.len - 64 * k).min(64);
                let valid = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
                (word & valid).count_ones() as usize
            })
            .sum();
        self.len - ones
    }
}

/// ROUGE-L of one candidate against its references. Time grows with the candidate's words / 64
/// times the references' words, memory with the candidate's words times its distinct words / 8
/// bytes: callers bound candidates (`glimpse compare` to 1,024 words).
pub fn rouge_l(candidate: &[String], references: &[Vec<String>]) -> f64 {
    // coco-caption splits the joined string on " ", so an empty caption counts as one empty token.
    let candidate_len = candidate.len().max(1) as f64;
    let pattern = Pattern::new(candidate);
    let (mut precision, mut recall) = (0.0f64, 0.0f64);
    for reference in references {
        let common = pattern.lcs(reference) as f64;
        precision = precision.max(common / candidate_len);
        recall = recall.max(common / reference.len().max(1) as f64);
    }
    if precision != 0.0 && recall != 0.0 {
        ((1.0 + BETA * BETA) * precision * recall) / (recall + BETA * BETA * precision)
    } else {
        0.0
    }
}

/// Corpus ROUGE-L (the mean) and per-candidate scores.
#[derive(Debug, Default, Clone)]
pub struct RougeL {
    scores: Vec<f64>,
}

impl RougeL {
    pub fn new() -> Self {
        RougeL::default()
    }

    pub fn add(&mut self, candidate: &[String], references: &[Vec<String>]) {
        self.scores.push(rouge_l(candidate, references));
    }

    pub fn per_candidate(&self) -> &[f64] {
        &self.scores
    }

    pub fn corpus(&self) -> f64 {
        if self.scores.is_empty() {
            0.0
        } else {
            self.scores.iter().sum::<f64>() / self.scores.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize;

    #[test]
    fn by_hand() {
        let c = tokenize("a dog runs on grass");
        assert!((rouge_l(&c, std::slice::from_ref(&c)) - 1.0).abs() < 1e-12);
        // LCS("a dog runs", "a cat runs") = 2: P = R = 2/3 → F = 2/3.
        let s = rouge_l(&tokenize("a dog runs"), &[tokenize("a cat runs")]);
        assert!((s - 2.0 / 3.0).abs() < 1e-12, "{s}");
        assert_eq!(rouge_l(&[], &[tokenize("a cat")]), 0.0);
    }

    /// The textbook table, as coco-caption's `my_lcs` fills it.
    fn lcs_table(a: &[String], b: &[String]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diagonal = 0;
            for (j, y) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if x == y { diagonal + 1 } else { above.max(row[j]) };
                diagonal = above;
            }
        }
        row[b.len()]
    }

    #[test]
    fn the_bit_parallel_lcs_equals_the_table_across_word_boundaries() {
        // A small alphabet makes long common subsequences; lengths around 64 and 128 cross the
        // words' carries.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..400 {
            let alphabet = 2 + case % 5;
            let (m, n) = (next(200), next(200));
            let a: Vec<String> = (0..m).map(|_| next(alphabet).to_string()).collect();
            let b: Vec<String> = (0..n).map(|_| next(alphabet).to_string()).collect();
            assert_eq!(Pattern::new(&a).lcs(&b), lcs_table(&a, &b), "{a:?} / {b:?}");
        }
    }
}

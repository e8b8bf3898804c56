//! Corpus BLEU-1..4 exactly as pycocoevalcap's `bleu_scorer.py` computes it.
//!
//! Per candidate: n-gram counts clipped by the largest count in any one reference; the
//! reference length is the one closest to the candidate's (ties: the shorter). Over the corpus
//! the clipped matches and the candidate n-grams are summed, BLEU-n is the geometric mean of
//! precisions 1..n, and the brevity penalty `exp(1 - r/c)` applies when `c < r`. The small
//! constants (1e-15 over 1e-9) are coco-caption's and make a zero count give ~0, not NaN.

use crate::ngrams::{FxMap, Gram, Interner, UNKNOWN, counts};

const MAX_N: usize = 4;
const TINY: f64 = 1e-15;
const SMALL: f64 = 1e-9;

/// BLEU-1..4 (`scores[n - 1]` is BLEU-n).
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScores {
    pub corpus: [f64; MAX_N],
    /// One entry per candidate, in the order they were added.
    pub per_candidate: Vec<[f64; MAX_N]>,
}

/// Statistics of one candidate against its references.
#[derive(Debug, Clone)]
struct CandidateStats {
    test_len: usize,
    ref_len: usize,
    guess: [usize; MAX_N],
    correct: [usize; MAX_N],
}

/// Accumulates candidates (tokenised) with their references (tokenised).
#[derive(Debug, Default, Clone)]
pub struct Bleu {
    stats: Vec<CandidateStats>,
}

impl Bleu {
    pub fn new() -> Self {
        Bleu::default()
    }

    /// Adds one candidate and its references. With no references every n-gram is unmatched and
    /// the reference length is 0 (coco-caption refuses that case; we score it as a miss).
    pub fn add(&mut self, candidate: &[String], references: &[Vec<String>]) {
        // Only the candidate's words can match: a reference word it lacks becomes `UNKNOWN`, and
        // n-grams holding one are not counted (a table of every reference's words once held a
        // whole dataset's).
        let mut words = Interner::default();
        let candidate = words.ids(candidate);
        let test_len = candidate.len();
        let mut most = MostInAnyReference::default();
        let mut ref_len = None;
        for reference in references {
            let reference = words.known_ids(reference);
            most.raise(&reference);
            ref_len = Some(closest(ref_len, reference.len(), test_len));
        }
        let ref_len = ref_len.unwrap_or(0);
        let guess = std::array::from_fn(|k| (test_len + 1).saturating_sub(k + 1));
        let correct = most.clipped_matches(&candidate);
        self.stats.push(CandidateStats {
            test_len,
            ref_len,
            guess,
            correct,
        });
    }

    pub fn len(&self) -> usize {
        self.stats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Corpus and per-candidate BLEU-1..4.
    pub fn scores(&self) -> BleuScores {
        let per_candidate = self
            .stats
            .iter()
            .map(|s| combine(&s.correct, &s.guess, s.test_len, s.ref_len))
            .collect();
        let mut correct = [0; MAX_N];
        let mut guess = [0; MAX_N];
        let (mut test_len, mut ref_len) = (0, 0);
        for s in &self.stats {
            for k in 0..MAX_N {
                correct[k] += s.correct[k];
                guess[k] += s.guess[k];
            }
            test_len += s.test_len;
            ref_len += s.ref_len;
        }
        BleuScores {
            corpus: combine(&correct, &guess, test_len, ref_len),
            per_candidate,
        }
    }
}

/// Of a reference length so far and a new one, the one closer to the candidate's (ties: the
/// shorter).
fn closest(best: Option<usize>, len: usize, test_len: usize) -> usize {
    match best {
        Some(best) if (best.abs_diff(test_len), best) <= (len.abs_diff(test_len), len) => best,
        _ => len,
    }
}

/// For each n-gram (lengths 1–4) made only of the candidate's words, the most times any one
/// reference holds it: only those can match. (Tables of the candidate's own n-grams instead
/// took 0.7 GB for a caption of 2.7 million words.)
#[derive(Default)]
struct MostInAnyReference(
    FxMap<Gram<1>, u32>,
    FxMap<Gram<2>, u32>,
    FxMap<Gram<3>, u32>,
    FxMap<Gram<4>, u32>,
);

impl MostInAnyReference {
    fn raise(&mut self, reference: &[u32]) {
        fn raise<const N: usize>(most: &mut FxMap<Gram<N>, u32>, reference: &[u32]) {
            for (gram, count) in counts::<N>(reference) {
                if !gram.contains(&UNKNOWN) {
                    let slot = most.entry(gram).or_insert(0);
                    *slot = (*slot).max(count);
                }
            }
        }
        raise(&mut self.0, reference);
        raise(&mut self.1, reference);
        raise(&mut self.2, reference);
        raise(&mut self.3, reference);
    }

    /// Per length, the candidate's n-grams its references hold, each counted at most as often
    /// as the one reference holding it most often.
    fn clipped_matches(&self, candidate: &[u32]) -> [usize; MAX_N] {
        fn clipped<const N: usize>(most: &FxMap<Gram<N>, u32>, candidate: &[u32]) -> usize {
            counts::<N>(candidate)
                .into_iter()
                .map(|(gram, count)| count.min(most.get(&gram).copied().unwrap_or(0)) as usize)
                .sum()
        }
        [
            clipped(&self.0, candidate),
            clipped(&self.1, candidate),
            clipped(&self.2, candidate),
            clipped(&self.3, candidate),
        ]
    }
}

/// Cumulative geometric means of the precisions, times the brevity penalty.
fn combine(
    correct: &[usize; MAX_N],
    guess: &[usize; MAX_N],
    test_len: usize,
    ref_len: usize,
) -> [f64; MAX_N] {
    let mut out = [0.0; MAX_N];
    let mut product = 1.0;
    for k in 0..MAX_N {
        product *= (correct[k] as f64 + TINY) / (guess[k] as f64 + SMALL);
        out[k] = product.powf(1.0 / (k + 1) as f64);
    }
    let ratio = (test_len as f64 + TINY) / (ref_len as f64 + SMALL);
    if ratio < 1.0 {
        let penalty = (1.0 - 1.0 / ratio).exp();
        for score in &mut out {
            *score *= penalty;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize;

    fn bleu(pairs: &[(&str, &[&str])]) -> BleuScores {
        let mut bleu = Bleu::new();
        for (candidate, references) in pairs {
            let refs: Vec<_> = references.iter().map(|r| tokenize(r)).collect();
            bleu.add(&tokenize(candidate), &refs);
        }
        bleu.scores()
    }

    #[test]
    fn identical_caption_scores_one() {
        let s = bleu(&[("a dog runs on the grass", &["a dog runs on the grass", "a cat"])]);
        for k in 0..4 {
            assert!((s.corpus[k] - 1.0).abs() < 1e-9, "{:?}", s.corpus);
        }
    }

    #[test]
    fn clipping_and_brevity_by_hand() {
        // "the the the" vs "the cat": unigram matches clipped to 1 of 3 → BLEU-1 = 1/3; the
        // candidate (3) is longer than the closest reference (2), so no brevity penalty.
        let s = bleu(&[("the the the", &["the cat"])]);
        assert!((s.corpus[0] - 1.0 / 3.0).abs() < 1e-9);
        // "a dog" vs "a dog runs fast": precision 1, brevity exp(1 - 4/2).
        let s = bleu(&[("a dog", &["a dog runs fast"])]);
        assert!((s.corpus[0] - (1.0f64 - 2.0).exp()).abs() < 1e-9);
    }

    #[test]
    fn closest_reference_length_prefers_shorter_on_ties() {
        // Candidate of 3 words, references of 2 and 4: tie → 2, so no penalty.
        let s = bleu(&[("a b c", &["a b", "a b c d"])]);
        assert!((s.corpus[0] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_match_is_near_zero_not_nan() {
        let s = bleu(&[("x y z", &["a b c"])]);
        assert!(s.corpus.iter().all(|v| v.is_finite() && *v < 1e-4));
    }
}

//! CIDEr-D as pycocoevalcap's `cider_scorer.py` computes it: n-grams 1–4 weighted by tf-idf,
//! with document frequencies counted over the references of the evaluated set; per n, the
//! clipped cosine similarity between candidate and each reference, times a Gaussian penalty on
//! their length difference (σ = 6); averaged over n and references, times 10.
//!
//! One quirk is kept on purpose: coco-caption's "length" of a caption is its number of
//! *bigrams* (`if n == 1` on a 0-based n-gram index), and scores are only comparable with
//! published ones if the penalty uses the same length.

use std::collections::HashSet;

use crate::ngrams::{FxMap, Gram, Interner, counts, order};

const N: usize = 4;
const SIGMA: f64 = 6.0;

type Counts = FxMap<Gram, f64>;

fn ngram_counts(ids: &[u32]) -> Counts {
    let mut all = Counts::default();
    for n in 1..=N {
        for (gram, count) in counts(ids, n) {
            all.insert(gram, count as f64);
        }
    }
    all
}

/// Accumulates candidates and references; scores once all are in (the IDF needs them all).
/// Captions are kept as word ids, 4 bytes a word, and their n-grams counted when scored: kept
/// counts took about 40 times as much (a caption file or a dataset of distinct words once
/// exhausted memory).
#[derive(Debug, Default, Clone)]
pub struct Cider {
    candidates: Vec<Vec<u32>>,
    references: Vec<Vec<Vec<u32>>>,
    words: Interner,
}

/// tf-idf vectors per n (sorted by n-gram, for a merge join), their norms, and the caption's
/// "length".
struct Vector {
    weights: [Vec<(Gram, f64)>; N],
    norms: [f64; N],
    length: f64,
}

impl Cider {
    pub fn new() -> Self {
        Cider::default()
    }

    pub fn add(&mut self, candidate: &[String], references: &[Vec<String>]) {
        self.candidates.push(self.words.ids(candidate));
        let references = references.iter().map(|r| self.words.ids(r)).collect();
        self.references.push(references);
    }

    /// (corpus score = mean of per-candidate scores, per-candidate scores).
    pub fn scores(&self) -> (f64, Vec<f64>) {
        if self.candidates.is_empty() {
            return (0.0, Vec::new());
        }
        let mut document_frequency: FxMap<Gram, f64> = FxMap::default();
        for references in &self.references {
            let grams: HashSet<Gram, std::hash::BuildHasherDefault<crate::ngrams::FxHasher>> = references
                .iter()
                .flat_map(|r| ngram_counts(r).into_keys())
                .collect();
            for gram in grams {
                *document_frequency.entry(gram).or_insert(0.0) += 1.0;
            }
        }
        let log_documents = (self.references.len() as f64).ln();
        let vector = |counts: &Counts| {
            let mut weights: [Vec<(Gram, f64)>; N] = Default::default();
            let mut norms = [0.0; N];
            let mut length = 0.0;
            for (gram, &tf) in counts {
                let df = document_frequency.get(gram).copied().unwrap_or(0.0).max(1.0).ln();
                let n = order(gram) - 1;
                let weight = tf * (log_documents - df);
                norms[n] += weight * weight;
                weights[n].push((*gram, weight));
                if n == 1 {
                    length += tf;
                }
            }
            for list in &mut weights {
                list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            Vector {
                weights,
                norms: norms.map(f64::sqrt),
                length,
            }
        };
        let per_candidate: Vec<f64> = self
            .candidates
            .iter()
            .zip(&self.references)
            .map(|(candidate, references)| {
                let hyp = vector(&ngram_counts(candidate));
                let mut total = [0.0; N];
                for reference in references {
                    let r = vector(&ngram_counts(reference));
                    let delta = hyp.length - r.length;
                    for n in 0..N {
                        let mut value = clipped_dot(&hyp.weights[n], &r.weights[n]);
                        if hyp.norms[n] != 0.0 && r.norms[n] != 0.0 {
                            value /= hyp.norms[n] * r.norms[n];
                        }
                        total[n] += value * (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
                    }
                }
                let mean = total.iter().sum::<f64>() / N as f64;
                mean / references.len().max(1) as f64 * 10.0
            })
            .collect();
        let corpus = per_candidate.iter().sum::<f64>() / per_candidate.len() as f64;
        (corpus, per_candidate)
    }
}

/// Σ over shared n-grams of min(w_hyp, w_ref) · w_ref (both lists sorted by n-gram).
fn clipped_dot(hyp: &[(Gram, f64)], reference: &[(Gram, f64)]) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < hyp.len() && j < reference.len() {
        match hyp[i].0.cmp(&reference[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let (w, wr) = (hyp[i].1, reference[j].1);
                sum += w.min(wr) * wr;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize;

    #[test]
    fn a_candidate_equal_to_its_only_distinct_reference_scores_high_and_unrelated_zero() {
        let mut cider = Cider::new();
        cider.add(
            &tokenize("a red circle above a blue square"),
            &[tokenize("a red circle above a blue square")],
        );
        cider.add(&tokenize("zebra"), &[tokenize("two green triangles")]);
        cider.add(
            &tokenize("three yellow diamonds"),
            &[tokenize("one small purple circle")],
        );
        let (_, scores) = cider.scores();
        assert!(scores[0] > 5.0, "{scores:?}");
        assert_eq!(scores[1], 0.0);
        assert_eq!(scores[2], 0.0);
    }
}

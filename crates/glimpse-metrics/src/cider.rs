//! CIDEr-D as pycocoevalcap's `cider_scorer.py` computes it: n-grams 1–4 weighted by tf-idf,
//! with document frequencies counted over the references of the evaluated set; per n, the
//! clipped cosine similarity between candidate and each reference, times a Gaussian penalty on
//! their length difference (σ = 6); averaged over n and references, times 10.
//!
//! One quirk is kept on purpose: coco-caption's "length" of a caption is its number of
//! *bigrams* (`if n == 1` on a 0-based n-gram index), and scores are only comparable with
//! published ones if the penalty uses the same length.

use std::collections::{HashMap, HashSet};

const N: usize = 4;
const SIGMA: f64 = 6.0;

type Counts = HashMap<Vec<String>, f64>;

fn ngram_counts(tokens: &[String]) -> Counts {
    let mut counts = Counts::new();
    for n in 1..=N {
        if tokens.len() >= n {
            for gram in tokens.windows(n) {
                *counts.entry(gram.to_vec()).or_insert(0.0) += 1.0;
            }
        }
    }
    counts
}

/// Accumulates candidates and references; scores once all are in (the IDF needs them all).
#[derive(Debug, Default, Clone)]
pub struct Cider {
    candidates: Vec<Counts>,
    references: Vec<Vec<Counts>>,
}

/// tf-idf vectors per n, their norms, and the caption's "length".
struct Vector {
    weights: [HashMap<Vec<String>, f64>; N],
    norms: [f64; N],
    length: f64,
}

impl Cider {
    pub fn new() -> Self {
        Cider::default()
    }

    pub fn add(&mut self, candidate: &[String], references: &[Vec<String>]) {
        self.candidates.push(ngram_counts(candidate));
        self.references
            .push(references.iter().map(|r| ngram_counts(r)).collect());
    }

    /// (corpus score = mean of per-candidate scores, per-candidate scores).
    pub fn scores(&self) -> (f64, Vec<f64>) {
        if self.candidates.is_empty() {
            return (0.0, Vec::new());
        }
        let mut document_frequency: HashMap<&[String], f64> = HashMap::new();
        for references in &self.references {
            let grams: HashSet<&[String]> = references
                .iter()
                .flat_map(|r| r.keys().map(Vec::as_slice))
                .collect();
            for gram in grams {
                *document_frequency.entry(gram).or_insert(0.0) += 1.0;
            }
        }
        let log_documents = (self.references.len() as f64).ln();
        let vector = |counts: &Counts| {
            let mut weights: [HashMap<Vec<String>, f64>; N] = Default::default();
            let mut norms = [0.0; N];
            let mut length = 0.0;
            for (gram, &tf) in counts {
                let df = document_frequency
                    .get(gram.as_slice())
                    .copied()
                    .unwrap_or(0.0)
                    .max(1.0)
                    .ln();
                let n = gram.len() - 1;
                let weight = tf * (log_documents - df);
                norms[n] += weight * weight;
                weights[n].insert(gram.clone(), weight);
                if n == 1 {
                    length += tf;
                }
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
                let hyp = vector(candidate);
                let mut total = [0.0; N];
                for reference in references {
                    let r = vector(reference);
                    let delta = hyp.length - r.length;
                    for n in 0..N {
                        let mut value: f64 = hyp.weights[n]
                            .iter()
                            .map(|(gram, &w)| {
                                let wr = r.weights[n].get(gram).copied().unwrap_or(0.0);
                                w.min(wr) * wr
                            })
                            .sum();
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

//! ROUGE-L as pycocoevalcap's `rouge.py` computes it: per candidate, the longest common
//! subsequence with each reference gives precision and recall; the best precision and the best
//! recall (over references, separately) combine into an F-measure with β = 1.2; the corpus
//! score is the mean over candidates.

const BETA: f64 = 1.2;

/// Length of the longest common subsequence.
fn lcs(a: &[String], b: &[String]) -> usize {
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

/// ROUGE-L of one candidate against its references.
pub fn rouge_l(candidate: &[String], references: &[Vec<String>]) -> f64 {
    // coco-caption splits the joined string on " ", so an empty caption counts as one empty token.
    let candidate_len = candidate.len().max(1) as f64;
    let (mut precision, mut recall) = (0.0f64, 0.0f64);
    for reference in references {
        let common = lcs(reference, candidate) as f64;
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
}

//! The original report's embedding evaluation: how close, in a sentence-embedding space, each
//! generated caption is to its references (cosine similarity; per image the best and the mean
//! over references; over the set the mean, median and a histogram).
//!
//! The measure is independent of the encoder: any [`TextEncoder`] will do. The encoders
//! themselves (all-MiniLM-L6-v2, CLIP's text tower) run by candle behind the `embeddings`
//! feature, in [`crate::embed`].

use anyhow::{Result, bail};
use serde::Serialize;

/// Histogram bins over [-1, 1].
pub const SIMILARITY_BINS: usize = 20;

/// A sentence encoder whose embedding space the similarity is measured in.
pub trait TextEncoder {
    /// How reports name it.
    fn name(&self) -> &str;
    /// Unit-length embeddings, one per text.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// `v` scaled to unit length (a zero vector stays zero).
pub fn normalised(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if norm == 0.0 {
        v
    } else {
        v.into_iter().map(|x| (x as f64 / norm) as f32).collect()
    }
}

/// Cosine of the angle between `a` and `b`, in f64; 0 when either is a zero vector.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Per image: (best, mean) similarity of the caption to its references.
pub type ImageSimilarity = (f64, f64);

/// The set's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilaritySummary {
    pub text_encoder: String,
    /// Over images, of each image's best reference similarity.
    pub mean_max: f64,
    pub median_max: f64,
    /// Over images, of each image's mean reference similarity.
    pub mean_mean: f64,
    pub median_mean: f64,
    /// Counts of per-image best similarity in `SIMILARITY_BINS` equal bins over [-1, 1].
    pub histogram_max: Vec<usize>,
}

/// Similarities of `captions[i]` to `references[i]`, and their summary.
pub fn caption_similarity(
    embedder: &dyn TextEncoder,
    captions: &[String],
    references: &[Vec<String>],
) -> Result<(Vec<ImageSimilarity>, SimilaritySummary)> {
    let reference_vectors = reference_vectors(embedder, references)?;
    similarity_to(embedder, captions, references, &reference_vectors)
}

/// Every reference's embedding, in order: what [`similarity_to`] compares captions with, the
/// same for every caption set of a split (so `compare` embeds them once, not once a set).
pub fn reference_vectors(embedder: &dyn TextEncoder, references: &[Vec<String>]) -> Result<Vec<Vec<f32>>> {
    let flat: Vec<String> = references.iter().flatten().cloned().collect();
    finite(embedder.name(), embedder.embed(&flat)?)
}

/// [`caption_similarity`] with the references' embeddings given ([`reference_vectors`]).
pub fn similarity_to(
    embedder: &dyn TextEncoder,
    captions: &[String],
    references: &[Vec<String>],
    reference_vectors: &[Vec<f32>],
) -> Result<(Vec<ImageSimilarity>, SimilaritySummary)> {
    let total: usize = references.iter().map(Vec::len).sum();
    if captions.len() != references.len() || reference_vectors.len() != total {
        bail!(
            "{} captions for {} reference sets ({total} references, {} embedded)",
            captions.len(),
            references.len(),
            reference_vectors.len()
        );
    }
    let caption_vectors = finite(embedder.name(), embedder.embed(captions)?)?;
    let mut per_image = Vec::with_capacity(captions.len());
    let mut offset = 0;
    for (caption, refs) in caption_vectors.iter().zip(references) {
        let sims: Vec<f64> = reference_vectors[offset..offset + refs.len()]
            .iter()
            .map(|r| cosine(caption, r))
            .collect();
        offset += refs.len();
        let max = sims.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = sims.iter().sum::<f64>() / sims.len().max(1) as f64;
        per_image.push((if sims.is_empty() { 0.0 } else { max }, mean));
    }
    let summary = summarise(embedder.name(), &per_image);
    Ok((per_image, summary))
}

/// `vectors`, if every value is finite and none is all zeros: a NaN would otherwise pass
/// through `max` and the histogram as a plausible-looking similarity, and a vector of zeros
/// (a projection of zeros, or of no dimensions) scored every caption 0.0.
pub(crate) fn finite(encoder: &str, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>> {
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        bail!("encoder {encoder}: an embedding holds NaN or infinity (damaged weights or config)");
    }
    if vectors.iter().any(|v| v.iter().all(|&x| x == 0.0)) {
        bail!(
            "encoder {encoder}: an embedding is all zeros, so it has no direction to compare (damaged weights or config)"
        );
    }
    Ok(vectors)
}

/// Texts any tokenizer must tell apart, and any encoder embed in different directions: two of
/// one word count, one of them without `w`, one with digits and punctuation.
pub const PROBE_TEXTS: [&str; 5] = [
    "a dog",
    "red car",
    "two cats",
    "the sky is blue",
    "3 men, 1 boat.",
];

/// Closest that two different probes' embeddings may be (|cosine|): a real encoder keeps them
/// far apart (all-MiniLM-L6-v2's closest pair of [`PROBE_TEXTS`] is at 0.24), while damaged
/// weights, such as a projection of rank one, put every text on one line and scored every
/// caption 1.0 (hostile round 12's verifier).
pub const MAX_PROBE_COSINE: f64 = 0.9999;

/// Refuses an encoder whose embeddings of the probe texts are not finite, all zeros, or do not
/// tell the texts apart, before it scores anything.
pub fn check_encoder(encoder: &dyn TextEncoder) -> Result<()> {
    let texts: Vec<String> = PROBE_TEXTS.iter().map(|text| text.to_string()).collect();
    let vectors = finite(encoder.name(), encoder.embed(&texts)?)?;
    tells_apart(encoder.name(), "captions", &PROBE_TEXTS, &vectors)
}

/// Refuses `vectors` (one per probe, named by `probes`) when two point the same way or opposite
/// ways: the encoder would score every one of `what` ("captions", "photos") alike.
pub(crate) fn tells_apart(encoder: &str, what: &str, probes: &[&str], vectors: &[Vec<f32>]) -> Result<()> {
    for (i, a) in vectors.iter().enumerate() {
        for (j, b) in vectors.iter().enumerate().skip(i + 1) {
            let cos = cosine(a, b);
            if cos.is_nan() || cos.abs() > MAX_PROBE_COSINE {
                bail!(
                    "encoder {encoder}: it embeds {:?} and {:?} in the same direction (cosine {cos:.6}), so different {what} would score alike (damaged weights or config)",
                    probes[i],
                    probes[j]
                );
            }
        }
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The set's means, medians and histogram of per-image similarities.
pub fn summarise(name: &str, per_image: &[ImageSimilarity]) -> SimilaritySummary {
    let n = per_image.len().max(1) as f64;
    let mut histogram_max = vec![0; SIMILARITY_BINS];
    for (max, _) in per_image {
        let bin = (((max + 1.0) / 2.0) * SIMILARITY_BINS as f64)
            .floor()
            .clamp(0.0, (SIMILARITY_BINS - 1) as f64) as usize;
        histogram_max[bin] += 1;
    }
    SimilaritySummary {
        text_encoder: name.to_string(),
        mean_max: per_image.iter().map(|p| p.0).sum::<f64>() / n,
        median_max: median(per_image.iter().map(|p| p.0).collect()),
        mean_mean: per_image.iter().map(|p| p.1).sum::<f64>() / n,
        median_mean: median(per_image.iter().map(|p| p.1).collect()),
        histogram_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_by_hand() {
        let s = summarise("x", &[(1.0, 0.5), (0.0, 0.0), (0.5, 0.25)]);
        assert_eq!(s.mean_max, 0.5);
        assert_eq!(s.median_max, 0.5);
        assert_eq!(s.median_mean, 0.25);
        assert_eq!(s.histogram_max.iter().sum::<usize>(), 3);
        assert_eq!(
            s.histogram_max[SIMILARITY_BINS - 1],
            1,
            "1.0 falls in the last bin"
        );
        assert_eq!(s.histogram_max[SIMILARITY_BINS / 2], 1, "0.0 in the middle one");
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_non_finite_embedding_is_an_error_naming_the_encoder() {
        let vectors = vec![vec![0.5, 0.5], vec![f32::NAN, 0.0]];
        let err = finite("minilm", vectors).unwrap_err().to_string();
        assert!(err.contains("minilm") && err.contains("NaN"), "{err}");
        assert_eq!(
            finite("minilm", vec![vec![0.5f32, -1.0]]).unwrap(),
            vec![vec![0.5, -1.0]]
        );
        // Hostile round 12: zeros (or no dimensions) scored every caption 0.0.
        for zeros in [vec![0.0, -0.0], vec![]] {
            let err = finite("clip", vec![vec![0.5, 0.5], zeros])
                .unwrap_err()
                .to_string();
            assert!(err.contains("clip: an embedding is all zeros"), "{err}");
        }
    }
}

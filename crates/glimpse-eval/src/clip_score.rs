//! CLIPScore and RefCLIPScore (Hessel et al. 2021, as their clipscore.py computes them) and
//! the original report's caption-to-reference similarity in CLIP's text space, from features
//! already computed. CLIP itself runs behind the `embeddings` feature ([`crate::embed::clip`]).
//!
//! - CLIP-S(c, v) = 2.5 · max(cos(text(prefix + c), image(v)), 0), prefix "A photo depicts ".
//! - RefCLIP-S = harmonic mean of CLIP-S and max(max_r cos(text(prefix + c), text(prefix + r)), 0);
//!   clipscore.py embeds the references with the same prefix.
//! - The original report's similarity: cosine of plain CLIP text features of caption and
//!   references.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::similarity::{ImageSimilarity, SimilaritySummary, cosine};

/// clipscore.py's `w`, which stretches CLIP-S over roughly [0, 1].
pub const WEIGHT: f64 = 2.5;
/// clipscore.py's default prompt, with the space it appends.
pub const PREFIX: &str = "A photo depicts ";

/// CLIP-S of one caption for one image, from their features.
pub fn clip_score(image: &[f32], caption: &[f32]) -> f64 {
    WEIGHT * cosine(image, caption).max(0.0)
}

/// RefCLIP-S from CLIP-S and the caption's and references' (prefixed) text features.
pub fn ref_clip_score(clip_s: f64, caption: &[f32], references: &[Vec<f32>]) -> f64 {
    let best = references
        .iter()
        .map(|r| cosine(caption, r))
        .fold(f64::NEG_INFINITY, f64::max)
        .max(0.0);
    if clip_s + best > 0.0 {
        2.0 * clip_s * best / (clip_s + best)
    } else {
        0.0
    }
}

/// One image's CLIP figures. The image scores are absent when the photo cannot be read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageClip {
    pub clip_score: Option<f64>,
    pub ref_clip_score: Option<f64>,
    pub similarity: ImageSimilarity,
}

/// The set's CLIP figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipSummary {
    pub clip_model: String,
    /// Mean CLIP-S over the images that could be read.
    #[serde(rename = "CLIPScore")]
    pub clip_score: f64,
    #[serde(rename = "RefCLIPScore")]
    pub ref_clip_score: f64,
    pub images_scored: usize,
    /// Photos that could not be read, each with why.
    pub unreadable: Vec<String>,
    /// The original report's caption-to-reference similarity with CLIP text features.
    pub similarity: SimilaritySummary,
}

impl ClipSummary {
    /// The set's figures from its images' (means over the images whose photo could be read).
    pub fn new(
        clip_model: &str,
        per_image: &[ImageClip],
        unreadable: Vec<String>,
        similarity: SimilaritySummary,
    ) -> ClipSummary {
        let scored: Vec<&ImageClip> = per_image.iter().filter(|p| p.clip_score.is_some()).collect();
        let mean = |f: fn(&ImageClip) -> Option<f64>| {
            scored.iter().filter_map(|p| f(p)).sum::<f64>() / scored.len().max(1) as f64
        };
        ClipSummary {
            clip_model: clip_model.to_string(),
            clip_score: mean(|p| p.clip_score),
            ref_clip_score: mean(|p| p.ref_clip_score),
            images_scored: scored.len(),
            unreadable,
            similarity,
        }
    }

    /// Adds the set's figures to a metrics table (`CLIPScore`, `RefCLIPScore` as clipscore.py
    /// names them, and the CLIP text similarity's means).
    pub fn insert_into(&self, metrics: &mut BTreeMap<String, f64>) {
        metrics.insert("CLIPScore".to_string(), self.clip_score);
        metrics.insert("RefCLIPScore".to_string(), self.ref_clip_score);
        metrics.insert("clip_similarity_mean_max".to_string(), self.similarity.mean_max);
        metrics.insert("clip_similarity_mean_mean".to_string(), self.similarity.mean_mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // cos = 0.6 → CLIP-S 1.5; best reference cos 0.8 → RefCLIP-S 2·1.5·0.8/2.3.
        let (image, caption) = ([0.6f32, 0.8], [1.0f32, 0.0]);
        let clip_s = clip_score(&image, &caption);
        assert!((clip_s - 1.5).abs() < 1e-6);
        let refs = vec![vec![0.8f32, 0.6], vec![-1.0, 0.0]];
        let expected = 2.0 * 1.5 * 0.8 / 2.3;
        assert!((ref_clip_score(clip_s, &caption, &refs) - expected).abs() < 1e-6);
        // Negative cosines clip to zero, and so does their harmonic mean.
        assert_eq!(clip_score(&[-1.0, 0.0], &caption), 0.0);
        assert_eq!(ref_clip_score(0.0, &caption, &[vec![-1.0, 0.0]]), 0.0);
        assert_eq!(ref_clip_score(1.0, &caption, &[]), 0.0);
    }
}

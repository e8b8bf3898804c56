//! The scoring that `glimpse eval` and `glimpse compare` share: a set of captions against the
//! split's references, as coco-caption scores them (BLEU-1..4, ROUGE-L, CIDEr-D), plus the
//! embedding figures (similarity, CLIPScore) when [`Embedders`] are given.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use glimpse_data::{Dataset, LoadOptions, Sample};
use glimpse_metrics::{Bleu, Cider, RougeL};

use crate::clip_score::{ClipSummary, ImageClip};
pub use crate::embedders::Embedders;
use crate::similarity::{ImageSimilarity, SimilaritySummary};

/// A dataset as scorers see it: every reference kept, however long.
pub fn load_for_scoring(data: &Path) -> Result<Dataset> {
    let dataset = Dataset::load(
        data,
        &LoadOptions {
            max_caption_tokens: usize::MAX,
            ..LoadOptions::default()
        },
    )?;
    // What was skipped changes the scores: said, as `train` says it.
    dataset.problems.note_summary(" (skipped)");
    Ok(dataset)
}

/// One caption to score, with the image it is for.
pub struct Candidate<'a> {
    pub sample: &'a Sample,
    /// The caption as written.
    pub text: String,
    /// The caption tokenised as the references are.
    pub tokens: &'a [String],
}

/// One image's scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImageScores {
    /// Sentence scores, as coco-caption reports them per image.
    pub bleu: [f64; 4],
    pub rouge_l: f64,
    pub cider: f64,
    /// (best, mean) embedding similarity to the references, when a text encoder is given.
    pub similarity: Option<ImageSimilarity>,
    /// CLIPScore, RefCLIPScore and CLIP text similarity, when a CLIP folder is given.
    pub clip: Option<ImageClip>,
}

impl ImageScores {
    /// The per-image scores a report shows, under coco-caption's names.
    pub fn named(&self) -> BTreeMap<String, f64> {
        let mut scores = BTreeMap::from([
            ("Bleu_4".to_string(), self.bleu[3]),
            ("ROUGE_L".to_string(), self.rouge_l),
            ("CIDEr".to_string(), self.cider),
        ]);
        if let Some((max, mean)) = self.similarity {
            scores.insert("similarity_max".to_string(), max);
            scores.insert("similarity_mean".to_string(), mean);
        }
        if let Some(clip) = self.clip {
            if let (Some(clip_s), Some(ref_clip_s)) = (clip.clip_score, clip.ref_clip_score) {
                scores.insert("CLIPScore".to_string(), clip_s);
                scores.insert("RefCLIPScore".to_string(), ref_clip_s);
            }
            scores.insert("clip_similarity_max".to_string(), clip.similarity.0);
        }
        scores
    }
}

/// A caption set's scores.
#[derive(Debug, Clone)]
pub struct SetScores {
    /// Corpus figures under coco-caption's names (and the embedding figures' means).
    pub metrics: BTreeMap<String, f64>,
    /// Per candidate, in their order.
    pub per_image: Vec<ImageScores>,
    /// The original report's embedding similarity, when a text encoder is given.
    pub similarity: Option<SimilaritySummary>,
    /// The CLIP figures, when a CLIP folder is given.
    pub clip: Option<ClipSummary>,
}

/// Scores every candidate against its sample's references with coco-caption's metrics and
/// every embedder given.
pub fn score_set(candidates: &[Candidate<'_>], embedders: &Embedders) -> Result<SetScores> {
    let pairs: Vec<(&[String], &[Vec<String>])> = candidates
        .iter()
        .map(|c| (c.tokens, c.sample.tokens.as_slice()))
        .collect();
    let coco = score_captions(&pairs);
    let mut per_image: Vec<ImageScores> = coco
        .per_image
        .into_iter()
        .map(|(bleu, rouge_l, cider)| ImageScores {
            bleu,
            rouge_l,
            cider,
            ..ImageScores::default()
        })
        .collect();
    let mut metrics = coco.corpus;
    let (similarity, clip) = embedders.score(candidates, &mut per_image, &mut metrics)?;
    Ok(SetScores {
        metrics,
        per_image,
        similarity,
        clip,
    })
}

/// Corpus metrics under coco-caption's names, and (BLEU-1..4, ROUGE-L, CIDEr-D) per image.
pub struct CaptionScores {
    pub corpus: BTreeMap<String, f64>,
    pub per_image: Vec<([f64; 4], f64, f64)>,
}

/// Scores tokenised candidates against their tokenised references, as coco-caption does.
pub fn score_captions(pairs: &[(&[String], &[Vec<String>])]) -> CaptionScores {
    let (mut bleu, mut rouge, mut cider) = (Bleu::new(), RougeL::new(), Cider::new());
    for (candidate, references) in pairs {
        bleu.add(candidate, references);
        rouge.add(candidate, references);
        cider.add(candidate, references);
    }
    let bleu = bleu.scores();
    let (cider_corpus, cider_per) = cider.scores();
    let mut corpus = BTreeMap::new();
    for (k, value) in bleu.corpus.iter().enumerate() {
        corpus.insert(format!("Bleu_{}", k + 1), *value);
    }
    corpus.insert("ROUGE_L".to_string(), rouge.corpus());
    corpus.insert("CIDEr".to_string(), cider_corpus);
    let per_image = (0..pairs.len())
        .map(|i| (bleu.per_candidate[i], rouge.per_candidate()[i], cider_per[i]))
        .collect();
    CaptionScores { corpus, per_image }
}

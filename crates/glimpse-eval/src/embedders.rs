//! The embedding models a scoring run was asked for (a sentence encoder for the original
//! report's similarity, CLIP for CLIPScore), loaded once and used on every caption set. Builds
//! without the `embeddings` feature have none, and refuse to be asked for them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};
use glimpse_data::Sample;

use crate::clip_score::ClipSummary;
use crate::score::{Candidate, ImageScores};
use crate::similarity::SimilaritySummary;

/// The embedders asked for; either may be absent.
pub struct Embedders {
    #[cfg(feature = "embeddings")]
    text: Option<crate::embed::minilm::TextEmbedder>,
    #[cfg(feature = "embeddings")]
    clip: Option<crate::embed::clip::Clip>,
    /// What they computed from the split last scored, kept for the next set.
    #[cfg(feature = "embeddings")]
    split: std::cell::RefCell<Option<SplitVectors>>,
}

/// The embedders' vectors of a split's references and photos: the same for every caption set
/// `compare` scores, so computed once (each set embedded them again: at the reference cap,
/// about 25 minutes a set with MiniLM, hostile round 11).
#[cfg(feature = "embeddings")]
struct SplitVectors {
    /// The split they are of: its photos and their references, in order.
    images: Vec<std::path::PathBuf>,
    references: Vec<Vec<String>>,
    text: Option<Vec<Vec<f32>>>,
    clip: Option<crate::embed::clip::ClipSplit>,
}

/// The most references of one split an embedder embeds for a set (COCO's validation split holds
/// 202,520): each is a pass of the encoder (20,000 took 116 s) and a vector held until the set
/// is scored; the dataset caps allow 4 million, hours of work and 6 GB (hostile round 10).
pub const MAX_EMBEDDED_REFERENCES: usize = 1 << 18;

/// The similarity and CLIP figures of a set, each when its embedder is given.
pub type EmbeddingSummaries = (Option<SimilaritySummary>, Option<ClipSummary>);

impl Embedders {
    /// No embedding scores.
    pub fn none() -> Embedders {
        Embedders {
            #[cfg(feature = "embeddings")]
            text: None,
            #[cfg(feature = "embeddings")]
            clip: None,
            #[cfg(feature = "embeddings")]
            split: std::cell::RefCell::new(None),
        }
    }

    /// Refuses, before any work, to embed the references of more than
    /// [`MAX_EMBEDDED_REFERENCES`] when an embedder is asked for.
    pub fn check_references(
        text_encoder: Option<&Path>,
        clip: Option<&Path>,
        samples: &[Sample],
    ) -> Result<()> {
        if text_encoder.is_none() && clip.is_none() {
            return Ok(());
        }
        let references: usize = samples.iter().map(|sample| sample.raw.len()).sum();
        if references > MAX_EMBEDDED_REFERENCES {
            bail!(
                "the {} images scored hold {references} references; --text-encoder and --clip embed \
                 at most {MAX_EMBEDDED_REFERENCES}: score fewer images (eval's --limit) or without them",
                samples.len()
            );
        }
        Ok(())
    }

    /// Fails when this build cannot load what is asked for (it has no `embeddings` feature), so
    /// that a run can refuse before it does any work.
    pub fn check_available(text_encoder: Option<&Path>, clip: Option<&Path>) -> Result<()> {
        if cfg!(feature = "embeddings") {
            return Ok(());
        }
        for (what, path) in [("text encoder", text_encoder), ("CLIP model", clip)] {
            if let Some(path) = path {
                bail!(
                    "cannot use the {what} {}: this build has no embeddings: rebuild with the `embeddings` feature",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

#[cfg(not(feature = "embeddings"))]
impl Embedders {
    /// Refuses any folder given (see [`Embedders::check_available`]).
    pub fn load(text_encoder: Option<&Path>, clip: Option<&Path>) -> Result<Embedders> {
        Embedders::check_available(text_encoder, clip)?;
        Ok(Embedders::none())
    }

    /// Nothing to add without embedders.
    pub(crate) fn score(
        &self,
        _candidates: &[Candidate<'_>],
        _per_image: &mut [ImageScores],
        _metrics: &mut BTreeMap<String, f64>,
    ) -> Result<EmbeddingSummaries> {
        Ok((None, None))
    }
}

#[cfg(feature = "embeddings")]
impl Embedders {
    /// Loads the sentence-transformers folder and the Hugging Face CLIP folder given.
    pub fn load(text_encoder: Option<&Path>, clip: Option<&Path>) -> Result<Embedders> {
        use crate::embed::clip::Clip;
        use crate::embed::minilm::TextEmbedder;
        Ok(Embedders {
            text: text_encoder.map(TextEmbedder::load).transpose()?,
            clip: clip.map(Clip::load).transpose()?,
            split: std::cell::RefCell::new(None),
        })
    }

    /// Adds each embedder's figures to every image's scores and their means to `metrics`.
    pub(crate) fn score(
        &self,
        candidates: &[Candidate<'_>],
        per_image: &mut [ImageScores],
        metrics: &mut BTreeMap<String, f64>,
    ) -> Result<EmbeddingSummaries> {
        use crate::similarity::similarity_to;

        let texts: Vec<String> = candidates.iter().map(|c| c.text.clone()).collect();
        let mut kept = self.split.borrow_mut();
        let split = self.split_vectors(&mut kept, candidates)?;
        let references = &split.references;
        let similarity = match (&self.text, &split.text) {
            (Some(embedder), Some(vectors)) => {
                let (scores, summary) = similarity_to(embedder, &texts, references, vectors)?;
                for (image, similarity) in per_image.iter_mut().zip(scores) {
                    image.similarity = Some(similarity);
                }
                metrics.insert("similarity_mean_max".to_string(), summary.mean_max);
                metrics.insert("similarity_mean_mean".to_string(), summary.mean_mean);
                Some(summary)
            }
            _ => None,
        };
        let clip = match (&self.clip, &split.clip) {
            (Some(clip), Some(vectors)) => {
                let (scores, summary) = vectors.evaluate(clip, &texts, references)?;
                for (image, clip) in per_image.iter_mut().zip(scores) {
                    image.clip = Some(clip);
                }
                summary.insert_into(metrics);
                Some(summary)
            }
            _ => None,
        };
        Ok((similarity, clip))
    }

    /// The vectors of `candidates`' split: those `kept` when they are of the same photos and
    /// references, else computed (and kept).
    fn split_vectors<'a>(
        &self,
        kept: &'a mut Option<SplitVectors>,
        candidates: &[Candidate<'_>],
    ) -> Result<&'a SplitVectors> {
        use crate::embed::clip::ClipSplit;
        use crate::similarity::reference_vectors;

        let images: Vec<_> = candidates.iter().map(|c| c.sample.path.clone()).collect();
        let references: Vec<Vec<String>> = candidates.iter().map(|c| c.sample.raw.clone()).collect();
        if !kept
            .as_ref()
            .is_some_and(|k| k.images == images && k.references == references)
        {
            *kept = None; // freed before the next are made
            let text = self
                .text
                .as_ref()
                .map(|e| reference_vectors(e, &references))
                .transpose()?;
            let clip = self
                .clip
                .as_ref()
                .map(|c| ClipSplit::of(c, &images, &references))
                .transpose()?;
            *kept = Some(SplitVectors {
                images,
                references,
                text,
                clip,
            });
        }
        Ok(kept.as_ref().expect("kept or made above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_past_the_cap_are_refused_only_when_embedded() {
        let sample = |references: usize| Sample {
            name: "x.jpg".to_string(),
            path: "x.jpg".into(),
            raw: vec!["a small red circle".to_string(); references],
            tokens: Vec::new(),
        };
        let within = [sample(MAX_EMBEDDED_REFERENCES - 1), sample(1)];
        let over = [sample(MAX_EMBEDDED_REFERENCES), sample(1)];
        let encoder = Some(Path::new("all-MiniLM-L6-v2"));
        Embedders::check_references(encoder, None, &within).unwrap();
        Embedders::check_references(None, None, &over).unwrap();
        let err = Embedders::check_references(None, encoder, &over)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "the 2 images scored hold 262145 references; --text-encoder and --clip embed at most 262144"
            ),
            "{err}"
        );
    }

    #[test]
    fn asking_for_nothing_always_works() {
        assert!(Embedders::check_available(None, None).is_ok());
        assert!(Embedders::load(None, None).is_ok());
    }

    #[cfg(not(feature = "embeddings"))]
    #[test]
    fn builds_without_embeddings_refuse_them_by_name() {
        let error = Embedders::load(None, Some(Path::new("clip-vit")))
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(
            error.contains("CLIP model clip-vit") && error.contains("rebuild with the `embeddings` feature"),
            "{error}"
        );
    }
}

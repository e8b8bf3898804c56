//! CLIPScore, RefCLIPScore and the CLIP text similarity of a caption set, computed with
//! [`Clip`]'s towers (the formulas are in [`crate::clip_score`]).

use std::path::PathBuf;

use anyhow::Result;
use glimpse_files::note;
use glimpse_model::config::DEFAULT_MAX_PIXELS;

use super::Clip;
use crate::captioning::read_image;
use crate::clip_score::{ClipSummary, ImageClip, PREFIX, clip_score, ref_clip_score};
use crate::similarity::{TextEncoder, finite, normalised, reference_vectors, similarity_to};

/// Photos decoded at a time.
const IMAGE_BATCH: usize = 32;

/// One image's CLIP embedding.
type Features = Vec<f32>;

/// Scores `captions[i]` for the photo `images[i]` against `references[i]`.
pub fn clip_evaluation(
    clip: &Clip,
    images: &[PathBuf],
    captions: &[String],
    references: &[Vec<String>],
) -> Result<(Vec<ImageClip>, ClipSummary)> {
    let split = ClipSplit::of(clip, images, references)?;
    split.evaluate(clip, captions, references)
}

/// What CLIP scores a caption set against that depends on the split alone: the references'
/// embeddings (for the similarity, and RefCLIPScore's features) and the photos' features. The
/// same for every set `compare` scores, so computed once (each set embedded them again).
pub struct ClipSplit {
    similarity_references: Vec<Vec<f32>>,
    /// Unit length, in the references' order.
    reference_features: Vec<Vec<f32>>,
    image_features: Vec<Option<Features>>,
    unreadable: Vec<String>,
}

impl ClipSplit {
    /// The split's photos `images` and their `references`, embedded.
    pub fn of(clip: &Clip, images: &[PathBuf], references: &[Vec<String>]) -> Result<ClipSplit> {
        let flat: Vec<String> = references.iter().flatten().cloned().collect();
        let reference_features = finite(clip.name(), clip.text_features(&prefixed(&flat))?)?;
        let (image_features, unreadable) = image_features(clip, images)?;
        Ok(ClipSplit {
            similarity_references: reference_vectors(clip, references)?,
            reference_features: reference_features.into_iter().map(normalised).collect(),
            image_features,
            unreadable,
        })
    }

    /// Scores `captions[i]` for the split's photo `i` against `references[i]` (the split's).
    pub fn evaluate(
        &self,
        clip: &Clip,
        captions: &[String],
        references: &[Vec<String>],
    ) -> Result<(Vec<ImageClip>, ClipSummary)> {
        if references.len() != self.image_features.len() {
            anyhow::bail!(
                "{} reference sets for a split of {} photos",
                references.len(),
                self.image_features.len()
            );
        }
        let (similarity_per_image, similarity) =
            similarity_to(clip, captions, references, &self.similarity_references)?;
        let caption_features = finite(clip.name(), clip.text_features(&prefixed(captions))?)?;
        let mut per_image = Vec::with_capacity(captions.len());
        let mut offset = 0;
        for (i, refs) in references.iter().enumerate() {
            let features = &self.reference_features[offset..offset + refs.len()];
            offset += refs.len();
            let clip_s = self.image_features[i]
                .as_ref()
                .map(|image| clip_score(image, &caption_features[i]));
            per_image.push(ImageClip {
                clip_score: clip_s,
                ref_clip_score: clip_s.map(|s| ref_clip_score(s, &caption_features[i], features)),
                similarity: similarity_per_image[i],
            });
        }
        let summary = ClipSummary::new(clip.name(), &per_image, self.unreadable.clone(), similarity);
        Ok((per_image, summary))
    }
}

/// `texts` with CLIPScore's prompt before each.
fn prefixed(texts: &[String]) -> Vec<String> {
    texts.iter().map(|t| format!("{PREFIX}{t}")).collect()
}

/// Image features of every photo that can be read (`None` for the others), and a message for
/// each that cannot.
fn image_features(clip: &Clip, images: &[PathBuf]) -> Result<(Vec<Option<Features>>, Vec<String>)> {
    let mut features_per_image = Vec::with_capacity(images.len());
    let mut unreadable = Vec::new();
    for chunk in images.chunks(IMAGE_BATCH) {
        let mut photos = Vec::new();
        let mut readable = Vec::new();
        for path in chunk {
            match read_image(path, DEFAULT_MAX_PIXELS) {
                Ok(photo) => {
                    photos.push(photo);
                    readable.push(true);
                }
                Err(e) => {
                    let message = format!("{}: {:#}", path.display(), anyhow::Error::from(e));
                    note!("CLIPScore: skipped unreadable image {message}");
                    unreadable.push(message);
                    readable.push(false);
                }
            }
        }
        let mut features = finite(clip.name(), clip.image_features(&photos)?)?.into_iter();
        features_per_image.extend(
            readable
                .into_iter()
                .map(|ok| if ok { features.next() } else { None }),
        );
    }
    Ok((features_per_image, unreadable))
}

//! CLIPScore, RefCLIPScore and the CLIP text similarity of a caption set, computed with
//! [`Clip`]'s towers (the formulas are in [`crate::clip_score`]).

use std::path::PathBuf;

use anyhow::Result;
use glimpse_model::config::DEFAULT_MAX_PIXELS;

use super::Clip;
use crate::captioning::read_image;
use crate::clip_score::{ClipSummary, ImageClip, PREFIX, clip_score, ref_clip_score};
use crate::similarity::{TextEncoder, caption_similarity, finite, normalised};

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
    let (similarity_per_image, similarity) = caption_similarity(clip, captions, references)?;
    let prefixed =
        |texts: &[String]| -> Vec<String> { texts.iter().map(|t| format!("{PREFIX}{t}")).collect() };
    let caption_features = finite(clip.name(), clip.text_features(&prefixed(captions))?)?;
    let flat: Vec<String> = references.iter().flatten().cloned().collect();
    let reference_features = finite(clip.name(), clip.text_features(&prefixed(&flat))?)?;
    let mut reference_features = reference_features.into_iter().map(normalised);
    let (image_features, unreadable) = image_features(clip, images)?;
    let mut per_image = Vec::with_capacity(captions.len());
    for (i, refs) in references.iter().enumerate() {
        let refs: Vec<Vec<f32>> = reference_features.by_ref().take(refs.len()).collect();
        let clip_s = image_features[i]
            .as_ref()
            .map(|image| clip_score(image, &caption_features[i]));
        per_image.push(ImageClip {
            clip_score: clip_s,
            ref_clip_score: clip_s.map(|s| ref_clip_score(s, &caption_features[i], &refs)),
            similarity: similarity_per_image[i],
        });
    }
    let summary = ClipSummary::new(clip.name(), &per_image, unreadable, similarity);
    Ok((per_image, summary))
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
                    eprintln!("CLIPScore: skipped unreadable image {message}");
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

//! Captioning image files with a bundle, as `glimpse caption` and `glimpse eval` both do:
//! loading the bundle onto a device, then reading and decoding the files a batch at a time,
//! skipping (and reporting) the ones that cannot be read, and captioning the rest together.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use glimpse_files::{FileProblem, caps, note, read_regular, shown};
use glimpse_model::preprocess::{DecodedImage, decode_image_checked, image_to_input};
use glimpse_model::{Caption, Captioner, ExploreOptions, GenerateOptions, StageTimes};
use image::RgbImage;
use indicatif::ProgressBar;

use crate::figure::panel_photo;

/// Loads a bundle file onto `device`. Only a regular file of at most [`caps::MODEL`] bytes is
/// read: a FIFO or a device given as the model is refused at once.
pub fn load_captioner(path: &Path, device: &Device) -> Result<Captioner> {
    let bytes = read_regular(path, caps::MODEL, "model")?;
    Captioner::from_bytes(&bytes, device).with_context(|| format!("{}: cannot load the model", shown(path)))
}

/// Why an image file could not be captioned. Both variants show only their cause, so that
/// `format!("{:#}", anyhow::Error::from(error))` reads as the underlying error does.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read, is not a regular file, or is over [`caps::IMAGE`].
    #[error(transparent)]
    Read(#[from] FileProblem),
    /// Its bytes are not an image Glimpse decodes, or it has too many pixels.
    #[error(transparent)]
    Decode(#[from] glimpse_model::Error),
}

/// Reads and decodes one image file, refusing images of more than `max_pixels` and files that
/// are not regular or hold more than [`caps::IMAGE`] bytes.
pub fn read_image(path: &Path, max_pixels: u64) -> std::result::Result<RgbImage, ImageError> {
    Ok(read_image_checked(path, max_pixels)?.image)
}

/// [`read_image`], keeping the decoder's warning (a truncated file still decoded).
pub fn read_image_checked(path: &Path, max_pixels: u64) -> std::result::Result<DecodedImage, ImageError> {
    let bytes = read_regular(path, caps::IMAGE, "image").map_err(|e| e.problem)?;
    Ok(decode_image_checked(&bytes, max_pixels)?)
}

/// What became of one image of [`caption_files`].
pub enum Captioned<'a, T> {
    /// The file could not be read or decoded; nothing else is done with it.
    Unreadable { item: &'a T, error: ImageError },
    /// The image's caption and its photo at its figure panel's size (when the request asks
    /// for it: [`CaptionRequest::figure_panel_width`]). `ms` is the image's share of its batch's time
    /// (reading, decoding, preprocessing, encoder and decoder), the batch's time split equally
    /// among all its images, the unreadable ones included. `warning` says the file was damaged
    /// but still decoded (a truncated JPEG), so the caption describes a partly invented photo,
    /// or that the caption holds `<PAD>` or the start token ([`Captioner::caption_warning`]).
    Caption {
        item: &'a T,
        photo: Option<RgbImage>,
        caption: Caption,
        /// The beam's other hypotheses, best first (only with [`ExploreOptions::all_beams`]).
        beams: Vec<Caption>,
        ms: f64,
        /// `ms` by stage, shared out the same way.
        stages: StageTimes,
        warning: Option<String>,
    },
}

/// How [`caption_files`] decodes: the search, and what else to ask of each image.
#[derive(Debug, Clone, Default)]
pub struct CaptionRequest {
    pub options: GenerateOptions,
    pub explore: ExploreOptions,
    /// The panel width of the attention figures the caller draws, if it does: each photo is
    /// kept at its panel's size ([`panel_photo`]), and only then. (Kept whole, a batch of 64
    /// phone photos of 48 MP held 7.9 GB and aborted: hostile round 22.)
    pub figure_panel_width: Option<u32>,
}

/// `batch` (of `items` images), lowered with a note to what the model takes at once: its
/// captions are the same either way. A beam too wide for the model is refused, before any photo
/// is read.
fn images_at_once(
    captioner: &Captioner,
    options: &GenerateOptions,
    batch: usize,
    items: usize,
) -> Result<usize> {
    let most = captioner.images_at_once(options);
    let batch = batch.max(1);
    if batch > most && items > most {
        note!(
            "note: this model takes at most {most} images at once; captioning {most} at a time, not {batch}"
        );
    }
    let batch = batch.min(most);
    captioner.check_decoding(options, batch.min(items).max(1))?;
    Ok(batch)
}

/// Captions the image file of every item (`path` says where it is), `batch` at a time, in
/// order. `each` hears about every unreadable file as soon as it fails, then about each
/// captioned image of the batch; `progress` advances a batch at a time and is cleared at the end.
pub fn caption_files<'a, T>(
    captioner: &Captioner,
    items: &'a [T],
    path: impl Fn(&T) -> &Path,
    request: &CaptionRequest,
    batch: usize,
    progress: ProgressBar,
    mut each: impl FnMut(Captioned<'a, T>) -> Result<()>,
) -> Result<()> {
    let batch = images_at_once(captioner, &request.options, batch, items.len())?;
    let preprocess = &captioner.config.preprocess;
    for chunk in items.chunks(batch) {
        let started = Instant::now();
        let mut inputs = Vec::new(); // [3, H, W] each
        let mut kept = Vec::new();
        for item in chunk {
            match read_image_checked(path(item), preprocess.max_pixels) {
                Ok(DecodedImage { image, warning }) => {
                    inputs.push(image_to_input(&image, preprocess));
                    let photo = request.figure_panel_width.map(|width| panel_photo(&image, width));
                    kept.push((item, photo, warning));
                }
                Err(error) => each(Captioned::Unreadable { item, error })?,
            }
        }
        let prepared = Instant::now();
        // A non-finite value in one photo's decoding ends the run: the photos are named (a batch
        // of 16 was stopped "at step 3" of none: review 73).
        let (captions, encoded) = encode_and_decode(captioner, &inputs, request).with_context(|| {
            let names: Vec<String> = kept
                .iter()
                .map(|(item, ..)| shown(path(item)).to_string())
                .collect();
            format!("captioning {}", names.join(", "))
        })?;
        let share = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0 / chunk.len() as f64;
        let done = Instant::now();
        let stages = StageTimes {
            prepare_ms: share(started, prepared),
            encoder_ms: share(prepared, encoded),
            decoder_ms: share(encoded, done),
        };
        let ms = share(started, done);
        for ((item, photo, warning), mut ranked) in kept.into_iter().zip(captions) {
            let warning = captioner.caption_warning(warning, &ranked);
            let caption = ranked.remove(0);
            each(Captioned::Caption {
                item,
                photo,
                caption,
                beams: ranked,
                ms,
                stages,
                warning,
            })?;
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(())
}

/// Each input's captions, best first (at least one), the encoder waited for apart; also
/// returns when the encoder finished.
fn encode_and_decode(
    captioner: &Captioner,
    inputs: &[Vec<f32>],
    request: &CaptionRequest,
) -> Result<(Vec<Vec<Caption>>, Instant)> {
    if inputs.is_empty() {
        return Ok((Vec::new(), Instant::now()));
    }
    let encoded = captioner.encode_inputs(inputs)?;
    pollster::block_on(captioner.finish_encoding(&encoded))?;
    let encoded_at = Instant::now();
    let captions = pollster::block_on(captioner.explore_images(&encoded, request.options, &request.explore))?;
    Ok((captions, encoded_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `glimpse eval` prints for skipped images are the underlying errors' own.
    #[test]
    fn unreadable_images_say_why_in_the_underlying_words() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.jpg");
        let io = std::fs::read(&missing).unwrap_err().to_string();
        let error = read_image(&missing, u64::MAX).unwrap_err();
        assert!(matches!(error, ImageError::Read(_)));
        assert_eq!(format!("{:#}", anyhow::Error::from(error)), io);

        let garbage = dir.path().join("garbage.jpg");
        std::fs::write(&garbage, b"not an image").unwrap();
        let decode = glimpse_model::preprocess::decode_image(b"not an image", u64::MAX).unwrap_err();
        let error = read_image(&garbage, u64::MAX).unwrap_err();
        assert!(matches!(error, ImageError::Decode(_)));
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error)),
            format!("{:#}", anyhow::Error::from(decode))
        );
    }

    /// A FIFO given as an image is refused at once instead of blocking on its first read.
    #[cfg(unix)]
    #[test]
    fn a_fifo_image_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.png");
        glimpse_files::testing::mkfifo(&fifo);
        let error = read_image(&fifo, u64::MAX).unwrap_err();
        assert!(matches!(error, ImageError::Read(FileProblem::NotRegular { .. })));
        assert_eq!(
            error.to_string(),
            "is a named pipe (FIFO), not a regular file; refusing to read it"
        );
    }
}

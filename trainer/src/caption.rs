//! `glimpse caption`: caption image files with a bundle, as text or JSON lines, optionally
//! drawing the attention figure for each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use glimpse_model::preprocess::{decode_image, image_to_input};
use glimpse_model::{Caption, Captioner, GenerateOptions};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::backend::Backend;
use crate::plot::{FigureStyle, attention_figure};

/// What `glimpse caption` was asked to do.
#[derive(Debug, Clone)]
pub struct CaptionRequest {
    pub model: PathBuf,
    pub images: Vec<PathBuf>,
    pub options: GenerateOptions,
    pub json: bool,
    pub attention_png: Option<PathBuf>,
    pub style: FigureStyle,
    pub backend: Backend,
    /// Images decoded and captioned together (greedy decoding only).
    pub batch: usize,
}

/// One line of `--json` output.
#[derive(Debug, Serialize)]
pub struct CaptionRecord<'a> {
    pub image: String,
    pub caption: String,
    pub tokens: &'a [String],
    pub attention: &'a [Vec<f32>],
    pub grid: [usize; 2],
    pub log_prob: f64,
    pub finished: bool,
    pub backend: &'static str,
    /// Milliseconds for this image: decoding, preprocessing, encoder and decoder (a batch's time
    /// is shared equally among its images).
    pub ms: f64,
}

#[derive(Debug, Serialize)]
struct ErrorRecord {
    image: String,
    error: String,
}

/// Loads a bundle file onto the backend's device.
pub fn load_captioner(path: &Path, backend: Backend) -> Result<Captioner> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the model", path.display()))?;
    let device = backend.device()?;
    Captioner::from_bytes(&bytes, &device)
        .with_context(|| format!("{}: cannot load the model", path.display()))
}

/// Captions every image, printing as it goes. Fails (after doing the others) if any image failed.
pub fn run(request: &CaptionRequest, out: &mut impl Write) -> Result<()> {
    request.options.validate()?;
    if request.images.is_empty() {
        bail!("no images given");
    }
    let batch = if request.options.beam_width == 1 {
        request.batch.max(1)
    } else {
        1
    };
    let captioner = load_captioner(&request.model, request.backend)?;
    if !captioner.card.decoder_trained {
        eprintln!(
            "warning: {}'s decoder was never trained; its captions are meaningless",
            request.model.display()
        );
    }
    if let Some(dir) = &request.attention_png {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let progress = if request.images.len() > 1 {
        ProgressBar::new(request.images.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} images {per_sec} eta {eta}")
                .expect("a valid template"),
        )
    } else {
        ProgressBar::hidden()
    };
    let mut failures = 0;
    for chunk in request.images.chunks(batch) {
        let started = Instant::now();
        let mut photos: Vec<(&PathBuf, RgbImage)> = Vec::new();
        let mut inputs = Vec::new();
        for path in chunk {
            let decoded = std::fs::read(path)
                .with_context(|| "cannot read the file".to_string())
                .and_then(|bytes| Ok(decode_image(&bytes, captioner.config.preprocess.max_pixels)?));
            match decoded {
                Ok(photo) => {
                    inputs.push(image_to_input(&photo, &captioner.config.preprocess));
                    photos.push((path, photo));
                }
                Err(err) => {
                    failures += 1;
                    report_error(request.json, path, &err, out)?;
                }
            }
        }
        let captions = pollster::block_on(captioner.caption_inputs(&inputs, request.options))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0 / chunk.len() as f64;
        for ((path, photo), caption) in photos.iter().zip(&captions) {
            print_caption(request, path, caption, ms, out)?;
            if let Some(dir) = &request.attention_png {
                let figure = attention_figure(photo, caption, request.style);
                let file = dir.join(format!(
                    "{}.attention.png",
                    path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
                ));
                figure
                    .save(&file)
                    .with_context(|| format!("{}: cannot write", file.display()))?;
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    if failures > 0 {
        bail!(
            "{failures} of {} image(s) could not be captioned",
            request.images.len()
        );
    }
    Ok(())
}

fn print_caption(
    request: &CaptionRequest,
    path: &Path,
    caption: &Caption,
    ms: f64,
    out: &mut impl Write,
) -> Result<()> {
    if request.json {
        let record = CaptionRecord {
            image: path.display().to_string(),
            caption: caption.text(),
            tokens: &caption.tokens,
            attention: &caption.attention,
            grid: caption.grid,
            log_prob: caption.log_prob,
            finished: caption.finished,
            backend: request.backend.name(),
            ms,
        };
        writeln!(out, "{}", serde_json::to_string(&record)?)?;
    } else if request.images.len() == 1 {
        writeln!(out, "{}", caption.text())?;
    } else {
        writeln!(out, "{}\t{}", path.display(), caption.text())?;
    }
    Ok(())
}

fn report_error(json: bool, path: &Path, err: &anyhow::Error, out: &mut impl Write) -> Result<()> {
    let message = format!("{err:#}");
    if json {
        let record = ErrorRecord {
            image: path.display().to_string(),
            error: message,
        };
        writeln!(out, "{}", serde_json::to_string(&record)?)?;
    } else {
        eprintln!("error: {}: {message}", path.display());
    }
    Ok(())
}

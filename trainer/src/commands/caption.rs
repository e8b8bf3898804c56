//! `glimpse caption`: caption image files with a bundle, as text or JSON lines, optionally
//! drawing the attention figure for each.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use glimpse_model::preprocess::{decode_image, image_to_input};
use glimpse_model::{Caption, GenerateOptions};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use clap::Args;
use glimpse::backend::Backend;
use glimpse_eval::captioning::load_captioner;
use glimpse_eval::figure::{FigureStyle, attention_figure};

use super::Exit;

/// `glimpse caption`.
#[derive(Args)]
pub struct CaptionArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// Image files (JPEG, PNG, WebP, GIF, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Beam width; 1 decodes greedily.
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Most words per caption, the end token included.
    #[arg(long, default_value_t = 20)]
    max_len: usize,
    /// Beam search ranks by log_prob / length^PENALTY (0 = plain sum).
    #[arg(long, default_value_t = 0.0)]
    length_penalty: f64,
    /// One JSON object per line: image, caption, tokens, attention, grid, log_prob, backend, ms.
    #[arg(long)]
    json: bool,
    /// Write each image's attention figure (a panel per word) to DIR as PNG.
    #[arg(long, value_name = "DIR")]
    attention_png: Option<PathBuf>,
    /// Opacity of the attention maps in the figure.
    #[arg(long, default_value_t = 0.7)]
    alpha: f32,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
    /// Images decoded together in one batch (greedy decoding).
    #[arg(long, default_value_t = 1)]
    batch: usize,
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

/// Captions every image, printing as it goes. Fails (after doing the others) if any image failed.
pub fn run(args: CaptionArgs) -> Result<Exit> {
    caption_all(&args, &mut std::io::stdout().lock())?;
    Ok(Exit::Done)
}

fn caption_all(request: &CaptionArgs, out: &mut impl Write) -> Result<()> {
    let options = GenerateOptions {
        beam_width: request.beam,
        max_len: request.max_len,
        length_penalty: request.length_penalty,
    };
    let style = FigureStyle {
        alpha: request.alpha,
        ..FigureStyle::default()
    };
    options.validate()?;
    if request.images.is_empty() {
        bail!("no images given");
    }
    let batch = if options.beam_width == 1 {
        request.batch.max(1)
    } else {
        1
    };
    let captioner = load_captioner(&request.model, &request.backend.device()?)?;
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
        let captions = pollster::block_on(captioner.caption_inputs(&inputs, options))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0 / chunk.len() as f64;
        for ((path, photo), caption) in photos.iter().zip(&captions) {
            print_caption(request, path, caption, ms, out)?;
            if let Some(dir) = &request.attention_png {
                let figure = attention_figure(photo, caption, style);
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
    request: &CaptionArgs,
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

//! `glimpse caption`: caption image files with a bundle, as text or JSON lines, optionally
//! drawing the attention figure for each.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_model::{Caption, StageTimes};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use clap::Args;
use glimpse::backend::Backend;
use glimpse_eval::captioning::{Captioned, ImageError, caption_files, load_captioner};
use glimpse_eval::figure::{FigureStyle, attention_figure};
use glimpse_files::{shown, terminal_safe, unique_names};

use super::{DecodingArgs, Exit};

/// `glimpse caption`.
#[derive(Args)]
pub struct CaptionArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// Image files (JPEG, PNG, WebP, GIF, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    decoding: DecodingArgs,
    /// One JSON object per line: image, caption, tokens, attention, grid, log_prob, backend, ms,
    /// stages.
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
    /// `ms` by stage: prepare_ms (reading, decoding, resizing), encoder_ms, decoder_ms.
    pub stages: StageTimes,
    /// Present when the file was damaged but still decoded (a truncated JPEG).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
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
    let options = request.decoding.options()?;
    let style = FigureStyle {
        alpha: request.alpha,
        ..FigureStyle::default()
    };
    if request.images.is_empty() {
        bail!("no images given");
    }
    let batch = options.decoding.batch_size(request.batch);
    let captioner = load_captioner(&request.model, &request.backend.device()?)?;
    if !captioner.card.decoder_trained {
        eprintln!(
            "warning: {}'s decoder was never trained; its captions are meaningless",
            shown(&request.model)
        );
    }
    if let Some(dir) = &request.attention_png {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", shown(dir)))?;
    }
    let items = with_figure_names(&request.images);
    let mut failures = 0;
    caption_files(
        &captioner,
        &items,
        |(path, _)| path.as_path(),
        options,
        batch,
        progress_bar(request.images.len()),
        |outcome| match outcome {
            Captioned::Unreadable {
                item: (path, _),
                error,
            } => {
                failures += 1;
                report_error(request.json, path, &why_unreadable(error), out)
            }
            Captioned::Caption {
                item: (path, figure),
                photo,
                caption,
                ms,
                stages,
                warning,
            } => {
                if let Some(warning) = &warning {
                    eprintln!("warning: {}: {warning}", shown(path));
                }
                print_caption(request, path, &caption, (ms, stages), warning, out)?;
                match &request.attention_png {
                    Some(dir) => save_figure(&dir.join(figure), &photo, &caption, style),
                    None => Ok(()),
                }
            }
        },
    )?;
    if failures > 0 {
        bail!(
            "{failures} of {} image(s) could not be captioned",
            request.images.len()
        );
    }
    Ok(())
}

/// A progress bar for more than one image; none for one.
fn progress_bar(images: usize) -> ProgressBar {
    if images > 1 {
        ProgressBar::new(images as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} images {per_sec} eta {eta}")
                .expect("a valid template"),
        )
    } else {
        ProgressBar::hidden()
    }
}

/// Each image with the file name of its attention figure, `STEM.attention.png`: images that
/// share a stem (`a/cat.jpg`, `b/cat.png`) get `cat.attention.png`, `cat-2.attention.png`, … in
/// the order given, so no figure overwrites another.
fn with_figure_names(images: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let stems = images
        .iter()
        .map(|path| path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default());
    images
        .iter()
        .cloned()
        .zip(
            unique_names(stems)
                .into_iter()
                .map(|stem| format!("{stem}.attention.png")),
        )
        .collect()
}

/// Writes the attention figure of a caption to `file`.
fn save_figure(file: &Path, photo: &RgbImage, caption: &Caption, style: FigureStyle) -> Result<()> {
    let figure = attention_figure(photo, caption, style);
    figure
        .save(file)
        .with_context(|| format!("{}: cannot write", shown(file)))
}

/// The message of an image that cannot be captioned: a read failure says so, a decoding
/// failure speaks for itself.
fn why_unreadable(error: ImageError) -> anyhow::Error {
    match error {
        ImageError::Read(e) => anyhow::Error::from(e).context("cannot read the file"),
        ImageError::Decode(e) => anyhow::Error::from(e),
    }
}

fn print_caption(
    request: &CaptionArgs,
    path: &Path,
    caption: &Caption,
    (ms, stages): (f64, StageTimes),
    warning: Option<String>,
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
            stages,
            warning,
        };
        writeln!(out, "{}", super::json_line(&record)?)?;
    } else if request.images.len() == 1 {
        writeln!(out, "{}", terminal_safe(&caption.text()))?;
    } else {
        // Escaped, a tab or newline in a file name or a word cannot forge a column or a line.
        writeln!(out, "{}\t{}", shown(path), terminal_safe(&caption.text()))?;
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
        writeln!(out, "{}", super::json_line(&record)?)?;
    } else {
        eprintln!("error: {}: {}", shown(path), terminal_safe(&message));
    }
    Ok(())
}

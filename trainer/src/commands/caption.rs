//! `glimpse caption`: caption image files with a bundle, as text or JSON lines, optionally
//! drawing the attention figure for each.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_model::{Alternative, Caption, Captioner, ExploreOptions, StageTimes};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use clap::Args;
use glimpse::backend::Backend;
use glimpse_eval::captioning::{CaptionRequest, Captioned, ImageError, caption_files, load_captioner};
use glimpse_eval::colormap::Colormap;
use glimpse_eval::figure::{FIGURE_MARK_BYTES, FigureStyle, attention_figure, figure_png, is_figure_png};
use glimpse_files::{
    FileId, file_id, fitting_name, note, path_text, shown, terminal_safe, unique_by, write_replacing,
};

use super::{DecodingArgs, Exit, choice};

/// `glimpse caption`.
#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse caption --model model.safetensors --beam 3 --attention-png figures/ photos/*.jpg"
)]
pub struct CaptionArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// Image files (JPEG, PNG, WebP, GIF, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    decoding: DecodingArgs,
    /// Start every caption with these words and let the model continue (greedy or by beam);
    /// words the vocabulary lacks are read as <UNK>, with a warning.
    #[arg(long, value_name = "TEXT")]
    prefix: Option<String>,
    /// Also show the K most probable words at every position of the caption, with their
    /// probabilities (at most 50).
    #[arg(long, value_name = "K", default_value_t = 0)]
    alternatives: usize,
    /// Show every hypothesis the beam search ends with, best first, with its score.
    #[arg(long)]
    all_beams: bool,
    /// One JSON object per line: image, caption, tokens, attention, grid, log_prob, backend, ms,
    /// stages; with --alternatives and --all-beams also alternatives and beams.
    #[arg(long)]
    json: bool,
    /// Write each image's attention figure (a panel per word) to DIR as PNG.
    #[arg(long, value_name = "DIR")]
    attention_png: Option<PathBuf>,
    /// Opacity of the attention maps in the figure, from 0 to 1.
    #[arg(long, default_value_t = 0.7, value_parser = opacity)]
    alpha: f32,
    /// Colour map of the attention in the figure: gray (the original report's), or matplotlib's
    /// inferno or viridis.
    #[arg(long, value_parser = choice::<Colormap>(), default_value = Colormap::default().name())]
    colormap: Colormap,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
    /// Images decoded together in one batch (greedy decoding), 1 to 64.
    #[arg(long, default_value_t = 1, value_parser = super::batch_size())]
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
    /// With --alternatives: the top words at every position (one list per word, one more for
    /// the end token when the caption finished).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub alternatives: &'a [Vec<Alternative>],
    /// With --all-beams: every hypothesis, best first (the first is this caption).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub beams: Vec<BeamRecord<'a>>,
    /// With --attention-png: this image's figure (photos that share a name get `-2`, `-3`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub figure: Option<String>,
}

/// One beam hypothesis in `--json` output.
#[derive(Debug, Serialize)]
pub struct BeamRecord<'a> {
    pub caption: String,
    pub tokens: &'a [String],
    pub attention: &'a [Vec<f32>],
    pub log_prob: f64,
    /// What beam search ranks by: log_prob / length^length_penalty.
    pub score: f64,
    pub finished: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub alternatives: &'a [Vec<Alternative>],
}

#[derive(Debug, Serialize)]
struct ErrorRecord {
    image: String,
    error: String,
}

/// Captions every image, printing as it goes. Fails (after doing the others) if any image failed.
pub fn run(args: CaptionArgs) -> Result<Exit> {
    caption_all(&args, &mut glimpse_files::console::output())?;
    Ok(Exit::Done)
}

fn caption_all(request: &CaptionArgs, out: &mut impl Write) -> Result<()> {
    let options = request.decoding.options()?;
    glimpse_model::generate::explore::check_alternatives(request.alternatives)?;
    if request.images.is_empty() {
        bail!("no images given");
    }
    let batch = options.decoding.batch_size(request.batch);
    let mut captioner = load_captioner(&request.model, &request.backend.device()?)?;
    captioner.set_steps_per_readback(request.backend.steps_per_readback());
    let caption_request = CaptionRequest {
        options,
        explore: explore_options(request, &captioner)?,
        figure_panel_width: request
            .attention_png
            .as_ref()
            .map(|_| figure_style(request).panel_width),
    };
    if !captioner.card.decoder_trained {
        note!(
            "warning: {}'s decoder was never trained; its captions are meaningless",
            shown(&request.model)
        );
    }
    let items = with_figure_names(&request.images);
    if let Some(dir) = &request.attention_png {
        // ("cannot create: File exists (os error 17)" said nothing of why: hostile round 22.)
        if dir.exists() && !dir.is_dir() {
            bail!(
                "--attention-png {}: a file, not a folder; the figures go in a folder",
                shown(dir)
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", shown(dir)))?;
        refuse_figures_over_inputs(dir, &items)?;
        refuse_figures_over_others(dir, &items)?;
    }
    let mut failures = 0;
    caption_files(
        &captioner,
        &items,
        |(path, _)| path.as_path(),
        &caption_request,
        batch,
        progress_bar(request.images.len()),
        |outcome| {
            if matches!(outcome, Captioned::Unreadable { .. }) {
                failures += 1;
            }
            print_outcome(request, outcome, out)
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

/// How `--attention-png` figures look.
fn figure_style(request: &CaptionArgs) -> FigureStyle {
    FigureStyle {
        alpha: request.alpha,
        colormap: request.colormap,
        ..FigureStyle::default()
    }
}

/// Prints an image's caption, or why it has none, and saves its figure when asked.
fn print_outcome(
    request: &CaptionArgs,
    outcome: Captioned<'_, (PathBuf, OsString)>,
    out: &mut impl Write,
) -> Result<()> {
    match outcome {
        Captioned::Unreadable {
            item: (path, _),
            error,
        } => report_error(request.json, path, &why_unreadable(error), out),
        Captioned::Caption {
            item: (path, figure),
            photo,
            caption,
            beams,
            ms,
            stages,
            warning,
        } => {
            if let Some(warning) = &warning {
                note!("warning: {}: {warning}", shown(path));
            }
            let figure = request.attention_png.as_ref().map(|dir| dir.join(figure));
            let captioned = Shown {
                caption: &caption,
                beams: &beams,
                times: (ms, stages),
                warning,
                figure: figure.as_deref(),
            };
            // Written before it is named (`--json`'s `figure`): a failed write named a figure
            // never written (review 72).
            if let (Some(figure), Some(photo)) = (&captioned.figure, photo) {
                save_figure(figure, &photo, &caption, figure_style(request))?;
            }
            print_caption(request, path, captioned, out)
        }
    }
}

/// What the flags ask of each image besides its caption; the prefix's words looked up in the
/// model's vocabulary (a warning for each it lacks).
fn explore_options(request: &CaptionArgs, captioner: &Captioner) -> Result<ExploreOptions> {
    let prefix = match &request.prefix {
        Some(text) => {
            let words = glimpse_model::generate::caption_words(text).context("--prefix")?;
            let (ids, notes) = captioner.lookup_words(&words).context("--prefix")?;
            for note in notes {
                note!("warning: --prefix: {}", terminal_safe(&note));
            }
            ids
        }
        None => Vec::new(),
    };
    let explore = ExploreOptions {
        prefix,
        alternatives: request.alternatives,
        all_beams: request.all_beams,
    };
    explore.validate(&captioner.vocab, request.decoding.options()?.max_len)?;
    Ok(explore)
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

/// What an attention figure's file name ends with.
const FIGURE_SUFFIX: &str = ".attention.png";

/// Whether `figure` is named `STEM.attention.png` after `image`, its first name.
fn is_stem_figure(image: &Path, figure: &Path) -> bool {
    let mut first = image.file_stem().unwrap_or_default().to_os_string();
    first.push(FIGURE_SUFFIX);
    figure.file_name() == Some(first.as_os_str())
}

/// Each image with the file name of its attention figure, `STEM.attention.png`: images that
/// share a stem (`a/cat.jpg`, `b/cat.png`) get `cat.attention.png`, `cat-2.attention.png`, … in
/// the order given, so no figure overwrites another (the whole names are compared, so a cut one
/// never meets another either). The stem keeps its own bytes: shown as text, a name that is not
/// UTF-8 (`a<FF>`) would become `a\xFF`, a backslash in a file name that Windows shares take
/// for a folder, and the name of another photo (`a\xFF.jpg`).
fn with_figure_names(images: &[PathBuf]) -> Vec<(PathBuf, OsString)> {
    let stems = images.iter().map(|path| {
        path.file_stem()
            .filter(|s| !s.is_empty())
            .unwrap_or(OsStr::new("image"))
    });
    let names = unique_by(stems, |stem, number| figure_name(stem, number));
    images.iter().cloned().zip(names).collect()
}

/// `STEM.attention.png`, or `STEM-N.attention.png` for a `number` past 1; cut beside a hash
/// ([`fitting_name`]) when too long for a file name: a photo's name of 249 bytes gave a figure
/// name of 263, whose write failed and ended the run.
fn figure_name(stem: &OsStr, number: u64) -> OsString {
    let mut name = stem.to_os_string();
    if number > 1 {
        name.push(format!("-{number}"));
    }
    if name.len() + FIGURE_SUFFIX.len() > glimpse_files::MAX_NAME_BYTES {
        return fitting_name(&name.to_string_lossy(), FIGURE_SUFFIX).into();
    }
    name.push(FIGURE_SUFFIX);
    name
}

/// No figure may replace an input photo: run twice over `photos/`, `--attention-png photos/`
/// wrote a figure over the photo `cat.attention.png` and then captioned the figure in its place.
/// (Temporary files have random names, so no photo is ever taken for one.) Checked before any image is captioned, by file identity (links and `..` included).
fn refuse_figures_over_inputs(dir: &Path, items: &[(PathBuf, OsString)]) -> Result<()> {
    let photos: HashMap<FileId, &Path> = items
        .iter()
        .filter_map(|(photo, _)| Some((file_id(photo)?, photo.as_path())))
        .collect();
    for (image, figure) in items {
        let figure = dir.join(figure);
        if let Some(photo) = file_id(&figure).and_then(|id| photos.get(&id)) {
            bail!(
                "{}: the attention figure of {} would replace the input photo {}; choose another --attention-png folder",
                shown(&figure),
                shown(image),
                shown(photo)
            );
        }
    }
    Ok(())
}

/// Nor any file but a figure `glimpse caption` wrote ([`is_figure_png`]): a user's own file of a
/// figure's name was replaced (hostile round 22). A link is replaced, never followed.
fn refuse_figures_over_others(dir: &Path, items: &[(PathBuf, OsString)]) -> Result<()> {
    for (image, figure) in items {
        let figure = dir.join(figure);
        if std::fs::symlink_metadata(&figure).is_ok_and(|m| m.is_symlink()) {
            continue;
        }
        let mut start = Vec::new();
        let read = match glimpse_files::open_regular(&figure, "figure") {
            Err(e) if e.is_not_found() => continue,
            // (One that cannot be read is not known to be a figure: review 69.)
            Err(e) => bail!(
                "{e}: the figure of {} would replace it; choose another --attention-png folder",
                shown(image)
            ),
            Ok((file, _)) => file.take(FIGURE_MARK_BYTES as u64).read_to_end(&mut start),
        };
        if read.is_err() || !is_figure_png(&start) {
            bail!(
                "{}: not an attention figure `glimpse caption` wrote (or one from a glimpse before \
                 figures were marked), which the figure of {} would replace; move it away or choose \
                 another --attention-png folder",
                shown(&figure),
                shown(image)
            );
        }
    }
    Ok(())
}

/// Writes the attention figure of a caption to `file`.
fn save_figure(file: &Path, photo: &RgbImage, caption: &Caption, style: FigureStyle) -> Result<()> {
    let png = figure_png(&attention_figure(photo, caption, style))?;
    // The error names the figure (naming it here again showed it twice).
    Ok(write_replacing(file, &png)?)
}

/// The message of an image that cannot be captioned: a read failure says so, a decoding
/// failure speaks for itself.
fn why_unreadable(error: ImageError) -> anyhow::Error {
    match error {
        ImageError::Read(e) => anyhow::Error::from(e).context("cannot read the file"),
        ImageError::Decode(e) => anyhow::Error::from(e),
    }
}

/// One image's outcome as [`print_caption`] shows it.
struct Shown<'a> {
    caption: &'a Caption,
    /// The beam's other hypotheses, best first.
    beams: &'a [Caption],
    /// Milliseconds, in all and by stage.
    times: (f64, StageTimes),
    warning: Option<String>,
    /// The attention figure's path, when figures are drawn.
    figure: Option<&'a Path>,
}

fn print_caption(
    request: &CaptionArgs,
    path: &Path,
    shown_caption: Shown,
    out: &mut impl Write,
) -> Result<()> {
    let Shown {
        caption,
        beams,
        times: (ms, stages),
        warning,
        figure,
    } = shown_caption;
    let penalty = request.decoding.options()?.decoding.length_penalty();
    if request.json {
        let record = CaptionRecord {
            image: path_text(path).into_owned(),
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
            alternatives: &caption.alternatives,
            beams: match request.all_beams {
                true => std::iter::once(caption)
                    .chain(beams)
                    .map(|beam| beam_record(beam, penalty))
                    .collect(),
                false => Vec::new(),
            },
            figure: figure.map(|figure| path_text(figure).into_owned()),
        };
        writeln!(out, "{}", super::json_line(&record)?)?;
        return Ok(());
    }
    if request.images.len() == 1 {
        writeln!(out, "{}", terminal_safe(&caption.text()))?;
    } else {
        // Escaped, a tab or newline in a file name or a word cannot forge a column or a line.
        writeln!(out, "{}\t{}", shown(path), terminal_safe(&caption.text()))?;
    }
    print_alternatives(caption, out)?;
    // Named where it is not `STEM.attention.png`: `photo-2.attention.png` may be another
    // `photo`'s, not `photo-2`'s (hostile round 24).
    if let Some(figure) = figure.filter(|figure| !is_stem_figure(path, figure)) {
        writeln!(out, "  figure: {}", shown(figure))?;
    }
    for (rank, beam) in beams.iter().enumerate() {
        let score = beam.beam_score(penalty);
        writeln!(
            out,
            "  beam {} ({score:.3}): {}",
            rank + 2,
            terminal_safe(&beam.text())
        )?;
        print_alternatives(beam, out)?;
    }
    Ok(())
}

fn beam_record(beam: &Caption, length_penalty: f64) -> BeamRecord<'_> {
    BeamRecord {
        caption: beam.text(),
        tokens: &beam.tokens,
        attention: &beam.attention,
        log_prob: beam.log_prob,
        score: beam.beam_score(length_penalty),
        finished: beam.finished,
        alternatives: &beam.alternatives,
    }
}

/// One line per position: the chosen word, then the top words with their probabilities.
fn print_alternatives(caption: &Caption, out: &mut impl Write) -> Result<()> {
    let chosen = caption.tokens.iter().map(String::as_str).chain(["<end>"]);
    for (position, (word, top)) in chosen.zip(&caption.alternatives).enumerate() {
        let listed: Vec<String> = top
            .iter()
            .map(|a| format!("{} {:.3}", terminal_safe(&a.word), a.prob))
            .collect();
        writeln!(
            out,
            "  {:>2} {:<12} {}",
            position + 1,
            terminal_safe(word),
            listed.join(", ")
        )?;
    }
    Ok(())
}

fn report_error(json: bool, path: &Path, err: &anyhow::Error, out: &mut impl Write) -> Result<()> {
    let message = format!("{err:#}");
    if json {
        let record = ErrorRecord {
            image: path_text(path).into_owned(),
            error: message,
        };
        writeln!(out, "{}", super::json_line(&record)?)?;
    } else {
        note!("error: {}: {}", shown(path), terminal_safe(&message));
    }
    Ok(())
}

/// An opacity: a number from 0 to 1 (NaN or 1e30 would paint nothing or garbage).
fn opacity(text: &str) -> std::result::Result<f32, String> {
    match text.parse::<f32>() {
        Ok(alpha) if (0.0..=1.0).contains(&alpha) => Ok(alpha),
        _ => Err(format!("`{text}` is not an opacity from 0 to 1")),
    }
}

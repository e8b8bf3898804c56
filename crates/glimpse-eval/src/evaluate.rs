//! `glimpse eval`: caption every image of a dataset split with a bundle and score the captions
//! against the references the way coco-caption does. Writes `metrics.json` (coco-caption's key
//! names) and `captions.json` (`{"image": "caption"}`, the format `glimpse compare` reads).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use glimpse_data::synth::SynthSidecar;
use glimpse_data::{Sample, Split};
use glimpse_files::{note, shown, terminal_safe, terminal_safe_json, write_together};
use glimpse_model::{Caption, Captioner, GenerateOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::captioning::{CaptionRequest, Captioned, caption_files, load_captioner, read_image};
use crate::clip_score::ClipSummary;
use crate::grounding::{Grounding, GroundingTotals, WordGrounding, by_file, ground_caption};
use crate::occlusion::{Occlusion, OcclusionCase, occlusion_test};
use crate::outputs::{
    EVAL, EVAL_OUTPUTS, refuse_outputs_over_inputs, refuse_outputs_over_photos, refuse_replacing_others,
};
use crate::report::{ReportCaption, ReportImage, ReportModel, render};
use crate::score::{Candidate, Embedders, ImageScores, load_for_scoring, score_set};
use crate::similarity::SimilaritySummary;

#[derive(Debug, Clone)]
pub struct EvalRequest {
    pub model: PathBuf,
    pub data: PathBuf,
    pub split: Split,
    pub options: GenerateOptions,
    pub device: Device,
    /// Greedy decoding's steps between two readbacks: 1 on the CPU,
    /// [`glimpse_model::GPU_STEPS_PER_READBACK`] on a GPU.
    pub steps_per_readback: usize,
    /// Images decoded together (greedy only).
    pub batch: usize,
    /// Score at most this many images.
    pub limit: Option<usize>,
    pub out: Option<PathBuf>,
    /// A sentence-transformers folder (all-MiniLM-L6-v2) for the embedding similarity
    /// (needs the `embeddings` feature).
    pub text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder for CLIPScore, RefCLIPScore and CLIP text similarity (needs
    /// the `embeddings` feature).
    pub clip: Option<PathBuf>,
}

/// One image's result.
#[derive(Debug, Clone)]
pub struct ImageResult {
    pub sample: Sample,
    pub caption: Caption,
    pub scores: ImageScores,
    /// Colour and shape words scored against the objects' boxes (synth data only).
    pub grounding: Vec<WordGrounding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// `Bleu_1` … `Bleu_4`, `ROUGE_L`, `CIDEr` over the corpus, as coco-caption names them.
    pub metrics: BTreeMap<String, f64>,
    pub images: usize,
    pub unreadable: Vec<String>,
    /// On `glimpse synth` data: where the attention of colour and shape words falls.
    pub grounding: Option<Grounding>,
    /// The original report's embedding similarity, when a text encoder is given.
    pub similarity: Option<SimilaritySummary>,
    /// The CLIP figures, when a CLIP folder is given.
    pub clip: Option<ClipSummary>,
    #[serde(skip)]
    pub results: Vec<ImageResult>,
}

/// Captions the split, scores the captions (and grounds them on synth data), and writes the
/// outputs when `request.out` is set.
pub fn evaluate(request: &EvalRequest) -> Result<Evaluation> {
    request.options.validate()?;
    if let Some(out) = &request.out {
        refuse_unsafe_out(request, out)?;
    }
    Embedders::check_available(request.text_encoder.as_deref(), request.clip.as_deref())?;
    let samples = samples_to_score(request)?;
    Embedders::check_references(request.text_encoder.as_deref(), request.clip.as_deref(), &samples)?;
    if let Some(out) = &request.out {
        refuse_outputs_over_photos("eval", out, &EVAL_OUTPUTS, &samples)?;
    }
    let mut captioner = load_captioner(&request.model, &request.device)?;
    captioner.set_steps_per_readback(request.steps_per_readback);
    let (mut results, unreadable) = caption_samples(&captioner, samples, request)?;
    if results.is_empty() {
        // Scores of nothing would read as a model that scored 0 (and exit 0).
        bail!(
            "none of the {} images of the {} split could be read (first: {}); nothing to score",
            unreadable.len(),
            request.split.name(),
            unreadable.first().map_or("", String::as_str)
        );
    }
    let grounding = match ground(&request.data, &mut results)? {
        Some((mut grounding, sidecar)) => {
            grounding.occlusion = occlude(&captioner, request, &sidecar, &results)?;
            Some(grounding)
        }
        None => None,
    };
    let embedders = Embedders::load(request.text_encoder.as_deref(), request.clip.as_deref())?;
    let texts: Vec<String> = results.iter().map(|r| r.caption.text()).collect();
    let candidates: Vec<Candidate<'_>> = results
        .iter()
        .zip(texts)
        .map(|(r, text)| Candidate {
            sample: &r.sample,
            text,
            tokens: &r.caption.tokens,
        })
        .collect();
    let scores = score_set(&candidates, &embedders)?;
    for (result, image) in results.iter_mut().zip(scores.per_image) {
        result.scores = image;
    }
    let evaluation = Evaluation {
        metrics: scores.metrics,
        images: results.len(),
        unreadable,
        grounding,
        similarity: scores.similarity,
        clip: scores.clip,
        results,
    };
    if let Some(out) = &request.out {
        write_outputs(&evaluation, request, out)?;
    }
    Ok(evaluation)
}

/// Refused before anything is read: an `--out` whose outputs would replace the model, or
/// `glimpse compare`'s outputs.
fn refuse_unsafe_out(request: &EvalRequest, out: &Path) -> Result<()> {
    let model = [("the --model bundle", request.model.as_path())];
    refuse_outputs_over_inputs("eval", out, &EVAL_OUTPUTS, &model)?;
    // A file at --out, or a FIFO at one output, was found only once the split was captioned.
    glimpse_files::check_output_folder(out, &EVAL_OUTPUTS)?;
    refuse_replacing_others(EVAL, out, &EVAL_OUTPUTS)
}

/// The split's samples, at most `request.limit` of them; an empty split is an error.
fn samples_to_score(request: &EvalRequest) -> Result<Vec<Sample>> {
    let mut dataset = load_for_scoring(&request.data)?;
    // Moved, not copied: a copy doubled the memory of a split holding the dataset's words.
    let mut samples = dataset.splits.remove(&request.split).unwrap_or_default();
    if samples.is_empty() {
        bail!(
            "{}: the {} split has no images",
            request.data.display(),
            request.split.name()
        );
    }
    match request.limit {
        Some(0) => bail!("--limit 0 leaves nothing to score"),
        Some(limit) => {
            samples.truncate(limit);
            samples.shrink_to_fit();
        }
        None => {}
    }
    Ok(samples)
}

/// Captions every sample's photo (results not yet scored), skipping and reporting the
/// unreadable ones; returns the results and a message per skipped photo.
fn caption_samples(
    captioner: &Captioner,
    samples: Vec<Sample>,
    request: &EvalRequest,
) -> Result<(Vec<ImageResult>, Vec<String>)> {
    let batch = request.options.decoding.batch_size(request.batch);
    let progress = ProgressBar::new(samples.len() as u64).with_style(
        ProgressStyle::with_template("captioning {bar:30} {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    let indexed: Vec<(usize, &Sample)> = samples.iter().enumerate().collect();
    let mut outcomes = Outcomes::with_capacity(samples.len());
    caption_files(
        captioner,
        &indexed,
        |(_, sample)| sample.path.as_path(),
        &CaptionRequest {
            options: request.options,
            ..CaptionRequest::default()
        },
        batch,
        progress,
        |outcome| {
            outcomes.add(outcome);
            Ok(())
        },
    )?;
    outcomes.count_warnings_not_shown();
    // Each sample moves into its result: a copy doubled the split's memory.
    let mut samples: Vec<Option<Sample>> = samples.into_iter().map(Some).collect();
    let results = outcomes
        .captions
        .into_iter()
        .map(|(index, caption)| ImageResult {
            sample: samples[index]
                .take()
                .expect("caption_files reports each item once"),
            caption,
            scores: ImageScores::default(),
            grounding: Vec::new(),
        })
        .collect();
    Ok((results, outcomes.unreadable))
}

/// What captioning a split gave so far.
struct Outcomes {
    /// (the sample's index, its caption), in the order captioned.
    captions: Vec<(usize, Caption)>,
    /// A message per photo that could not be read.
    unreadable: Vec<String>,
    /// Captions that came with a warning.
    warnings: usize,
}

impl Outcomes {
    fn with_capacity(samples: usize) -> Self {
        Outcomes {
            captions: Vec::with_capacity(samples),
            unreadable: Vec::new(),
            warnings: 0,
        }
    }

    /// Keeps a caption, printing its warning if it is among the first; or reports the photo
    /// as unreadable.
    fn add(&mut self, outcome: Captioned<'_, (usize, &Sample)>) {
        match outcome {
            Captioned::Unreadable {
                item: (_, item),
                error,
            } => {
                let message = format!(
                    "{}: {}",
                    shown(&item.path),
                    terminal_safe(&format!("{:#}", anyhow::Error::from(error)))
                );
                note!("skipped unreadable image {message}");
                self.unreadable.push(message);
            }
            Captioned::Caption {
                item: &(index, item),
                caption,
                warning,
                ..
            } => {
                if let Some(warning) = warning {
                    self.warnings += 1;
                    if self.warnings <= WARNINGS_SHOWN {
                        note!("warning: {}: {warning}", shown(&item.path));
                    }
                }
                self.captions.push((index, caption))
            }
        }
    }

    /// One line for the warnings [`Outcomes::add`] did not print.
    fn count_warnings_not_shown(&self) {
        if self.warnings > WARNINGS_SHOWN {
            note!(
                "warning: {} more captions with a warning (a damaged photo, or <PAD>/<SOS> in the caption)",
                self.warnings - WARNINGS_SHOWN
            );
        }
    }
}

/// Per-image warnings printed before the rest are counted: an untrained model would otherwise
/// print one line per image.
const WARNINGS_SHOWN: usize = 5;

/// Grounding figures when the data is a `glimpse synth` set (it has `synth.json`), with the
/// sidecar read.
fn ground(data: &Path, results: &mut [ImageResult]) -> Result<Option<(Grounding, SynthSidecar)>> {
    let path = data.join("synth.json");
    // `exists`, not `is_file`: a synth.json that is a FIFO or a folder is refused by name.
    if !path.exists() {
        return Ok(None);
    }
    let sidecar = SynthSidecar::read(&path)?;
    let images = by_file(&sidecar.images);
    let mut totals = GroundingTotals::default();
    for result in results.iter_mut() {
        let Some(image) = images.get(result.sample.name.as_str()) else {
            continue;
        };
        let caption = &result.caption;
        let (words, hallucinated, baselines) = ground_caption(
            image,
            [sidecar.width, sidecar.height],
            &caption.tokens,
            &caption.attention,
            caption.grid,
        );
        totals.add(&words, hallucinated, &baselines);
        result.grounding = words;
    }
    // No word to ground (no photo in the sidecar, or captions naming no shape): no figure,
    // rather than zeros that read as a measured miss.
    if totals.is_empty() {
        return Ok(None);
    }
    Ok(Some((totals.finish(), sidecar)))
}

/// The occlusion test ([`occlusion_test`]) on every captioned synth photo, with the split's
/// decoding; photos that can no longer be read are left out.
fn occlude(
    captioner: &Captioner,
    request: &EvalRequest,
    sidecar: &SynthSidecar,
    results: &[ImageResult],
) -> Result<Occlusion> {
    let images = by_file(&sidecar.images);
    let max_pixels = captioner.config.preprocess.max_pixels;
    let cases = results.iter().filter_map(|result| {
        let image = images.get(result.sample.name.as_str())?;
        let photo = read_image(&result.sample.path, max_pixels).ok()?;
        Some(OcclusionCase {
            photo,
            image,
            boxes_in: [sidecar.width, sidecar.height],
            caption: &result.caption,
        })
    });
    occlusion_test(captioner, request.options, cases, sidecar.seed)
}

/// `captions.json`, `metrics.json` and `report.html` in `out`, placed in [`EVAL_OUTPUTS`]'s
/// order once all three are written.
fn write_outputs(evaluation: &Evaluation, request: &EvalRequest, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", shown(out)))?;
    let captions: BTreeMap<&str, String> = evaluation
        .results
        .iter()
        .map(|r| (r.sample.name.as_str(), r.caption.text()))
        .collect();
    let captions = terminal_safe_json(serde_json::to_string_pretty(&captions)?) + "\n";
    let metrics =
        terminal_safe_json(serde_json::to_string_pretty(&metrics_json(evaluation, request)?)?) + "\n";
    let report = report_html(evaluation, request)?;
    let [captions_path, metrics_path, report_path] = EVAL_OUTPUTS.map(|name| out.join(name));
    write_together(&[
        (&captions_path, captions.as_bytes()),
        (&metrics_path, metrics.as_bytes()),
        (&report_path, report.as_bytes()),
    ])?;
    Ok(())
}

/// The metrics under coco-caption's names, with what was scored and the extra figures.
fn metrics_json(evaluation: &Evaluation, request: &EvalRequest) -> Result<serde_json::Value> {
    let mut metrics = serde_json::to_value(&evaluation.metrics)?;
    metrics["images"] = evaluation.images.into();
    metrics["split"] = request.split.name().into();
    metrics["model"] = request.model.display().to_string().into();
    metrics["data"] = request.data.display().to_string().into();
    metrics["beam"] = request.options.decoding.beam_width().into();
    metrics["generator"] = EVAL.into();
    if let Some(grounding) = &evaluation.grounding {
        metrics["grounding"] = serde_json::to_value(grounding)?;
    }
    if let Some(similarity) = &evaluation.similarity {
        metrics["similarity"] = serde_json::to_value(similarity)?;
    }
    if let Some(clip) = &evaluation.clip {
        metrics["clip"] = serde_json::to_value(clip)?;
    }
    Ok(metrics)
}

/// The report of one model: its metrics, grounding, and every caption with its attention.
fn report_html(evaluation: &Evaluation, request: &EvalRequest) -> Result<String> {
    let images: Vec<ReportImage> = evaluation
        .results
        .iter()
        .map(|r| ReportImage {
            name: &r.sample.name,
            path: &r.sample.path,
            references: &r.sample.raw,
        })
        .collect();
    let model_name = request
        .model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let model = ReportModel {
        name: model_name,
        metrics: evaluation.metrics.clone(),
        grounding: evaluation.grounding.clone(),
        captions: evaluation
            .results
            .iter()
            .map(|r| ReportCaption {
                text: r.caption.text(),
                scores: r.scores.named(),
                attention: Some(r.caption.clone()),
            })
            .collect(),
    };
    render(
        EVAL,
        &format!("Glimpse evaluation: {}", request.model.display()),
        &format!(
            "{} split of {} ({} images), beam {}",
            request.split.name(),
            request.data.display(),
            evaluation.images,
            request.options.decoding.beam_width()
        ),
        &images,
        &[model],
    )
}

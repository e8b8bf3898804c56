//! `glimpse eval`: caption every image of a dataset split with a bundle and score the captions
//! against the references the way coco-caption does. Writes `metrics.json` (coco-caption's key
//! names) and `captions.json` (`{"image": "caption"}`, the format `glimpse compare` reads).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_metrics::{Bleu, Cider, RougeL};
use glimpse_model::preprocess::{decode_image, image_to_input};
use glimpse_model::{Caption, GenerateOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::captioning::load_captioner;
use crate::embed::clip::Clip;
use crate::embed::clip_score::{ClipSummary, ImageClip, clip_evaluation};
use crate::embed::similarity::{ImageSimilarity, SimilaritySummary, TextEmbedder, caption_similarity};
use crate::grounding::{Grounding, GroundingTotals, WordGrounding, by_file, ground_caption};
use crate::report::{ReportCaption, ReportImage, ReportModel, render};
use burn::tensor::Device;
use glimpse_data::synth::SynthSidecar;
use glimpse_data::{Dataset, LoadOptions, Sample, Split};

#[derive(Debug, Clone)]
pub struct EvalRequest {
    pub model: PathBuf,
    pub data: PathBuf,
    pub split: Split,
    pub options: GenerateOptions,
    pub device: Device,
    /// Images decoded together (greedy only).
    pub batch: usize,
    /// Score at most this many images.
    pub limit: Option<usize>,
    pub out: Option<PathBuf>,
    /// A sentence-transformers folder (all-MiniLM-L6-v2) for the embedding similarity.
    pub text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder for CLIPScore, RefCLIPScore and CLIP text similarity.
    pub clip: Option<PathBuf>,
}

/// One image's result.
#[derive(Debug, Clone)]
pub struct ImageResult {
    pub sample: Sample,
    pub caption: Caption,
    /// Sentence scores, as coco-caption reports them per image.
    pub bleu: [f64; 4],
    pub rouge_l: f64,
    pub cider: f64,
    /// (best, mean) embedding similarity to the references, when a text encoder is given.
    pub similarity: Option<ImageSimilarity>,
    /// CLIPScore, RefCLIPScore and CLIP text similarity, when a CLIP folder is given.
    pub clip: Option<ImageClip>,
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
    /// The seed's embedding similarity, when a text encoder is given.
    pub similarity: Option<SimilaritySummary>,
    /// The CLIP figures, when a CLIP folder is given.
    pub clip: Option<ClipSummary>,
    #[serde(skip)]
    pub results: Vec<ImageResult>,
}

pub fn evaluate(request: &EvalRequest) -> Result<Evaluation> {
    request.options.validate()?;
    let dataset = load_for_scoring(&request.data)?;
    let mut samples: Vec<Sample> = dataset.split(request.split).to_vec();
    if samples.is_empty() {
        bail!(
            "{}: the {} split has no images",
            request.data.display(),
            request.split.name()
        );
    }
    if let Some(limit) = request.limit {
        samples.truncate(limit);
    }
    let captioner = load_captioner(&request.model, &request.device)?;
    let batch = if request.options.beam_width == 1 {
        request.batch.max(1)
    } else {
        1
    };
    let progress = ProgressBar::new(samples.len() as u64).with_style(
        ProgressStyle::with_template("captioning {bar:30} {pos}/{len} images, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    let mut results = Vec::with_capacity(samples.len());
    let mut unreadable = Vec::new();
    for chunk in samples.chunks(batch) {
        let mut inputs = Vec::new();
        let mut kept = Vec::new();
        for sample in chunk {
            let decoded = std::fs::read(&sample.path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| Ok(decode_image(&bytes, captioner.config.preprocess.max_pixels)?));
            match decoded {
                Ok(image) => {
                    inputs.push(image_to_input(&image, &captioner.config.preprocess));
                    kept.push(sample);
                }
                Err(e) => {
                    let message = format!("{}: {e:#}", sample.path.display());
                    eprintln!("skipped unreadable image {message}");
                    unreadable.push(message);
                }
            }
        }
        if !inputs.is_empty() {
            let captions = pollster::block_on(captioner.caption_inputs(&inputs, request.options))?;
            for (sample, caption) in kept.into_iter().zip(captions) {
                results.push(ImageResult {
                    sample: sample.clone(),
                    caption,
                    bleu: [0.0; 4],
                    rouge_l: 0.0,
                    cider: 0.0,
                    similarity: None,
                    clip: None,
                    grounding: Vec::new(),
                });
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let pairs: Vec<(&[String], &[Vec<String>])> = results
        .iter()
        .map(|r| (r.caption.tokens.as_slice(), r.sample.tokens.as_slice()))
        .collect();
    let scores = score_captions(&pairs);
    for (result, (bleu, rouge_l, cider)) in results.iter_mut().zip(scores.per_image) {
        result.bleu = bleu;
        result.rouge_l = rouge_l;
        result.cider = cider;
    }
    let mut metrics = scores.corpus;
    let grounding = ground(&request.data, &mut results)?;
    let similarity = match &request.text_encoder {
        Some(dir) => {
            let embedder = TextEmbedder::load(dir)?;
            let captions: Vec<String> = results.iter().map(|r| r.caption.text()).collect();
            let references: Vec<Vec<String>> = results.iter().map(|r| r.sample.raw.clone()).collect();
            let (per_image, summary) = caption_similarity(&embedder, &captions, &references)?;
            for (result, similarity) in results.iter_mut().zip(per_image) {
                result.similarity = Some(similarity);
            }
            metrics.insert("similarity_mean_max".to_string(), summary.mean_max);
            metrics.insert("similarity_mean_mean".to_string(), summary.mean_mean);
            Some(summary)
        }
        None => None,
    };
    let clip = match &request.clip {
        Some(dir) => {
            let clip = Clip::load(dir)?;
            let paths: Vec<PathBuf> = results.iter().map(|r| r.sample.path.clone()).collect();
            let captions: Vec<String> = results.iter().map(|r| r.caption.text()).collect();
            let references: Vec<Vec<String>> = results.iter().map(|r| r.sample.raw.clone()).collect();
            let (per_image, summary) = clip_evaluation(&clip, &paths, &captions, &references)?;
            for (result, scores) in results.iter_mut().zip(per_image) {
                result.clip = Some(scores);
            }
            summary.insert_into(&mut metrics);
            Some(summary)
        }
        None => None,
    };
    let evaluation = Evaluation {
        metrics,
        images: results.len(),
        unreadable,
        grounding,
        similarity,
        clip,
        results,
    };
    if let Some(out) = &request.out {
        write_outputs(&evaluation, request, out)?;
    }
    Ok(evaluation)
}

/// A dataset as scorers see it: every reference kept, however long.
pub fn load_for_scoring(data: &Path) -> Result<Dataset> {
    Dataset::load(
        data,
        &LoadOptions {
            max_caption_tokens: usize::MAX,
            ..LoadOptions::default()
        },
    )
}

/// Grounding figures when the data is a `glimpse synth` set (it has `synth.json`).
fn ground(data: &Path, results: &mut [ImageResult]) -> Result<Option<Grounding>> {
    let path = data.join("synth.json");
    if !path.is_file() {
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
    Ok(Some(totals.finish()))
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

fn write_outputs(evaluation: &Evaluation, request: &EvalRequest, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut metrics = serde_json::to_value(&evaluation.metrics)?;
    metrics["images"] = evaluation.images.into();
    metrics["split"] = request.split.name().into();
    metrics["model"] = request.model.display().to_string().into();
    metrics["data"] = request.data.display().to_string().into();
    metrics["beam"] = request.options.beam_width.into();
    if let Some(grounding) = &evaluation.grounding {
        metrics["grounding"] = serde_json::to_value(grounding)?;
    }
    if let Some(similarity) = &evaluation.similarity {
        metrics["similarity"] = serde_json::to_value(similarity)?;
    }
    if let Some(clip) = &evaluation.clip {
        metrics["clip"] = serde_json::to_value(clip)?;
    }
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)? + "\n",
    )?;
    let captions: BTreeMap<&str, String> = evaluation
        .results
        .iter()
        .map(|r| (r.sample.name.as_str(), r.caption.text()))
        .collect();
    std::fs::write(
        out.join("captions.json"),
        serde_json::to_string_pretty(&captions)? + "\n",
    )?;
    let images: Vec<ReportImage> = evaluation
        .results
        .iter()
        .map(|r| ReportImage {
            name: r.sample.name.clone(),
            path: r.sample.path.clone(),
            references: r.sample.raw.clone(),
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
                scores: per_image_scores(r.bleu, r.rouge_l, r.cider, r.similarity, r.clip),
                attention: Some(r.caption.clone()),
            })
            .collect(),
    };
    let html = render(
        &format!("Glimpse evaluation: {}", request.model.display()),
        &format!(
            "{} split of {} ({} images), beam {}",
            request.split.name(),
            request.data.display(),
            evaluation.images,
            request.options.beam_width
        ),
        &images,
        &[model],
    )?;
    std::fs::write(out.join("report.html"), html)?;
    Ok(())
}

/// The per-image scores a report shows, under coco-caption's names.
pub fn per_image_scores(
    bleu: [f64; 4],
    rouge_l: f64,
    cider: f64,
    similarity: Option<ImageSimilarity>,
    clip: Option<ImageClip>,
) -> BTreeMap<String, f64> {
    let mut scores = BTreeMap::from([
        ("Bleu_4".to_string(), bleu[3]),
        ("ROUGE_L".to_string(), rouge_l),
        ("CIDEr".to_string(), cider),
    ]);
    if let Some((max, mean)) = similarity {
        scores.insert("similarity_max".to_string(), max);
        scores.insert("similarity_mean".to_string(), mean);
    }
    if let Some(clip) = clip {
        if let (Some(clip_s), Some(ref_clip_s)) = (clip.clip_score, clip.ref_clip_score) {
            scores.insert("CLIPScore".to_string(), clip_s);
            scores.insert("RefCLIPScore".to_string(), ref_clip_s);
        }
        scores.insert("clip_similarity_max".to_string(), clip.similarity.0);
    }
    scores
}

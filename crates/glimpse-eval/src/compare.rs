//! `glimpse compare`: several captioners' outputs on the same split, scored the same way and
//! shown side by side — ours against any other captioner run elsewhere (the seed compared its
//! model with vit-gpt2). Caption files are JSON objects `{"image file name": "caption"}`, the
//! format `glimpse eval` writes as `captions.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use glimpse_metrics::tokenize;

use crate::embed::clip::Clip;
use crate::embed::clip_score::clip_evaluation;
use crate::embed::similarity::{TextEmbedder, caption_similarity};
use crate::evaluate::{load_for_scoring, per_image_scores, score_captions};
use crate::report::{ReportCaption, ReportImage, ReportModel, render};
use glimpse_data::Split;

#[derive(Debug, Clone)]
pub struct CompareRequest {
    pub data: PathBuf,
    pub split: Split,
    /// (name, captions file).
    pub sets: Vec<(String, PathBuf)>,
    pub out: Option<PathBuf>,
    /// A sentence-transformers folder for the embedding similarity.
    pub text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder for CLIPScore, RefCLIPScore and CLIP text similarity.
    pub clip: Option<PathBuf>,
}

/// `NAME=FILE`.
pub fn parse_set(text: &str) -> std::result::Result<(String, PathBuf), String> {
    let (name, file) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=CAPTIONS.json"))?;
    if name.is_empty() || file.is_empty() {
        return Err(format!("`{text}` is not NAME=CAPTIONS.json"));
    }
    Ok((name.to_string(), PathBuf::from(file)))
}

fn read_captions(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{}:{}:{}: expected a JSON object {{\"image\": \"caption\"}}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

/// Scores every set; returns one [`ReportModel`] per set (metrics under coco-caption's names).
pub fn compare(request: &CompareRequest) -> Result<Vec<ReportModel>> {
    if request.sets.is_empty() {
        bail!("give at least one NAME=CAPTIONS.json");
    }
    let dataset = load_for_scoring(&request.data)?;
    let samples = dataset.split(request.split);
    if samples.is_empty() {
        bail!(
            "{}: the {} split has no images",
            request.data.display(),
            request.split.name()
        );
    }
    let embedder = request
        .text_encoder
        .as_deref()
        .map(TextEmbedder::load)
        .transpose()?;
    let clip = request.clip.as_deref().map(Clip::load).transpose()?;
    let paths: Vec<PathBuf> = samples.iter().map(|s| s.path.clone()).collect();
    let references: Vec<Vec<String>> = samples.iter().map(|s| s.raw.clone()).collect();
    let mut models = Vec::new();
    for (name, path) in &request.sets {
        let captions = read_captions(path)?;
        let missing: Vec<&str> = samples
            .iter()
            .filter(|s| !captions.contains_key(&s.name))
            .map(|s| s.name.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: no caption for {} of the {} images of the {} split (first: {})",
                path.display(),
                missing.len(),
                samples.len(),
                request.split.name(),
                missing[..missing.len().min(3)].join(", ")
            );
        }
        let extra = captions.len() - (samples.len() - missing.len());
        if extra > 0 {
            eprintln!(
                "{name}: {extra} captions are for images outside the {} split; ignored",
                request.split.name()
            );
        }
        let tokens: Vec<Vec<String>> = samples.iter().map(|s| tokenize(&captions[&s.name])).collect();
        let pairs: Vec<(&[String], &[Vec<String>])> = tokens
            .iter()
            .zip(samples)
            .map(|(t, s)| (t.as_slice(), s.tokens.as_slice()))
            .collect();
        let scores = score_captions(&pairs);
        let mut metrics = scores.corpus;
        let texts: Vec<String> = samples.iter().map(|s| captions[&s.name].clone()).collect();
        let similarity = match &embedder {
            Some(embedder) => {
                let (per_image, summary) = caption_similarity(embedder, &texts, &references)?;
                metrics.insert("similarity_mean_max".to_string(), summary.mean_max);
                metrics.insert("similarity_mean_mean".to_string(), summary.mean_mean);
                per_image.into_iter().map(Some).collect()
            }
            None => vec![None; samples.len()],
        };
        let clip_scores = match &clip {
            Some(clip) => {
                let (per_image, summary) = clip_evaluation(clip, &paths, &texts, &references)?;
                summary.insert_into(&mut metrics);
                per_image.into_iter().map(Some).collect()
            }
            None => vec![None; samples.len()],
        };
        models.push(ReportModel {
            name: name.clone(),
            metrics,
            grounding: None,
            captions: samples
                .iter()
                .zip(scores.per_image)
                .zip(similarity)
                .zip(clip_scores)
                .map(
                    |(((s, (bleu, rouge_l, cider)), similarity), clip)| ReportCaption {
                        text: captions[&s.name].clone(),
                        scores: per_image_scores(bleu, rouge_l, cider, similarity, clip),
                        attention: None,
                    },
                )
                .collect(),
        });
    }
    if let Some(out) = &request.out {
        std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
        let metrics: BTreeMap<&str, &BTreeMap<String, f64>> =
            models.iter().map(|m| (m.name.as_str(), &m.metrics)).collect();
        std::fs::write(
            out.join("metrics.json"),
            serde_json::to_string_pretty(&metrics)? + "\n",
        )?;
        let images: Vec<ReportImage> = samples
            .iter()
            .map(|s| ReportImage {
                name: s.name.clone(),
                path: s.path.clone(),
                references: s.raw.clone(),
            })
            .collect();
        let html = render(
            "Glimpse comparison",
            &format!(
                "{} split of {} ({} images)",
                request.split.name(),
                request.data.display(),
                samples.len()
            ),
            &images,
            &models,
        )?;
        std::fs::write(out.join("report.html"), html)?;
    }
    Ok(models)
}

//! `glimpse compare`: several captioners' outputs on the same split, scored the same way and
//! shown side by side — ours against any other captioner run elsewhere (the original report
//! compared its model with vit-gpt2). Caption files are JSON objects
//! `{"image file name": "caption"}`, the format `glimpse eval` writes as `captions.json`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use glimpse_data::{MAX_WORDS, Sample, Split};
use glimpse_files::{note, shown, terminal_safe, terminal_safe_json, write_together};
use glimpse_metrics::tokenize;
use glimpse_model::error::excerpt;

use crate::caption_file::read_captions;
use crate::outputs::{
    COMPARE, COMPARE_OUTPUTS, refuse_outputs_over_inputs, refuse_outputs_over_photos, refuse_replacing_others,
};
use crate::report::{ReportCaption, ReportImage, ReportModel, render};
use crate::score::{Candidate, Embedders, load_for_scoring, score_set};

/// The most words a scored caption may have: far beyond any captioner's (detailed captions run
/// to a few hundred), and what keeps ROUGE-L's work against a dataset's references bounded
/// (it grows with the caption's words times the references'; 200,000 words took minutes).
pub const MAX_CANDIDATE_TOKENS: usize = 1024;

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
    // `metrics.json` holds each set's scores under its name, beside the file's generator.
    if name == "generator" {
        return Err(format!(
            "`{text}`: a caption set cannot be named `generator`; choose another NAME"
        ));
    }
    Ok((name.to_string(), PathBuf::from(file)))
}

/// Scores every set; returns one [`ReportModel`] per set (metrics under coco-caption's names).
pub fn compare(request: &CompareRequest) -> Result<Vec<ReportModel>> {
    if request.sets.is_empty() {
        bail!("give at least one NAME=CAPTIONS.json");
    }
    // The results are keyed by name: a second set of one name would replace the first.
    let mut names = std::collections::BTreeSet::new();
    if let Some((name, _)) = request.sets.iter().find(|(name, _)| !names.insert(name)) {
        bail!(
            "two caption sets are named `{}`; give each its own NAME",
            terminal_safe(name)
        );
    }
    if let Some(out) = &request.out {
        refuse_unsafe_out(request, out)?;
    }
    Embedders::check_available(request.text_encoder.as_deref(), request.clip.as_deref())?;
    let dataset = load_for_scoring(&request.data)?;
    let samples = dataset.split(request.split);
    if samples.is_empty() {
        bail!(
            "{}: the {} split has no images",
            request.data.display(),
            request.split.name()
        );
    }
    Embedders::check_references(request.text_encoder.as_deref(), request.clip.as_deref(), samples)?;
    if let Some(out) = &request.out {
        refuse_outputs_over_photos("compare", out, &COMPARE_OUTPUTS, samples)?;
    }
    let embedders = Embedders::load(request.text_encoder.as_deref(), request.clip.as_deref())?;
    let mut models = Vec::new();
    // Every set is read and checked before any is scored: a bad last set failed only after the
    // others had been scored (with the encoders, minutes).
    let mut sets = Vec::with_capacity(request.sets.len());
    let mut words = 0usize;
    for (name, path) in &request.sets {
        let mut captions = read_captions(path)?;
        check_coverage(name, path, &captions, samples, request.split)?;
        // Only the split's captions are kept until every set is scored.
        let split: HashSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        captions.retain(|image, _| split.contains(image.as_str()));
        let tokens = split_tokens(name, &captions, samples)?;
        words = words.saturating_add(cost_in_words(&tokens));
        refuse_words_past_cap(words, name)?;
        sets.push((name, captions, tokens));
    }
    for (name, captions, tokens) in &sets {
        models.push(score_model(name, captions, tokens, samples, &embedders)?);
    }
    if let Some(out) = &request.out {
        write_outputs(&models, samples, request, out)?;
    }
    Ok(models)
}

/// Fails when a split image has no caption; warns about captions for other images.
fn check_coverage(
    name: &str,
    path: &Path,
    captions: &BTreeMap<String, String>,
    samples: &[Sample],
    split: Split,
) -> Result<()> {
    let missing: Vec<&str> = samples
        .iter()
        .filter(|s| !captions.contains_key(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: no caption for {} of the {} images of the {} split (first: {})",
            shown(path),
            missing.len(),
            samples.len(),
            split.name(),
            terminal_safe(&missing[..missing.len().min(3)].join(", "))
        );
    }
    // Every split image has a caption here, so the rest are for other images.
    let extra = captions.len().saturating_sub(samples.len());
    if extra > 0 {
        note!(
            "{}: {extra} captions are for images outside the {} split; ignored",
            terminal_safe(name),
            split.name()
        );
    }
    Ok(())
}

/// What one caption costs until every set is scored, in words: its entry, its tokens and its
/// scores take about 1 KB whatever its length (100,000 captions of "." took 96 MB a set), as
/// much as 24 words.
const WORDS_PER_CAPTION: usize = 24;

/// The bytes of text a word of the count stands for: a caption's text is held about three
/// times (read, tokenised, reported), and 250 captions of one 60,000-letter word each, under
/// 180 names, took 8 GB (hostile round 11).
const BYTES_PER_WORD: usize = 16;

/// A set's split captions (`tokens`) in words: theirs, [`WORDS_PER_CAPTION`] for each caption
/// and one for every [`BYTES_PER_WORD`] bytes of their text.
fn cost_in_words(tokens: &[Vec<String>]) -> usize {
    let words: usize = tokens.iter().map(Vec::len).sum();
    let bytes: usize = tokens.iter().flatten().map(String::len).sum();
    words
        .saturating_add(tokens.len().saturating_mul(WORDS_PER_CAPTION))
        .saturating_add(bytes / BYTES_PER_WORD)
}

/// Refuses sets holding more than a dataset's [`MAX_WORDS`] together (`words`, counted by
/// [`cost_in_words`] up to the set `name`): each is kept until all are scored; one 16 MiB file
/// of one-letter words given under 18 names took 8 GB (hostile round 10), and 40 sets of
/// 100,000 captions of "." (no word) 2.5 GB (its verifier).
fn refuse_words_past_cap(words: usize, name: &str) -> Result<()> {
    if words > MAX_WORDS {
        bail!(
            "the caption sets up to `{}` hold {words} words of the split's captions together \
             (each caption counted as at least {WORDS_PER_CAPTION}, and its text as a word every \
             {BYTES_PER_WORD} bytes), more than the {MAX_WORDS} \
             compared at once: compare fewer sets at a time",
            terminal_safe(&excerpt(name))
        );
    }
    Ok(())
}

/// Each split image's caption tokenised, refusing one of more than [`MAX_CANDIDATE_TOKENS`].
fn split_tokens(
    name: &str,
    captions: &BTreeMap<String, String>,
    samples: &[Sample],
) -> Result<Vec<Vec<String>>> {
    let tokens: Vec<Vec<String>> = samples.iter().map(|s| tokenize(&captions[&s.name])).collect();
    if let Some((sample, tokens)) = samples
        .iter()
        .zip(&tokens)
        .find(|(_, t)| t.len() > MAX_CANDIDATE_TOKENS)
    {
        bail!(
            "{}: the caption of `{}` has {} words; captions of at most {MAX_CANDIDATE_TOKENS} are scored",
            terminal_safe(name),
            terminal_safe(&excerpt(&sample.name)),
            tokens.len()
        );
    }
    Ok(tokens)
}

/// One caption set scored against the split (every image has a caption; `tokens` are theirs, in
/// the split's order).
fn score_model(
    name: &str,
    captions: &BTreeMap<String, String>,
    tokens: &[Vec<String>],
    samples: &[Sample],
    embedders: &Embedders,
) -> Result<ReportModel> {
    let candidates: Vec<Candidate<'_>> = samples
        .iter()
        .zip(tokens)
        .map(|(sample, tokens)| Candidate {
            sample,
            text: captions[&sample.name].clone(),
            tokens,
        })
        .collect();
    let scores = score_set(&candidates, embedders)?;
    Ok(ReportModel {
        name: name.to_string(),
        metrics: scores.metrics,
        grounding: None,
        captions: candidates
            .into_iter()
            .zip(scores.per_image)
            .map(|(candidate, scores)| ReportCaption {
                text: candidate.text,
                scores: scores.named(),
                attention: None,
            })
            .collect(),
    })
}

/// Refused before anything is read: an `--out` whose report would replace one of the caption
/// sets read, or `glimpse eval`'s outputs.
fn refuse_unsafe_out(request: &CompareRequest, out: &Path) -> Result<()> {
    let names: Vec<String> = request
        .sets
        .iter()
        .map(|(name, _)| format!("the caption set `{}`", terminal_safe(name)))
        .collect();
    let sets: Vec<(&str, &Path)> = names
        .iter()
        .zip(&request.sets)
        .map(|(what, (_, path))| (what.as_str(), path.as_path()))
        .collect();
    refuse_outputs_over_inputs("compare", out, &COMPARE_OUTPUTS, &sets)?;
    glimpse_files::check_output_folder(out, &COMPARE_OUTPUTS)?;
    refuse_replacing_others(COMPARE, out, &COMPARE_OUTPUTS)
}

/// `metrics.json` (per set) and `report.html` in `out`, placed once both are written.
fn write_outputs(
    models: &[ReportModel],
    samples: &[Sample],
    request: &CompareRequest,
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut metrics: BTreeMap<&str, serde_json::Value> = models
        .iter()
        .map(|m| Ok((m.name.as_str(), serde_json::to_value(&m.metrics)?)))
        .collect::<Result<_>>()?;
    // (Set names are refused as "generator": `parse_set`.)
    metrics.insert("generator", COMPARE.into());
    let metrics = terminal_safe_json(serde_json::to_string_pretty(&metrics)?) + "\n";
    let images: Vec<ReportImage> = samples
        .iter()
        .map(|s| ReportImage {
            name: &s.name,
            path: &s.path,
            references: &s.raw,
        })
        .collect();
    let html = render(
        COMPARE,
        "Glimpse comparison",
        &format!(
            "{} split of {} ({} images)",
            request.split.name(),
            request.data.display(),
            samples.len()
        ),
        &images,
        models,
    )?;
    let [metrics_path, report_path] = COMPARE_OUTPUTS.map(|name| out.join(name));
    write_together(&[
        (&metrics_path, metrics.as_bytes()),
        (&report_path, html.as_bytes()),
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_past_a_datasets_words_together_are_refused_naming_the_last() {
        assert!(refuse_words_past_cap(MAX_WORDS, "a").is_ok());
        let err = refuse_words_past_cap(MAX_WORDS + 1, "s\u{1b}18")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the caption sets up to `s\\u{1b}18` hold 16777217 words"),
            "{err}"
        );
    }

    /// A caption costs memory whatever its words: 100,000 captions of "." cost 2.4 million
    /// words, so the seventh such set is refused (40 took 2.5 GB).
    #[test]
    fn captions_without_words_still_count() {
        let dots = vec![tokenize("."); 100_000];
        assert!(dots[0].is_empty());
        assert_eq!(cost_in_words(&dots), 2_400_000);
        let one_word = vec![vec!["a".to_string()]; 100_000];
        assert_eq!(cost_in_words(&one_word), 2_500_000 + 100_000 / 16);
        // And its bytes: 250 captions of one 60,000-letter word cost 937,500 words for their
        // text, so the eighteenth such set is refused (180 aborted at 8 GB).
        let long = vec![vec!["a".repeat(60_000)]; 250];
        assert_eq!(cost_in_words(&long), 250 + 250 * 24 + 250 * 60_000 / 16);
        assert!(refuse_words_past_cap(17 * cost_in_words(&long), "17").is_ok());
        assert!(refuse_words_past_cap(18 * cost_in_words(&long), "18").is_err());
        assert!(refuse_words_past_cap(6 * cost_in_words(&dots), "six").is_ok());
        assert!(refuse_words_past_cap(7 * cost_in_words(&dots), "seven").is_err());
    }
}

//! The evaluation report: one self-contained HTML file (images embedded as data URIs, charts as
//! inline SVG, no script, no network) with the metrics table, per-image score distributions,
//! attention grounding, and the best and worst images with their references, every model's
//! caption and scores, and (for models that have attention) the original report's attention
//! figure.

mod card;
mod histogram;
mod html;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::grounding::Grounding;

/// One captioner's results over the split.
pub struct ReportModel {
    pub name: String,
    pub metrics: BTreeMap<String, f64>,
    pub grounding: Option<Grounding>,
    /// Per image, in the split's order (the same images for every model).
    pub captions: Vec<ReportCaption>,
}

pub struct ReportCaption {
    pub text: String,
    pub scores: BTreeMap<String, f64>,
    /// Our model's caption with its attention, for the figure.
    pub attention: Option<glimpse_model::Caption>,
}

/// An image of the split and its references (borrowed: a copy of every sample's references
/// once doubled the memory of a split holding a dataset's words).
pub struct ReportImage<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub references: &'a [String],
}

/// Each model's colour, in the report's order: its swatch, and its line in the histograms.
const MODEL_COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
/// Images shown at each end of the ranking.
const SHOWN: usize = 6;

/// The colour of the `k`th model.
fn model_color(k: usize) -> &'static str {
    MODEL_COLORS[k % MODEL_COLORS.len()]
}

/// Returns the report's HTML; `generator` is the command that wrote it (`outputs::EVAL`, `outputs::COMPARE`).
pub fn render(
    generator: &str,
    title: &str,
    subtitle: &str,
    images: &[ReportImage<'_>],
    models: &[ReportModel],
) -> Result<String> {
    let mut page = String::new();
    html::head(&mut page, generator, title, subtitle);
    html::metrics_table(&mut page, models);
    html::grounding_table(&mut page, models);
    let per_image = histogram::per_image_charts(&mut page, models);
    ranked_images(&mut page, images, models, &per_image);
    page.push_str("</body></html>\n");
    Ok(page)
}

/// The best and worst images by the first model's ranking score: its embedding similarity when
/// the report has one, else CIDEr.
fn ranked_images(
    page: &mut String,
    images: &[ReportImage<'_>],
    models: &[ReportModel],
    per_image: &[String],
) {
    let rank_by = ["similarity_max", "clip_similarity_max", "CIDEr"]
        .into_iter()
        .find(|m| per_image.iter().any(|p| p == m))
        .unwrap_or("CIDEr");
    let Some(first) = models.first() else {
        return;
    };
    let mut order: Vec<usize> = (0..images.len()).collect();
    let score = |i: usize| first.captions[i].scores.get(rank_by).copied().unwrap_or(0.0);
    order.sort_by(|a, b| score(*b).total_cmp(&score(*a)));
    let sections = [
        ("Best", order.iter().take(SHOWN).copied().collect::<Vec<_>>()),
        ("Worst", order.iter().rev().take(SHOWN).copied().collect()),
    ];
    for (label, picked) in sections {
        page.push_str(&format!(
            "<h2>{label} images by {} of {}</h2>",
            html::escape(rank_by),
            html::escape(&first.name)
        ));
        for i in picked {
            card::image_card(page, &images[i], i, models);
        }
    }
}

//! The evaluation report: one self-contained HTML file (images embedded as data URIs, charts as
//! inline SVG, no script, no network) with the metrics table, per-image score distributions,
//! attention grounding, and the best and worst images with their references, every model's
//! caption and scores, and (for models that have attention) the seed's attention grid.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Result;
use base64::Engine as _;
use image::imageops::FilterType;

use crate::figure::{FigureStyle, attention_figure};
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

/// An image of the split and its references.
pub struct ReportImage {
    pub name: String,
    pub path: PathBuf,
    pub references: Vec<String>,
}

const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
/// Images shown at each end of the ranking.
const SHOWN: usize = 6;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn data_uri_jpeg(image: &image::RgbImage) -> String {
    let mut bytes = Vec::new();
    let _ = image::DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg);
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn load_photo(path: &std::path::Path, max_side: u32) -> Option<image::RgbImage> {
    let bytes = std::fs::read(path).ok()?;
    let image = glimpse_model::preprocess::decode_image(&bytes, 100_000_000).ok()?;
    let (w, h) = image.dimensions();
    let scale = (max_side as f64 / w.max(h) as f64).min(1.0);
    Some(image::imageops::resize(
        &image,
        ((w as f64 * scale) as u32).max(1),
        ((h as f64 * scale) as u32).max(1),
        FilterType::Triangle,
    ))
}

/// Overlaid histograms (as step lines) of one per-image score for every model.
fn histogram(metric: &str, models: &[ReportModel]) -> String {
    let values: Vec<Vec<f64>> = models
        .iter()
        .map(|m| {
            m.captions
                .iter()
                .filter_map(|c| c.scores.get(metric).copied())
                .collect()
        })
        .collect();
    let max = values.iter().flatten().copied().fold(0.0f64, f64::max).max(1e-9);
    let bins = 20;
    let counts: Vec<Vec<usize>> = values
        .iter()
        .map(|v| {
            let mut c = vec![0; bins];
            for x in v {
                c[((x / max * bins as f64) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let (w, h, left, bottom) = (420.0, 200.0, 40.0, 30.0);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{metric} per image">"#
    );
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{0}" x2="{w}" y2="{0}" stroke="#444"/>"##,
        h - bottom
    );
    for (k, c) in counts.iter().enumerate() {
        let mut points = String::new();
        for (i, n) in c.iter().enumerate() {
            let x0 = left + (w - left - 10.0) * i as f64 / bins as f64;
            let x1 = left + (w - left - 10.0) * (i + 1) as f64 / bins as f64;
            let y = h - bottom - (h - bottom - 10.0) * *n as f64 / top;
            let _ = write!(points, "{x0:.1},{y:.1} {x1:.1},{y:.1} ");
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{points}"/>"#,
            COLORS[k % COLORS.len()]
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{left}" y="{}" font-size="11">0</text><text x="{}" y="{}" font-size="11" text-anchor="end">{max:.2}</text>"#,
        h - 12.0,
        w - 10.0,
        h - 12.0
    );
    let _ = write!(
        svg,
        r#"<text x="4" y="14" font-size="11">{} images</text></svg>"#,
        values.first().map_or(0, Vec::len)
    );
    svg
}

/// Writes the report and returns its HTML.
pub fn render(title: &str, subtitle: &str, images: &[ReportImage], models: &[ReportModel]) -> Result<String> {
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1b1b1b; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }} .charts {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }} .card {{ border: 1px solid #ddd; border-radius: 6px; padding: .8rem; margin: 1rem 0; display: grid; grid-template-columns: 240px 1fr; gap: 1rem; }}
.card img.photo {{ width: 224px; }} .card img.figure {{ max-width: 100%; grid-column: 1 / -1; }} .swatch {{ display: inline-block; width: .8em; height: .8em; margin-right: .3em; }}
ul {{ margin: .2rem 0; padding-left: 1.2rem; }} .scores {{ color: #555; font-size: 13px; }}
</style></head><body><h1>{t}</h1><p>{s}</p>"#,
        t = escape(title),
        s = escape(subtitle)
    );
    // The metrics table.
    let names: Vec<&String> = models
        .first()
        .map(|m| m.metrics.keys().collect())
        .unwrap_or_default();
    html.push_str("<h2>Metrics</h2><table><thead><tr><th>model</th>");
    for name in &names {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr></thead><tbody>");
    for (k, model) in models.iter().enumerate() {
        let _ = write!(
            html,
            r#"<tr><td><span class="swatch" style="background:{}"></span>{}</td>"#,
            COLORS[k % COLORS.len()],
            escape(&model.name)
        );
        for name in &names {
            let _ = write!(
                html,
                "<td>{:.4}</td>",
                model.metrics.get(*name).copied().unwrap_or(f64::NAN)
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    if models.iter().any(|m| m.grounding.is_some()) {
        html.push_str("<h2>Attention grounding</h2><p>For generated colour and shape words, where the attention falls relative to the objects' boxes; beside each figure, what uniform attention would score.</p><table><thead><tr><th>model</th><th>pointing game</th><th>uniform</th><th>attention mass in box</th><th>uniform</th><th>words scored</th><th>hallucinated</th></tr></thead><tbody>");
        for model in models {
            if let Some(g) = &model.grounding {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                    escape(&model.name),
                    g.pointing_game,
                    g.pointing_game_uniform,
                    g.attention_mass_in_box,
                    g.attention_mass_uniform,
                    g.grounded_words,
                    g.hallucinated_words
                );
            }
        }
        html.push_str("</tbody></table>");
    }
    // Distributions of per-image scores.
    let per_image: Vec<String> = models
        .first()
        .and_then(|m| m.captions.first())
        .map(|c| c.scores.keys().cloned().collect())
        .unwrap_or_default();
    html.push_str("<h2>Per-image scores</h2><div class=\"charts\">");
    for metric in &per_image {
        let _ = write!(
            html,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            histogram(metric, models),
            escape(metric)
        );
    }
    html.push_str("</div>");
    // Best and worst images by the first model's ranking score.
    let rank_by = ["similarity_max", "clip_similarity_max", "CIDEr"]
        .into_iter()
        .find(|m| per_image.iter().any(|p| p == m))
        .unwrap_or("CIDEr");
    if let Some(first) = models.first() {
        let mut order: Vec<usize> = (0..images.len()).collect();
        let score = |i: usize| first.captions[i].scores.get(rank_by).copied().unwrap_or(0.0);
        order.sort_by(|a, b| score(*b).total_cmp(&score(*a)));
        let sections = [
            ("Best", order.iter().take(SHOWN).copied().collect::<Vec<_>>()),
            ("Worst", order.iter().rev().take(SHOWN).copied().collect()),
        ];
        for (label, picked) in sections {
            let _ = write!(
                html,
                "<h2>{label} images by {} of {}</h2>",
                escape(rank_by),
                escape(&first.name)
            );
            for i in picked {
                image_card(&mut html, &images[i], i, models);
            }
        }
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

fn image_card(html: &mut String, image: &ReportImage, index: usize, models: &[ReportModel]) {
    let photo = load_photo(&image.path, 640);
    let _ = write!(html, r#"<section class="card"><div>"#);
    if let Some(photo) = &photo {
        let small = image::imageops::resize(
            photo,
            224,
            (224 * photo.height() / photo.width().max(1)).max(1),
            FilterType::Triangle,
        );
        let _ = write!(
            html,
            r#"<img class="photo" src="{}" alt="{}">"#,
            data_uri_jpeg(&small),
            escape(&image.name)
        );
    }
    let _ = write!(
        html,
        "<div>{}</div></div><div><strong>References</strong><ul>",
        escape(&image.name)
    );
    for reference in &image.references {
        let _ = write!(html, "<li>{}</li>", escape(reference));
    }
    html.push_str("</ul>");
    for (k, model) in models.iter().enumerate() {
        let caption = &model.captions[index];
        let scores: Vec<String> = caption
            .scores
            .iter()
            .map(|(n, v)| format!("{n} {v:.3}"))
            .collect();
        let _ = write!(
            html,
            r#"<p><span class="swatch" style="background:{}"></span><strong>{}</strong>: {}<br><span class="scores">{}</span></p>"#,
            COLORS[k % COLORS.len()],
            escape(&model.name),
            escape(&caption.text),
            escape(&scores.join(", "))
        );
    }
    html.push_str("</div>");
    for model in models {
        if let (Some(attention), Some(photo)) = (&model.captions[index].attention, &photo) {
            let figure = attention_figure(photo, attention, FigureStyle::default());
            let _ = write!(
                html,
                r#"<img class="figure" src="{}" alt="attention of {} for every word">"#,
                data_uri_jpeg(&figure),
                escape(&model.name)
            );
        }
    }
    html.push_str("</section>");
}

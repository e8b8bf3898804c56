//! The report's HTML around the charts and cards: the page head and style, the metrics and
//! grounding tables, and the helpers that embed photos.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use glimpse_model::config::DEFAULT_MAX_PIXELS;
use image::imageops::FilterType;

use super::{ReportModel, model_color};
use crate::outputs::report_start;
pub use crate::svg::escape;

/// The page's head (starting as [`report_start`] says, so that the command that wrote it can
/// tell it is its own), style, title and subtitle.
pub(super) fn head(page: &mut String, generator: &str, title: &str, subtitle: &str) {
    let _ = write!(
        page,
        r#"{start}<title>{t}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1b1b1b; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }} .charts {{ display: flex; flex-wrap: wrap; gap: 1rem; }}
figure {{ margin: 0; }} .card {{ border: 1px solid #ddd; border-radius: 6px; padding: .8rem; margin: 1rem 0; display: grid; grid-template-columns: 240px 1fr; gap: 1rem; }}
.card img.photo {{ width: 224px; }} .card img.figure {{ max-width: 100%; grid-column: 1 / -1; }} .swatch {{ display: inline-block; width: .8em; height: .8em; margin-right: .3em; }}
ul {{ margin: .2rem 0; padding-left: 1.2rem; }} .scores {{ color: #555; font-size: 13px; }}
</style></head><body><h1>{t}</h1><p>{s}</p>"#,
        start = report_start(generator),
        t = escape(title),
        s = escape(subtitle)
    );
}

/// Every model's corpus metrics, under the first model's metric names.
pub(super) fn metrics_table(page: &mut String, models: &[ReportModel]) {
    let names: Vec<&String> = models
        .first()
        .map(|m| m.metrics.keys().collect())
        .unwrap_or_default();
    page.push_str("<h2>Metrics</h2><table><thead><tr><th>model</th>");
    for name in &names {
        let _ = write!(page, "<th>{}</th>", escape(name));
    }
    page.push_str("</tr></thead><tbody>");
    for (k, model) in models.iter().enumerate() {
        let _ = write!(
            page,
            r#"<tr><td><span class="swatch" style="background:{}"></span>{}</td>"#,
            model_color(k),
            escape(&model.name)
        );
        for name in &names {
            let _ = write!(
                page,
                "<td>{:.4}</td>",
                model.metrics.get(*name).copied().unwrap_or(f64::NAN)
            );
        }
        page.push_str("</tr>");
    }
    page.push_str("</tbody></table>");
}

/// The grounding figures of the models that have them (none: no table).
pub(super) fn grounding_table(page: &mut String, models: &[ReportModel]) {
    if !models.iter().any(|m| m.grounding.is_some()) {
        return;
    }
    page.push_str("<h2>Attention grounding</h2><p>For generated colour and shape words, where the attention falls relative to the objects' boxes; beside each figure, what uniform attention would score. Then whether the caption depends on what the attention found: how often a word disappears when the objects it names are hidden (filled with the normalisation mean), against hiding boxes of the same sizes elsewhere.</p><table><thead><tr><th>model</th><th>pointing game</th><th>uniform</th><th>attention mass in box</th><th>uniform</th><th>words scored</th><th>hallucinated</th><th>word gone when its objects are hidden</th><th>when boxes elsewhere are hidden</th><th>words tested</th></tr></thead><tbody>");
    for model in models {
        if let Some(g) = &model.grounding {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&model.name),
                g.pointing_game,
                g.pointing_game_uniform,
                g.attention_mass_in_box,
                g.attention_mass_uniform,
                g.grounded_words,
                g.hallucinated_words,
                rate(g.occlusion.removed_when_objects_hidden),
                rate(g.occlusion.removed_when_elsewhere_hidden),
                g.occlusion.words_tested
            );
        }
    }
    page.push_str("</tbody></table>");
}

/// A rate to three places, or a dash where nothing was measured.
fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

/// A photo as a JPEG `data:` URI.
pub(super) fn data_uri_jpeg(image: &image::RgbImage) -> String {
    let mut bytes = Vec::new();
    let _ = image::DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg);
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The photo at `path`, shrunk to at most `max_side` pixels a side; `None` when unreadable.
pub(super) fn load_photo(path: &Path, max_side: u32) -> Option<image::RgbImage> {
    let bytes = glimpse_files::read_regular(path, glimpse_files::caps::IMAGE, "image").ok()?;
    // The captioning budget: the report shows the photos that can be captioned (it decoded up
    // to twice as many pixels, 1.6 GB for one crafted 16-bit PNG).
    let image = glimpse_model::preprocess::decode_image(&bytes, DEFAULT_MAX_PIXELS).ok()?;
    let (w, h) = image.dimensions();
    let scale = (max_side as f64 / w.max(h) as f64).min(1.0);
    Some(image::imageops::resize(
        &image,
        ((w as f64 * scale) as u32).max(1),
        ((h as f64 * scale) as u32).max(1),
        FilterType::Triangle,
    ))
}

//! The report's per-image score distributions: one chart per score, every model's histogram
//! overlaid as a step line.

use std::fmt::Write as _;

use super::html::escape;
use super::{ReportModel, model_color};
use crate::svg::{Attr, Svg, nice_ticks, tick_label};

/// Bins over [0, the first round number at or above the largest score].
const HISTOGRAM_BINS: usize = 20;

/// A chart per per-image score (the first model's first caption names them); returns the
/// score names.
pub(super) fn per_image_charts(page: &mut String, models: &[ReportModel]) -> Vec<String> {
    let per_image: Vec<String> = models
        .first()
        .and_then(|m| m.captions.first())
        .map(|c| c.scores.keys().cloned().collect())
        .unwrap_or_default();
    page.push_str("<h2>Per-image scores</h2><div class=\"charts\">");
    for metric in &per_image {
        let _ = write!(
            page,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            histogram(metric, models),
            escape(metric)
        );
    }
    page.push_str("</div>");
    per_image
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
    let largest = values.iter().flatten().copied().fold(0.0f64, f64::max).max(1e-9);
    let ticks = nice_ticks(0.0, largest, 4);
    let max = ticks[ticks.len() - 1];
    let counts: Vec<Vec<usize>> = values.iter().map(|v| bin_counts(v, max)).collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let (w, h, left, bottom) = (420.0, 200.0, 40.0, 30.0);
    let label = format!("{metric} per image");
    let mut svg = Svg::new(&[
        ("viewBox", &format!("0 0 {w} {h}")),
        ("width", &w),
        ("height", &h),
        ("role", &"img"),
        ("aria-label", &label),
    ]);
    let axis_y = h - bottom;
    svg.element(
        "line",
        &[
            ("x1", &left),
            ("y1", &axis_y),
            ("x2", &w),
            ("y2", &axis_y),
            ("stroke", &"#444"),
        ],
    );
    for (k, c) in counts.iter().enumerate() {
        // Each bin is a flat step from its left edge to its right edge.
        let x = |i: usize| left + (w - left - 10.0) * i as f64 / HISTOGRAM_BINS as f64;
        let steps = c.iter().enumerate().flat_map(|(i, n)| {
            let y = h - bottom - (h - bottom - 10.0) * *n as f64 / top;
            [(x(i), y), (x(i + 1), y)]
        });
        svg.polyline(model_color(k), steps);
    }
    let small: Attr<'_> = ("font-size", &11);
    for &tick in &ticks {
        let x = left + (w - left - 10.0) * tick / max;
        let anchor: Attr<'_> = ("text-anchor", &"middle");
        svg.text(
            &[("x", &x), ("y", &(h - 12.0)), small, anchor],
            &tick_label(tick, &ticks),
        );
    }
    let images = values.first().map_or(0, Vec::len);
    svg.text(&[("x", &4), ("y", &14), small], &format!("{images} images"));
    svg.finish()
}

/// How many of `values` fall in each of [`HISTOGRAM_BINS`] equal bins over [0, `max`] (the top one closed).
fn bin_counts(values: &[f64], max: f64) -> Vec<usize> {
    let mut counts = vec![0; HISTOGRAM_BINS];
    for x in values {
        counts[((x / max * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)] += 1;
    }
    counts
}

//! Loss and BLEU-4 curves as small self-contained SVG files in the run folder.

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes, ticks and a legend.
pub fn line_chart(title: &str, x_label: &str, series: &[Series<'_>]) -> String {
    let (width, height) = (640.0, 400.0);
    let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (mut x_min, mut x_max) = bounds(all.iter().map(|p| p.0));
    let (mut y_min, mut y_max) = bounds(all.iter().map(|p| p.1));
    if x_max <= x_min {
        x_min -= 1.0;
        x_max += 1.0;
    }
    if y_max <= y_min {
        y_min -= 0.5;
        y_max += 0.5;
    }
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let sx = |x: f64| left + (x - x_min) / (x_max - x_min) * plot_w;
    let sy = |y: f64| top + (1.0 - (y - y_min) / (y_max - y_min)) * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        svg,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for i in 0..=4 {
        let fy = y_min + (y_max - y_min) * i as f64 / 4.0;
        let fx = x_min + (x_max - x_min) * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            width - right,
            left - 6.0,
            sy(fy) + 4.0,
            tick(fy),
            y = sy(fy)
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            sx(fx),
            height - bottom + 18.0,
            tick(fx)
        );
    }
    let _ = write!(
        svg,
        r#"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        height - 12.0,
        escape(x_label)
    );
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if let [(x, y)] = s.points.as_slice() {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                sx(*x),
                sy(*y),
                s.color
            );
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            s.color,
            points.join(" ")
        );
        let ly = top + 16.0 + 16.0 * k as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            width - right - 130.0,
            width - right - 110.0,
            s.color,
            width - right - 104.0,
            ly + 4.0,
            escape(s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_within_the_canvas() {
        let svg = line_chart(
            "loss",
            "step",
            &[Series {
                name: "train",
                color: "#1f77b4",
                points: vec![(0.0, 3.0), (10.0, 1.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("train"));
        // Extremes map to the plot's corners (70..620 × 40..350).
        assert!(svg.contains("70.0,40.0") && svg.contains("620.0,350.0"), "{svg}");
    }
}

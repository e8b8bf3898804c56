//! Loss and BLEU-4 curves as small self-contained SVG files in the run folder, drawn with the
//! report's SVG writer.

use glimpse_eval::svg::{Svg, nice_ticks, tick_label};

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes (labelled, with their units), ticks at round numbers and a legend.
pub fn line_chart(title: &str, [x_label, y_label]: [&str; 2], series: &[Series<'_>]) -> String {
    let frame = Frame::around(series);
    let mut svg = Svg::new(&[
        ("xmlns", &"http://www.w3.org/2000/svg"),
        ("width", &WIDTH),
        ("height", &HEIGHT),
        ("viewBox", &format!("0 0 {WIDTH} {HEIGHT}")),
        ("font-family", &"sans-serif"),
        ("font-size", &12),
    ]);
    svg.element(
        "rect",
        &[("width", &"100%"), ("height", &"100%"), ("fill", &"white")],
    );
    svg.text(
        &[
            ("x", &(WIDTH / 2.0)),
            ("y", &24),
            ("font-size", &16),
            ("text-anchor", &"middle"),
        ],
        title,
    );
    axes(&mut svg, &frame, [x_label, y_label]);
    for (k, s) in series.iter().enumerate() {
        draw_series(&mut svg, &frame, k, s);
    }
    svg.finish() + "\n"
}

/// The chart's size in pixels.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
/// Margins around the plot.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// Ticks at round numbers covering the data (widened when flat), and the mapping from data to
/// pixels: the first and last ticks are the plot's edges.
struct Frame {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Frame {
    fn around(series: &[Series<'_>]) -> Frame {
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
        Frame {
            x: nice_ticks(x_min, x_max, TICKS),
            y: nice_ticks(y_min, y_max, TICKS),
        }
    }

    /// An axis's data range: its first and last ticks.
    fn range(ticks: &[f64]) -> (f64, f64) {
        (ticks[0], ticks[ticks.len() - 1])
    }

    fn sx(&self, x: f64) -> f64 {
        let (lo, hi) = Frame::range(&self.x);
        LEFT + (x - lo) / (hi - lo) * PLOT_W
    }

    fn sy(&self, y: f64) -> f64 {
        let (lo, hi) = Frame::range(&self.y);
        TOP + (1.0 - (y - lo) / (hi - lo)) * PLOT_H
    }
}

/// About this many intervals between ticks on each axis.
const TICKS: usize = 5;

/// A grid line and label at every tick of each axis, the plot's border and the axis labels.
fn axes(svg: &mut Svg, frame: &Frame, [x_label, y_label]: [&str; 2]) {
    for &fy in &frame.y {
        let y = frame.sy(fy);
        svg.element(
            "line",
            &[
                ("x1", &LEFT),
                ("x2", &(WIDTH - RIGHT)),
                ("y1", &y),
                ("y2", &y),
                ("stroke", &"#ddd"),
            ],
        );
        svg.text(
            &[("x", &(LEFT - 6.0)), ("y", &(y + 4.0)), ("text-anchor", &"end")],
            &tick_label(fy, &frame.y),
        );
    }
    for &fx in &frame.x {
        svg.text(
            &[
                ("x", &frame.sx(fx)),
                ("y", &(HEIGHT - BOTTOM + 18.0)),
                ("text-anchor", &"middle"),
            ],
            &tick_label(fx, &frame.x),
        );
    }
    svg.element(
        "rect",
        &[
            ("x", &LEFT),
            ("y", &TOP),
            ("width", &PLOT_W),
            ("height", &PLOT_H),
            ("fill", &"none"),
            ("stroke", &"black"),
        ],
    );
    svg.text(
        &[
            ("x", &(LEFT + PLOT_W / 2.0)),
            ("y", &(HEIGHT - 12.0)),
            ("text-anchor", &"middle"),
        ],
        x_label,
    );
    let (cx, cy) = (16.0, TOP + PLOT_H / 2.0);
    svg.text(
        &[
            ("x", &cx),
            ("y", &cy),
            ("text-anchor", &"middle"),
            ("transform", &format!("rotate(-90 {cx} {cy})")),
        ],
        y_label,
    );
}

/// The `k`th series: its line (a dot when it has one point) and its legend entry.
fn draw_series(svg: &mut Svg, frame: &Frame, k: usize, s: &Series<'_>) {
    if let [(x, y)] = s.points.as_slice() {
        svg.element(
            "circle",
            &[
                ("cx", &format!("{:.1}", frame.sx(*x))),
                ("cy", &format!("{:.1}", frame.sy(*y))),
                ("r", &3),
                ("fill", &s.color),
            ],
        );
    }
    let finite = s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
    svg.polyline(s.color, finite.map(|&(x, y)| (frame.sx(x), frame.sy(y))));
    let ly = TOP + 16.0 + 16.0 * k as f64;
    svg.element(
        "line",
        &[
            ("x1", &(WIDTH - RIGHT - 130.0)),
            ("x2", &(WIDTH - RIGHT - 110.0)),
            ("y1", &ly),
            ("y2", &ly),
            ("stroke", &s.color),
            ("stroke-width", &2),
        ],
    );
    svg.text(&[("x", &(WIDTH - RIGHT - 104.0)), ("y", &(ly + 4.0))], s.name);
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_within_the_canvas() {
        let svg = line_chart(
            "loss",
            ["step", "loss (nats per word)"],
            &[Series {
                name: "train",
                color: "#1f77b4",
                points: vec![(0.0, 3.0), (10.0, 1.0)],
            }],
        );
        assert!(svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("train"));
        // Extremes map to the plot's corners (70..620 × 40..350): 0–10 and 1–3 are round.
        assert!(svg.contains("70.0,40.0") && svg.contains("620.0,350.0"), "{svg}");
        // Ticks at round numbers, with the decimals their step needs, and the axes' labels.
        for label in [
            ">0<",
            ">2<",
            ">10<",
            ">1.0<",
            ">1.5<",
            ">3.0<",
            ">loss (nats per word)<",
        ] {
            assert!(svg.contains(label), "{label} missing: {svg}");
        }
    }
}

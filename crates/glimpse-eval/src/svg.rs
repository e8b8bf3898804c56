//! A small SVG writer for the charts Glimpse draws (the report's score histograms, the training
//! run's loss and BLEU curves): elements with their attributes in the order given, attribute
//! values and text escaped, polylines with coordinates to a tenth of a pixel.

use std::fmt::{Display, Write as _};

/// An attribute: its name and value (numbers print as `Display` prints them).
pub type Attr<'a> = (&'a str, &'a dyn Display);

/// An SVG document being written.
pub struct Svg {
    out: String,
}

impl Svg {
    /// Opens `<svg ATTRS>`.
    pub fn new(attrs: &[Attr<'_>]) -> Svg {
        let mut svg = Svg { out: String::new() };
        svg.open("svg", attrs);
        svg
    }

    /// An empty element: `<NAME ATTRS/>`.
    pub fn element(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        self.out.push_str("/>");
    }

    /// `<text ATTRS>CONTENT</text>`, the content escaped.
    pub fn text(&mut self, attrs: &[Attr<'_>], content: &str) {
        self.open("text", attrs);
        self.out.push_str(&escape(content));
        self.out.push_str("</text>");
    }

    /// An unfilled line through `points`, `stroke` coloured and 2 pixels wide.
    pub fn polyline(&mut self, stroke: &str, points: impl IntoIterator<Item = (f64, f64)>) {
        let points = point_list(points);
        self.element(
            "polyline",
            &[
                ("fill", &"none"),
                ("stroke", &stroke),
                ("stroke-width", &2),
                ("points", &points),
            ],
        );
    }

    /// Closes the document and returns its text.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }

    fn open(&mut self, name: &str, attrs: &[Attr<'_>]) {
        self.out.push('<');
        self.out.push_str(name);
        self.attrs(attrs);
        self.out.push('>');
    }

    fn attrs(&mut self, attrs: &[Attr<'_>]) {
        for (name, value) in attrs {
            let _ = write!(self.out, r#" {name}="{}""#, escape(&value.to_string()));
        }
    }
}

/// `x,y x,y …`, each coordinate to one decimal.
pub fn point_list(points: impl IntoIterator<Item = (f64, f64)>) -> String {
    let mut out = String::new();
    for (x, y) in points {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{x:.1},{y:.1}");
    }
    out
}

/// Text safe inside XML elements and double-quoted attributes (and HTML), with control and
/// bidirectional characters shown as `\u{…}` as the terminal shows them: names and references
/// come from strangers' datasets, and a U+202E reordered a name in the report (an extension
/// spoofed) while `cat report.html` replayed escape sequences (hostile round 10).
pub fn escape(text: &str) -> String {
    glimpse_files::terminal_safe(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Axis ticks at round numbers (1, 2 or 5 × 10^k apart) from at or below `min` to at or above
/// `max`, about `intervals` of them (Heckbert's "nice numbers"): what people expect on a chart
/// they paste into a paper. An empty or non-finite range gives `[min]` (or `[0]`); one too
/// narrow for round ticks (a subnormal step, as a BLEU of 5e-324 gives, or a range a few
/// floating-point values wide, whose ticks repeat) gives `[min, max]`.
pub fn nice_ticks(min: f64, max: f64, intervals: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min {
        return vec![if min.is_finite() { min } else { 0.0 }];
    }
    let intervals = intervals.max(1);
    let step = nice_number((max - min) / intervals as f64);
    let (first, last) = ((min / step).floor() as i64, (max / step).ceil() as i64);
    // (A zero step made 0..=i64::MAX ticks: "capacity overflow", review 66.)
    let round_steps = last.checked_sub(first).and_then(|n| usize::try_from(n).ok());
    if !(step.is_finite() && step > 0.0) || round_steps.is_none_or(|n| n > 2 * intervals + 2) {
        return vec![min, max];
    }
    // Multiples of the step, rounded to its decimals so 0.1 × 3 prints as 0.3.
    // (Past 10^308 the scale is infinite: ticks that small are left as they are, not NaN.)
    let scale = 10f64.powi(tick_decimals(step) as i32);
    let round = |v: f64| {
        if scale.is_finite() {
            (v * scale).round() / scale
        } else {
            v
        }
    };
    let ticks: Vec<f64> = (first..=last).map(|k| round(k as f64 * step)).collect();
    // (Values a few ulps apart made one tick, or repeated ones short of the range, and the chart
    // divided by a span of 0: review 67.)
    let slack = step * 1e-6;
    let covers = |t: &[f64]| t[0] <= min + slack && t[t.len() - 1] >= max - slack;
    if ticks.len() >= 2 && ticks.windows(2).all(|w| w[0] < w[1]) && covers(&ticks) {
        ticks
    } else {
        vec![min, max]
    }
}

/// 1, 2 or 5 × 10^k, the one nearest `x` (Heckbert's rounding).
fn nice_number(x: f64) -> f64 {
    let unit = 10f64.powf(x.log10().floor());
    let nice = match x / unit {
        f if f < 1.5 => 1.0,
        f if f < 3.0 => 2.0,
        f if f < 7.0 => 5.0,
        _ => 10.0,
    };
    nice * unit
}

/// Decimals that show ticks `step` apart exactly (0 for whole steps).
fn tick_decimals(step: f64) -> usize {
    (-step.log10().floor()).max(0.0) as usize
}

/// A tick's label, with as many decimals as its axis's step needs.
pub fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    format!("{value:.*}", tick_decimals(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_elements_in_order_and_escapes() {
        let mut svg = Svg::new(&[("width", &640.0), ("height", &400)]);
        svg.element("line", &[("x1", &70.0), ("stroke", &"#ddd")]);
        svg.text(&[("x", &4)], "a < b & \"c\"");
        svg.polyline("red", [(0.0, 1.0), (2.26, 3.0)]);
        assert_eq!(
            svg.finish(),
            r##"<svg width="640" height="400"><line x1="70" stroke="#ddd"/><text x="4">a &lt; b &amp; &quot;c&quot;</text><polyline fill="none" stroke="red" stroke-width="2" points="0.0,1.0 2.3,3.0"/></svg>"##
        );
    }

    #[test]
    fn control_and_bidirectional_characters_are_shown_not_kept() {
        let name = "\u{202e}gnp.exe\u{1b}]0;pwn\u{7}<b>";
        assert_eq!(escape(name), "\\u{202e}gnp.exe\\u{1b}]0;pwn\\u{7}&lt;b&gt;");
    }

    #[test]
    fn ticks_are_round_numbers_around_the_data() {
        assert_eq!(nice_ticks(0.0, 0.87, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(1.23, 3.4, 5), [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
        assert_eq!(
            nice_ticks(0.0, 2750.0, 5),
            [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0]
        );
        assert_eq!(
            nice_ticks(-0.03, 0.07, 4),
            [-0.04, -0.02, 0.0, 0.02, 0.04, 0.06, 0.08]
        );
        assert_eq!(nice_ticks(2.0, 2.0, 5), [2.0]);
        assert_eq!(nice_ticks(f64::NAN, 1.0, 5), [0.0]);
        // A subnormal range: a zero step panicked making 2^63 ticks.
        assert_eq!(nice_ticks(0.0, 5e-324, 5), [0.0, 5e-324]);
        // A range one float wide: its ends, not one tick or repeated ones.
        let bleu = 0.486_885_507_085_139_45_f64;
        let next = f64::from_bits(bleu.to_bits() + 1);
        assert_eq!(nice_ticks(bleu, next, 5), [bleu, next]);
        let tiny = nice_ticks(1e-310, 3e-310, 5);
        assert!(tiny.len() > 2 && tiny.iter().all(|t| t.is_finite()), "{tiny:?}");
        let ticks = nice_ticks(0.0, 0.87, 5);
        assert_eq!(tick_label(0.4, &ticks), "0.4");
        assert_eq!(tick_label(1000.0, &nice_ticks(0.0, 2750.0, 5)), "1000");
    }
}

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

/// Text safe inside XML elements and double-quoted attributes (and HTML).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
}

//! Attention grounding on `glimpse synth` data, whose sidecar knows every object's box.
//!
//! For each generated word that names a colour or a shape (`red`, `circle`, `circles`), the
//! objects with that attribute are the word's referents. Two measures per word:
//! - pointing game: the grid cell with the most attention overlaps a referent's box;
//! - attention mass in the boxes: Σ over cells of α × (the cell's area covered by referent boxes
//!   / the cell's area), i.e. attention spread uniformly within its cell.
//!
//! Each comes with the value a uniform attention map would get (the fraction of cells touching
//! a referent; the fraction of the image covered), so a score says how much better than chance
//! the model looks. Words naming something absent from the image are counted as hallucinated
//! and not scored.

use std::collections::HashMap;

use serde::Serialize;

use glimpse_data::synth::{COLORS, SHAPES, SynthImage};

use crate::occlusion::Occlusion;

/// The grounding figures over a set of captions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Grounding {
    /// Fraction of grounded words whose attention maximum falls on a referent.
    pub pointing_game: f64,
    /// The same for a uniform attention map (ties broken uniformly at random, in expectation).
    pub pointing_game_uniform: f64,
    /// Mean attention mass inside the referents' boxes.
    pub attention_mass_in_box: f64,
    /// The mass a uniform map would put there (the boxes' share of the image).
    pub attention_mass_uniform: f64,
    /// Colour and shape words with a referent in the image (the ones scored).
    pub grounded_words: usize,
    /// Colour and shape words with no referent in the image.
    pub hallucinated_words: usize,
    /// Whether hiding a word's objects removes the word (filled in by the evaluation, which
    /// captions the hidden photos).
    pub occlusion: Occlusion,
}

/// One word's scores, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WordGrounding {
    pub word: String,
    pub index: usize,
    pub hit: bool,
    pub mass: f64,
}

/// What attribute a word names, if any.
pub(crate) fn attribute(word: &str) -> Option<(&'static str, String)> {
    if let Some((name, _)) = COLORS.iter().find(|(name, _)| *name == word) {
        return Some(("color", name.to_string()));
    }
    let singular = word.strip_suffix('s').unwrap_or(word);
    SHAPES
        .iter()
        .find(|shape| **shape == word || **shape == singular)
        .map(|shape| ("shape", shape.to_string()))
}

/// Overlap area of two `[x0, y0, x1, y1]` rectangles.
pub(crate) fn overlap(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    w * h
}

/// Scores one caption's words against one image's objects: each grounded word's scores, the
/// number of hallucinated words, and each grounded word's uniform baselines (pointing game,
/// mass).
pub fn ground_caption(
    image: &SynthImage,
    size: [u32; 2],
    tokens: &[String],
    attention: &[Vec<f32>],
    grid: [usize; 2],
) -> (Vec<WordGrounding>, usize, Vec<(f64, f64)>) {
    let mut words = Vec::new();
    let mut hallucinated = 0;
    let mut baselines = Vec::new();
    for (index, (word, weights)) in tokens.iter().zip(attention).enumerate() {
        let Some((kind, value)) = attribute(word) else {
            continue;
        };
        let boxes = referent_boxes(image, kind, &value);
        if boxes.is_empty() {
            hallucinated += 1;
            continue;
        }
        let covered = cell_coverage(&boxes, size, grid);
        let best = weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(k, _)| k);
        let mass: f64 = weights.iter().zip(&covered).map(|(w, c)| *w as f64 * c).sum();
        let touching = covered.iter().filter(|c| **c > 0.0).count() as f64 / covered.len() as f64;
        let area: f64 = covered.iter().sum::<f64>() / covered.len() as f64;
        baselines.push((touching, area));
        words.push(WordGrounding {
            word: word.clone(),
            index,
            hit: covered[best] > 0.0,
            mass,
        });
    }
    (words, hallucinated, baselines)
}

/// The `[x0, y0, x1, y1]` boxes of the objects whose `kind` ("color" or "shape") is `value`.
pub(crate) fn referent_boxes(image: &SynthImage, kind: &str, value: &str) -> Vec<[f64; 4]> {
    image
        .objects
        .iter()
        .filter(|o| {
            if kind == "color" {
                o.color == value
            } else {
                o.shape == value
            }
        })
        .map(|o| o.bbox.map(f64::from))
        .collect()
}

/// Share of each cell of the `[rows, cols]` attention grid over a `size` image covered by
/// `boxes`, row-major (`[rows × cols]`; boxes never overlap each other in synth).
fn cell_coverage(boxes: &[[f64; 4]], size: [u32; 2], grid: [usize; 2]) -> Vec<f64> {
    let [width, height] = size.map(f64::from);
    let [rows, cols] = grid;
    let cell = |r: usize, c: usize| {
        [
            c as f64 * width / cols as f64,
            r as f64 * height / rows as f64,
            (c + 1) as f64 * width / cols as f64,
            (r + 1) as f64 * height / rows as f64,
        ]
    };
    let cell_area = (width / cols as f64) * (height / rows as f64);
    (0..rows * cols)
        .map(|k| {
            let rect = cell(k / cols, k % cols);
            (boxes.iter().map(|b| overlap(rect, *b)).sum::<f64>() / cell_area).min(1.0)
        })
        .collect()
}

/// Accumulates grounding over many captions.
#[derive(Debug, Default)]
pub struct GroundingTotals {
    hits: usize,
    mass: f64,
    touching: f64,
    area: f64,
    words: usize,
    hallucinated: usize,
}

impl GroundingTotals {
    pub fn add(&mut self, words: &[WordGrounding], hallucinated: usize, baselines: &[(f64, f64)]) {
        for (word, (touching, area)) in words.iter().zip(baselines) {
            self.hits += usize::from(word.hit);
            self.mass += word.mass;
            self.touching += touching;
            self.area += area;
            self.words += 1;
        }
        self.hallucinated += hallucinated;
    }

    /// No word was grounded.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }

    pub fn finish(&self) -> Grounding {
        let n = self.words.max(1) as f64;
        Grounding {
            pointing_game: self.hits as f64 / n,
            pointing_game_uniform: self.touching / n,
            attention_mass_in_box: self.mass / n,
            attention_mass_uniform: self.area / n,
            grounded_words: self.words,
            hallucinated_words: self.hallucinated,
            occlusion: Occlusion::default(),
        }
    }
}

/// The sidecar's images by file name.
pub fn by_file(images: &[SynthImage]) -> HashMap<&str, &SynthImage> {
    images.iter().map(|i| (i.file.as_str(), i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glimpse_data::Split;
    use glimpse_data::synth::SynthObject;

    fn image() -> SynthImage {
        SynthImage {
            file: "x.jpg".into(),
            split: Split::Test,
            background: "plain".into(),
            objects: vec![SynthObject {
                shape: "circle".into(),
                color: "red".into(),
                size: "small".into(),
                // Exactly the top-left cell of a 2×2 grid over 100×100.
                bbox: [0, 0, 50, 50],
            }],
            captions: vec![],
        }
    }

    #[test]
    fn attention_on_the_object_hits_and_elsewhere_misses() {
        let tokens: Vec<String> = ["a", "red", "circle", "blue"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let on = vec![0.7, 0.1, 0.1, 0.1];
        let off = vec![0.1, 0.7, 0.1, 0.1];
        let attention = vec![on.clone(), on, off, vec![0.25; 4]];
        let (words, hallucinated, baselines) =
            ground_caption(&image(), [100, 100], &tokens, &attention, [2, 2]);
        assert_eq!(hallucinated, 1, "`blue` names nothing in the image");
        assert_eq!(words.len(), 2);
        assert!(words[0].hit && (words[0].mass - 0.7).abs() < 1e-6);
        assert!(!words[1].hit && (words[1].mass - 0.1).abs() < 1e-6);
        assert_eq!(baselines[0], (0.25, 0.25));
        let mut totals = GroundingTotals::default();
        totals.add(&words, hallucinated, &baselines);
        let g = totals.finish();
        assert_eq!(g.pointing_game, 0.5);
        assert!((g.attention_mass_in_box - 0.4).abs() < 1e-6);
        assert_eq!(g.attention_mass_uniform, 0.25);
    }

    #[test]
    fn plural_shapes_are_recognised() {
        assert_eq!(attribute("circles"), Some(("shape", "circle".to_string())));
        assert_eq!(attribute("orange"), Some(("color", "orange".to_string())));
        assert_eq!(attribute("above"), None);
    }
}

//! Whether the attention is causal, on `glimpse synth` data: hiding the objects a colour or
//! shape word names (their boxes filled with the normalisation mean, which the model sees as
//! zero input) should remove the word from the caption far more often than hiding boxes of the
//! same sizes elsewhere. The pointing game says where attention falls; this says whether the
//! caption depends on what is there.

use std::collections::BTreeSet;

use anyhow::Result;
use glimpse_data::rng::Rng;
use glimpse_data::synth::SynthImage;
use glimpse_model::preprocess::{fill_boxes, image_to_input, touched_pixels};
use glimpse_model::{Caption, Captioner, GenerateOptions};
use image::RgbImage;
use serde::Serialize;

use crate::grounding::{attribute, overlap, referent_boxes};

/// Random placements tried for a word's boxes before the word is skipped.
const PLACEMENT_TRIES: usize = 100;

/// The occlusion test over a set of captions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Occlusion {
    /// Colour and shape words tested (each with a referent in the image).
    pub words_tested: usize,
    /// Fraction of them gone from the caption once their objects are hidden (`None` when no
    /// word was tested: a rate of nothing, not 0).
    pub removed_when_objects_hidden: Option<f64>,
    /// Fraction gone once boxes of the same sizes, off those objects, are hidden instead.
    pub removed_when_elsewhere_hidden: Option<f64>,
    /// Words skipped because no place off their objects could hold the boxes.
    pub words_skipped: usize,
}

/// One captioned synth photo to test.
pub struct OcclusionCase<'a> {
    pub photo: RgbImage,
    pub image: &'a SynthImage,
    /// The image size the sidecar's boxes are given in (its `width`, `height`), which the
    /// photo's own size need not be.
    pub boxes_in: [u32; 2],
    pub caption: &'a Caption,
}

/// Runs the test on every case: per distinct colour or shape word of its caption with a
/// referent, the photo is captioned again with the referents hidden and with boxes of the same
/// sizes hidden elsewhere (placed by `seed`), as `options` decodes.
pub fn occlusion_test<'a>(
    captioner: &Captioner,
    options: GenerateOptions,
    cases: impl IntoIterator<Item = OcclusionCase<'a>>,
    seed: u64,
) -> Result<Occlusion> {
    let fill = captioner.config.preprocess.mean_colour();
    let mut rng = Rng::new(seed);
    let (mut tested, mut removed_hidden, mut removed_elsewhere, mut skipped) = (0, 0, 0, 0);
    for case in cases {
        let mut words = Vec::new(); // (kind, value)
        let mut inputs = Vec::new(); // [3, H, W] each: hidden, then elsewhere, per word
        for (kind, value) in named_attributes(case.caption) {
            let size = [case.photo.width(), case.photo.height()];
            let boxes = scaled(&referent_boxes(case.image, kind, &value), case.boxes_in, size);
            if boxes.is_empty() {
                continue;
            }
            let Some(elsewhere) = place_elsewhere(&boxes, size, &mut rng) else {
                skipped += 1;
                continue;
            };
            let preprocess = &captioner.config.preprocess;
            inputs.push(image_to_input(&hide(&case.photo, &boxes, fill), preprocess));
            inputs.push(image_to_input(&hide(&case.photo, &elsewhere, fill), preprocess));
            words.push((kind, value));
        }
        // Two inputs a word: in chunks of what the model takes at once (a 1024-pixel model
        // failed on a caption naming three colours or shapes).
        let mut captions = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(captioner.images_at_once(&options)) {
            captions.extend(pollster::block_on(captioner.caption_inputs(chunk, options))?);
        }
        for ((kind, value), pair) in words.iter().zip(captions.chunks(2)) {
            tested += 1;
            removed_hidden += usize::from(!names(&pair[0], kind, value));
            removed_elsewhere += usize::from(!names(&pair[1], kind, value));
        }
    }
    let rate = |removed: usize| (tested > 0).then(|| removed as f64 / tested as f64);
    Ok(Occlusion {
        words_tested: tested,
        removed_when_objects_hidden: rate(removed_hidden),
        removed_when_elsewhere_hidden: rate(removed_elsewhere),
        words_skipped: skipped,
    })
}

/// `boxes` given in an image of size `from`, in one of size `to` (as the pointing game maps
/// them): a set whose sidecar and photos differ in size once tested no word. Each is the whole
/// pixels it touches there, which are hidden: the controls placed elsewhere then hide as many
/// pixels, and none of the objects' (fractional boxes shared a pixel: review 74).
fn scaled(boxes: &[[f64; 4]], from: [u32; 2], to: [u32; 2]) -> Vec<[f64; 4]> {
    let [sx, sy] = [0, 1].map(|i| f64::from(to[i]) / f64::from(from[i].max(1)));
    boxes
        .iter()
        .map(|b| touched_pixels([b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]))
        .collect()
}

/// The distinct (kind, value) attributes the caption's words name (`red`, `circles` → circle).
fn named_attributes(caption: &Caption) -> BTreeSet<(&'static str, String)> {
    caption.tokens.iter().filter_map(|t| attribute(t)).collect()
}

/// Whether a word of `caption` names the attribute.
fn names(caption: &Caption, kind: &str, value: &str) -> bool {
    caption
        .tokens
        .iter()
        .any(|t| attribute(t).is_some_and(|(k, v)| k == kind && v == value))
}

/// `photo` with `boxes` (`[x0, y0, x1, y1]`, end exclusive) filled with `fill`.
fn hide(photo: &RgbImage, boxes: &[[f64; 4]], fill: [u8; 3]) -> RgbImage {
    let mut hidden = photo.clone();
    fill_boxes(&mut hidden, boxes, fill);
    hidden
}

/// Boxes of the sizes of `boxes`, each placed at random inside the image and overlapping none
/// of `boxes` nor each other; `None` when no such placement turned up.
fn place_elsewhere(boxes: &[[f64; 4]], size: [u32; 2], rng: &mut Rng) -> Option<Vec<[f64; 4]>> {
    let [width, height] = size.map(f64::from);
    'tries: for _ in 0..PLACEMENT_TRIES {
        let mut placed: Vec<[f64; 4]> = Vec::with_capacity(boxes.len());
        for b in boxes {
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            if w > width || h > height {
                return None;
            }
            let (x, y) = (
                rng.range(0.0, width - w).floor(),
                rng.range(0.0, height - h).floor(),
            );
            let candidate = [x, y, x + w, y + h];
            if boxes.iter().chain(&placed).any(|o| overlap(candidate, *o) > 0.0) {
                continue 'tries;
            }
            placed.push(candidate);
        }
        return Some(placed);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn hidden_boxes_take_the_fill_and_nothing_else_changes() {
        let photo = RgbImage::from_pixel(8, 6, Rgb([1, 2, 3]));
        let hidden = hide(&photo, &[[2.0, 1.0, 4.0, 3.0]], [9, 9, 9]);
        let filled = hidden.pixels().filter(|p| p.0 == [9, 9, 9]).count();
        assert_eq!(filled, 4);
        assert_eq!(hidden.get_pixel(3, 2).0, [9, 9, 9]);
        assert_eq!(hidden.get_pixel(4, 2).0, [1, 2, 3]);
        // Scaled boxes are fractional: a partly covered last pixel is hidden too (its end was
        // rounded down: hostile round 26).
        let scaled = scaled(&[[10.0, 10.0, 31.0, 31.0]], [256, 256], [100, 100]);
        let hidden = hide(
            &RgbImage::from_pixel(100, 100, Rgb([1, 2, 3])),
            &scaled,
            [9, 9, 9],
        );
        let filled: Vec<u32> = (0..100)
            .filter(|&x| hidden.get_pixel(x, 8).0 == [9, 9, 9])
            .collect();
        assert_eq!(filled, (3..13).collect::<Vec<_>>());
    }

    #[test]
    fn boxes_are_placed_off_the_objects_at_the_same_sizes() {
        let mut rng = Rng::new(3);
        let boxes = [[10.0, 10.0, 30.0, 40.0], [50.0, 0.0, 60.0, 10.0]];
        for _ in 0..20 {
            let placed = place_elsewhere(&boxes, [100, 100], &mut rng).unwrap();
            for (p, b) in placed.iter().zip(&boxes) {
                assert_eq!((p[2] - p[0], p[3] - p[1]), (b[2] - b[0], b[3] - b[1]));
                assert!(p[0] >= 0.0 && p[1] >= 0.0 && p[2] <= 100.0 && p[3] <= 100.0);
                assert!(boxes.iter().all(|o| overlap(*p, *o) == 0.0));
            }
        }
        // No room: a box covering most of the image cannot move off itself.
        assert_eq!(
            place_elsewhere(&[[0.0, 0.0, 90.0, 90.0]], [100, 100], &mut rng),
            None
        );
    }

    #[test]
    fn boxes_are_mapped_from_the_sidecars_size_to_the_photos() {
        // A sidecar ten times the photo's size (its boxes too) once hid regions off the photo,
        // so no word was tested and both rates read 0.
        let boxes = scaled(&[[100.0, 200.0, 400.0, 600.0]], [2240, 2240], [224, 112]);
        assert_eq!(boxes, [[10.0, 10.0, 40.0, 30.0]]);
        let nothing = Occlusion::default();
        let json = serde_json::to_value(&nothing).unwrap();
        assert!(json["removed_when_objects_hidden"].is_null(), "{json}");
    }
}

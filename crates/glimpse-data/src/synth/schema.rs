//! The synthetic set's vocabulary of shapes and colours, and its sidecar `synth.json`: every
//! object's box, which the attention-grounding metric reads. Kept apart from the generator so
//! that readers of the sidecar do not depend on it.

use std::path::Path;

use anyhow::{Context, Result};
use glimpse_files::{caps, read_regular, shown, terminal_safe};
use glimpse_model::error::excerpt;
use serde::{Deserialize, Serialize};

use crate::split::Split;

/// Side of every synthetic image, in pixels.
pub const SIZE: u32 = 224;
/// The most objects a sidecar's image may have (the generator draws at most 3): the occlusion
/// test places each hidden region away from every object, and 300,000 objects in one image
/// once took it 28 s.
pub const MAX_OBJECTS: usize = 16;
pub const SHAPES: [&str; 4] = ["circle", "square", "triangle", "diamond"];
pub const COLORS: [(&str, [u8; 3]); 6] = [
    ("red", [220, 40, 40]),
    ("green", [40, 180, 60]),
    ("blue", [40, 80, 220]),
    ("yellow", [235, 215, 40]),
    ("purple", [150, 60, 190]),
    ("orange", [245, 140, 30]),
];

/// One drawn object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SynthObject {
    pub shape: String,
    pub color: String,
    pub size: String,
    /// `[x0, y0, x1, y1]` in pixels of the `SIZE`×`SIZE` image, end exclusive.
    #[serde(rename = "box")]
    pub bbox: [u32; 4],
}

/// One image of the set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SynthImage {
    pub file: String,
    pub split: Split,
    pub background: String,
    pub objects: Vec<SynthObject>,
    pub captions: Vec<String>,
}

/// The sidecar `synth.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SynthSidecar {
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub images: Vec<SynthImage>,
}

impl SynthSidecar {
    /// Reads `synth.json`: a regular file of at most [`caps::DATASET_TEXT`] bytes.
    pub fn read(path: &Path) -> Result<SynthSidecar> {
        let bytes = read_regular(path, caps::DATASET_TEXT, "synth sidecar")?;
        let sidecar: SynthSidecar = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a glimpse synth sidecar", shown(path)))?;
        sidecar
            .check_boxes()
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", shown(path)))?;
        Ok(sidecar)
    }

    /// A non-empty image, at most [`MAX_OBJECTS`] objects an image, and every box non-empty and
    /// inside the image: grounding divides by the image's size and counts attention inside the
    /// boxes, so a zero-sized image scored every word a hit and an inverted box none.
    fn check_boxes(&self) -> std::result::Result<(), String> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 {
            return Err(format!("the image size {width}×{height} is empty"));
        }
        // A second entry for one file silently replaced the first's boxes in grounding.
        let mut files = std::collections::HashMap::new();
        for (i, image) in self.images.iter().enumerate() {
            if let Some(first) = files.insert(image.file.as_str(), i) {
                return Err(format!(
                    "images[{i}].file `{}` is listed twice (first at images[{first}])",
                    terminal_safe(&excerpt(&image.file))
                ));
            }
            if image.objects.len() > MAX_OBJECTS {
                return Err(format!(
                    "images[{i}] has {} objects; a synth image has at most {MAX_OBJECTS}",
                    image.objects.len()
                ));
            }
            for (j, object) in image.objects.iter().enumerate() {
                let [x0, y0, x1, y1] = object.bbox;
                if x0 >= x1 || y0 >= y1 || x1 > width || y1 > height {
                    return Err(format!(
                        "images[{i}].objects[{j}].box {:?} is not a non-empty box inside the {width}×{height} image",
                        object.bbox
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_images_and_boxes_outside_or_inverted_are_refused() {
        let object = |bbox| SynthObject {
            shape: "circle".into(),
            color: "red".into(),
            size: "small".into(),
            bbox,
        };
        let sidecar = |width, bbox| SynthSidecar {
            seed: 0,
            width,
            height: 224,
            images: vec![SynthImage {
                file: "a.png".into(),
                split: Split::Test,
                background: "white".into(),
                objects: vec![object(bbox)],
                captions: vec![],
            }],
        };
        assert!(sidecar(224, [0, 0, 224, 224]).check_boxes().is_ok());
        assert_eq!(
            sidecar(0, [0, 0, 1, 1]).check_boxes().unwrap_err(),
            "the image size 0×224 is empty"
        );
        for bbox in [[10, 10, 5, 20], [10, 10, 10, 20], [0, 0, 225, 10]] {
            let err = sidecar(224, bbox).check_boxes().unwrap_err();
            assert!(err.starts_with("images[0].objects[0].box"), "{err}");
        }
        let mut crowded = sidecar(224, [0, 0, 1, 1]);
        crowded.images[0].objects = vec![object([0, 0, 1, 1]); MAX_OBJECTS];
        assert!(crowded.check_boxes().is_ok());
        crowded.images[0].objects.push(object([0, 0, 1, 1]));
        assert_eq!(
            crowded.check_boxes().unwrap_err(),
            "images[0] has 17 objects; a synth image has at most 16"
        );
        let mut twice = sidecar(224, [0, 0, 1, 1]);
        twice.images.push(twice.images[0].clone());
        assert_eq!(
            twice.check_boxes().unwrap_err(),
            "images[1].file `a.png` is listed twice (first at images[0])"
        );
    }
}

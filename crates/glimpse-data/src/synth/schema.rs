//! The synthetic set's vocabulary of shapes and colours, and its sidecar `synth.json`: every
//! object's box, which the attention-grounding metric reads. Kept apart from the generator so
//! that readers of the sidecar do not depend on it.

use std::path::Path;

use anyhow::{Context, Result};
use glimpse_files::{caps, read_regular, shown};
use serde::{Deserialize, Serialize};

use crate::split::Split;

/// Side of every synthetic image, in pixels.
pub const SIZE: u32 = 224;
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
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a glimpse synth sidecar", shown(path)))
    }
}

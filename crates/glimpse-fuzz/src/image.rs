//! Photos: decoded and preprocessed as `glimpse caption` does, and browser pixels (RGBA with
//! the size the page reports) preprocessed as the page does.
//!
//! The first byte chooses the path. `1`: two little-endian `u16`s (width, height), then RGBA
//! bytes. Anything else: the rest is an encoded image file.

use glimpse_model::config::PreprocessConfig;
use glimpse_model::preprocess::{decode_image_checked, image_to_input, rgba_to_input};

use crate::check_refusal;

pub fn run(data: &[u8]) {
    for config in configs() {
        match preprocess(data, &config) {
            Some(Ok(input)) => check_input(&input, &config),
            Some(Err(error)) => check_refusal(error),
            None => {}
        }
    }
}

/// The encoder input `data` gives under `config`; `None` for an empty input.
pub fn preprocess(data: &[u8], config: &PreprocessConfig) -> Option<glimpse_model::Result<Vec<f32>>> {
    let (&mode, rest) = data.split_first()?;
    Some(match mode {
        1 => browser_pixels(rest, config),
        _ => decode_image_checked(rest, config.max_pixels)
            .map(|decoded| image_to_input(&decoded.image, config)),
    })
}

/// The default preprocessing, and a small non-square one with a small pixel budget (bundles
/// may lower the budget, never raise it).
fn configs() -> [PreprocessConfig; 2] {
    let small = PreprocessConfig {
        size: [32, 48],
        max_pixels: 1 << 16,
        ..PreprocessConfig::default()
    };
    [PreprocessConfig::default(), small]
}

fn browser_pixels(data: &[u8], config: &PreprocessConfig) -> glimpse_model::Result<Vec<f32>> {
    let (size, rgba) = data.split_at(data.len().min(4));
    let mut dims = [0u8; 4];
    dims[..size.len()].copy_from_slice(size);
    let width = u32::from(u16::from_le_bytes([dims[0], dims[1]]));
    let height = u32::from(u16::from_le_bytes([dims[2], dims[3]]));
    rgba_to_input(width, height, rgba, config)
}

/// `[3, H, W]` values, each a normalised 8-bit intensity.
fn check_input(input: &[f32], config: &PreprocessConfig) {
    let [h, w] = config.size;
    assert_eq!(
        input.len(),
        3 * h as usize * w as usize,
        "input of the wrong size"
    );
    let plane = h as usize * w as usize;
    for (c, channel) in input.chunks_exact(plane).enumerate() {
        let low = (0.0 - config.mean[c]) / config.std[c];
        let high = (1.0 - config.mean[c]) / config.std[c];
        assert!(
            channel.iter().all(|v| (low - 1e-4..=high + 1e-4).contains(v)),
            "channel {c} outside [{low}, {high}]"
        );
    }
}

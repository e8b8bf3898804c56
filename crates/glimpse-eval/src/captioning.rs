//! Captioning image files with a bundle: loading the bundle onto a device.

use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use glimpse_model::Captioner;

/// Loads a bundle file onto `device`.
pub fn load_captioner(path: &Path, device: &Device) -> Result<Captioner> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read the model", path.display()))?;
    Captioner::from_bytes(&bytes, device)
        .with_context(|| format!("{}: cannot load the model", path.display()))
}

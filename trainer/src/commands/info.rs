//! `glimpse info`: a bundle's model card, config and sizes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use glimpse_files::{caps, read_regular, say, shown};
use glimpse_model::Bundle;

use super::Exit;

#[derive(Args)]
#[command(after_help = "Example:\n  glimpse info model.safetensors")]
pub struct InfoArgs {
    /// The `.safetensors` bundle.
    bundle: PathBuf,
}

pub fn run(args: InfoArgs) -> Result<Exit> {
    let path = &args.bundle;
    let bytes = read_regular(path, caps::MODEL, "bundle")?;
    let bundle =
        Bundle::from_bytes(&bytes).with_context(|| format!("{}: not a valid bundle", shown(path)))?;
    let params: usize = bundle.weights.iter().map(|(_, t)| t.numel()).sum();
    say!(
        "{}",
        super::json_pretty(&serde_json::json!({
            "card": bundle.card,
            "config": bundle.config,
            "vocabulary_size": bundle.vocab.len(),
            "tensors": bundle.weights.len(),
            "parameters": params,
            "grid": bundle.config.grid(),
        }))?
    )?;
    Ok(Exit::Done)
}

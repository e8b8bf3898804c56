//! `glimpse synth`: write a synthetic captioning set.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse_data::synth;
use glimpse_files::say;

use super::Exit;

#[derive(Args)]
#[command(after_help = "Example:\n  glimpse synth data/shapes --images 2000 --seed 7")]
pub struct SynthArgs {
    /// Output folder (created; must be empty).
    dir: PathBuf,
    /// Number of images (80% train, 10% val, 10% test).
    #[arg(long, default_value_t = 2000)]
    images: usize,
    /// Random seed: the same seed and count always write the same images and captions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: SynthArgs) -> Result<Exit> {
    let sidecar = synth::generate(&args.dir, args.images, args.seed)?;
    say!(
        "wrote {} images with {} captions each to {} (seed {})",
        sidecar.images.len(),
        synth::CAPTIONS_PER_IMAGE,
        glimpse_files::shown(&args.dir),
        args.seed
    )?;
    Ok(Exit::Done)
}

//! `glimpse data`: download public datasets and weights.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use glimpse_data::download;
use glimpse_files::say;

use super::Exit;

#[derive(Subcommand)]
pub enum DataSource {
    /// Flickr8k (images and captions) and torchvision's ResNet-50 and MobileNetV2 weights.
    Flickr8k(DownloadArgs),
}

#[derive(Args)]
#[command(after_help = "Example:\n  glimpse data flickr8k data/flickr8k")]
pub struct DownloadArgs {
    /// Destination folder.
    dir: PathBuf,
    /// Base URL replacing every default address (a mirror); files keep their names.
    #[arg(long)]
    mirror: Option<String>,
    /// Skip the encoder weights.
    #[arg(long)]
    no_weights: bool,
}

pub fn run(source: DataSource) -> Result<Exit> {
    let DataSource::Flickr8k(args) = source;
    let files = download::flickr8k_files(args.mirror.as_deref(), !args.no_weights);
    download::fetch_all(&files, &args.dir)?;
    say!(
        "{}: ready (train with `glimpse train --data {}`)",
        glimpse_files::shown(&args.dir),
        glimpse_files::shown(&args.dir)
    )?;
    Ok(Exit::Done)
}

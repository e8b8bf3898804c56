//! `glimpse compare`: several captioners' outputs scored side by side on one split.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse_data::Split;
use glimpse_eval::compare::{CompareRequest, compare, parse_set};
use glimpse_files::say;

use super::{Exit, choice};

#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse compare --data data/flickr8k --split test --out cmp/ glimpse=eval/captions.json vit-gpt2=vit.json"
)]
pub struct CompareArgs {
    /// The data folder (any layout `glimpse train` reads).
    #[arg(long)]
    data: PathBuf,
    /// The split to caption and score.
    #[arg(long, value_parser = choice::<Split>(), default_value_t = Split::Test)]
    split: Split,
    /// Caption sets as NAME=CAPTIONS.json (e.g. glimpse=run/eval/captions.json vit-gpt2=vit.json).
    #[arg(required = true, value_parser = parse_set)]
    sets: Vec<(String, PathBuf)>,
    /// Write metrics.json and report.html here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A sentence-transformers folder for the embedding similarity.
    #[arg(long, env = super::TEXT_ENCODER_VARIABLE)]
    text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder for CLIPScore, RefCLIPScore and CLIP text similarity.
    #[arg(long, env = super::CLIP_VARIABLE)]
    clip: Option<PathBuf>,
}

pub fn run(args: CompareArgs) -> Result<Exit> {
    let models = compare(&CompareRequest {
        data: args.data,
        split: args.split,
        sets: args.sets,
        out: args.out,
        text_encoder: args.text_encoder,
        clip: args.clip,
    })?;
    let table: BTreeMap<&str, _> = models.iter().map(|m| (m.name.as_str(), &m.metrics)).collect();
    say!("{}", super::json_pretty(&table)?)?;
    Ok(Exit::Done)
}

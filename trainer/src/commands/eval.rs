//! `glimpse eval`: caption a dataset split with a bundle and score it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse::backend::Backend;
use glimpse_data::Split;
use glimpse_eval::evaluate::{EvalRequest, evaluate};
use glimpse_files::say;

use super::{DecodingArgs, Exit, choice};

#[derive(Args)]
#[command(
    after_help = "Example:\n  glimpse eval --model model.safetensors --data data/shapes --split test --out eval/"
)]
pub struct EvalArgs {
    /// The `.safetensors` weight bundle.
    #[arg(long)]
    model: PathBuf,
    /// The data folder (any layout `glimpse train` reads).
    #[arg(long)]
    data: PathBuf,
    /// The split to caption and score.
    #[arg(long, value_parser = choice::<Split>(), default_value_t = Split::Test)]
    split: Split,
    #[command(flatten)]
    decoding: DecodingArgs,
    /// Score at most this many images.
    #[arg(long)]
    limit: Option<usize>,
    /// Write metrics.json and captions.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compute backend (each is a cargo feature; flex is built by default).
    #[arg(long, value_enum, default_value_t = Backend::first_built())]
    backend: Backend,
    /// Images decoded together (greedy), 1 to 64: the encoder's activations grow with it (1,600
    /// took 7.7 GB at 256 pixels).
    #[arg(long, default_value_t = 16, value_parser = super::batch_size())]
    batch: usize,
    /// A sentence-transformers folder (all-MiniLM-L6-v2: config.json, tokenizer.json,
    /// model.safetensors) for the original report's embedding similarity.
    #[arg(long, env = super::TEXT_ENCODER_VARIABLE)]
    text_encoder: Option<PathBuf>,
    /// A Hugging Face CLIP folder (e.g. openai/clip-vit-base-patch32: config.json,
    /// model.safetensors, tokenizer.json, preprocessor_config.json) for CLIPScore, RefCLIPScore
    /// and the original report's similarity in CLIP's text space.
    #[arg(long, env = super::CLIP_VARIABLE)]
    clip: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> Result<Exit> {
    // A backend that is not built is reported before bad decoding numbers.
    let device = args.backend.device()?;
    let evaluation = evaluate(&EvalRequest {
        model: args.model,
        data: args.data,
        split: args.split,
        options: args.decoding.options()?,
        device,
        steps_per_readback: args.backend.steps_per_readback(),
        batch: args.batch,
        limit: args.limit,
        out: args.out,
        text_encoder: args.text_encoder,
        clip: args.clip,
    })?;
    say!(
        "{}",
        super::json_pretty(&serde_json::json!({
            "images": evaluation.images,
            "unreadable": evaluation.unreadable.len(),
            "metrics": evaluation.metrics,
            "grounding": evaluation.grounding,
            "similarity": evaluation.similarity,
            "clip": evaluation.clip,
        }))?
    )?;
    Ok(Exit::Done)
}

//! `glimpse export`: a training run's checkpoint as a weight bundle, or a bundle stored again
//! (as int8 or f16, to shrink it).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use glimpse::export::{ExportRequest, Which, export};
use glimpse::files::write_atomically;
use glimpse::model_card::write_model_card;

use super::{Exit, StorageArgs, choice};

#[derive(Args)]
#[command(after_help = "Example:\n  glimpse export runs/shapes --which best --f16 --out model.safetensors")]
pub struct ExportArgs {
    /// The run folder, or a bundle (`.safetensors`) to write again with another storage.
    run: PathBuf,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Which checkpoint of a run.
    #[arg(long, value_parser = choice::<Which>(), default_value_t = Which::Best)]
    which: Which,
    #[command(flatten)]
    storage: StorageArgs,
    /// Model name for the card.
    #[arg(long)]
    name: Option<String>,
    /// Description for the card (what the model is for, what it cannot do).
    #[arg(long)]
    description: Option<String>,
}

pub fn run(args: ExportArgs) -> Result<Exit> {
    let bundle = export(&ExportRequest {
        run: args.run,
        which: args.which,
        name: args.name,
        description: args.description,
    })?;
    let bytes = bundle.to_bytes(args.storage.storage())?;
    write_atomically(&args.out, &bytes)?;
    let card = write_model_card(&args.out, &bundle)?;
    let metrics: Vec<String> = bundle
        .card
        .metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect();
    println!(
        "wrote {} ({:.1} MB) and its model card {}: {}, {} words, trained on {}, {}",
        args.out.display(),
        bytes.len() as f64 / 1e6,
        card.display(),
        bundle.card.name,
        bundle.vocab.len(),
        bundle.card.trained_on,
        metrics.join(", ")
    );
    Ok(Exit::Done)
}
